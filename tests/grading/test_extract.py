"""Answer extraction: which rule fires, nested braces, reasoning, and linear-time behaviour."""

from __future__ import annotations

import time

import pytest

from rarft_eval.grading import extract_answer
from rarft_eval.grading.extract import extract_boxed, split_reasoning


@pytest.mark.parametrize(
    "response, answer, rule",
    [
        ("so $\\boxed{42}$.", "42", "boxed"),
        ("\\fbox{7}", "7", "boxed"),
        ("\\boxed{\\frac{\\sqrt{3}}{2}}", "\\frac{\\sqrt{3}}{2}", "boxed"),
        ("\\boxed{\\{1,2\\}}", "\\{1,2\\}", "boxed"),
        ("first \\boxed{1} then \\boxed{2}. Finally \\boxed{3}", "3", "boxed"),
        ("$x = \\boxed{2}$ or $x = \\boxed{-3}$", "2, -3", "boxed"),
        ("Thus $\\boxed 5$.", "5", "boxed"),
        ("The final answer is $\\frac{9}{7}$. I hope it is correct.", "\\frac{9}{7}", "final_answer_phrase"),
        ("So the answer is 12 apples.", "12 apples", "final_answer_phrase"),
        ("Work...\n\n**Answer:** $17$", "17", "answer_label"),
        ("Work...\nAnswer: (C)", "(C)", "answer_label"),
        ("We get **73** in total.", "73", "bold"),
        ("Therefore $n = 8$.", "8", "last_math"),
        ("Multiplying, the product is 35.", "35", "last_number"),
        ("<think>maybe \\boxed{3}</think>The result: \\boxed{4}", "4", "boxed"),
        ("<think>so it's \\boxed{3} probably, but let me", "3", "boxed_in_reasoning"),
    ],
)
def test_rules(response, answer, rule):
    assert extract_answer(response) == (answer, rule)


@pytest.mark.parametrize(
    "response",
    [
        "",
        "I cannot solve this.",
        "We found $x = 3$. Then $y = 17$ comes from substitution, and then we need to",
        "Therefore the answer is $\\boxed{4",  # box cut off
        "\\boxed{}",
        "<think>still thinking about 12 and 30, so",
    ],
)
def test_no_answer(response):
    assert extract_answer(response) == (None, None)


def test_think_is_split_off():
    final, reasoning = split_reasoning("<think>a \\boxed{1}</think> b")
    assert final == " b" and "boxed{1}" in reasoning


def test_unbalanced_last_box_falls_back_to_previous_complete_box():
    assert extract_boxed("\\boxed{5} and later \\boxed{6") == "5"


def test_non_string_response_is_no_answer():
    assert extract_answer(None) == (None, None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "response",
    [
        "x" * 100_000 + "\\boxed{5}",
        "\\boxed{" * 20_000 + "5",
        "{" * 100_000,
        "$" * 100_000,
        "**" * 50_000,
        "The answer is " * 7_000,
        "\\(" * 50_000,
        "1," * 50_000,
    ],
    ids=["plain", "unclosed-boxes", "braces", "dollars", "bold-markers", "phrases", "inline-open", "number-list"],
)
def test_large_inputs_are_fast(response):
    t0 = time.perf_counter()
    extract_answer(response)
    # linear scans take milliseconds; a quadratic/backtracking regex would take minutes
    assert time.perf_counter() - t0 < 2.0
