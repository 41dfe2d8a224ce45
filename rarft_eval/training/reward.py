"""The GRPO reward: the harness's own grader on the last `\\boxed{}` answer (RA-RFT Eq. 4).

reward = 1.0 if the grader accepts the completion's final answer as equivalent to the gold answer,
else 0.0; a completion cut off at `max_completion_length` (no end-of-sequence token) scores 0, as it
counts as wrong in evaluation. Grading runs in the `Grader` worker pool (isolated processes, hard
timeouts), so a pathological answer can't stall or crash training. `grader: math-verify` lets plain
math-verify decide, the library the paper's reward uses; both verdicts are computed either way.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any, Sequence

from rarft_eval.grading.types import GradeSpec


def spec_from_json(text: str | dict | None, grader: str) -> GradeSpec:
    data = json.loads(text) if isinstance(text, str) else dict(text or {})
    known = set(GradeSpec.__dataclass_fields__)
    spec = GradeSpec(**{k: v for k, v in data.items() if k in known})
    return spec if spec.grader == grader else replace(spec, grader=grader)


def completion_text(completion: Any) -> str:
    """A completion as text (TRL passes strings for text prompts, message lists for chat prompts)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content") or "")
    return str(completion)


class GraderReward:
    """A TRL reward function: `reward(prompts, completions, completion_ids, answer, grade_spec, ...)`.

    `answer` and `grade_spec` (JSON of a GradeSpec) are dataset columns, passed by TRL as keywords.
    """

    __name__ = "grader"

    def __init__(self, grader: str = "rarft", *, truncated_is_wrong: bool = True,
                 end_token_ids: Sequence[int] = (), workers: int | None = None):
        self.grader = grader
        self.truncated_is_wrong = truncated_is_wrong
        self.end_token_ids = {int(t) for t in end_token_ids if t is not None}
        self.workers = workers
        self._pool = None
        self.calls = 0
        self.graded = 0

    @property
    def pool(self):
        if self._pool is None:
            from rarft_eval.grading import Grader

            self._pool = Grader(workers=self.workers)
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def truncated(self, completion_ids: Sequence[Sequence[int]] | None, n: int) -> list[bool]:
        if not self.truncated_is_wrong or completion_ids is None or not self.end_token_ids:
            return [False] * n
        return [not ids or int(ids[-1]) not in self.end_token_ids for ids in completion_ids]

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], completion_ids=None, answer=None,
                 grade_spec=None, log_metric=None, **_: Any) -> list[float]:
        if answer is None:
            raise ValueError("the GRPO dataset has no `answer` column; the reward needs the gold answers")
        n = len(completions)
        specs = [spec_from_json(s, self.grader) for s in grade_spec] if grade_spec is not None \
            else [GradeSpec(grader=self.grader)] * n
        texts = [completion_text(c) for c in completions]
        verdicts = self.pool.grade_many(list(zip(texts, [str(a) for a in answer], specs)))
        cut = self.truncated(completion_ids, n)
        rewards = [1.0 if v.correct and not t else 0.0 for v, t in zip(verdicts, cut)]
        self.calls += 1
        self.graded += n
        if log_metric is not None and n:
            log_metric("grader/graded", float(n))
            log_metric("grader/no_answer_frac", sum(1 for v in verdicts if v.extracted is None) / n)
            log_metric("grader/truncated_frac", sum(cut) / n)
            log_metric("grader/correct_but_truncated", float(sum(1 for v, t in zip(verdicts, cut) if v.correct and t)))
        return rewards
