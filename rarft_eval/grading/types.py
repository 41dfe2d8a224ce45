"""The grading contract: what the harness passes in and what it gets back.

Everything upstream of grading (tasks, prompts, engines) produces a response string and a
`GradeSpec`; everything downstream (metrics, reports) consumes `Verdict`s. Nothing else
crosses this boundary.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

GraderName = Literal["rarft", "math-verify"]
Status = Literal["correct", "wrong", "no_answer", "timeout", "error"]


@dataclass(frozen=True)
class GradeSpec:
    """How one problem's answers are compared with its gold answer.

    Built from the task YAML's `grading:` block, then per-item overrides (e.g. an
    OlympiadBench row's own tolerance or its multiple-answer flag).
    """

    answer_type: str = "auto"  # auto | integer | numeric | expression | tuple | interval | multi | text
    numeric_tolerance: float | None = None  # relative tolerance for approximate numeric answers
    absolute_tolerance: float | None = None  # absolute tolerance (OlympiadBench's per-row `error`)
    multiple_answers: bool = False  # the gold holds several answers (order-insensitive)
    unit: str | None = None  # unit the gold is expressed in, may be omitted by the model
    grader: GraderName = "rarft"  # which verdict decides `correct`
    timeout_s: float = 5.0  # hard per-check wall-clock limit
    reference: bool = True  # also compute the plain math-verify verdict (costly on long texts)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Verdict:
    """The explained outcome of grading one response against one gold answer."""

    correct: bool  # the deciding verdict (the grader named in the spec)
    status: Status
    extracted: str | None  # answer text taken from the response; None when nothing was found
    extraction_rule: str | None = None  # which rule found it: boxed, final_answer_phrase, ...
    decided_by: str | None = None  # which comparison rule decided
    normalized_pred: str | None = None
    normalized_gold: str | None = None
    math_verify_correct: bool | None = None  # plain math-verify (the paper's reward), for comparison
    rarft_correct: bool | None = None  # rarft-eval's grader
    reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Verdict":
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})
