"""The external case file (tests/grading/external_cases.jsonl): verdicts asserted by other checkers' tests.

Only the ``dev`` part is graded here; the ``heldout`` part is measured by ``benchmarks/grader.py
--heldout`` (docs/grading.md records its one look). All rows go through one ``Grader.grade_many``
call, so both verdicts (ours and plain math-verify) are computed for every row.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from rarft_eval.grading import GradeSpec

PATH = Path(__file__).parent / "external_cases.jsonl"
ROWS = [json.loads(line) for line in PATH.read_text(encoding="utf-8").splitlines() if line.strip()]
DEV = [r for r in ROWS if r["split"] == "dev"]

# dev cases both graders get wrong, and why (docs/grading.md): none of them is math-verify-only-right
BOTH_WRONG = {
    "le-math_numina_cases-L1140": "the gold is three boxes with prose between them; lighteval reads only the last "
    "two as the answer, math-verify and rarft read 1, 2, 3",
    "mario-is_equiv_matrix-L226": "the gold string is double-escaped (\\\\begin{matrix} ... \\\\frac12): not LaTeX either "
    "grader parses",
}


@pytest.fixture(scope="module")
def verdicts(grader):
    items = [(r["response"], r["gold"], GradeSpec(**r["spec"])) for r in DEV]
    return dict(zip((r["id"] for r in DEV), grader.grade_many(items)))


def test_file_is_well_formed():
    ids = [r["id"] for r in ROWS]
    assert len(ids) == len(set(ids)), "duplicate ids"
    assert len(ROWS) >= 400
    assert {r["split"] for r in ROWS} == {"dev", "heldout"}
    assert 0.2 < sum(r["split"] == "heldout" for r in ROWS) / len(ROWS) < 0.4
    for r in ROWS:
        assert r["expected"] in {"correct", "wrong"}
        src = r["source"]
        assert src["repo"] and src["path"] and len(src["commit"]) == 40, r["id"]
        GradeSpec(**r["spec"])
    # both outcomes, several sources
    assert sum(r["expected"] == "wrong" for r in ROWS) > 40
    assert len({r["source"]["repo"] for r in ROWS}) >= 6


@pytest.mark.parametrize("row", DEV, ids=[r["id"] for r in DEV])
def test_dev_case(row, verdicts):
    v = verdicts[row["id"]]
    want = row["expected"] == "correct"
    assert isinstance(v.math_verify_correct, bool)
    if row["id"] in BOTH_WRONG:
        assert v.correct != want and v.math_verify_correct != want, "a known failure changed: update BOTH_WRONG"
        return
    assert v.correct == want, f"extracted={v.extracted!r} rule={v.extraction_rule} decided_by={v.decided_by} {v.reason}"


def test_never_worse_than_math_verify_in_any_category(verdicts):
    per = defaultdict(lambda: [0, 0])
    for r in DEV:
        v = verdicts[r["id"]]
        want = r["expected"] == "correct"
        per[r["category"]][0] += v.correct == want
        per[r["category"]][1] += v.math_verify_correct == want
    worse = {c: (ours, mv) for c, (ours, mv) in per.items() if ours < mv}
    assert not worse, worse
