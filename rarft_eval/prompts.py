"""Problem (+ retrieved demonstrations) -> the exact prompt text sent to the engine."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Sequence

from rarft_eval.config import PromptOptions
from rarft_eval.errors import RarftError
from rarft_eval.retrieval import Demonstration
from rarft_eval.tasks import PromptSpec, Problem

_SLOT = re.compile(r"\{(demonstrations|problem|instruction|solution)\}")


def fill(template: str, **slots: str) -> str:
    """Fill `{name}` slots without touching any other brace (problems are full of LaTeX braces)."""
    return _SLOT.sub(lambda m: slots[m.group(1)] if m.group(1) in slots else m.group(0), template)


def render_user_message(problem: Problem, spec: PromptSpec, demos: Sequence[Demonstration]) -> str:
    demo_text = "".join(
        fill(spec.demonstration_template, problem=d.problem, solution=d.solution) for d in demos
    )
    return fill(spec.template, demonstrations=demo_text, problem=problem.problem, instruction=spec.instruction)


@dataclass
class RenderedPrompt:
    text: str
    hash: str
    retrieved: list[dict[str, Any]]


def prompt_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class PromptBuilder:
    """Applies the model's chat template (or not) to the task's user message."""

    def __init__(self, tokenizer: Any | None, options: PromptOptions) -> None:
        self.tokenizer = tokenizer
        self.options = options
        if options.chat_template:
            if tokenizer is None or not getattr(tokenizer, "chat_template", None):
                raise RarftError("the model's tokenizer has no chat template; pass --no-chat-template to send raw text")

    def chat_template_text(self) -> str | None:
        if not self.options.chat_template or self.tokenizer is None:
            return None
        return self.tokenizer.chat_template

    def render(self, problem: Problem, spec: PromptSpec, demos: Sequence[Demonstration]) -> RenderedPrompt:
        user = render_user_message(problem, spec, demos)
        if self.options.chat_template:
            messages = []
            system = self.options.system_prompt if self.options.system_prompt is not None else spec.system
            if system:
                messages.append({"role": "system", "content": system})
            messages.append({"role": "user", "content": user})
            kwargs: dict[str, Any] = {}
            if self.options.enable_thinking is not None:
                kwargs["enable_thinking"] = self.options.enable_thinking
            text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, **kwargs)
        else:
            text = user
        retrieved = [{"id": d.id, "score": d.score} for d in demos]
        return RenderedPrompt(text=text, hash=prompt_hash(text), retrieved=retrieved)
