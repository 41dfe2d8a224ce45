"""Worker process body for ``Grader``.

A worker receives batches over its own pipe and answers with one message per finished
check, so the parent always knows which check is running and since when. It runs every
check in its main thread under soft deadlines (``core.enable_soft_deadlines``); the parent's
hard kill covers what a signal cannot interrupt.

Messages parent -> worker: ("grade", [(idx, response, gold, spec_dict), ...])
                           ("cluster", idx, [answers...], spec_dict)
                           ("probe", idx, "limits" | "sleep" | "ref_then_sleep", arg)
                           ("stop",)
Messages worker -> parent: ("ok", idx, verdict_dict | cluster_ids)
                           ("ref", idx, math-verify result)   (sent mid-check; the fallback
                                                             if the check is then hard-killed)
                           ("ready",)
"""

from __future__ import annotations

import os
import resource
import sys


def _limit_memory(max_memory_mb: int | None) -> None:
    if not max_memory_mb:
        return
    limit = int(max_memory_mb) * 1024 * 1024
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ValueError, OSError):  # pragma: no cover - platform without RLIMIT_AS
        pass


def _spec_from(d):
    from .types import GradeSpec

    if isinstance(d, GradeSpec):
        return d
    return GradeSpec(**d)


def cluster(answers, spec) -> list[int | None]:
    """Cluster ids by equivalence, in order of first appearance. Each comparison is soft-timed."""
    from .core import _run_timed, answers_equivalent
    from .normalize import clean

    reps: list[tuple[str, str]] = []  # (answer, canonical string)
    out: list[int | None] = []
    budget = float(spec.timeout_s) * 0.4 if spec.timeout_s else 0.0
    for a in answers:
        if a is None:
            out.append(None)
            continue
        try:
            canon = clean(a).text
        except Exception:
            canon = a
        cid = None
        for k, (rep, rep_canon) in enumerate(reps):
            if canon == rep_canon:
                cid = k
                break
        if cid is None:
            for k, (rep, _) in enumerate(reps):
                try:
                    finished, same = _run_timed(lambda: answers_equivalent(a, rep, spec), budget)
                except Exception:
                    finished, same = True, False
                if finished and same:
                    cid = k
                    break
        if cid is None:
            reps.append((a, canon))
            cid = len(reps) - 1
        out.append(cid)
    return out


def worker_main(conn, max_memory_mb: int | None) -> None:
    _limit_memory(max_memory_mb)
    # Silence anything libraries print; results only travel over the pipe.
    try:
        devnull = open(os.devnull, "w")
        sys.stdout = devnull
    except OSError:  # pragma: no cover
        pass
    from .core import enable_soft_deadlines, grade

    enable_soft_deadlines()
    conn.send(("ready",))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        kind = msg[0]
        if kind == "stop":
            return
        if kind == "grade":
            for idx, response, gold, spec_d in msg[1]:
                try:
                    v = grade(response, gold, _spec_from(spec_d),
                              on_reference=lambda r, idx=idx: conn.send(("ref", idx, r))).to_dict()
                except MemoryError:
                    v = {"correct": False, "status": "error", "extracted": None, "reason": "memory limit exceeded"}
                    conn.send(("ok", idx, v))
                    return  # a fresh worker replaces this one
                conn.send(("ok", idx, v))
        elif kind == "probe":
            # diagnostics for tests and health checks: the worker's pid and memory limit, or a
            # deliberate uninterruptible-by-soft-deadline wait (exercises the parent's hard kill)
            _, idx, what, arg = msg
            if what == "ref_then_sleep":  # a check whose math-verify verdict is known, then stuck
                conn.send(("ref", idx, {"math_verify_correct": True, "math_verify_extracted": "probe", "timeout": False}))
                what = "sleep"
            if what == "sleep":
                import time

                time.sleep(float(arg))
            conn.send(("ok", idx, {"pid": os.getpid(), "rlimit_as": resource.getrlimit(resource.RLIMIT_AS)[0]}))
        elif kind == "cluster":
            _, idx, answers, spec_d = msg
            try:
                ids = cluster(answers, _spec_from(spec_d))
            except MemoryError:
                conn.send(("ok", idx, None))
                return
            conn.send(("ok", idx, ids))
