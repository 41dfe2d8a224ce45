"""In-process grading of one response: math-verify's verdict, and the project's rules on top of it.

The combination is what makes "never worse than math-verify" structural (docs/grading.md):

* math-verify's own extraction and verdict (``verify(parse(gold), parse(response))``) are computed
  whenever they can change the outcome (always, unless ``reference=False`` and the project's rules
  already said yes);
* the project's rules (``extract`` + ``equivalence``) can turn math-verify's "no" into "yes" only
  through a named rule (``Verdict.decided_by``: ``number``, ``choice``, ``tolerance``, ...);
* they can turn a "yes" into "no" only for a documented false-positive class (``VETOES``);
* identical normalised strings are always equal (rule ``identical``);
* when the project's comparison runs out of time, math-verify's verdict stands and the verdict
  says so (``extra["fallback"] = "rarft_timeout"``), never a silent "wrong".

``grade`` is pure and never raises for bad input. It has no wall-clock limit of its own unless soft
deadlines are enabled (``enable_soft_deadlines``), which only the worker processes of ``Grader`` do:
there each phase runs under ``signal.setitimer`` in the worker's main thread, and the parent kills
the worker if even that does not return in time (a C-level loop such as a huge integer power never
checks for signals).

math-verify's own ``parsing_timeout``/``timeout_seconds`` are passed as ``None``: they use
``signal.alarm``, which shares the one ITIMER_REAL with ``setitimer`` and would cancel our
deadline when math-verify's ``finally`` calls ``alarm(0)``.
"""

from __future__ import annotations

import logging
import re
import signal
import threading
import time
from functools import lru_cache
from typing import Any, Callable

from .equivalence import (
    GoldError,
    equivalent,
    gold_answer_text,
    gold_choice,
    gold_part_count,
    numeric_value,
    refused_by_math_verify,
    rel_close,
)
from .extract import UNPARSED, extract_answer, split_reasoning
from .safety import install_guards
from .types import GradeSpec, Verdict

install_guards()

# math-verify logs a warning for every call with timeouts disabled and for each parse failure
logging.getLogger("math_verify").setLevel(logging.ERROR)
logging.getLogger("math_verify.parser").setLevel(logging.ERROR)
logging.getLogger("math_verify.grader").setLevel(logging.ERROR)

_SOFT = False  # set in worker processes only
_MAX_SHOWN = 2000  # longest extracted answer copied into a Verdict
_PHASE = 0.42  # share of spec.timeout_s each of the two expensive phases may use

# Documented false-positive classes of math-verify: the only ways a math-verify "yes" becomes "no".
VETOES = {
    "magnitude_veto": "math-verify rounds numbers to 6 decimals, so 1/2004! 'equals' 1/2006!: every pair it "
    "matched is two closed numbers more than 1e-4 apart (relative)",
    "unfinished_response": "the response stops mid-sentence and the project finds no answer in it (it ends on a "
    "word such as 'to' or 'the', or on 8+ words of prose after its last value, with no closing punctuation); "
    "math-verify matched an intermediate value",
}


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


def _mv_run(response: str, gold: str):
    """(verdict, extracted text, parsed gold, parsed response) of plain math-verify."""
    from math_verify import parse, verify

    g = _mv_parse_gold(gold)
    p = parse(response, parsing_timeout=None)
    extracted = None
    if p:
        extracted = p[-1] if isinstance(p[-1], str) else str(p[0])
    return bool(verify(g, p, timeout_seconds=None)), extracted, g, p


def math_verify_verdict(response: str, gold: str) -> tuple[bool, str | None]:
    """``verify(parse(gold), parse(response))`` with math-verify's default extraction configs."""
    ok, extracted, _, _ = _mv_run(response, gold)
    return ok, extracted


# ------------------------------------------------------------------ vetoes


def _magnitude_veto(g_parsed, p_parsed) -> bool:
    """True when every pair math-verify matches is two closed numbers > 1e-4 apart (relative)."""
    from math_verify import verify

    g_objs = [x for x in g_parsed if not isinstance(x, str)]
    p_objs = [x for x in p_parsed if not isinstance(x, str)]
    gv = [numeric_value(x) for x in g_objs]
    pv = [numeric_value(x) for x in p_objs]
    if not any(v is not None for v in gv) or not any(v is not None for v in pv):
        return False
    matched = False
    for gi, g in enumerate(g_objs):
        for pi, p in enumerate(p_objs):
            if not verify([g], [p], timeout_seconds=None):
                continue
            matched = True
            if gv[gi] is None or pv[pi] is None or rel_close(gv[gi], pv[pi], 1e-4):
                return False  # a genuine match
    # string items math-verify also compares
    g_str = {x for x in g_parsed if isinstance(x, str)}
    if any(isinstance(x, str) and x in g_str for x in p_parsed):
        return False
    return matched


_DANGLING = frozenset(
    "to the and of a an then we that with for by from as or but if is are be so which this into than at on "
    "need let can will would should must".split()
)


_LAST_VALUE_RE = re.compile(r"\d|\$|\\\)|\\\]")


def _unfinished(response: str) -> bool:
    """The response stops mid-sentence: it ends on a word (no closing punctuation), and that word
    cannot end a sentence ("to", "the", ...) or 8+ words of prose follow its last number or math."""
    final, reasoning = split_reasoning(response)
    text = _CHAT_TOKEN_RE.sub("", (final if final.strip() else reasoning)[-600:]).rstrip()
    m = re.search(r"([A-Za-z]+)$", text)
    if not m:
        return False
    if m.group(1).lower() in _DANGLING:
        return True
    tail = text[-400:]
    last_value = max((x.end() for x in _LAST_VALUE_RE.finditer(tail)), default=-1)
    if last_value < 0:
        return False
    after = tail[last_value:]
    # the sentence that holds the last value has not ended, and goes on for 8+ words
    return not re.search(r"[.!?](?:\s|$)", after) and len(re.findall(r"[A-Za-z]+", after)) >= 8


# chat-template tokens a completion may end with ("<|im_start|>user", "<|endoftext|>")
_CHAT_TOKEN_RE = re.compile(r"(?:<\|[a-z_]{1,20}\|>\w{0,12}\s*)+$")


# ------------------------------------------------------------------ grade


def grade(
    response: str,
    gold: str,
    spec: GradeSpec = GradeSpec(),
    *,
    reference: bool = True,
    on_reference: Callable[[dict], None] | None = None,
) -> Verdict:
    """Grade one response. Never raises; never executes model text.

    ``reference=False`` skips the plain math-verify verdict when the project's rules already said
    yes (``math_verify_correct`` stays None then); it is still computed whenever it can change the
    outcome. ``on_reference`` is called with math-verify's result as soon as it is known (the
    worker pool sends it to the parent, so a hard kill afterwards still has a verdict to fall back on).
    """
    t0 = time.perf_counter()
    try:
        return _grade(response, gold, spec, reference, on_reference, t0)
    except SoftTimeout:
        return Verdict(correct=False, status="timeout", extracted=None, reason="soft deadline")
    except Exception as e:  # noqa: BLE001 - a verdict, never a traceback
        return Verdict(correct=False, status="error", extracted=None, reason=f"{type(e).__name__}: {e}"[:300])


def _grade(response, gold, spec, reference, on_reference, t0) -> Verdict:
    if not isinstance(spec, GradeSpec):
        spec = GradeSpec(**spec) if isinstance(spec, dict) else GradeSpec()
    if not isinstance(gold, str) or not gold.strip():
        return Verdict(correct=False, status="error", extracted=None, reason="empty or non-string gold answer")
    if not isinstance(response, str):
        response = "" if response is None else str(response)

    budget = float(spec.timeout_s) * _PHASE if spec.timeout_s else 0.0
    extra: dict[str, Any] = {}

    # --- the project's extraction and its cheap rules (string / exact numbers; no sympy)
    gold_text = gold_answer_text(gold)
    letter = gold_choice(gold)
    extracted, rule = extract_answer(response, gold_parts=gold_part_count(gold_text), choice=letter is not None)
    cheap = None
    if extracted is not None:
        if rule == "choice_letter":
            cheap = _Decision(extracted == letter, "choice", extracted, letter)
        else:
            try:
                cheap = equivalent(extracted, gold_text, spec, stage="cheap")
            except GoldError as e:
                return Verdict(correct=False, status="error", extracted=extracted, extraction_rule=rule, reason=str(e))
    ours_yes = cheap is not None and cheap.correct

    # --- when math-verify's verdict is not wanted for the record, the project's full comparison runs
    # first: its "yes" is the verdict whatever math-verify says (every positive rule is a flip rule),
    # so math-verify is then not needed. Its "no" waits for math-verify's verdict below.
    record_mv = spec.grader == "math-verify" or (reference and spec.reference)
    early = None
    if not ours_yes and not record_mv and extracted is not None and cheap is None:
        try:
            early = _run_timed(lambda: equivalent(extracted, gold_text, spec), budget)
        except GoldError as e:
            return Verdict(correct=False, status="error", extracted=extracted, extraction_rule=rule, reason=str(e))
        if early[0] and early[1].correct:
            ours_yes, cheap = True, early[1]

    # --- math-verify's own verdict
    want_mv = record_mv or not ours_yes
    mv_correct = mv_extracted = None
    mv_parsed = None
    mv_timeout = False
    if want_mv:
        finished, res = _run_timed(lambda: _mv_run(response, gold), budget)
        if finished:
            mv_correct, mv_extracted, g_p, p_p = res
            mv_parsed = (g_p, p_p)
            extra["math_verify_extracted"] = mv_extracted
        else:
            mv_correct, mv_timeout = False, True  # what math-verify's own timeout returns
            extra["math_verify_timeout"] = True
        if on_reference is not None:
            on_reference({"math_verify_correct": mv_correct, "math_verify_extracted": mv_extracted, "timeout": mv_timeout})

    # --- combine
    decided_by, correct, status_hint, reason = None, False, None, ""
    npred = ngold = None
    if ours_yes:
        correct, decided_by = True, cheap.decided_by
        npred, ngold = cheap.normalized_pred, cheap.normalized_gold
        reason = "rarft rule" + ("" if mv_correct else " (math-verify: no)" if mv_correct is False else "")
    elif mv_correct:
        veto = None
        if mv_parsed is not None and _magnitude_veto(*mv_parsed):
            veto = "magnitude_veto"
        elif extracted is None and rule != UNPARSED and _unfinished(response):
            veto = "unfinished_response"
        if veto:
            correct, decided_by, reason = False, veto, VETOES[veto]
        else:
            correct, decided_by, reason = True, "math_verify", "math-verify: yes"
        if cheap is not None:
            npred, ngold = cheap.normalized_pred, cheap.normalized_gold
    else:
        # math-verify said no (or ran out of time): the project's full comparison may still say yes
        correct, decided_by = False, "math_verify"
        reason = "math-verify: no" if not mv_timeout else "math-verify ran out of time"
        if cheap is not None:  # a cheap rule already decided "no"
            npred, ngold = cheap.normalized_pred, cheap.normalized_gold
            extra["rarft_rule"] = cheap.decided_by
            reason += f"; rarft {cheap.decided_by}: no"
        elif extracted is not None:
            try:
                if early is not None:
                    finished, dec = early  # already run above, before math-verify
                elif mv_parsed is not None:
                    with refused_by_math_verify(*mv_parsed):
                        finished, dec = _run_timed(lambda: equivalent(extracted, gold_text, spec), budget)
                else:
                    finished, dec = _run_timed(lambda: equivalent(extracted, gold_text, spec), budget)
            except GoldError as e:
                return Verdict(correct=False, status="error", extracted=extracted, extraction_rule=rule, reason=str(e))
            if finished:
                npred, ngold = dec.normalized_pred, dec.normalized_gold
                extra["rarft_rule"] = dec.decided_by
                if dec.correct:
                    correct, decided_by, reason = True, dec.decided_by, "rarft rule (math-verify: no)"
                else:
                    reason += f"; rarft {dec.decided_by}: no" + (f" ({dec.reason})" if dec.reason else "")
            else:
                extra["fallback"] = "rarft_timeout"
                reason += "; rarft comparison ran out of time: math-verify's verdict stands"
                if mv_timeout:
                    status_hint = "timeout"
        elif mv_timeout:
            status_hint = "timeout"

    if correct:
        status = "correct"
    elif status_hint:
        status = status_hint
    elif extracted is None:
        status = "no_answer"  # math-verify may have picked some intermediate value; no answer was given
    else:
        status = "wrong"

    rarft_correct = correct
    if spec.grader == "math-verify":
        correct = bool(mv_correct)
        status = "timeout" if mv_timeout else ("correct" if correct else ("wrong" if mv_extracted else "no_answer"))
        decided_by = "math-verify"

    extra["elapsed_ms"] = round((time.perf_counter() - t0) * 1000, 3)
    if extracted is not None and len(extracted) > _MAX_SHOWN:
        extra["extracted_chars"] = len(extracted)
        extracted = extracted[:_MAX_SHOWN] + "…"
    return Verdict(
        correct=correct,
        status=status,  # type: ignore[arg-type]
        extracted=extracted,
        extraction_rule=rule,
        decided_by=decided_by,
        normalized_pred=npred,
        normalized_gold=ngold,
        math_verify_correct=mv_correct,
        rarft_correct=rarft_correct,
        reason=reason,
        extra=extra,
    )


class _Decision:
    __slots__ = ("correct", "decided_by", "normalized_pred", "normalized_gold", "reason")

    def __init__(self, correct, decided_by, npred, ngold, reason=""):
        self.correct, self.decided_by, self.normalized_pred, self.normalized_gold, self.reason = (
            correct, decided_by, npred, ngold, reason)


def answers_equivalent(a: str, b: str, spec: GradeSpec) -> bool:
    """Symmetric-enough equivalence of two extracted answers (for maj@k clustering)."""
    if a == b:
        return True
    try:
        d = equivalent(a, b, spec)
        return bool(d and d.correct)
    except GoldError:
        return False
