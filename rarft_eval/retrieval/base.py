"""The retriever interface, the leak-guarded retrieval loop, `none`, and `make_retriever`.

Every retriever ranks the corpus for a query; the base class removes leaks (the test problem
itself and its near duplicates, see `leakage.py`) from the ranking before cutting it to k, and
keeps the statistics a run reports (excluded leaks, latency, per task).

Life cycle: `make_retriever(spec, ...)` is cheap; the index is built (or loaded from the on-disk
cache, see `store.py`) on the first `retrieve`/`rank` or an explicit `index()`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from rarft_eval.errors import RarftError
from rarft_eval.tasks import Problem

log = logging.getLogger("rarft_eval.retrieval")

# How many excluded leaks are listed one by one in the stats (all are counted).
_MAX_LISTED = 200
# recall@k reported when gold labels are given
_RECALL_KS = (1, 5)


@dataclass(frozen=True)
class Demonstration:
    id: str
    problem: str
    solution: str
    score: float
    answer: str = ""
    rank: int = 1
    metadata: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class Query:
    """What a retriever sees of a test problem. `key` (task/id) seeds `random` and finds oracle labels."""

    key: str
    id: str
    text: str
    task: str = ""

    @classmethod
    def of(cls, item: Problem | Query | str, i: int = 0) -> Query:
        if isinstance(item, Query):
            return item
        if isinstance(item, Problem):
            return cls(f"{item.task}/{item.id}", str(item.id), item.problem, item.task)
        if isinstance(item, str):
            digest = hashlib.sha256(item.encode()).hexdigest()[:16]
            return cls(f"text/{digest}", f"text/{digest}", item, "")
        raise TypeError(f"a query is a Problem or a str, not {type(item).__name__}")


def _empty_stats() -> dict[str, Any]:
    return {"n_queries": 0, "excluded_leaks": 0, "queries_with_excluded_leaks": 0, "leak_candidates": 0,
            "queries_with_leak_candidates": 0, "excluded_by_reason": {}, "short_queries": 0,
            "total_latency_ms": 0.0, "mean_latency_ms": 0.0}


def _merge(into: dict[str, Any], add: Mapping[str, Any]) -> None:
    for key in ("n_queries", "excluded_leaks", "queries_with_excluded_leaks", "leak_candidates",
                "queries_with_leak_candidates", "short_queries", "total_latency_ms"):
        into[key] += add[key]
    for reason, n in add["excluded_by_reason"].items():
        into["excluded_by_reason"][reason] = into["excluded_by_reason"].get(reason, 0) + n
    into["mean_latency_ms"] = into["total_latency_ms"] / into["n_queries"] if into["n_queries"] else 0.0


class Retriever(ABC):
    """Ranks corpus demonstrations for test problems. Subclasses implement the hooks below `# hooks`."""

    name: str = "?"
    cacheable = False  # has an on-disk index
    uses_corpus = True
    OPTIONS: frozenset[str] = frozenset()

    def __init__(self, corpus: Any = None, *, corpus_fields: Any = None, cache_dir: str | Path | None = None,
                 seed: int = 0, leak: Any = None, use_cache: bool = True, gold: Any = None):
        from rarft_eval.retrieval.leakage import LeakConfig

        self._corpus_arg = corpus
        self._corpus_fields = corpus_fields
        self._corpus = None
        self.cache_dir = cache_dir
        self.seed = int(seed)
        self.leak_config = _leak_config(leak) if leak is not None else LeakConfig()
        self.use_cache = use_cache
        self.gold_path = None if gold is None or isinstance(gold, Mapping) else Path(gold)
        self._gold: Mapping[str, Mapping[str, float]] | None = gold if isinstance(gold, Mapping) else None
        if self.gold_path is not None and not self.gold_path.is_file():
            raise RarftError(f"gold labels file {self.gold_path} not found")
        self.spec = self.name
        self._guard = None
        self._ready = False
        self.index_path: Path | None = None
        self.index_status: str | None = None  # built | loaded | rebuilt (<why>) | memory
        self.build_s: float | None = None
        self.guard_build_s: float | None = None
        self.last_stats: dict[str, Any] = {}
        self._totals = _empty_stats()
        self._by_task: dict[str, dict[str, Any]] = {}

    # ------------------------------------------------------------------ corpus
    @property
    def corpus(self):
        from rarft_eval.retrieval.corpus import Corpus

        if self._corpus is None:
            arg = self._corpus_arg
            self._corpus = arg if isinstance(arg, Corpus) else Corpus.load(arg, self._corpus_fields)
        return self._corpus

    # ------------------------------------------------------------------ hooks
    def params(self) -> dict[str, Any]:
        """Parameters that change the index (part of its identity)."""
        return {}

    def model_info(self) -> dict[str, Any] | None:
        """Model name, path and weight hash, for retrievers that embed."""
        return None

    def libraries(self) -> tuple[str, ...]:
        return ()

    def _prepare(self) -> None:
        """Load what the identity needs (e.g. the model) before looking for a cached index."""

    def _build(self) -> None:
        """Build the in-memory index from `self.corpus`."""

    def _save_files(self, path: Path) -> None:
        """Write the index files (only retrievers with `cacheable = True` have any)."""
        raise RarftError(f"retriever {self.name} has no on-disk index to save")

    def _load_files(self, path: Path) -> None:
        """Read the index files written by `_save_files`."""
        raise RarftError(f"retriever {self.name} has no on-disk index to load")

    def _extra_leaks(self, queries: list[Query]) -> list[dict[int, Any]] | None:
        """Embedding-similarity leaks, when `leak={"embedding": threshold}` is set.

        Dense retrievers use their own embeddings; the others the default MiniLM `semantic` index of
        the same corpus (built once, then loaded from the cache like any index)."""
        thr = self.leak_config.embedding
        if thr is None:
            return None
        return self._embedding_helper().embedding_leaks(queries, thr)

    def _embedding_helper(self):
        helper = getattr(self, "_helper", None)
        if helper is None:
            helper = make_retriever("semantic", self.corpus, cache_dir=self.cache_dir,
                                    leak={"exact": False, "jaccard": None}, use_cache=self.use_cache)
            helper.index()
            self._helper = helper
        return helper

    def embedding_model(self) -> str | None:
        """The model behind the embedding leak check (None when it is off)."""
        if self.leak_config.embedding is None or not self.uses_corpus:
            return None
        from rarft_eval.retrieval.dense import DEFAULT_MODEL_NAME

        return DEFAULT_MODEL_NAME

    @abstractmethod
    def _search(self, queries: list[Query], n: list[int]) -> list[list[tuple[int, float]]]:
        """For query i, up to n[i] (corpus position, score) pairs, best first."""

    # ------------------------------------------------------------------ identity
    def _key(self) -> dict[str, Any]:
        model = self.model_info() or {}
        return {"retriever": self.name, "corpus_sha256": self.corpus.sha256, "params": self.params(),
                "model": model.get("path") or model.get("name")}

    def identity(self) -> dict[str, Any]:
        from rarft_eval.retrieval.store import FORMAT, library_versions

        ident = {"format": FORMAT, "retriever": self.name, "corpus_sha256": self.corpus.sha256,
                 "params": self.params(), "model": self.model_info(),
                 "libraries": library_versions(*self.libraries())}
        return json.loads(json.dumps(ident, sort_keys=True, default=str))

    def _manifest_doc(self) -> dict[str, Any]:
        return {"identity": self.identity(), "spec": self.spec, "options": self.options(), "seed": self.seed,
                "corpus": self.corpus.describe(), "built": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "build_s": self.build_s}

    def options(self) -> dict[str, Any]:
        """The make_retriever keyword options that recreate this retriever."""
        return {}

    # ------------------------------------------------------------------ index
    def index(self, corpus: Any = None) -> Retriever:
        """Build the index over `corpus` (default: the one given at construction), or load it from the cache."""
        from rarft_eval.retrieval import store

        if corpus is not None:
            self._corpus_arg, self._corpus, self._guard = corpus, None, None
        if not self.uses_corpus:
            self._ready = True
            return self
        _ = self.corpus
        self._prepare()
        g0 = time.perf_counter()
        self._leak_guard()  # built once per corpus and process; not counted in query latency
        self.guard_build_s = time.perf_counter() - g0
        t0 = time.perf_counter()
        if not (self.cacheable and self.use_cache):
            self._build()
            self.index_status = "memory"
            self.build_s = time.perf_counter() - t0
            self._ready = True
            return self
        path = store.index_dir(self.name, self._key(), self.cache_dir)
        found = store.read_manifest(path)
        ident = self.identity()
        status = "built"
        if found is not None and found.get("identity") == ident:
            try:
                self._load_files(path)
                self.index_status, self.index_path, self._ready = "loaded", path, True
                self.build_s = found.get("build_s")
                return self
            except Exception as exc:  # noqa: BLE001 - any unreadable file means: rebuild
                status = f"rebuilt (unreadable: {type(exc).__name__})"
                log.warning("retrieval index %s is unreadable (%s); rebuilding", path, exc)
        elif found is not None:
            diff = sorted(k for k in set(ident) | set(found.get("identity") or {})
                          if ident.get(k) != (found.get("identity") or {}).get(k))
            status = f"rebuilt (manifest differs: {', '.join(diff) or 'format'})"
            log.warning("retrieval index %s was made with other %s; rebuilding", path, ", ".join(diff))
        elif path.exists():
            status = "rebuilt (no manifest)"
        self._build()
        self.build_s = time.perf_counter() - t0
        store.write_atomic(path, self._save_files, self._manifest_doc())
        self.index_status, self.index_path, self._ready = status, path, True
        return self

    fit = index

    def _ensure_ready(self) -> None:
        if not self._ready:
            self.index()

    def save(self, path: str | Path) -> Path:
        """Write this retriever's index and manifest to `path` (atomically); `load_retriever(path)` reads it."""
        from rarft_eval.retrieval import store

        if not self.cacheable:
            raise RarftError(f"the {self.name} retriever has no index to save")
        self._ensure_ready()
        target = Path(path)
        store.write_atomic(target, self._save_files, self._manifest_doc())
        return target

    # ------------------------------------------------------------------ retrieval
    def _leak_guard(self):
        if self._guard is None:
            self._guard = _guard_for(self.corpus, self.leak_config)
        return self._guard

    def rank(self, queries: Sequence[Problem | Query | str], k: int) -> list[list[tuple[str, float]]]:
        """Ranked (demo id, score) pairs for each query, leaks removed, best first."""
        return [[(d.id, d.score) for d in row] for row in self.retrieve(queries, k)]

    def retrieve(self, problems: Sequence[Problem | Query | str], k: int) -> list[list[Demonstration]]:
        """The top-k demonstrations for each problem, best first, never a leak."""
        if k < 0:
            raise RarftError(f"k must be >= 0 (got {k})")
        queries = [Query.of(p, i) for i, p in enumerate(problems)]
        if k == 0 or not queries:
            self._record(queries, k, [0] * len(queries), [], [{} for _ in queries], [0] * len(queries), 0.0)
            return [[] for _ in queries]
        self._ensure_ready()
        t0 = time.perf_counter()
        leaks = self._leak_guard().find([q.text for q in queries])
        extra = self._extra_leaks(queries)
        if extra:
            for row, more in zip(leaks, extra):
                for pos, leak in more.items():
                    row.setdefault(pos, leak)
        n_docs = len(self.corpus)
        gold = self._gold_labels()
        depth = max(k, *_RECALL_KS) if gold is not None else k  # recall@5 needs 5 even when k = 1
        # depth + |leaks| ranked candidates always leave depth clean ones
        want = [min(n_docs, depth + len(row)) for row in leaks]
        ranked = self._search(queries, want)
        out: list[list[Demonstration]] = []
        excluded: list[dict[str, Any]] = []
        n_excl: list[int] = []
        for q, row, cands in zip(queries, leaks, ranked):
            demos: list[Demonstration] = []
            dropped = 0
            for pos, score in cands:
                if len(demos) >= depth:
                    break
                if pos in row:
                    if len(demos) >= k:
                        continue  # below the cut that is shown: not an exclusion of the run
                    dropped += 1
                    leak = row[pos]
                    excluded.append({"task": q.task, "query": q.key, "demo": self.corpus[pos].id,
                                     "rank": len(demos) + dropped,
                                     "reason": leak.reason, "similarity": round(leak.similarity, 4)})
                    continue
                rec = self.corpus[pos]
                demos.append(Demonstration(rec.id, rec.problem, rec.solution, float(score), rec.answer,
                                           len(demos) + 1, dict(rec.metadata)))
            n_excl.append(dropped)
            out.append(demos)
        elapsed_ms = (time.perf_counter() - t0) * 1000
        recall = None
        if gold is not None:
            from rarft_eval.retrieval.labels import labels_for, recall_at_k

            ranked_ids, keyed = {}, {}
            for q, demos in zip(queries, out):
                g = labels_for(gold, q.key, q.id)
                if g is not None:
                    ranked_ids[q.key], keyed[q.key] = [d.id for d in demos], g
            recall = recall_at_k(ranked_ids, keyed, _RECALL_KS)
            out = [demos[:k] for demos in out]
        self._record(queries, k, n_excl, excluded, leaks, [len(d) for d in out], elapsed_ms)
        if recall is not None:
            self.last_stats.update({key: recall[key] for key in ("recall@1", "recall@5")},
                                   recall_queries=recall["n_queries"])
        return out

    def _gold_labels(self) -> Mapping[str, Mapping[str, float]] | None:
        if self._gold is None and self.gold_path is not None:
            from rarft_eval.retrieval.labels import load_labels

            self._gold = load_labels(self.gold_path)
        return self._gold

    def _record(self, queries, k, n_excl, excluded, leaks, got, elapsed_ms) -> None:
        n = len(queries)
        stats = _empty_stats()
        stats.update(n_queries=n, excluded_leaks=sum(n_excl), queries_with_excluded_leaks=sum(1 for x in n_excl if x),
                     leak_candidates=sum(len(r) for r in leaks), queries_with_leak_candidates=sum(1 for r in leaks if r),
                     short_queries=sum(1 for g in got if g < k), total_latency_ms=elapsed_ms,
                     mean_latency_ms=elapsed_ms / n if n else 0.0)
        for e in excluded:
            stats["excluded_by_reason"][e["reason"]] = stats["excluded_by_reason"].get(e["reason"], 0) + 1
        _merge(self._totals, stats)
        per_task: dict[str, dict[str, Any]] = {}
        for q, ne, row, g in zip(queries, n_excl, leaks, got):
            t = per_task.setdefault(q.task or "-", _empty_stats())
            t["n_queries"] += 1
            t["excluded_leaks"] += ne
            t["queries_with_excluded_leaks"] += 1 if ne else 0
            t["leak_candidates"] += len(row)
            t["queries_with_leak_candidates"] += 1 if row else 0
            t["short_queries"] += 1 if g < k else 0
            t["total_latency_ms"] += elapsed_ms / n if n else 0.0
        for e in excluded:
            t = per_task[e["task"] or "-"]
            t["excluded_by_reason"][e["reason"]] = t["excluded_by_reason"].get(e["reason"], 0) + 1
        for task, t in per_task.items():
            t["mean_latency_ms"] = t["total_latency_ms"] / t["n_queries"] if t["n_queries"] else 0.0
            _merge(self._by_task.setdefault(task, _empty_stats()), t)
        stats.update(retriever=self.name, k=k, excluded=excluded[:_MAX_LISTED],
                     index={"status": self.index_status, "path": str(self.index_path) if self.index_path else None,
                            "build_s": self.build_s, "leak_guard_build_s": self.guard_build_s})
        self.last_stats = stats

    def stats(self) -> dict[str, Any]:
        """Counts over every `retrieve` call so far, in total and by task."""
        return {"total": dict(self._totals), "by_task": {t: dict(s) for t, s in self._by_task.items()}}

    # ------------------------------------------------------------------ manifest
    def manifest(self) -> dict[str, Any]:
        """What identifies this retriever's output (corpus hash, model, parameters), plus its leak stats."""
        doc: dict[str, Any] = {"name": self.name, "spec": self.spec, "seed": self.seed,
                               "leak_guard": {**self.leak_config.to_dict(),
                                              "embedding_model": self.embedding_model()}}
        if self.gold_path is not None:
            doc["gold_labels"] = str(self.gold_path)
        if self.uses_corpus:
            doc["corpus"] = self.corpus.describe()
            doc["params"] = self.params()
            if self._ready or self.model_info() is not None:
                doc["model"] = self.model_info()
            doc["index"] = {"status": self.index_status, "path": str(self.index_path) if self.index_path else None,
                            "build_s": self.build_s}
        doc["stats"] = self.stats()
        return doc


class NoRetriever(Retriever):
    """No demonstration: the plain-prompt baseline."""

    name = "none"
    uses_corpus = False

    def retrieve(self, problems: Sequence[Problem | Query | str], k: int) -> list[list[Demonstration]]:
        queries = [Query.of(p, i) for i, p in enumerate(problems)]
        self._record(queries, 0, [0] * len(queries), [], [{} for _ in queries], [0] * len(queries), 0.0)
        return [[] for _ in queries]

    def _search(self, queries, n):  # pragma: no cover - never called
        return [[] for _ in queries]

    def manifest(self) -> dict[str, Any]:
        return {"name": self.name}


def one_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message (RarftErrors are one line)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[0][:300] if lines else type(exc).__name__


_GUARDS: dict[tuple, Any] = {}


def _guard_for(corpus, config):
    """One leak guard per (corpus, config) in this process: building it shingles every record."""
    from rarft_eval.retrieval.leakage import LeakGuard

    key = (corpus.sha256, config.exact, config.jaccard, config.ngram, config.tokens)
    guard = _GUARDS.get(key)
    if guard is None:
        if len(_GUARDS) >= 4:
            _GUARDS.clear()
        guard = _GUARDS[key] = LeakGuard([r.problem for r in corpus], config)
    return guard


def _leak_config(leak: Any):
    from rarft_eval.retrieval.leakage import LeakConfig

    if isinstance(leak, LeakConfig):
        return leak
    if isinstance(leak, Mapping):
        try:
            return LeakConfig(**leak)
        except (TypeError, ValueError) as exc:
            raise RarftError(f"bad leak-guard options {dict(leak)}: {exc}") from None
    raise RarftError(f"leak guard options must be a mapping, not {type(leak).__name__}")


# name -> class, or "module:Class" imported on first use (faiss and torch load only when needed)
RETRIEVERS: dict[str, Any] = {
    "none": NoRetriever,
    "random": "rarft_eval.retrieval.simple:RandomRetriever",
    "bm25": "rarft_eval.retrieval.lexical:BM25Retriever",
    "semantic": "rarft_eval.retrieval.dense:SemanticRetriever",
    "benefit": "rarft_eval.retrieval.dense:BenefitRetriever",
    "oracle": "rarft_eval.retrieval.simple:OracleRetriever",
}
_ARG = {"none": "no", "random": "no", "bm25": "no", "semantic": "optional", "benefit": "required",
        "oracle": "required"}
_ARG_NAME = {"semantic": "MODEL_PATH_OR_ID", "benefit": "CHECKPOINT_PATH", "oracle": "LABELS_PATH"}


def _retriever_class(name: str):
    cls = RETRIEVERS[name]
    if isinstance(cls, str):
        import importlib

        module, attr = cls.split(":")
        cls = getattr(importlib.import_module(module), attr)
    return cls


def parse_spec(spec: str) -> tuple[str, str | None]:
    """`semantic:PATH` -> ("semantic", "PATH"); validates the name and whether an argument is allowed."""
    name, sep, arg = spec.strip().partition(":")
    name = name.strip().lower()
    arg = arg.strip() or None
    if name not in RETRIEVERS:
        raise RarftError(
            f"unknown retriever {spec!r}; available: none, random, bm25, semantic[:MODEL], benefit:CHECKPOINT, "
            f"oracle:LABELS"
        )
    rule = _ARG[name]
    if rule == "no" and (arg or sep):
        raise RarftError(f"retriever {name} takes no argument (got {spec!r}); use --retriever {name}")
    if rule == "required" and not arg:
        raise RarftError(f"retriever {name} needs a path: --retriever {name}:{_ARG_NAME[name]}")
    return name, arg


def make_retriever(spec: str = "none", corpus: Any = None, *, corpus_fields: Any = None,
                   cache_dir: str | Path | None = None, seed: int = 0, **options: Any) -> Retriever:
    """A retriever from its spec string.

    spec: `none` | `random` | `bm25` | `semantic` | `semantic:MODEL_PATH_OR_ID` | `benefit:CHECKPOINT_PATH` |
    `oracle:LABELS_PATH`. corpus: a `Corpus`, a JSONL/Parquet path (with `corpus_fields`, e.g.
    `"id=uuid,problem=question,solution=response"`), or None for the bundled MATH train set.
    options: retriever options (e.g. `index_text="problem+solution"`, `leak={"jaccard": 0.6}`).
    """
    name, arg = parse_spec(spec)
    cls = _retriever_class(name)
    if name == "none":
        return cls()
    allowed = cls.OPTIONS | {"leak", "use_cache", "gold"}
    unknown = set(options) - allowed
    if unknown:
        raise RarftError(
            f"retriever {name}: unknown option(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(allowed))}"
        )
    kwargs = dict(corpus=corpus, corpus_fields=corpus_fields, cache_dir=cache_dir, seed=seed, **options)
    retriever = cls(arg, **kwargs) if _ARG[name] != "no" else cls(**kwargs)
    retriever.spec = spec.strip()
    return retriever


def load_retriever(path: str | Path, corpus: Any = None, *, cache_dir: str | Path | None = None) -> Retriever:
    """A retriever saved with `Retriever.save(path)`; the corpus defaults to the one the manifest names."""
    from rarft_eval.retrieval import store

    p = Path(path)
    if not p.is_dir():
        raise RarftError(f"retrieval index {p} not found")
    found = store.read_manifest(p)
    if found is None or "spec" not in found or "identity" not in found:
        raise RarftError(f"retrieval index {p} is corrupt (no readable manifest.json); delete it and rebuild")
    src = found.get("corpus") or {}
    fields = src.get("fields")
    if corpus is None:
        corpus = src.get("source")
        if corpus is None or corpus.endswith("]") or corpus == "<memory>":
            raise RarftError(f"retrieval index {p} was built on {corpus or 'an in-memory corpus'}; pass corpus=")
    retriever = make_retriever(found["spec"], corpus, corpus_fields=fields, cache_dir=cache_dir,
                               seed=int(found.get("seed") or 0), **(found.get("options") or {}))
    if retriever.corpus.sha256 != found["identity"].get("corpus_sha256"):
        raise RarftError(
            f"retrieval index {p} was built on another corpus (sha256 {str(found['identity'].get('corpus_sha256'))[:12]}, "
            f"this one {retriever.corpus.sha256[:12]})"
        )
    retriever._prepare()
    ident = retriever.identity()
    if ident != found["identity"]:
        diff = sorted(k for k in set(ident) | set(found["identity"]) if ident.get(k) != found["identity"].get(k))
        raise RarftError(f"retrieval index {p} was made with other {', '.join(diff)}; rebuild it")
    try:
        retriever._load_files(p)
    except Exception as exc:  # noqa: BLE001 - faiss, numpy and bm25s raise many types
        raise RarftError(
            f"retrieval index {p} is corrupt ({type(exc).__name__}: {one_line(exc)}); delete it and rebuild"
        ) from None
    retriever.index_status, retriever.index_path, retriever._ready = "loaded", p, True
    retriever.build_s = found.get("build_s")
    return retriever
