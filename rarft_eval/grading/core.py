"""In-process grading of one response: both verdicts (rarft and plain math-verify).

``grade`` is pure and never raises for bad input. It has no wall-clock limit of its own
unless soft deadlines are enabled (``enable_soft_deadlines``), which only the worker
processes of ``Grader`` do: there each phase runs under ``signal.setitimer`` in the worker's
main thread, and the parent kills the worker if even that does not return in time (a C-level
loop such as a huge integer power never checks for signals).

math-verify's own ``parsing_timeout``/``timeout_seconds`` are passed as ``None``: they use
``signal.alarm``, which shares the one ITIMER_REAL with ``setitimer`` and would cancel our
deadline when math-verify's ``finally`` calls ``alarm(0)``.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from functools import lru_cache
from typing import Any, Callable

from .equivalence import GoldError, equivalent
from .extract import extract_answer
from .safety import install_guards
from .types import GradeSpec, Verdict

install_guards()

# math-verify logs a warning for every call with timeouts disabled and for each parse failure
logging.getLogger("math_verify").setLevel(logging.ERROR)
logging.getLogger("math_verify.parser").setLevel(logging.ERROR)
logging.getLogger("math_verify.grader").setLevel(logging.ERROR)

_SOFT = False  # set in worker processes only
_MAX_SHOWN = 2000  # longest extracted answer copied into a Verdict


class SoftTimeout(BaseException):
    """Raised by the interval timer. BaseException so `except Exception` in libraries can't eat it."""


def _on_alarm(signum, frame):  # pragma: no cover - exercised in workers
    raise SoftTimeout()


def enable_soft_deadlines() -> None:
    global _SOFT
    if threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGALRM, _on_alarm)
    _SOFT = True


def _run_timed(fn: Callable[[], Any], budget_s: float) -> tuple[bool, Any]:
    """(finished, result): run ``fn`` under a soft deadline of ``budget_s`` seconds.

    In a Grader worker the SIGALRM handler is installed once. Called in-process from the main
    thread, the caller's SIGALRM handler and pending timer are saved and restored (this is what
    math-verify's own timeout does too). From any other thread there is no soft deadline:
    use ``Grader`` there.
    """
    if budget_s <= 0:
        return True, fn()
    if _SOFT:
        signal.setitimer(signal.ITIMER_REAL, budget_s)
        try:
            return True, fn()
        except SoftTimeout:
            return False, None
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    if threading.current_thread() is not threading.main_thread():
        return True, fn()
    old_handler = signal.signal(signal.SIGALRM, _on_alarm)
    t0 = time.monotonic()
    old_delay, old_interval = signal.setitimer(signal.ITIMER_REAL, budget_s)
    try:
        return True, fn()
    except SoftTimeout:
        return False, None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old_handler)
        if old_delay > 0:  # give the caller's own timer back, minus the time we used
            signal.setitimer(signal.ITIMER_REAL, max(old_delay - (time.monotonic() - t0), 0.001), old_interval)


# ------------------------------------------------------------------ plain math-verify


def mv_gold_text(gold: str) -> str:
    """The gold as the paper's reward passes it to ``parse``: boxed unless already delimited."""
    if "\\boxed" in gold or "$" in gold:
        return gold
    return "\\boxed{" + gold + "}"


@lru_cache(maxsize=4096)
def _mv_parse_gold(gold: str):
    from math_verify import parse

    return parse(mv_gold_text(gold), parsing_timeout=None)


def math_verify_verdict(response: str, gold: str) -> tuple[bool, str | None]:
    """``verify(parse(gold), parse(response))`` with math-verify's default extraction configs."""
    from math_verify import parse, verify

    g = _mv_parse_gold(gold)
    p = parse(response, parsing_timeout=None)
    extracted = None
    if p:
        extracted = p[-1] if isinstance(p[-1], str) else str(p[0])
    return bool(verify(g, p, timeout_seconds=None)), extracted


# ------------------------------------------------------------------ grade


def grade(response: str, gold: str, spec: GradeSpec = GradeSpec(), *, reference: bool = True) -> Verdict:
    """Grade one response. Never raises; never executes model text.

    ``reference=False`` skips the plain math-verify verdict (``math_verify_correct`` stays
    None) unless ``spec.grader`` is "math-verify".
    """
    t0 = time.perf_counter()
    try:
        return _grade(response, gold, spec, reference, t0)
    except SoftTimeout:
        return Verdict(correct=False, status="timeout", extracted=None, reason="soft deadline")
    except Exception as e:  # noqa: BLE001 - a verdict, never a traceback
        return Verdict(correct=False, status="error", extracted=None, reason=f"{type(e).__name__}: {e}"[:300])


def _grade(response: str, gold: str, spec: GradeSpec, reference: bool, t0: float) -> Verdict:
    if not isinstance(spec, GradeSpec):
        spec = GradeSpec(**spec) if isinstance(spec, dict) else GradeSpec()
    if not isinstance(gold, str) or not gold.strip():
        return Verdict(correct=False, status="error", extracted=None, reason="empty or non-string gold answer")
    if not isinstance(response, str):
        response = "" if response is None else str(response)

    budget = float(spec.timeout_s) * 0.42 if spec.timeout_s else 0.0
    want_mv = (reference and spec.reference) or spec.grader == "math-verify"

    # --- rarft
    extracted, rule = extract_answer(response)
    r_status = "no_answer"
    r_correct = False
    decided_by = None
    npred = ngold = None
    reason = ""
    extra: dict[str, Any] = {}
    if extracted is not None:
        try:
            finished, dec = _run_timed(lambda: equivalent(extracted, gold, spec), budget)
        except GoldError as e:
            return Verdict(correct=False, status="error", extracted=extracted, extraction_rule=rule, reason=str(e))
        if finished:
            r_correct = dec.correct
            r_status = "correct" if dec.correct else "wrong"
            decided_by, npred, ngold, reason = dec.decided_by, dec.normalized_pred, dec.normalized_gold, dec.reason
        else:
            r_status = "timeout"
            reason = "rarft comparison exceeded its deadline"
    else:
        reason = "no answer found in response"

    # --- plain math-verify
    mv_correct = None
    if want_mv:
        finished, res = _run_timed(lambda: math_verify_verdict(response, gold), budget)
        if finished:
            mv_correct, mv_extracted = res
            extra["math_verify_extracted"] = mv_extracted
        else:
            mv_correct = False  # what math-verify's own timeout returns
            extra["math_verify_timeout"] = True

    if spec.grader == "math-verify":
        correct = bool(mv_correct)
        if extra.get("math_verify_timeout"):
            status = "timeout"
        else:
            status = "correct" if correct else ("wrong" if extra.get("math_verify_extracted") else "no_answer")
        decided_by_final = "math-verify"
    else:
        correct = r_correct
        status = r_status
        decided_by_final = decided_by
    extra["elapsed_ms"] = round((time.perf_counter() - t0) * 1000, 3)
    if extracted is not None and len(extracted) > _MAX_SHOWN:
        extra["extracted_chars"] = len(extracted)
        extracted = extracted[:_MAX_SHOWN] + "…"
    return Verdict(
        correct=correct,
        status=status,  # type: ignore[arg-type]
        extracted=extracted,
        extraction_rule=rule,
        decided_by=decided_by_final,
        normalized_pred=npred,
        normalized_gold=ngold,
        math_verify_correct=mv_correct,
        rarft_correct=r_correct if r_status != "timeout" else False,
        reason=reason,
        extra=extra,
    )


def answers_equivalent(a: str, b: str, spec: GradeSpec) -> bool:
    """Symmetric-enough equivalence of two extracted answers (for maj@k clustering)."""
    if a == b:
        return True
    try:
        return equivalent(a, b, spec).correct
    except GoldError:
        return False
