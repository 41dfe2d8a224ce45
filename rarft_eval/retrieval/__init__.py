"""Retrievers choose the demonstrations prepended to each problem.

    retriever = make_retriever("bm25")                 # or none | random | semantic[:MODEL] |
                                                       #    benefit:CHECKPOINT | oracle:LABELS
    demos = retriever.retrieve(problems, k)            # list[list[Demonstration]], best first
    retriever.last_stats["excluded_leaks"]             # leaks removed in that call; also mean_latency_ms
    retriever.manifest()                               # corpus hash, model, parameters, cumulative stats

The corpus defaults to the bundled MATH train set (`tasks/data/math_train/train.jsonl`); any JSONL or
Parquet file with a field mapping works (`make_retriever("bm25", "x.jsonl", corpus_fields="problem=question")`).
Indexes are cached under `$RARFT_EVAL_CACHE/indexes/` and reused while their manifest matches.
See docs/retrieval.md.
"""

from rarft_eval.retrieval.base import (
    RETRIEVERS,
    Demonstration,
    NoRetriever,
    Query,
    Retriever,
    load_retriever,
    make_retriever,
    parse_spec,
)
from rarft_eval.retrieval.corpus import (
    Corpus,
    CorpusRecord,
    FieldMap,
    default_corpus_path,
    default_near_dups_path,
)
from rarft_eval.retrieval.labels import evaluate_retriever, load_labels, recall_at_k
from rarft_eval.retrieval.leakage import LeakConfig, LeakGuard

__all__ = [
    "RETRIEVERS",
    "Corpus",
    "CorpusRecord",
    "Demonstration",
    "FieldMap",
    "LeakConfig",
    "LeakGuard",
    "NoRetriever",
    "Query",
    "Retriever",
    "default_corpus_path",
    "default_near_dups_path",
    "evaluate_retriever",
    "load_labels",
    "load_retriever",
    "make_retriever",
    "parse_spec",
    "recall_at_k",
]
