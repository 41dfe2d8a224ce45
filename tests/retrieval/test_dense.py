"""semantic and benefit: the real offline MiniLM (sentence-transformers) over real faiss indexes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rarft_eval.errors import RarftError
from rarft_eval.retrieval import Query, load_retriever, make_retriever
from rarft_eval.retrieval.dense import DEFAULT_MODEL_NAME, build_faiss_index, default_model_path
from rarft_eval.retrieval.leakage import jaccard

# (paraphrase, the corpus record it restates); none is a near duplicate (4-gram Jaccard < 0.5)
PARAPHRASES = [
    ("A rectangle has a perimeter of 24 inches. Find the largest area, in square inches, that it can have.",
     "train/algebra/4.json"),
    ("How far apart are the points (7,3) and (-5,-2)?", "train/algebra/8.json"),
    (("A colony of bacteria doubles every 4 hours. Starting from 500 cells, after how many hours will the colony "
     "reach 32,000 cells?"), "train/algebra/54.json"),
    ("A TV is marked down by 40%, and later by another 40%. Overall, what percent off the original price is it?",
     "train/algebra/65.json"),
    ("Segment AB with A=(3,5) and B=(7,10) is a diameter of a circle. Find the circle's area.",
     "train/algebra/74.json"),
]


def test_default_model_is_the_offline_minilm():
    path = default_model_path()
    assert (path / "model.safetensors").is_file() and (path / "modules.json").is_file()


def test_paraphrase_retrieves_its_original_at_rank_1(semantic, small_corpus):
    for text, want in PARAPHRASES:
        assert jaccard(text, small_corpus.get(want).problem) < 0.5, text
    rows = semantic.retrieve([t for t, _ in PARAPHRASES], 3)
    assert [row[0].id for row in rows] == [want for _, want in PARAPHRASES]
    for row in rows:
        assert row[0].score > row[1].score >= row[2].score  # cosine, best first
        assert 0.5 < row[0].score <= 1.0 + 1e-5
    assert semantic.last_stats["excluded_leaks"] == 0
    m = semantic.manifest()
    assert m["model"]["name"] == DEFAULT_MODEL_NAME and len(m["model"]["weights_sha256"]) == 64
    assert m["params"]["index_type"] == "flat" and m["corpus"]["sha256"] == small_corpus.sha256


def test_faiss_flat_equals_numpy_bruteforce_and_ann_indexes_agree(semantic):
    emb = semantic.embeddings
    assert emb.shape == (len(semantic.corpus), 384) and np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-4)
    q = semantic.embed_queries([t for t, _ in PARAPHRASES])
    scores, idx = semantic._faiss.search(q, 5)
    brute = np.argsort(-(q @ emb.T), axis=1)[:, :5]
    assert (idx == brute).all()
    assert np.allclose(scores, np.take_along_axis(q @ emb.T, brute, 1), atol=1e-5)
    for kind in ("hnsw", "ivf"):
        ann = build_faiss_index(emb, kind, ivf_nprobe=64)
        _, got = ann.search(q, 1)
        assert (got[:, 0] == brute[:, 0]).all(), kind


def test_the_test_problem_and_its_near_duplicates_are_never_retrieved(semantic, small_corpus):
    original = small_corpus.get("train/algebra/4.json").problem
    near = original.replace("24 inches", "36 inches")
    rows = semantic.retrieve([original, near], 2)
    assert all(d.id != "train/algebra/4.json" for row in rows for d in row)
    assert [e["reason"] for e in semantic.last_stats["excluded"]] == ["exact", "ngram"]
    assert semantic.last_stats["excluded_leaks"] == 2
    # the optional embedding check catches a copy that the text checks were told to ignore
    emb_only = make_retriever("semantic", small_corpus, cache_dir=semantic.cache_dir,
                              leak={"exact": False, "jaccard": None, "embedding": 0.98})
    rows = emb_only.retrieve([original], 1)
    assert rows[0][0].id != "train/algebra/4.json" and emb_only.index_status == "loaded"
    assert emb_only.last_stats["excluded"][0]["reason"] == "embedding"
    off = make_retriever("semantic", small_corpus, cache_dir=semantic.cache_dir,
                         leak={"exact": False, "jaccard": None})
    assert off.retrieve([original], 1)[0][0].id == "train/algebra/4.json"  # the guard is what removed it
    # bm25 and random get the embedding check from the default MiniLM index of the same corpus (cached)
    for spec in ("bm25", "random"):
        r = make_retriever(spec, small_corpus, cache_dir=semantic.cache_dir,
                           leak={"exact": False, "jaccard": None, "embedding": 0.98})
        assert all(d.id != "train/algebra/4.json" for d in r.retrieve([original], 5)[0])
        assert r._embedding_helper().index_status == "loaded"
        assert r.manifest()["leak_guard"]["embedding_model"] == DEFAULT_MODEL_NAME
    assert r.last_stats["leak_candidates"] == 1


def test_semantic_index_reloads_identically_and_rebuilds_when_the_manifest_differs(semantic, small_corpus):
    queries = [t for t, _ in PARAPHRASES]
    want = [[(d.id, round(d.score, 5)) for d in row] for row in semantic.retrieve(queries, 4)]
    again = make_retriever("semantic", small_corpus, cache_dir=semantic.cache_dir)
    got = again.retrieve(queries, 4)
    assert again.index_status == "loaded" and again.index_path == semantic.index_path
    assert [[(d.id, round(d.score, 5)) for d in row] for row in got] == want
    for name in ("embeddings.npy", "faiss.index", "ids.json", "manifest.json"):
        assert (semantic.index_path / name).is_file()
    # a different model hash in the manifest (e.g. a retrained checkpoint at the same path) forces a rebuild;
    # checked on a 6-record corpus so the rebuild is quick
    tiny = small_corpus.subset(6)
    first = make_retriever("semantic", tiny, cache_dir=semantic.cache_dir)
    first.index()
    path = first.index_path / "manifest.json"
    doc = json.loads(path.read_text())
    doc["identity"]["model"]["weights_sha256"] = "0" * 64
    path.write_text(json.dumps(doc))
    second = make_retriever("semantic", tiny, cache_dir=semantic.cache_dir)
    second.index()
    assert second.index_status == "rebuilt (manifest differs: model)"
    assert np.allclose(second.embeddings, first.embeddings, atol=1e-5)
    # a truncated faiss file on explicit load is a one-line error
    saved = first.save(semantic.cache_dir / "saved-tiny")
    assert load_retriever(saved, tiny).retrieve(["distance between points"], 1)[0][0].id == "train/algebra/8.json"
    (saved / "faiss.index").write_bytes(b"\0" * 10)
    with pytest.raises(RarftError, match="is corrupt") as e:
        load_retriever(saved, tiny)
    assert "\n" not in str(e.value)


@pytest.fixture()
def checkpoint(checkpoint_dir):
    yield checkpoint_dir
    (checkpoint_dir / "rarft_retriever.json").unlink(missing_ok=True)


def test_benefit_loads_a_sentence_transformers_checkpoint(checkpoint, small_corpus, semantic):
    tiny = small_corpus.subset(6)
    (checkpoint / "rarft_retriever.json").write_text(json.dumps({"corpus_sha256": tiny.sha256}))
    r = make_retriever(f"benefit:{checkpoint}", tiny, cache_dir=semantic.cache_dir)
    rows = r.retrieve(["How far apart are the points (7,3) and (-5,-2)?"], 2)
    assert rows[0][0].id == "train/algebra/8.json"
    sem = make_retriever("semantic", tiny, cache_dir=semantic.cache_dir)
    same = sem.retrieve(["How far apart are the points (7,3) and (-5,-2)?"], 2)
    assert [(d.id, round(d.score, 4)) for d in rows[0]] == [(d.id, round(d.score, 4)) for d in same[0]]
    m = r.manifest()
    assert m["name"] == "benefit" and m["model"]["path"] == str(checkpoint.resolve())
    assert m["model"]["weights_sha256"] == sem.manifest()["model"]["weights_sha256"]  # same weights, same hash
    assert m["model"]["checkpoint_config"]["corpus_sha256"] == tiny.sha256
    assert r.index_path.name.startswith("benefit-") and r.index_path != sem.index_path


def test_benefit_checkpoint_for_another_corpus_is_refused(checkpoint, small_corpus, tmp_path):
    (checkpoint / "rarft_retriever.json").write_text(json.dumps({"corpus_sha256": "ab" * 32}))
    r = make_retriever(f"benefit:{checkpoint}", small_corpus)
    with pytest.raises(RarftError) as e:
        r.retrieve(["x"], 1)
    msg = str(e.value)
    assert "was trained for corpus sha256 abababababab" in msg and "\n" not in msg
    (checkpoint / "rarft_retriever.json").write_text("{oops")
    with pytest.raises(RarftError, match="rarft_retriever.json is not valid JSON"):
        make_retriever(f"benefit:{checkpoint}", small_corpus)
    not_a_model = tmp_path / "notes"
    not_a_model.mkdir()
    (not_a_model / "README.md").write_text("a folder, not a model")
    with pytest.raises(RarftError, match="is not a sentence-transformers model directory"):
        make_retriever(f"benefit:{not_a_model}", small_corpus)


def test_benefit_checkpoint_prefixes_are_applied(checkpoint, small_corpus, semantic):
    tiny = small_corpus.subset(4)
    (checkpoint / "rarft_retriever.json").write_text(json.dumps({"query_prefix": "query: ", "doc_prefix": "doc: "}))
    r = make_retriever(f"benefit:{checkpoint}", tiny, cache_dir=semantic.cache_dir)
    r.index()
    assert r.params()["query_prefix"] == "query: " and r.params()["doc_prefix"] == "doc: "
    want = r.embedder.encode([tiny[0].problem], prefix="doc: ")
    assert np.allclose(r.embeddings[0], want[0], atol=1e-5)
    plain = r.embedder.encode([tiny[0].problem])
    assert not np.allclose(plain[0], want[0], atol=1e-3)
    assert r.embed_queries(["abc"]).shape == (1, 384)
    assert Query.of("abc").key.startswith("text/")
