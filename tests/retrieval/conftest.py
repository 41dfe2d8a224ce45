"""Shared fixtures: the real MATH train corpus, MATH-500, and a small semantic index built once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rarft_eval.retrieval import Corpus, default_near_dups_path, make_retriever
from rarft_eval.tasks import resolve_tasks

# embedded once per session: the first 20 MATH train records (algebra/0.json, 3.json, ...) plus three
# that test_dense.py paraphrases
SMALL_EXTRA = ("train/algebra/54.json", "train/algebra/65.json", "train/algebra/74.json")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own index cache unless it passes cache_dir explicitly."""
    monkeypatch.setenv("RARFT_EVAL_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="session")
def math_corpus() -> Corpus:
    return Corpus.load()


@pytest.fixture(scope="session")
def small_corpus(math_corpus) -> Corpus:
    records = list(math_corpus.records[:20]) + [math_corpus.get(i) for i in SMALL_EXTRA]
    return Corpus(records, source="math_train[small]", file_sha256=math_corpus.file_sha256)


@pytest.fixture(scope="session")
def math500():
    return resolve_tasks("math500")[0].load_problems()


@pytest.fixture(scope="session")
def near_dups() -> list[dict]:
    return [json.loads(line) for line in default_near_dups_path().read_text().splitlines() if line.strip()]


@pytest.fixture(scope="session")
def semantic_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("semantic-cache")


@pytest.fixture(scope="session")
def semantic(small_corpus, semantic_cache):
    """The default MiniLM semantic retriever over the small corpus (real sentence-transformers + faiss)."""
    r = make_retriever("semantic", small_corpus, cache_dir=semantic_cache)
    r.index()
    assert r.index_status == "built"
    return r


@pytest.fixture(scope="session")
def checkpoint_dir(tmp_path_factory) -> Path:
    """A 'trained' benefit checkpoint: a copy of the MiniLM directory (as the training side will write one).

    One per session, so the model loads once; tests rewrite its rarft_retriever.json."""
    import shutil

    from rarft_eval.retrieval.dense import default_model_path

    dst = tmp_path_factory.mktemp("benefit") / "ckpt"
    shutil.copytree(default_model_path(), dst)
    return dst
