"""Leakage guard: a demonstration that is the test problem itself, or a near duplicate, is never retrieved.

Two checks, both against the corpus record's *problem* text:

* exact: the normalized texts are equal (case, whitespace and `$` ignored, Unicode NFKC);
* n-gram: word/symbol n-gram Jaccard >= threshold (default 4-grams, 0.5). Tokens (`tokens="split"`,
  the default) are runs of letters, runs of digits, and every other non-space character on its own,
  of the lowercased text. `tokens="alnum"` keeps letter+digit runs together (`\\leq5` is one token):
  the tokenization behind `tasks/data/math_train/near_dups_vs_math500.jsonl`, whose 62 Jaccard
  values it reproduces to the rounding. On MATH-500 vs MATH train, "split" flags the same 73 pairs
  as "alnum" plus 4 (one a true duplicate that LaTeX spacing hid: `$|x-2|\\leq5.6$` vs
  `$|x-2| \\leq 5.6$`).
* embedding (optional, `embedding=0.95`): cosine of normalized MiniLM (or the dense retriever's own)
  embeddings >= the threshold; see `base.Retriever._extra_leaks`.

The guard is built once per corpus: the corpus shingles go into a sparse binary matrix, and the
intersections of a batch of queries with every record come from one sparse product (500 MATH-500
queries x 7,500 records: well under a second).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Sequence

import numpy as np

_TOKENS = {
    "split": re.compile(r"[a-z]+|[0-9]+|[^a-z0-9\s]"),
    "alnum": re.compile(r"[a-z0-9]+|[^a-z0-9\s]"),
}


def tokenize(text: str, tokens: str = "split") -> list[str]:
    """Word/symbol tokens of the lowercased text (see the module doc for the two styles)."""
    return _TOKENS[tokens].findall(unicodedata.normalize("NFKC", text).lower())


def normalize_text(text: str) -> str:
    """The key of the exact-match check: tokens joined, without `$`."""
    return "".join(t for t in tokenize(text) if t != "$")


def shingles(text: str, n: int = 4, tokens: str = "split") -> set[tuple[str, ...]]:
    """The set of word/symbol n-grams (a text shorter than n tokens is one shingle)."""
    toks = tokenize(text, tokens)
    if not toks:
        return set()
    if len(toks) < n:
        return {tuple(toks)}
    return {tuple(toks[i:i + n]) for i in range(len(toks) - n + 1)}


def jaccard(a: str, b: str, n: int = 4, tokens: str = "split") -> float:
    """n-gram Jaccard similarity of two texts (the reference the guard's fast path must match)."""
    sa, sb = shingles(a, n, tokens), shingles(b, n, tokens)
    union = len(sa | sb)
    return len(sa & sb) / union if union else 0.0


@dataclass(frozen=True)
class LeakConfig:
    """What counts as a leak. `jaccard=None` turns the n-gram check off; `embedding` is for dense retrievers."""

    exact: bool = True
    jaccard: float | None = 0.5
    ngram: int = 4
    embedding: float | None = None
    tokens: str = "split"

    def __post_init__(self):
        if self.tokens not in _TOKENS:
            raise ValueError(f"tokens must be one of {', '.join(_TOKENS)} (got {self.tokens!r})")

    def to_dict(self) -> dict:
        return {"exact": self.exact, "jaccard": self.jaccard, "ngram": self.ngram, "tokens": self.tokens,
                "embedding": self.embedding}


@dataclass(frozen=True)
class Leak:
    index: int  # position of the record in the corpus
    reason: str  # "exact" | "ngram" | "embedding"
    similarity: float


class LeakGuard:
    """Finds, for each query text, the corpus records it must not be shown."""

    def __init__(self, corpus_problems: Sequence[str], config: LeakConfig | None = None):
        from scipy import sparse

        self.config = config or LeakConfig()
        self.n_docs = len(corpus_problems)
        self._exact: dict[str, list[int]] = {}
        if self.config.exact:
            for i, text in enumerate(corpus_problems):
                key = normalize_text(text)
                if key:
                    self._exact.setdefault(key, []).append(i)
        self._vocab: dict[tuple[str, ...], int] = {}
        self._matrix = None
        if self.config.jaccard is not None:
            rows: list[int] = []
            cols: list[int] = []
            sizes = np.zeros(self.n_docs, dtype=np.int64)
            vocab = self._vocab
            for i, text in enumerate(corpus_problems):
                sh = shingles(text, self.config.ngram, self.config.tokens)
                sizes[i] = len(sh)
                for s in sh:
                    j = vocab.get(s)
                    if j is None:
                        j = vocab[s] = len(vocab)
                    rows.append(i)
                    cols.append(j)
            data = np.ones(len(rows), dtype=np.float32)
            # (vocab x docs), CSR, so a query batch (q x vocab) times it gives (q x docs) intersections
            self._matrix = sparse.csr_matrix((data, (cols, rows)), shape=(max(len(vocab), 1), self.n_docs))
            self._sizes = sizes

    def find(self, query_texts: Sequence[str]) -> list[dict[int, Leak]]:
        """For each query, {corpus position: Leak} (exact match wins over n-gram)."""
        out: list[dict[int, Leak]] = [{} for _ in query_texts]
        if self.config.jaccard is not None and self._matrix is not None and len(query_texts):
            from scipy import sparse

            rows: list[int] = []
            cols: list[int] = []
            qsizes = np.zeros(len(query_texts), dtype=np.int64)
            for qi, text in enumerate(query_texts):
                sh = shingles(text, self.config.ngram, self.config.tokens)
                qsizes[qi] = len(sh)
                for s in sh:
                    j = self._vocab.get(s)
                    if j is not None:
                        rows.append(qi)
                        cols.append(j)
            q = sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)),
                                  shape=(len(query_texts), self._matrix.shape[0]))
            inter = (q @ self._matrix).tocoo()
            if inter.nnz:
                i_q, i_d, n_int = inter.row, inter.col, inter.data.astype(np.float64)
                union = qsizes[i_q] + self._sizes[i_d] - n_int
                jac = np.divide(n_int, union, out=np.zeros_like(n_int), where=union > 0)
                # 1e-9 keeps a Jaccard of exactly the threshold (e.g. 20/40 at 0.5) on the leak side
                hit = jac >= self.config.jaccard - 1e-9
                for qi, di, jv in zip(i_q[hit], i_d[hit], jac[hit]):
                    out[int(qi)][int(di)] = Leak(int(di), "ngram", float(jv))
        if self.config.exact:
            for qi, text in enumerate(query_texts):
                for di in self._exact.get(normalize_text(text), ()):
                    out[qi][di] = Leak(di, "exact", 1.0)
        return out
