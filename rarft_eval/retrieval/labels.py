"""Benefit / relevance labels and retrieval diagnostics (recall@k).

Label files are JSONL, one (query, demonstration) pair a line:

    {"query_id": "test/algebra/1.json", "demo_id": "train/algebra/17.json", "benefit": 0.25}

The value is read from `label`, `benefit`, `relevance` or `score` (first present). `query_id` is the
problem id (`Problem.id`) or `task/id`. A demonstration is *relevant* (gold) when its value is above
`threshold` (default 0: it helped).

recall@k, as the paper reports it next to accuracy: the fraction of labelled queries (those with at
least one relevant demonstration) whose top-k retrieved demonstrations contain a relevant one
(hit rate; with one gold demonstration a query this is the textbook recall@k). `mode="fraction"`
gives |top-k ∩ relevant| / min(k, |relevant|) averaged instead.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

from rarft_eval.errors import RarftError

_VALUE_KEYS = ("label", "benefit", "relevance", "score")

Labels = dict[str, dict[str, float]]


def load_labels(path: str | Path) -> Labels:
    """{query_id: {demo_id: value}} from a JSONL file (a repeated pair keeps the last value)."""
    p = Path(path)
    if not p.is_file():
        raise RarftError(f"labels file {p} not found")
    out: Labels = {}
    with p.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            where = f"labels {p.name}:{lineno}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise RarftError(f"{where}: malformed JSON ({exc.msg}); fix or remove that line") from None
            if not isinstance(row, dict) or "query_id" not in row or "demo_id" not in row:
                raise RarftError(f"{where}: a row needs `query_id`, `demo_id` and one of {', '.join(_VALUE_KEYS)}")
            key = next((k for k in _VALUE_KEYS if k in row), None)
            if key is None:
                raise RarftError(f"{where}: no value; give one of {', '.join(_VALUE_KEYS)}")
            value = row[key]
            if isinstance(value, bool):
                value = float(value)
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise RarftError(f"{where}: `{key}` = {value!r} is not a number") from None
            out.setdefault(str(row["query_id"]), {})[str(row["demo_id"])] = value
    if not out:
        raise RarftError(f"labels file {p} holds no labels")
    return out


def labels_for(labels: Mapping[str, Mapping[str, float]], key: str, qid: str) -> Mapping[str, float] | None:
    """The labels of a query, found by `task/id` first, then by the bare id."""
    found = labels.get(key)
    return found if found is not None else labels.get(qid)


def recall_at_k(ranked: Mapping[str, Sequence[str]], gold: Mapping[str, Mapping[str, float]],
                ks: Sequence[int] = (1, 5), threshold: float = 0.0, mode: str = "hit") -> dict[str, Any]:
    """recall@k of rankings {query_id: [demo ids, best first]} against gold labels.

    Only queries that are both ranked and have a relevant demonstration count (`n_queries`).
    """
    if mode not in ("hit", "fraction"):
        raise RarftError(f"recall mode must be `hit` or `fraction` (got {mode!r})")
    sums = {k: 0.0 for k in ks}
    n = 0
    for qid, ids in ranked.items():
        rel = {d for d, v in (gold.get(qid) or {}).items() if v > threshold}
        if not rel:
            continue
        n += 1
        for k in ks:
            top = list(ids)[:k]
            hits = sum(1 for d in top if d in rel)
            sums[k] += (1.0 if hits else 0.0) if mode == "hit" else hits / min(k, len(rel))
    out: dict[str, Any] = {f"recall@{k}": (sums[k] / n if n else None) for k in ks}
    out["n_queries"] = n
    out["mode"] = mode
    return out


def evaluate_retriever(retriever, problems: Sequence[Any], gold: Mapping[str, Mapping[str, float]] | str | Path,
                       ks: Sequence[int] = (1, 5), threshold: float = 0.0, mode: str = "hit") -> dict[str, Any]:
    """Retrieve max(ks) demonstrations per problem and score them: recall@k plus latency and leak counts."""
    from rarft_eval.retrieval.base import Query

    if not isinstance(gold, Mapping):
        gold = load_labels(gold)
    queries = [Query.of(p, i) for i, p in enumerate(problems)]
    demos = retriever.retrieve(queries, max(ks))
    ranked: dict[str, list[str]] = {}
    keyed_gold: dict[str, Mapping[str, float]] = {}
    for q, row in zip(queries, demos):
        g = labels_for(gold, q.key, q.id)
        if g is not None:
            ranked[q.key] = [d.id for d in row]
            keyed_gold[q.key] = g
    out = recall_at_k(ranked, keyed_gold, ks, threshold, mode)
    stats = retriever.last_stats
    out.update(retriever=retriever.spec, mean_latency_ms=stats.get("mean_latency_ms"),
               excluded_leaks=stats.get("excluded_leaks"))
    return out
