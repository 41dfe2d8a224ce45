"""grade(): verdict fields, grader selection, error handling, the rules beyond math-verify."""

from __future__ import annotations

import pytest

from rarft_eval.grading import GradeSpec, Verdict, grade
from rarft_eval.grading.core import math_verify_verdict, mv_gold_text


def test_verdict_is_explained():
    v = grade("Work.\n\nThe answer is $\\boxed{\\dfrac{18}{14}}$.", "\\frac{9}{7}")
    assert v.correct and v.status == "correct"
    assert v.extracted == "\\dfrac{18}{14}" and v.extraction_rule == "boxed"
    assert v.decided_by == "number"
    assert v.normalized_pred == "\\frac{18}{14}" and v.normalized_gold == "\\frac{9}{7}"
    assert v.rarft_correct is True and v.math_verify_correct is True
    assert Verdict.from_dict(v.to_dict()) == v


def test_grader_selection_decides_correct():
    resp, gold = "\\boxed{1.62}", "1.6"
    ours = grade(resp, gold, GradeSpec(numeric_tolerance=0.05))
    paper = grade(resp, gold, GradeSpec(numeric_tolerance=0.05, grader="math-verify"))
    # math-verify has no tolerance: the two graders disagree here, and `correct` follows the spec
    assert ours.correct is True and ours.math_verify_correct is False
    assert paper.correct is False and paper.rarft_correct is True
    assert paper.decided_by == "math-verify"


def test_math_verify_reference_is_plain_parse_and_verify():
    from math_verify import parse, verify

    for resp, gold in [("\\boxed{\\frac{1}{2006!}}", "\\frac{1}{2004!}"), ("so **73**", "73"),
                       ("\\boxed{\\text{Monday}}", "Monday"), ("The answer is 0.5", "\\frac12")]:
        expected = verify(parse(mv_gold_text(gold)), parse(resp))
        assert math_verify_verdict(resp, gold)[0] == expected
    assert mv_gold_text("70") == "\\boxed{70}"
    assert mv_gold_text("$69$,$84$") == "$69$,$84$"


@pytest.mark.parametrize("gold", ["", "   ", None, 17])
def test_bad_gold_is_an_error_verdict(gold):
    v = grade("\\boxed{5}", gold)  # type: ignore[arg-type]
    assert v.status == "error" and v.correct is False and v.reason


def test_bad_response_and_spec_types():
    assert grade(None, "5").status == "no_answer"  # type: ignore[arg-type]
    assert grade("\\boxed{5}", "5", {"numeric_tolerance": 0.1}).correct  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "resp, gold, spec, correct, decided_by",
    [
        ("\\boxed{\\frac{1}{2006!}}", "\\frac{1}{2004!}", {}, False, "magnitude_veto"),
        ("\\boxed{\\pm 2}", "2", {}, False, "plus_minus"),
        ("\\boxed{\\frac{-1\\pm\\sqrt{5}}{2}}", "\\frac{-1+\\sqrt5}{2}, \\frac{-1-\\sqrt5}{2}", {}, True, "plus_minus"),
        ("\\boxed{4.5 \\times 10^{33}}", "4.5e33", {"numeric_tolerance": 0.01}, True, "tolerance"),
        ("\\boxed{0.01}", "0", {"numeric_tolerance": 0.05}, False, "tolerance"),
        ("\\boxed{2^{2^{2^{2^{2^{2}}}}}}", "5", {}, False, "size_guard"),
        ("\\boxed{(C)}", "C", {}, True, "choice"),
        ("\\boxed{\\text{Tuesday}}", "Monday", {}, False, "text"),
        ("\\boxed{69, 84}", "$84$,$69$", {"multiple_answers": True}, True, "multi"),
        ("\\boxed{69}", "$84$,$69$", {"multiple_answers": True}, False, "multi"),
        ("\\boxed{m \\cdot 6}", "6m", {}, True, "math_verify"),
        ("\\boxed{12 \\text{ inches}}", "12", {}, True, "number"),
        ("\\boxed{40\\%}", "0.4", {}, True, "percent"),
    ],
)
def test_rules_beyond_math_verify(resp, gold, spec, correct, decided_by):
    v = grade(resp, gold, GradeSpec(**spec))
    assert (v.correct, v.decided_by) == (correct, decided_by), v


def test_huge_gold_and_huge_numbers_do_not_overflow():
    v = grade("\\boxed{" + "9" * 5000 + "}", "5")
    assert v.status == "wrong"
