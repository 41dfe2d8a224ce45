"""Stage 1: benefit labels for (training query, candidate demonstration) pairs.

    rarft-train labels --config training/labels-judge.yaml

Writes into `output`:

* `cache.jsonl`   every computed value, append-only, keyed by (labeler, query, demo, params hash);
                  rerunning resumes from it (a changed labeler setting changes the hash: recomputed);
* `labels.jsonl`  one row per labelled pair, in the format the retrieval side reads
                  (`{"query_id", "demo_id", "label", ...}`; `rarft_eval.retrieval.load_labels`,
                  `--retriever oracle:labels.jsonl`, `gold=`): judge 1/0, gain and likelihood a
                  difference (positive: the demonstration helped);
* `queries.jsonl` the training queries (the retriever stage reads their text from here);
* `report.json`   counts: candidate pairs (and how many the subject pruning removed), cache hits,
                  computed values, positives, unparsable judge answers, calls, tokens, cost, time.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any, Sequence

from rarft_eval.errors import RarftError
from rarft_eval.tasks import Problem
from rarft_eval.training.cache import LabelCache
from rarft_eval.training.common import git_info, info, now, versions, write_json, write_jsonl
from rarft_eval.training.data import coarse_subject, load_corpus, load_queries, write_queries
from rarft_eval.training.labelers import Pair, make_labeler
from rarft_eval.training.recipes import CandidatesSpec, LabelsRecipe, to_plain


def build_candidates(spec: CandidatesSpec, queries: Sequence[Problem], corpus, report: dict[str, Any]) -> list[Pair]:
    """The (query, demonstration) pairs to label, leaks excluded, in query order."""
    from rarft_eval.retrieval.base import _guard_for
    from rarft_eval.retrieval.leakage import LeakConfig

    stats = report.setdefault("candidates", {})
    stats["strategy"] = spec.strategy
    pairs: list[Pair] = []
    per_query: list[list[int]] = []
    if spec.strategy == "retriever":
        from rarft_eval.retrieval import make_retriever

        if spec.top_n < 1:
            raise RarftError(f"candidates.top_n must be >= 1 (got {spec.top_n})")
        retriever = make_retriever(spec.retriever, corpus)
        if retriever.name == "none":
            raise RarftError("candidates.retriever cannot be `none`; use bm25 or semantic")
        ranked = retriever.retrieve(queries, spec.top_n)
        per_query = [[corpus.position(d.id) for d in row] for row in ranked]
        stats["retriever"] = retriever.manifest()
        stats["excluded_leaks"] = retriever.stats()["total"]["excluded_leaks"]
    else:
        guard = _guard_for(corpus, LeakConfig())
        leaks = guard.find([q.problem for q in queries])
        stats["excluded_leaks"] = 0
        if spec.strategy == "all":
            for row in leaks:
                per_query.append([i for i in range(len(corpus)) if i not in row])
                stats["excluded_leaks"] += len(row)
        else:
            by_subject: dict[str, list[int]] = {}
            no_subject_docs = 0
            for i, rec in enumerate(corpus):
                s = coarse_subject(rec.metadata, spec.subject_field, spec.subject_map)
                if s is None:
                    no_subject_docs += 1
                    continue
                by_subject.setdefault(s, []).append(i)
            if not by_subject:
                raise RarftError(
                    f"no corpus record has a subject (looked for {spec.subject_field or 'problem_type, type, subject'}); "
                    f"map one with corpus.fields metadata=COLUMN, set candidates.subject_field, or use "
                    f"candidates.strategy: retriever"
                )
            subject_sets = {s: set(v) for s, v in by_subject.items()}
            no_subject_queries = 0
            for q, row in zip(queries, leaks):
                s = coarse_subject(q.metadata, spec.subject_field, spec.subject_map)
                if s is None:
                    no_subject_queries += 1
                    per_query.append([])
                    continue
                per_query.append([i for i in by_subject.get(s, []) if i not in row])
                stats["excluded_leaks"] += sum(1 for i in row if i in subject_sets.get(s, ()))
            if no_subject_queries == len(queries):
                raise RarftError(
                    f"no training query has a subject (looked for {spec.subject_field or 'problem_type, type, subject'} in "
                    f"its metadata); map one with queries.fields metadata=COLUMN or use candidates.strategy: retriever"
                )
            stats.update(subjects={s: len(v) for s, v in sorted(by_subject.items())},
                         queries_without_subject=no_subject_queries, records_without_subject=no_subject_docs)
            stats["exhaustive_pairs"] = len(queries) * len(corpus)
    for q, positions in zip(queries, per_query):
        if spec.max_per_query is not None and len(positions) > spec.max_per_query:
            rng = random.Random(f"{spec.seed}:{q.id}")
            positions = sorted(rng.sample(positions, spec.max_per_query))
        pairs.extend(Pair(q, corpus[i]) for i in positions)
    stats["pairs_before_subsample"] = sum(len(p) for p in per_query)
    stats["pairs"] = len(pairs)
    stats["queries_with_candidates"] = sum(1 for p in per_query if p)
    if not pairs:
        raise RarftError("no candidate pairs to label (empty subjects, or every candidate was a leak)")
    return pairs


def run_labels(recipe: LabelsRecipe, *, log=info) -> dict[str, Any]:
    t0 = time.perf_counter()
    out = Path(recipe.output)
    out.mkdir(parents=True, exist_ok=True)
    labeler = make_labeler(recipe)  # cheap checks (tokenizer, chat template) before anything is loaded
    queries = load_queries(recipe.queries)
    corpus = load_corpus(recipe.corpus)
    ids = [q.id for q in queries]
    if len(set(ids)) != len(ids):
        raise RarftError("training query ids are not unique; map `id` to a unique column in queries.fields")
    report: dict[str, Any] = {"labeler": recipe.labeler, "recipe": to_plain(recipe), "started": now(),
                              "n_queries": len(queries), "corpus": corpus.describe(),
                              "params": labeler.params(), "params_hash": labeler.params_hash()}
    write_queries(out / "queries.jsonl", queries)
    pairs = build_candidates(recipe.candidates, queries, corpus, report)
    cache = LabelCache(out / "cache.jsonl")
    todo = labeler.work(pairs, cache)
    n_needed = len(pairs) + (len({p.query.id for p in pairs}) if labeler.needs_baseline else 0)
    report["cache"] = {"path": str(out / "cache.jsonl"), "hits": n_needed - len(todo), "to_compute": len(todo),
                       "torn_lines_dropped": cache.torn_lines}
    log(f"{recipe.labeler}: {len(pairs)} pairs over {len(queries)} queries; {n_needed - len(todo)} cached, "
        f"{len(todo)} to compute")
    labeler.run(todo, cache, report, flush_every=max(1, recipe.flush_every))
    report["cache"]["appended"] = cache.appended
    rows = [r for r in (labeler.label_row(p, cache) for p in pairs) if r is not None]
    keys = {labeler.key(p.query.id, p.demo_id) for p in pairs}
    if labeler.needs_baseline:
        keys |= {labeler.key(p.query.id, "") for p in pairs}
    report["totals"] = labeler.totals([cache.get(k) for k in keys if cache.get(k) is not None])
    write_jsonl(out / "labels.jsonl", rows)
    positives = sum(1 for r in rows if r["label"] > 0)
    report.update(labelled_pairs=len(rows), unlabelled_pairs=len(pairs) - len(rows), positives=positives,
                  queries_with_positive=len({r["query_id"] for r in rows if r["label"] > 0}),
                  labels_path=str(out / "labels.jsonl"), seconds=round(time.perf_counter() - t0, 3),
                  finished=now(), git=git_info(), versions=versions())
    write_json(out / "report.json", report)
    log(f"{recipe.labeler}: {len(rows)} labelled pairs, {positives} positive -> {out / 'labels.jsonl'}")
    return report
