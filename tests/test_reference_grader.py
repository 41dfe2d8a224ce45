"""The plain math-verify verdict is recorded by default and can be switched off."""

from rarft_eval.grading import grade
from rarft_eval.grading.types import GradeSpec
from rarft_eval.runner import _spec_for


def test_reference_verdict_on_by_default_and_off_on_request():
    on = grade(r"so the answer is \boxed{70}", "70", GradeSpec())
    off = grade(r"so the answer is \boxed{70}", "70", _spec_for(GradeSpec(), "rarft", reference=False))
    assert on.correct and on.math_verify_correct is True
    assert off.correct and off.math_verify_correct is None


def test_math_verify_grader_always_computes_its_own_verdict():
    spec = _spec_for(GradeSpec(), "math-verify", reference=False)
    v = grade(r"\boxed{\frac{1}{2}}", "0.5", spec)
    assert v.math_verify_correct is not None and v.correct == v.math_verify_correct
