"""Answer extraction: which rule fires, nested braces, reasoning, and linear-time behaviour."""

from __future__ import annotations

import time

import pytest

from rarft_eval.grading import extract_answer
from rarft_eval.grading.extract import UNPARSED, extract_boxed, extract_choice, split_reasoning


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
        ("Final Answer: The largest $n$ is 34.", "34", "final_answer_phrase"),
        ("Final Answer: The volume of $ABCD$ is 120. I hope it is correct.", "120", "final_answer_phrase"),
        ("so the requested value.\n\nAnswer \\( 9 \\)", "9", "final_answer_phrase"),
        ("Answer \\[ 9 \\]", "9", "final_answer_phrase"),
        ("Work...\n\n**Answer:** $17$", "17", "answer_label"),
        ("Work...\nAnswer: (C)", "(C)", "answer_label"),
        ("We get **73** in total.", "73", "bold"),
        ("Therefore $n = 8$.", "n = 8", "last_math"),  # one equation stays whole; the gold decides
        ("So $a = b = 42$.", "42", "last_math"),  # an equation chain: its last side
        ("Thus $F_n = \\sum_{k=0}^{n-1} F_k$.", "F_n = \\sum_{k=0}^{n-1} F_k", "last_math"),
        ("\\$10", "\\$10", "whole_response"),
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
        "\\boxed{}",
        "The final answer is open('/tmp/pwned_5','w').write('x')",
        "<think>still thinking about 12 and 30, so",
    ],
)
def test_no_answer(response):
    assert extract_answer(response) == (None, None)


def test_think_is_split_off():
    final, reasoning = split_reasoning("<think>a \\boxed{1}</think> b")
    assert final == " b" and "boxed{1}" in reasoning


@pytest.mark.parametrize("response", ["Therefore the answer is $\\boxed{4", "\\boxed{5} and later \\boxed{6", "answer: \\fbox{42"])
def test_unterminated_last_box_is_unparsed(response):
    # a response cut off inside its final box has not given its answer (not the previous box's)
    assert extract_answer(response) == (None, "unparsed")
    assert extract_boxed(response) == UNPARSED


@pytest.mark.parametrize(
    "response, parts, answer",
    [
        ("$$\\boxed{(2, 2)} \\quad \\text{and} \\quad \\boxed{(6, 2)}$$", 1, "(2, 2), (6, 2)"),
        ("\\boxed{k = 45} \\quad \\text{and} \\quad \\boxed{n = 2}", 1, "k = 45, n = 2"),
        # a short phrase between boxes joins them only when the gold has several parts
        ("\\boxed{(3, 3)} \\text{ for part (a) and } \\boxed{(1, 1)}", 2, "(3, 3), (1, 1)"),
        ("\\boxed{(3, 3)} \\text{ for part (a) and } \\boxed{(1, 1)}", 1, "(1, 1)"),
        ("First I thought \\boxed{A}, but then I realized it is \\boxed{B}", 2, "B"),
    ],
)
def test_several_boxes(response, parts, answer):
    assert extract_answer(response, gold_parts=parts) == (answer, "boxed")


@pytest.mark.parametrize(
    "response, letter",
    [
        ("thinking about it I think the correct answer is C", "C"),
        ("Let's think step by step. It's not A because it doesn't make sense, therefore I think it's B", "B"),
        ("The answer is for sure D, it can't be A or B", "D"),
        ("D. it can't be A or B", "D"),
        ("A is wrong; the answer is (B).", "B"),
        ("Work... so the answer is $\\boxed{\\text{(E)}}$", "E"),
        ("I cannot tell.", None),
        ("so the answer is c = 5", None),  # a lower-case variable is not a choice letter
    ],
)
def test_choice_letters(response, letter):
    assert extract_choice(response) == letter
    assert extract_answer(response, choice=True)[1] == ("choice_letter" if letter else None) or letter is None


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
