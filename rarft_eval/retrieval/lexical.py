"""`bm25`: lexical retrieval with bm25s (sparse-matrix BM25)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from rarft_eval.retrieval.base import Query, Retriever

_WORD = re.compile(r"[a-z]+|\d+")


def bm25_tokenize(text: str, stopwords: frozenset[str] = frozenset()) -> list[str]:
    """Lowercased letter runs and digit runs (LaTeX `\\frac` -> `frac`; single-letter variables kept)."""
    return [t for t in _WORD.findall(text.lower()) if t not in stopwords]


def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


class BM25Retriever(Retriever):
    name = "bm25"
    cacheable = True
    OPTIONS = frozenset({"index_text", "k1", "b", "method", "stopwords"})

    def __init__(self, *, index_text: str = "problem", k1: float = 1.5, b: float = 0.75, method: str = "lucene",
                 stopwords: bool = True, **kwargs: Any):
        super().__init__(**kwargs)
        self.index_text = index_text
        self.k1, self.b, self.method, self.use_stopwords = float(k1), float(b), method, bool(stopwords)
        self._bm25 = None
        self._stop = _stopwords() if self.use_stopwords else frozenset()

    def params(self) -> dict[str, Any]:
        return {"index_text": self.index_text, "k1": self.k1, "b": self.b, "method": self.method,
                "stopwords": "bm25s STOPWORDS_EN" if self.use_stopwords else None,
                "tokenizer": "lowercase [a-z]+|\\d+"}

    def options(self) -> dict[str, Any]:
        return {"index_text": self.index_text, "k1": self.k1, "b": self.b, "method": self.method,
                "stopwords": self.use_stopwords}

    def libraries(self) -> tuple[str, ...]:
        return ("bm25s", "numpy", "scipy")

    def _build(self) -> None:
        import bm25s

        tokens = [bm25_tokenize(t, self._stop) for t in self.corpus.texts(self.index_text)]
        bm25 = bm25s.BM25(k1=self.k1, b=self.b, method=self.method)
        bm25.index(tokens, show_progress=False)
        self._bm25 = bm25

    def _save_files(self, path: Path) -> None:
        self._bm25.save(str(path / "bm25"), show_progress=False)

    def _load_files(self, path: Path) -> None:
        import bm25s

        bm25 = bm25s.BM25.load(str(path / "bm25"), show_progress=False)
        if bm25.scores["num_docs"] != len(self.corpus):
            raise ValueError(f"index has {bm25.scores['num_docs']} documents, corpus {len(self.corpus)}")
        self._bm25 = bm25

    def scores(self, text: str) -> np.ndarray:
        """BM25 score of every corpus record for one query."""
        self._ensure_ready()
        return self._bm25.get_scores(bm25_tokenize(text, self._stop))

    def _search(self, queries: list[Query], n: list[int]) -> list[list[tuple[int, float]]]:
        m = max(n)
        toks = [bm25_tokenize(q.text, self._stop) for q in queries]
        docs, scores = self._bm25.retrieve(toks, k=m, show_progress=False, n_threads=0)
        return [[(int(d), float(s)) for d, s in zip(docs[i][:n[i]], scores[i][:n[i]])] for i in range(len(queries))]
