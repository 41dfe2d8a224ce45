"""Corpus loading (bundled MATH train, JSONL/Parquet with field mappings) and the leak guard."""

from __future__ import annotations

import json

import pytest

from rarft_eval.errors import RarftError
from rarft_eval.retrieval import Corpus, FieldMap, LeakConfig, LeakGuard
from rarft_eval.retrieval.leakage import jaccard, normalize_text, shingles, tokenize

PROVENANCE_SHA256 = "00aa30008a611172529ab775ed6f3af9efd32974625b19181c3ebfc724134e52"


# ---------------------------------------------------------------- corpus

def test_bundled_corpus_is_the_7500_math_train_problems_with_boxed_answers(math_corpus):
    assert len(math_corpus) == 7500
    assert math_corpus.file_sha256 == PROVENANCE_SHA256
    first = math_corpus[0]
    assert first.id == "train/algebra/0.json"
    assert first.answer == "0"  # last \boxed{} of "... a+b=-3+3=\boxed{0}."
    assert first.metadata == {"type": "Algebra", "level": "Level 5"}
    assert first.text.startswith(first.problem) and first.text.endswith(first.solution)
    rec = math_corpus.get("train/algebra/3.json")
    assert rec.answer == "8+4i"
    assert math_corpus.get("train/algebra/24014.json").answer == "2"  # written "\boxed 2"
    # every solution has a \boxed; two of them are an empty \boxed{} in the original MATH files
    assert [r.id for r in math_corpus if not r.answer] == ["train/number_theory/7115.json",
                                                           "train/number_theory/7117.json"]


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_field_mapping_string_and_guessing(tmp_path):
    rows = [{"uuid": "a", "question": "What is 1+1?", "response": "So \\boxed{2}.", "final": "2", "src": "x"},
            {"uuid": "b", "question": "What is 2+3?", "response": "It is \\boxed{5}.", "final": "5", "src": "y"}]
    p = _write_jsonl(tmp_path / "c.jsonl", rows)
    c = Corpus.load(p, fields="id=uuid,problem=question,solution=response,answer=final,metadata=src")
    assert [r.id for r in c] == ["a", "b"]
    assert c[1].problem == "What is 2+3?" and c[1].answer == "5" and c[1].metadata == {"src": "y"}
    guessed = Corpus.load(p)  # question/response/uuid are among the guessed names; answer from \boxed{}
    assert [(r.id, r.problem, r.answer) for r in guessed] == [("a", "What is 1+1?", "2"), ("b", "What is 2+3?", "5")]
    # an explicit `answer` column (DeepScaleR style) wins over the solution's \boxed{}
    p2 = _write_jsonl(tmp_path / "d.jsonl", [{"problem": "P", "solution": "\\boxed{(A)}", "answer": "26"}])
    assert Corpus.load(p2)[0].answer == "26" and Corpus.load(p2)[0].id == "0"
    assert FieldMap.parse({"metadata": ["a", "b"]}).metadata == ("a", "b")


def test_malformed_rows_are_one_line_errors_with_the_line_number(tmp_path):
    p = tmp_path / "bad.jsonl"
    p.write_text('{"problem": "a", "solution": "b"}\n\n{"problem": "c", "solution": \n', encoding="utf-8")
    with pytest.raises(RarftError, match=r"bad\.jsonl:3: malformed JSON") as e:
        Corpus.load(p)
    assert "\n" not in str(e.value)
    p.write_text('{"question": "a", "solution": "b"}\n{"question": "c"}\n', encoding="utf-8")
    with pytest.raises(RarftError, match=r"bad\.jsonl:2: no `.*` for the solution"):
        Corpus.load(p, fields="problem=question")
    p.write_text('{"id": 1, "problem": "a", "solution": "b"}\n{"id": 1, "problem": "c", "solution": "d"}\n')
    with pytest.raises(RarftError, match="duplicate id '1'"):
        Corpus.load(p)
    with pytest.raises(RarftError, match="unknown key"):
        Corpus.load(p, fields="prob=question")
    with pytest.raises(RarftError, match="not found"):
        Corpus.load(tmp_path / "missing.jsonl")


def test_parquet_corpus_has_the_same_content_hash_as_its_jsonl(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    rows = [{"id": f"r{i}", "problem": f"Problem {i}", "solution": f"\\boxed{{{i}}}", "level": i} for i in range(5)]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "c.parquet")
    a = Corpus.load(tmp_path / "c.parquet")
    b = Corpus.load(_write_jsonl(tmp_path / "c.jsonl", rows))
    assert [r.answer for r in a] == ["0", "1", "2", "3", "4"]
    assert a.sha256 == b.sha256 and a.file_sha256 != b.file_sha256
    assert a.subset(3).sha256 != a.sha256


# ---------------------------------------------------------------- leak guard

def test_alnum_tokenization_reproduces_the_near_duplicate_file(math_corpus, math500, near_dups):
    """The shipped list was made with word/symbol 4-gram Jaccard; tokens="alnum" gives the same values."""
    test = {p.id: p.problem for p in math500}
    assert len(near_dups) == 62 and len({d["math500_unique_id"] for d in near_dups}) == 42
    for d in near_dups:
        j = jaccard(test[d["math500_unique_id"]], math_corpus.get(d["train_unique_id"]).problem, tokens="alnum")
        assert j == pytest.approx(d["jaccard_4gram"], abs=6e-4), d


def test_guard_flags_every_listed_near_duplicate_and_nothing_below_threshold(math_corpus, math500, near_dups):
    listed = {(d["math500_unique_id"], d["train_unique_id"]) for d in near_dups}
    problems = [r.problem for r in math_corpus]
    pairs_by_style = {}
    for tokens in ("alnum", "split"):
        found = LeakGuard(problems, LeakConfig(tokens=tokens)).find([p.problem for p in math500])
        pairs = {(math500[q].id, math_corpus[d].id) for q, row in enumerate(found) for d in row}
        assert listed <= pairs, tokens
        # the sparse fast path agrees with the reference Jaccard on every flagged pair
        for q, row in enumerate(found):
            for d, leak in row.items():
                ref = jaccard(math500[q].problem, math_corpus[d].problem, tokens=tokens)
                assert leak.reason == "ngram" and leak.similarity == pytest.approx(ref) and ref >= 0.5
        pairs_by_style[tokens] = pairs
    # "alnum" (the list's own tokens) finds 11 pairs the list misses, all really >= 0.5 (e.g. "arrange the
    # letters of the word ELLIPSE" vs "... RADII"); "split" (default) adds 4 more, among them a true copy
    # that LaTeX spacing hid from "alnum": $|x-2|\leq5.6$ vs $|x-2| \leq 5.6$
    assert len(pairs_by_style["alnum"]) == 73
    assert pairs_by_style["alnum"] < pairs_by_style["split"] and len(pairs_by_style["split"]) == 77
    assert ("test/algebra/170.json", "train/algebra/1477.json") in pairs_by_style["split"] - pairs_by_style["alnum"]
    strict = LeakGuard(problems, LeakConfig(jaccard=0.9, tokens="alnum")).find([p.problem for p in math500])
    assert sum(map(len, strict)) == sum(1 for d in near_dups if d["jaccard_4gram"] >= 0.9) == 5


def test_exact_match_ignores_case_space_and_dollars():
    docs = ["Find $x$ if $2x = 4$.", "Compute  the   SUM of 1 and 2.", "Short"]
    guard = LeakGuard(docs, LeakConfig(jaccard=None))
    found = guard.find(["find x if 2x=4.", "compute the sum of 1 and 2.", "Find $x$ if $2x = 5$.", "short"])
    assert [{d: leak.reason for d, leak in row.items()} for row in found] == [{0: "exact"}, {1: "exact"}, {}, {2: "exact"}]
    assert normalize_text("$A$ b") == normalize_text("a  B")
    assert tokenize(r"\frac{x}{2}") == ["\\", "frac", "{", "x", "}", "{", "2", "}"]
    assert tokenize(r"\leq5.6") == ["\\", "leq", "5", ".", "6"]
    assert tokenize(r"\leq5.6", "alnum") == ["\\", "leq5", ".", "6"]
    assert shingles("a b", 4) == {("a", "b")}  # shorter than n: the whole text is one shingle
    with pytest.raises(ValueError, match="tokens must be one of"):
        LeakConfig(tokens="words")
    both = LeakGuard(docs).find(["Find $x$ if $2x = 4$!"])  # not exact, but near
    assert both[0][0].reason == "ngram" and both[0][0].similarity >= 0.5
