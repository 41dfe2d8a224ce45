"""verl custom reward function: the harness's grader as verl's `compute_score`.

verl loads this file by path (`reward.custom_reward_function.path=<this file>`,
`reward.custom_reward_function.name=compute_score`; older verl releases read the top-level
`custom_reward_function.path/name`) and calls, for every response,

    compute_score(data_source=..., solution_str=<decoded response>, ground_truth=<reward_model.ground_truth>,
                  extra_info=<the row's extra_info>, **maybe_more)

It returns a dict whose `score` is the reward (1.0 when the last `\\boxed{}` answer is equivalent to
the gold answer, else 0.0); the other keys are logged by verl's reward managers. The row's grading
options (answer type, tolerances, the deciding grader) travel in `extra_info["grade_spec"]` as JSON,
written by `rarft-train export-verl`. Grading is in-process (verl already runs reward functions in
its own worker pool) with the grader's soft deadlines; the grader never executes model text.
"""

from __future__ import annotations

import json
from typing import Any

from rarft_eval.grading import grade
from rarft_eval.grading.types import GradeSpec


def _spec(extra_info: Any) -> GradeSpec:
    raw = (extra_info or {}).get("grade_spec") if isinstance(extra_info, dict) else None
    if not raw:
        return GradeSpec()
    data = json.loads(raw) if isinstance(raw, str) else dict(raw)
    known = set(GradeSpec.__dataclass_fields__)
    return GradeSpec(**{k: v for k, v in data.items() if k in known})


def compute_score(data_source: str | None = None, solution_str: str | None = None, ground_truth: str | None = None,
                  extra_info: dict | None = None, **kwargs: Any) -> dict[str, float]:
    if solution_str is None or ground_truth is None:
        raise TypeError("compute_score needs solution_str and ground_truth (verl passes them as keywords)")
    verdict = grade(str(solution_str), str(ground_truth), _spec(extra_info))
    score = 1.0 if verdict.correct else 0.0
    return {"score": score, "acc": score, "no_answer": 1.0 if verdict.extracted is None else 0.0,
            "math_verify": 1.0 if verdict.math_verify_correct else 0.0}
