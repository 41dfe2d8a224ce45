"""Random strings never crash or hang the grader."""

from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rarft_eval.grading import GradeSpec, extract_answer

TOKENS = list("0123456789+-*/^_{}()[]$\\,.=<>!| xyabn") + [
    "\\boxed{", "\\frac", "\\sqrt", "\\pi", "\\pm", "\\text{", "\\left(", "\\right)", "<think>", "</think>",
    "**", "Answer:", "The final answer is ", "\\begin{pmatrix}", "\\end{pmatrix}", "\\\\", "&", "\\infty",
    "\\cup", "^{", "!", "e", "i", "\u2212", "\u00bd",
]
LATEXISH = st.lists(st.sampled_from(TOKENS), max_size=40).map("".join)
ANY_TEXT = st.text(max_size=300)
SPECS = st.builds(
    GradeSpec,
    numeric_tolerance=st.one_of(st.none(), st.sampled_from([0.01, 0.05])),
    multiple_answers=st.booleans(),
    timeout_s=st.just(2.0),
)
VALID = {"correct", "wrong", "no_answer", "timeout", "error"}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(LATEXISH, ANY_TEXT))
def test_extract_never_raises_and_is_fast(s):
    t0 = time.perf_counter()
    ans, rule = extract_answer(s)
    assert (ans is None) == (rule is None or rule == "unparsed")
    assert time.perf_counter() - t0 < 1.0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.one_of(LATEXISH, ANY_TEXT), st.one_of(LATEXISH, st.sampled_from(["5", "\\frac{1}{2}", "(1,2)", "$1$,$2$"])), SPECS), min_size=1, max_size=8))
def test_grader_pool_never_crashes_or_hangs(grader, items):
    items = [("\\boxed{" + r + "}" if i % 2 else r, g, s) for i, (r, g, s) in enumerate(items)]
    t0 = time.monotonic()
    vs = grader.grade_many(items)
    assert len(vs) == len(items)
    for v in vs:
        assert v.status in VALID
        assert isinstance(v.correct, bool)
        if v.status != "correct":
            assert v.correct is False
    # each check is bounded by its 2 s hard timeout; all of them together by far less than serial worst case
    assert time.monotonic() - t0 < 2.0 * len(items) + 30
