"""grade(): verdict fields, grader selection, error handling, the rules beyond math-verify."""

from __future__ import annotations

import time

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
        # yes -> no only for a documented false-positive class
        ("\\boxed{\\frac{1}{2006!}}", "\\frac{1}{2004!}", {}, False, "magnitude_veto"),
        ("We first find $x = 3$. Then $y = 17$ comes from substitution, and then we need to", "17", {}, False,
         "unfinished_response"),
        # no -> yes only through a named rule
        ("\\boxed{\\frac{-1\\pm\\sqrt{5}}{2}}", "\\frac{-1+\\sqrt5}{2}, \\frac{-1-\\sqrt5}{2}", {}, True, "plus_minus"),
        ("\\boxed{4.5 \\times 10^{33}}", "4.5e33", {"numeric_tolerance": 0.01}, True, "tolerance"),
        ("\\boxed{(C)}", "C", {}, True, "choice"),
        ("I think the correct answer is C", "C", {}, True, "choice"),
        ("\\boxed{69, 84}", "$84$,$69$", {"multiple_answers": True}, True, "multi"),
        ("\\boxed{m \\cdot 6}", "6m", {}, True, "sympy"),
        ("\\boxed{12 \\text{ inches}}", "12", {}, True, "identical"),
        ("\\boxed{40\\%}", "0.4", {}, True, "percent"),
        ("$1 000$", "1000", {}, True, "identical"),
        ("$1.22$", "1,22", {}, True, "decimal_comma"),
        ("$1.5$", "1 1/2", {}, True, "mixed_number"),
        ("$10$", "10weeks", {}, True, "unit_dropped"),
        ("$08:34 \\text{P.M.}$", "20:34", {}, True, "identical"),
        ("$20:34:00$", "20:34", {}, True, "clock_time"),
        ("$12:00$", "$12:00$", {}, True, "identical"),
        ("$\\frac{1}{432}$", "2.314814814815 \\times 10^{-3}", {}, True, "decimal_expansion"),
        ("$y = 2x + 3$", "f(x) = 2x + 3", {}, True, "equation_rhs"),
        ("$i(2-i)$", "1+2i", {}, True, "imaginary_unit"),
        ("$\\boxed{4, 5}$", "$AB=4,CD=5$", {}, True, "answer_list"),
    ],
)
def test_decisions_beyond_math_verify(resp, gold, spec, correct, decided_by):
    v = grade(resp, gold, GradeSpec(**spec))
    assert (v.correct, v.decided_by) == (correct, decided_by), v
    assert v.rarft_correct == correct and isinstance(v.math_verify_correct, bool)


@pytest.mark.parametrize(
    "resp, gold, spec, rarft_rule",
    [
        ("\\boxed{\\pm 2}", "2", {}, "plus_minus"),
        ("\\boxed{0.01}", "0", {"numeric_tolerance": 0.05}, "tolerance"),
        ("\\boxed{\\text{Tuesday}}", "Monday", {}, "text"),
        ("\\boxed{69}", "$84$,$69$", {"multiple_answers": True}, "multi"),
        ("$\\cos(x)=\\frac{42}{59}$", "\\sin(x)=\\frac{42}{59}", {}, None),
    ],
)
def test_a_no_from_both_is_no_and_names_the_projects_rule(resp, gold, spec, rarft_rule):
    v = grade(resp, gold, GradeSpec(**spec))
    assert v.correct is False and v.math_verify_correct is False and v.decided_by == "math_verify", v
    assert v.extra.get("rarft_rule") == rarft_rule or rarft_rule is None


def test_huge_tower_is_never_evaluated():
    v = grade("\\boxed{2^{2^{2^{2^{2^{2}}}}}}", "5", GradeSpec(timeout_s=2.0))
    assert v.correct is False and v.status in ("wrong", "timeout")


def test_reference_off_skips_math_verify_only_when_the_project_already_said_yes():
    yes = grade("\\boxed{1,000}", "1000", reference=False)
    assert yes.correct and yes.math_verify_correct is None
    no = grade("\\boxed{7}", "1000", reference=False)
    assert no.correct is False and no.math_verify_correct is False  # needed: it could have said yes
    mv_only = grade("The speed is 50 km/h", "50", reference=False)  # the project finds no answer; math-verify does
    assert mv_only.correct and mv_only.decided_by == "math_verify"


def test_project_timeout_falls_back_to_math_verify(monkeypatch):
    import rarft_eval.grading.core as core

    real = core._run_timed
    calls = []

    def fake(fn, budget):
        calls.append(fn)
        if len(calls) == 2:  # the project's sympy phase "runs out of time"
            return False, None
        return real(fn, budget)

    monkeypatch.setattr(core, "_run_timed", fake)
    v = grade("$\\sec^2 y$", "\\tan^2 y + 1")
    assert v.correct is True and v.decided_by == "math_verify" and v.extra.get("fallback") is None
    calls.clear()
    v = grade("\\boxed{m \\cdot 6}", "6m")  # math-verify: no; the project's sympy phase would say yes
    assert v.extra.get("fallback") == "rarft_timeout"
    assert v.correct is False and v.math_verify_correct is False and v.status == "wrong"


@pytest.mark.parametrize(
    "response",
    ["a" * 100_000 + "!", "x " * 50_000 + "to", "<|a|>" * 20_000, "\\boxed{1} " + "and " * 20_000,
     "The answer is " + "1 " * 30_000, "10" + "ab" * 150 + "!"],
    ids=["letters", "dangling", "chat-tokens", "box-then-words", "numbers", "unit-letters"],
)
def test_hostile_inputs_finish(response):
    # the vetoes and the new readings scan bounded tails: these return in well under a second
    t0 = time.perf_counter()
    v = grade(response, "5", reference=False)
    assert v.status in ("wrong", "no_answer", "correct") and time.perf_counter() - t0 < 10


def test_huge_gold_and_huge_numbers_do_not_overflow():
    v = grade("\\boxed{" + "9" * 5000 + "}", "5")
    assert v.status == "wrong"


@pytest.mark.parametrize(
    "a, b, different",
    [
        ("x^2+2x+1", "(x+1)^2", False),
        ("\\sec^2 y", "\\tan^2 y + 1", False),
        ("\\sqrt{x^2}", "x", False),  # equal at the positive probe points: left to verify
        ("\\frac{1}{3}", "0.333333", False),  # within math-verify's rounding: left to verify
        ("(x+1)^{300}", "(x+2)^{300}", True),
        ("606", "d = \\frac{1+\\sqrt{1+8n}}{2}", True),
        ("x < 1", "x < 2", False),  # relations are never decided numerically
    ],
)
def test_numeric_shortcut_only_refuses_what_differs(a, b, different):
    from rarft_eval.grading.equivalence import _numerically_different, latex_to_sympy

    assert _numerically_different(latex_to_sympy(a), latex_to_sympy(b)) is different
