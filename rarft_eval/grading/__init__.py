"""Answer grading for rarft-eval: extraction, equivalence, isolation.

Public API::

    grade(response, gold, spec=GradeSpec()) -> Verdict        # in-process, pure
    extract_answer(response) -> (answer | None, rule | None)
    Grader(workers=None, timeout_s=None, max_memory_mb=2048)  # worker pool, hard timeouts
        .grade_many([(response, gold, spec), ...]) -> list[Verdict]
        .cluster_answers(answers, spec) -> list[int | None]

See docs/grading.md.
"""

from .core import grade, math_verify_verdict
from .extract import extract_answer
from .pool import Grader
from .types import GradeSpec, Verdict

__all__ = ["GradeSpec", "Verdict", "grade", "extract_answer", "Grader", "math_verify_verdict"]
