"""Prompt rendering: slots, demonstrations, chat template and thinking mode."""

from __future__ import annotations

import pytest

from rarft_eval.config import PromptOptions
from rarft_eval.errors import RarftError
from rarft_eval.grading.types import GradeSpec
from rarft_eval.prompts import PromptBuilder, fill, render_user_message
from rarft_eval.retrieval import Demonstration
from rarft_eval.tasks import Problem, all_tasks

PROBLEM = Problem("t", "1", r"Find $x$ if $\frac{x}{2}=\{1\}$ and {problem} appears literally.", "2", GradeSpec())


def test_fill_replaces_only_known_slots_and_keeps_latex_braces():
    assert fill("{problem} {x} {}", problem=r"\frac{a}{b}") == r"\frac{a}{b} {x} {}"


def test_default_prompt_is_problem_then_qwen3_instruction():
    spec = all_tasks()["aime25"].config.prompt
    text = render_user_message(PROBLEM, spec, [])
    assert text == PROBLEM.problem + "\nPlease reason step by step, and put your final answer within \\boxed{}."


def test_demonstration_slot_places_reference_problem_and_solution_before_the_problem():
    spec = all_tasks()["aime25"].config.prompt
    demo = Demonstration("d1", "What is 1+1?", r"1+1=2, so \boxed{2}.", 0.9)
    text = render_user_message(PROBLEM, spec, [demo])
    assert text.index("What is 1+1?") < text.index(r"\boxed{2}") < text.index(PROBLEM.problem)


def test_chat_template_and_thinking_switch(tiny_tokenizer):
    spec = all_tasks()["aime25"].config.prompt
    on = PromptBuilder(tiny_tokenizer, PromptOptions(enable_thinking=True)).render(PROBLEM, spec, [])
    off = PromptBuilder(tiny_tokenizer, PromptOptions(enable_thinking=False)).render(PROBLEM, spec, [])
    raw = PromptBuilder(tiny_tokenizer, PromptOptions(chat_template=False)).render(PROBLEM, spec, [])
    assert on.text.startswith("<|im_start|>user\n") and on.text.endswith("<|im_start|>assistant\n")
    assert off.text.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert raw.text == render_user_message(PROBLEM, spec, [])
    assert len({on.hash, off.hash, raw.hash}) == 3  # the prompt hash follows the exact text


def test_prompt_hash_changes_with_retrieved_demonstrations(tiny_tokenizer):
    spec = all_tasks()["aime25"].config.prompt
    b = PromptBuilder(tiny_tokenizer, PromptOptions())
    plain = b.render(PROBLEM, spec, [])
    with_demo = b.render(PROBLEM, spec, [Demonstration("d1", "p", "s", 1.0)])
    assert plain.hash != with_demo.hash
    assert with_demo.retrieved == [{"id": "d1", "score": 1.0}]


def test_missing_chat_template_is_a_clear_error(tiny_tokenizer):
    class NoTemplate:
        chat_template = None

    with pytest.raises(RarftError, match="--no-chat-template"):
        PromptBuilder(NoTemplate(), PromptOptions(chat_template=True))
