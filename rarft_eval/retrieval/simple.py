"""`random` (the paper's control) and `oracle` (an upper bound from benefit labels)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from rarft_eval.errors import RarftError
from rarft_eval.retrieval.base import Query, Retriever


class RandomRetriever(Retriever):
    """Uniformly random demonstrations, seeded by (seed, task/id): reproducible, independent of batching."""

    name = "random"

    def params(self) -> dict[str, Any]:
        return {"seed": self.seed, "rule": "numpy default_rng(sha256(f'{seed}:{task}/{id}')) permutation"}

    def _rng(self, q: Query) -> np.random.Generator:
        digest = hashlib.sha256(f"{self.seed}:{q.key}".encode()).digest()
        return np.random.default_rng(int.from_bytes(digest[:8], "little"))

    def _search(self, queries: list[Query], n: list[int]) -> list[list[tuple[int, float]]]:
        size = len(self.corpus)
        return [[(int(i), 0.0) for i in self._rng(q).permutation(size)[:m]] for q, m in zip(queries, n)]


class OracleRetriever(Retriever):
    """The best-labelled demonstrations of each query (diagnostics; needs labels for the test queries)."""

    name = "oracle"

    def __init__(self, labels_path: str | Path, **kwargs: Any):
        labels = Path(labels_path)
        if not labels.is_file():
            raise RarftError(f"oracle labels file {labels} not found")
        kwargs.setdefault("gold", labels)  # its own labels are the gold: recall@k shows the upper bound
        super().__init__(**kwargs)
        self.labels_path = labels
        self._labels: dict[str, list[tuple[int, float]]] | None = None
        self.unknown_demo_ids = 0
        self.queries_without_labels = 0

    def params(self) -> dict[str, Any]:
        from rarft_eval.retrieval.store import file_sha256

        return {"labels": str(self.labels_path), "labels_sha256": file_sha256(self.labels_path),
                "unknown_demo_ids": self.unknown_demo_ids}

    def _build(self) -> None:
        from rarft_eval.retrieval.labels import load_labels

        raw = load_labels(self.labels_path)
        ranked: dict[str, list[tuple[int, float]]] = {}
        unknown = 0
        for qid, demos in raw.items():
            row = []
            for did, value in demos.items():
                pos = self.corpus.position(did)
                if pos is None:
                    unknown += 1
                    continue
                row.append((pos, value))
            row.sort(key=lambda pv: (-pv[1], pv[0]))
            ranked[qid] = row
        if unknown and not any(ranked.values()):
            raise RarftError(
                f"oracle labels {self.labels_path.name}: none of the demo ids is in the corpus {self.corpus.source}; "
                f"wrong corpus?"
            )
        self.unknown_demo_ids = unknown
        self._labels = ranked

    def _search(self, queries: list[Query], n: list[int]) -> list[list[tuple[int, float]]]:
        from rarft_eval.retrieval.labels import labels_for

        assert self._labels is not None
        out = []
        for q, m in zip(queries, n):
            row = labels_for(self._labels, q.key, q.id)
            if row is None:
                self.queries_without_labels += 1
                row = []
            out.append(list(row)[:m])
        return out

    def manifest(self) -> dict[str, Any]:
        doc = super().manifest()
        doc["queries_without_labels"] = self.queries_without_labels
        return doc
