"""Retrievers: specs, none/random/bm25/oracle, the leak guard over the full corpus, the on-disk index."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rarft_eval.errors import RarftError
from rarft_eval.grading.types import GradeSpec
from rarft_eval.retrieval import (
    Corpus,
    CorpusRecord,
    Demonstration,
    evaluate_retriever,
    load_retriever,
    make_retriever,
    recall_at_k,
)
from rarft_eval.retrieval.leakage import jaccard
from rarft_eval.tasks import Problem


def P(pid: str, text: str, task: str = "t") -> Problem:
    return Problem(task, pid, text, "", GradeSpec())


def ids(rows) -> list[list[str]]:
    return [[d.id for d in row] for row in rows]


# ---------------------------------------------------------------- specs and errors

@pytest.mark.parametrize("spec, needle", [
    ("dense", "unknown retriever 'dense'; available: none, random, bm25"),
    ("bm25:foo", "retriever bm25 takes no argument"),
    ("random:3", "retriever random takes no argument"),
    ("benefit", "retriever benefit needs a path: --retriever benefit:CHECKPOINT_PATH"),
    ("oracle:", "retriever oracle needs a path"),
    ("benefit:/nonexistent/ckpt", "benefit checkpoint /nonexistent/ckpt not found"),
    ("oracle:/nonexistent/labels.jsonl", "oracle labels file /nonexistent/labels.jsonl not found"),
    ("semantic:/nonexistent/model", "model path /nonexistent/model not found"),
    ("semantic:nobody/no-such-model", "neither a local directory nor in the local Hugging Face cache"),
])
def test_bad_specs_are_one_line_errors(spec, needle):
    with pytest.raises(RarftError) as e:
        make_retriever(spec)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_unknown_option_and_missing_corpus(tmp_path):
    with pytest.raises(RarftError, match="unknown option.*k3.*known: b, gold, index_text, k1"):
        make_retriever("bm25", k3=1)
    r = make_retriever("bm25", tmp_path / "nope.jsonl")  # construction is cheap; the corpus loads on use
    with pytest.raises(RarftError, match="nope.jsonl not found"):
        r.retrieve(["x"], 1)


def test_none_returns_nothing_and_the_runner_contract_holds():
    r = make_retriever("none")
    assert r.retrieve([P("1", "a"), P("2", "b")], 0) == [[], []]
    assert r.manifest() == {"name": "none"}
    assert r.last_stats["excluded_leaks"] == 0
    # Demonstration keeps its positional constructor (prompts and older code build it so)
    d = Demonstration("d1", "p", "s", 0.5)
    assert (d.id, d.score, d.answer, d.rank) == ("d1", 0.5, "", 1)


# ---------------------------------------------------------------- random

def test_random_is_seeded_per_query_and_independent_of_batch_order(small_corpus):
    probs = [P(str(i), f"problem {i}") for i in range(8)]
    a = make_retriever("random", small_corpus, seed=1).retrieve(probs, 3)
    b = make_retriever("random", small_corpus, seed=1).retrieve(probs[::-1], 3)[::-1]
    c = make_retriever("random", small_corpus, seed=2).retrieve(probs, 3)
    one = make_retriever("random", small_corpus, seed=1).retrieve(probs[2:3], 1)
    assert ids(a) == ids(b)
    assert ids(a) != ids(c)
    assert ids(one)[0] == ids(a)[2][:1]  # k=1 is the prefix of k=3
    assert all(len(set(row)) == 3 for row in ids(a))
    assert len({tuple(row) for row in ids(a)}) == 8  # queries do not share one stream
    other_task = make_retriever("random", small_corpus, seed=1).retrieve([P("0", "problem 0", task="u")], 3)
    assert ids(other_task)[0] != ids(a)[0]  # the key is task/id


# ---------------------------------------------------------------- bm25

def _tiny(tmp_path) -> Corpus:
    rows = [
        {"id": "geo", "problem": "A triangle has sides 3, 4 and 5. What is its area?", "solution": "\\boxed{6}"},
        {"id": "nt", "problem": "How many positive divisors does 36 have?", "solution": "\\boxed{9}"},
        {"id": "zeta", "problem": "Evaluate the Riemann zeta function squiggle at two.", "solution": "\\boxed{x}"},
        {"id": "alg", "problem": "Solve 2x + 3 = 7 for x.", "solution": "\\boxed{2}"},
    ]
    p = tmp_path / "tiny.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return Corpus.load(p)


def test_bm25_ranks_the_exact_term_match_first(tmp_path):
    r = make_retriever("bm25", _tiny(tmp_path))
    rows = r.retrieve([P("q1", "what is a squiggle?"), P("q2", "count the divisors of 100")], 2)
    assert rows[0][0].id == "zeta" and rows[1][0].id == "nt"
    assert rows[0][0].score > rows[0][1].score >= 0
    assert rows[0][0].answer == "x" and rows[0][0].rank == 1 and rows[0][1].rank == 2
    assert r.rank(["what is a squiggle?"], 1) == [[("zeta", pytest.approx(rows[0][0].score))]]


def test_full_corpus_leak_guard_never_returns_a_listed_near_duplicate(math_corpus, math500, near_dups):
    """The 42 MATH-500 problems with known near duplicates in MATH train, over the full 7.5k corpus."""
    listed: dict[str, set[str]] = {}
    for d in near_dups:
        listed.setdefault(d["math500_unique_id"], set()).add(d["train_unique_id"])
    probs = [p for p in math500 if p.id in listed]
    assert len(probs) == 42
    k = 5
    for spec in ("bm25", "random"):
        r = make_retriever(spec, math_corpus)
        rows = r.retrieve(probs, k)
        assert all(len(row) == k for row in rows)
        for p, row in zip(probs, rows):
            got = {d.id for d in row}
            assert not got & listed[p.id], (spec, p.id)
            assert all(jaccard(p.problem, d.problem) < 0.5 for d in row)
        stats = r.last_stats
        assert stats["queries_with_leak_candidates"] == 42 and stats["leak_candidates"] == 73
        if spec == "bm25":
            # bm25 would have shown 72 near duplicates (41 of the 42 problems) in its top 5: all removed
            assert stats["excluded_leaks"] == 72 and stats["queries_with_excluded_leaks"] == 41
            assert stats["excluded_by_reason"] == {"ngram": 72}
            first = stats["excluded"][0]
            assert first["reason"] == "ngram" and first["similarity"] >= 0.5 and first["task"] == "math500"
            unguarded = make_retriever("bm25", math_corpus, leak={"exact": False, "jaccard": None})
            top1 = unguarded.retrieve(probs, 1)
            assert sum(row[0].id in listed[p.id] for p, row in zip(probs, top1)) >= 35  # 38 with bm25s 0.3
            assert unguarded.last_stats["excluded_leaks"] == 0
        assert stats["mean_latency_ms"] > 0
        m = r.manifest()
        json.dumps(m), json.dumps(stats)  # the runner writes both into JSON files
        assert m["stats"]["by_task"]["math500"]["excluded_leaks"] == stats["excluded_leaks"]
        assert m["corpus"]["n_records"] == 7500 and m["leak_guard"]["jaccard"] == 0.5


def test_bm25_index_is_reused_rebuilt_on_mismatch_and_on_corruption(small_corpus, tmp_path):
    cache = tmp_path / "c"
    queries = ["Find the distance between two points", "rectangle perimeter area maximum"]
    first = make_retriever("bm25", small_corpus, cache_dir=cache)
    want = ids(first.retrieve(queries, 3))
    assert first.index_status == "built"
    folder = first.index_path
    assert folder.parent == cache / "indexes" and folder.name.startswith("bm25-")
    assert [p.name for p in (cache / "indexes").iterdir()] == [folder.name]  # no temp folders left
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["identity"]["corpus_sha256"] == small_corpus.sha256
    assert manifest["identity"]["libraries"]["bm25s"]

    again = make_retriever("bm25", small_corpus, cache_dir=cache)
    assert ids(again.retrieve(queries, 3)) == want and again.index_status == "loaded"

    manifest["identity"]["libraries"]["bm25s"] = "0.0.1"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    stale = make_retriever("bm25", small_corpus, cache_dir=cache)
    assert ids(stale.retrieve(queries, 3)) == want
    assert stale.index_status == "rebuilt (manifest differs: libraries)"
    assert json.loads((folder / "manifest.json").read_text())["identity"]["libraries"]["bm25s"] != "0.0.1"

    for f in (folder / "bm25").iterdir():
        if f.name.endswith(".npy"):
            f.write_bytes(b"garbage")
    broken = make_retriever("bm25", small_corpus, cache_dir=cache)
    assert ids(broken.retrieve(queries, 3)) == want
    assert broken.index_status.startswith("rebuilt (unreadable")

    other = make_retriever("bm25", small_corpus, cache_dir=cache, k1=0.9)  # other parameters, other folder
    other.index()
    assert other.index_path != folder and other.index_status == "built"


def test_saved_index_loads_with_identical_results_and_corrupt_one_is_an_error(small_corpus, tmp_path):
    r = make_retriever("bm25", small_corpus, b=0.5)
    queries = ["complex numbers i", "geometric sequence term"]
    want = r.retrieve(queries, 4)
    path = r.save(tmp_path / "saved")
    back = load_retriever(path, small_corpus)
    assert back.index_status == "loaded" and back.b == 0.5
    assert [[(d.id, d.score) for d in row] for row in back.retrieve(queries, 4)] == \
        [[(d.id, d.score) for d in row] for row in want]
    with pytest.raises(RarftError, match="built on another corpus"):
        load_retriever(path, small_corpus.subset(10))
    for f in (path / "bm25").glob("*.npy"):
        f.write_bytes(b"junk")
    with pytest.raises(RarftError, match="is corrupt") as e:
        load_retriever(path, small_corpus)
    assert "\n" not in str(e.value)
    (path / "manifest.json").write_text("{not json")
    with pytest.raises(RarftError, match="is corrupt .no readable manifest.json"):
        load_retriever(path, small_corpus)


def test_demonstrations_render_into_the_prompt_like_the_runner_does(small_corpus):
    from rarft_eval.prompts import render_user_message
    from rarft_eval.tasks import all_tasks

    spec = all_tasks()["math500"].config.prompt
    r = make_retriever("bm25", small_corpus)
    prob = P("q", "What is the maximum area of a rectangle with perimeter 40 inches?", task="math500")
    demos = r.retrieve([prob], 1)
    assert demos[0][0].id == "train/algebra/4.json"
    text = render_user_message(prob, spec, demos[0])
    assert "Reference problem:\nThe perimeter of a rectangle is 24 inches." in text
    assert text.index("Reference solution:") < text.index(prob.problem)


# ---------------------------------------------------------------- oracle and recall@k

def _labels(tmp_path, rows) -> Path:
    p = tmp_path / "labels.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return p


def test_oracle_returns_the_best_labelled_demos_and_skips_leaks(small_corpus, tmp_path):
    leak_src = small_corpus.get("train/algebra/8.json")
    rows = [
        {"query_id": "q1", "demo_id": "train/algebra/3.json", "benefit": 0.1},
        {"query_id": "q1", "demo_id": "train/algebra/5.json", "benefit": 0.7},
        {"query_id": "q1", "demo_id": "train/algebra/7.json", "benefit": -0.2},
        {"query_id": "t/q2", "demo_id": "train/algebra/8.json", "label": 1},  # the query itself: a leak
        {"query_id": "t/q2", "demo_id": "train/algebra/9.json", "label": 0.5},
        {"query_id": "q1", "demo_id": "not/in/corpus", "benefit": 9},
    ]
    r = make_retriever(f"oracle:{_labels(tmp_path, rows)}", small_corpus)
    out = r.retrieve([P("q1", "anything"), P("q2", leak_src.problem), P("q3", "unlabelled")], 2)
    assert [[(d.id, d.score) for d in row] for row in out] == [
        [("train/algebra/5.json", 0.7), ("train/algebra/3.json", 0.1)],
        [("train/algebra/9.json", 0.5)],
        [],
    ]
    assert r.last_stats["excluded_leaks"] == 1 and r.last_stats["excluded"][0]["reason"] == "exact"
    m = r.manifest()
    assert m["queries_without_labels"] == 1 and m["params"]["unknown_demo_ids"] == 1
    bad = _labels(tmp_path, [{"query_id": "q", "demo_id": "d"}])
    with pytest.raises(RarftError, match="labels.jsonl:1: no value"):
        make_retriever(f"oracle:{bad}", small_corpus).retrieve(["x"], 1)


def test_recall_at_k_hit_and_fraction():
    gold = {"a": {"d1": 1.0, "d2": 0.0}, "b": {"d3": 0.5, "d4": 0.2}, "c": {"d5": -1.0}}
    ranked = {"a": ["d2", "d1", "d9"], "b": ["d4", "d7"], "c": ["d5"], "z": ["d1"]}
    hit = recall_at_k(ranked, gold, ks=(1, 2))
    assert hit == {"recall@1": 0.5, "recall@2": 1.0, "n_queries": 2, "mode": "hit"}  # c has no positive
    frac = recall_at_k(ranked, gold, ks=(1, 2), mode="fraction")
    assert frac["recall@1"] == 0.5 and frac["recall@2"] == pytest.approx((1 / 1 + 1 / 2) / 2)


def test_evaluate_retriever_reports_recall_for_bm25_random_and_oracle(small_corpus, tmp_path):
    # gold: the demo that shares the query's topic
    queries = [P("q1", "What is the distance between the points (1,2) and (4,6)?"),
               P("q2", "Rationalize the denominator of 1/(sqrt 2 + sqrt 3 + sqrt 5).")]
    rows = [{"query_id": "q1", "demo_id": "train/algebra/8.json", "label": 1},
            {"query_id": "q2", "demo_id": "train/algebra/23.json", "label": 1},
            {"query_id": "q2", "demo_id": "train/algebra/3.json", "label": 0}]
    labels = _labels(tmp_path, rows)
    bm25 = evaluate_retriever(make_retriever("bm25", small_corpus), queries, labels)
    oracle = evaluate_retriever(make_retriever(f"oracle:{labels}", small_corpus), queries, labels)
    assert bm25["recall@1"] == 1.0 and bm25["n_queries"] == 2 and bm25["excluded_leaks"] == 0
    assert oracle["recall@1"] == oracle["recall@5"] == 1.0
    rnd = evaluate_retriever(make_retriever("random", small_corpus), queries, labels, ks=(1,))
    assert rnd["recall@1"] in (0.0, 0.5, 1.0) and rnd["mean_latency_ms"] >= 0


def test_gold_labels_put_recall_at_1_and_5_into_last_stats(small_corpus, tmp_path):
    """The runner stores last_stats per task; with gold labels they carry recall@1/@5 (depth 5 even for k=1)."""
    rows = [{"query_id": "q1", "demo_id": "train/algebra/8.json", "label": 1},
            {"query_id": "q2", "demo_id": "train/algebra/19.json", "label": 1}]
    labels = _labels(tmp_path, rows)
    r = make_retriever("bm25", small_corpus, gold=labels)
    out = r.retrieve([P("q1", "distance between the points (1,1) and (4,5)"),
                      P("q2", "Evaluate i^3 + i^5, where i is the imaginary unit"), P("q3", "unlabelled")], 1)
    assert [len(row) for row in out] == [1, 1, 1]
    s = r.last_stats
    assert s["recall_queries"] == 2 and s["recall@1"] in (0.5, 1.0) and s["recall@5"] == 1.0
    assert r.manifest()["gold_labels"] == str(labels)
    oracle = make_retriever(f"oracle:{labels}", small_corpus)
    oracle.retrieve([P("q1", "x"), P("q2", "y")], 1)
    assert oracle.last_stats["recall@1"] == 1.0  # its own labels are the gold: the upper bound
    with pytest.raises(RarftError, match="gold labels file .* not found"):
        make_retriever("bm25", small_corpus, gold=tmp_path / "none.jsonl")


def test_in_memory_corpus_records(tmp_path):
    c = Corpus([CorpusRecord("x", "Find the sum 1+2.", "\\boxed{3}", "3"),
                CorpusRecord("y", "Name a prime larger than 10.", "\\boxed{11}", "11")])
    r = make_retriever("bm25", c)
    assert ids(r.retrieve(["prime numbers"], 1)) == [["y"]]
    assert r.index_status == "built"
