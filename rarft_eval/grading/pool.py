"""``Grader``: isolated, parallel, hard-timed grading.

Design
------
* N worker processes (default ``min(os.cpu_count(), n_items)``), started with the
  ``forkserver`` method (``spawn`` where unavailable): never a plain ``fork`` of a parent that
  may hold CUDA / vLLM state. The forkserver preloads this package, so a replacement worker
  starts in tens of milliseconds instead of re-importing sympy.
* Each worker owns one duplex pipe. The parent sends a *batch* of checks (grouped by gold so
  the worker's gold-parse cache hits) and receives one small message per finished check.
* The parent knows when each check started (batch send, or the previous result) and kills
  the worker with ``Process.kill()`` (SIGKILL) once a check passes its hard deadline
  ``spec.timeout_s`` (or the Grader's ``timeout_s``). The check becomes
  ``Verdict(status="timeout")``, the rest of that batch goes back to the queue and a fresh
  worker is started. A worker that dies on its own (memory limit, crash) is handled the same
  way with ``status="error"``.
* ``RLIMIT_AS`` bounds each worker's memory (``max_memory_mb``).
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import time
from collections import deque
from multiprocessing.connection import wait
from typing import Any, Sequence

from .types import GradeSpec, Verdict

_PRELOAD = ["rarft_eval.grading.core", "rarft_eval.grading.worker"]
_START_TIMEOUT_S = 120.0
_MAX_START_FAILURES = 3


def _context():
    methods = mp.get_all_start_methods()
    if "forkserver" in methods:
        ctx = mp.get_context("forkserver")
        try:
            ctx.set_forkserver_preload(_PRELOAD)
        except Exception:  # pragma: no cover
            pass
        return ctx
    return mp.get_context("spawn")


class _Worker:
    __slots__ = ("proc", "conn", "ready", "batch", "started_at", "deadline_s", "kind", "started_proc_at")

    def __init__(self, ctx, max_memory_mb):
        from .worker import worker_main

        parent_conn, child_conn = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(target=worker_main, args=(child_conn, max_memory_mb), daemon=True)
        self.proc.start()
        child_conn.close()
        self.conn = parent_conn
        self.ready = False
        self.batch: deque = deque()  # pending items of the current batch (the first is running)
        self.started_at = 0.0  # when the running item started (parent's view)
        self.deadline_s = 0.0
        self.kind = None
        self.started_proc_at = time.monotonic()

    @property
    def busy(self) -> bool:
        return bool(self.batch)

    def kill(self):
        try:
            self.proc.kill()
        except Exception:
            pass
        try:
            self.proc.join(timeout=5)
        except Exception:
            pass
        try:
            self.conn.close()
        except Exception:
            pass


class Grader:
    """Grade many responses in isolated worker processes with a hard per-check timeout."""

    def __init__(self, workers: int | None = None, timeout_s: float | None = None, max_memory_mb: int | None = 2048):
        self.max_workers = max(1, int(workers)) if workers else max(1, os.cpu_count() or 1)
        self.timeout_s = timeout_s  # overrides spec.timeout_s when given
        self.max_memory_mb = max_memory_mb
        self._ctx = _context()
        self._workers: list[_Worker] = []
        self._closed = False
        self.stats = {"timeouts": 0, "worker_restarts": 0, "worker_deaths": 0, "fallbacks": 0}
        self._refs: dict = {}

    # -------------------------------------------------------------- lifecycle
    def __enter__(self) -> "Grader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for w in self._workers:
            try:
                if w.proc.is_alive() and not w.busy:
                    w.conn.send(("stop",))
            except Exception:
                pass
        for w in self._workers:
            w.proc.join(timeout=1.0)
            if w.proc.is_alive():
                w.kill()
            else:
                try:
                    w.conn.close()
                except Exception:
                    pass
        self._workers = []

    def __del__(self):  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:
            pass

    # -------------------------------------------------------------- workers
    def _ensure_workers(self, n: int) -> None:
        if self._closed:
            raise RuntimeError("Grader is closed")
        self._workers = [w for w in self._workers if w.proc.is_alive()]
        while len(self._workers) < n:
            self._workers.append(_Worker(self._ctx, self.max_memory_mb))

    def _replace(self, w: _Worker) -> _Worker:
        w.kill()
        self.stats["worker_restarts"] += 1
        nw = _Worker(self._ctx, self.max_memory_mb)
        self._workers[self._workers.index(w)] = nw
        return nw

    def _hard_timeout(self, spec_timeout: float | None) -> float:
        t = self.timeout_s if self.timeout_s is not None else spec_timeout
        return float(t) if t else 5.0

    # -------------------------------------------------------------- core loop
    def _run(self, tasks: list[tuple[str, Any, float]], n_workers: int) -> dict[Any, Any]:
        """Run tasks [(kind, payload, hard_timeout)] where payload[0] is the task id.

        kind "grade": payload = (idx, response, gold, spec_dict); batched.
        kind "cluster": payload = (idx, answers, spec_dict); one per message.
        Returns {idx: result | _TIMEOUT | _DIED}.
        """
        results: dict[Any, Any] = {}
        refs = self._refs = {}  # idx -> math-verify's result, sent by the worker mid-check
        if not tasks:
            return results
        self._ensure_workers(n_workers)
        active = self._workers[:n_workers]
        queue: deque = deque(tasks)
        per_batch = max(1, min(8, math.ceil(len(tasks) / (len(active) * 4))))

        def dispatch(w: _Worker) -> None:
            if not queue or not w.ready or w.busy:
                return
            first = queue.popleft()
            if first[0] in ("cluster", "probe"):
                w.batch.append(first)
                msg = (first[0], *first[1])
            else:
                w.batch.append(first)
                while len(w.batch) < per_batch and queue and queue[0][0] == "grade":
                    w.batch.append(queue.popleft())
                msg = ("grade", [t[1] for t in w.batch])
            w.started_at = time.monotonic()
            w.deadline_s = w.batch[0][2]
            try:
                w.conn.send(msg)
            except (OSError, ValueError):
                # the worker is already gone: put the batch back; the sentinel path replaces it
                for t in reversed(w.batch):
                    queue.appendleft(t)
                w.batch.clear()
                w.ready = False

        retried: set = set()

        def fail_current(w: _Worker, outcome) -> _Worker:
            cur = w.batch.popleft()
            key = cur[1][0]
            if outcome is _DIED and key not in retried:
                # the worker may have died of something else (killed from outside, OOM killer
                # picking it): the check gets one more try on a fresh worker
                retried.add(key)
                w.batch.appendleft(cur)
            else:
                results[key] = outcome
            # requeue the rest of the batch at the front, in order
            for t in reversed(w.batch):
                queue.appendleft(t)
            w.batch.clear()
            nw = self._replace(w)
            active[active.index(w)] = nw
            return nw

        start_failures = 0
        while len(results) < len(tasks):
            if start_failures >= _MAX_START_FAILURES:
                # workers cannot even start (broken environment): every remaining check is an error
                for t in list(queue) + [t for w in active for t in w.batch]:
                    results.setdefault(t[1][0], _NOSTART)
                queue.clear()
                for w in active:
                    w.batch.clear()
                break
            now = time.monotonic()
            # hard deadlines
            timeout = 0.5
            for w in list(active):
                if w.busy:
                    remaining = w.started_at + w.deadline_s - now
                    if remaining <= 0:
                        self.stats["timeouts"] += 1
                        fail_current(w, _TIMEOUT)
                        continue
                    timeout = min(timeout, remaining)
                elif not w.ready and now - w.started_proc_at > _START_TIMEOUT_S:
                    start_failures += 1
                    fail_start = w
                    nw = self._replace(fail_start)
                    active[active.index(fail_start)] = nw
            for w in active:
                dispatch(w)
            waitables = {}
            for w in active:
                waitables[w.conn] = w
                waitables[w.proc.sentinel] = w
            ready = wait(list(waitables), timeout=max(0.0, timeout))
            seen = set()
            for r in ready:
                w = waitables[r]
                if id(w) in seen:
                    continue
                seen.add(id(w))
                try:
                    while w.conn.poll():
                        msg = w.conn.recv()
                        if msg[0] == "ready":
                            w.ready = True
                            start_failures = 0
                        elif msg[0] == "ref":
                            refs[msg[1]] = msg[2]
                        elif msg[0] == "ok":
                            cur = w.batch.popleft() if w.batch else None
                            if cur is not None:
                                results[cur[1][0]] = msg[2]
                            w.started_at = time.monotonic()
                            if w.batch:
                                w.deadline_s = w.batch[0][2]
                except (EOFError, OSError):
                    pass
                if not w.proc.is_alive():
                    self.stats["worker_deaths"] += 1
                    if not w.ready:
                        start_failures += 1
                    if w.busy:
                        fail_current(w, _DIED)
                    else:
                        nw = self._replace(w)
                        active[active.index(w)] = nw
        return results

    # -------------------------------------------------------------- API
    def grade_many(self, items: Sequence[tuple[str, str, GradeSpec]]) -> list[Verdict]:
        """Grade (response, gold, spec) triples; order-preserving; never raises per item."""
        n = len(items)
        if n == 0:
            return []
        order = sorted(range(n), key=lambda i: (str(items[i][1]), i))  # group by gold for cache hits
        tasks = []
        for i in order:
            resp, gold, spec = items[i]
            if not isinstance(spec, GradeSpec):
                spec = GradeSpec(**spec) if isinstance(spec, dict) else GradeSpec()
            hard = self._hard_timeout(spec.timeout_s)
            spec_d = spec.to_dict()
            spec_d["timeout_s"] = hard  # the worker's soft deadlines follow the effective limit
            tasks.append(("grade", (i, resp, gold, spec_d), hard))
        res = self._run(tasks, min(self.max_workers, n))
        out: list[Verdict] = []
        for i in range(n):
            r = res.get(i)
            spec = items[i][2] if isinstance(items[i][2], GradeSpec) else GradeSpec()
            if r is _TIMEOUT:
                ext, rule = _safe_extract(items[i][0])
                limit = self._hard_timeout(spec.timeout_s)
                ref = self._refs.get(i)
                if ref is not None and not ref.get("timeout"):
                    # math-verify had finished before the kill: its verdict stands (counted)
                    ok = bool(ref.get("math_verify_correct"))
                    self.stats["fallbacks"] += 1
                    out.append(Verdict(correct=ok, status="correct" if ok else "wrong", extracted=ext, extraction_rule=rule,
                                       decided_by="math_verify", rarft_correct=ok, math_verify_correct=ok,
                                       reason=f"rarft comparison killed after hard timeout {limit} s: math-verify's verdict stands",
                                       extra={"fallback": "hard_timeout",
                                              "math_verify_extracted": ref.get("math_verify_extracted")}))
                else:
                    out.append(Verdict(correct=False, status="timeout", extracted=ext, extraction_rule=rule, rarft_correct=False,
                                       math_verify_correct=False, reason=f"killed after hard timeout {limit} s"))
            elif r is _NOSTART:
                out.append(Verdict(correct=False, status="error", extracted=None, reason="grading workers failed to start"))
            elif r is _DIED or r is None:
                out.append(Verdict(correct=False, status="error", extracted=None, reason="worker process died (memory limit or crash)"))
            else:
                v = Verdict.from_dict(r)
                if v.extra.get("fallback"):
                    self.stats["fallbacks"] += 1
                out.append(v)
        return out

    def cluster_answers(self, answers: Sequence[str | None], spec: GradeSpec = GradeSpec()) -> list[int | None]:
        """Cluster ids by mathematical equivalence, numbered in order of first appearance."""
        answers = list(answers)
        if not answers:
            return []
        if not isinstance(spec, GradeSpec):
            spec = GradeSpec(**spec) if isinstance(spec, dict) else GradeSpec()
        n_real = sum(a is not None for a in answers)
        hard = self._hard_timeout(spec.timeout_s) * (1 + n_real)
        spec_d = spec.to_dict()
        spec_d["timeout_s"] = self._hard_timeout(spec.timeout_s)
        res = self._run([("cluster", (0, answers, spec_d), hard)], 1).get(0)
        if isinstance(res, list):
            return res
        return _string_clusters(answers)


def _probe_many(grader: "Grader", what: str, arg: float, n: int, hard_timeout: float) -> list:
    """Send n probes (see worker.py); returns their results or the TIMEOUT/DIED sentinels."""
    res = grader._run([("probe", (i, what, arg), hard_timeout) for i in range(n)], min(grader.max_workers, n))
    return [res.get(i) for i in range(n)]


def _safe_extract(response) -> tuple[str | None, str | None]:
    """Extraction is linear-time string work, safe to run in the parent for explanations."""
    from .extract import extract_answer

    try:
        return extract_answer(response if isinstance(response, str) else "")
    except Exception:
        return None, None


def _string_clusters(answers: Sequence[str | None]) -> list[int | None]:
    """Fallback when equivalence clustering timed out: normalised-string clusters."""
    from .normalize import clean

    ids: dict[str, int] = {}
    out: list[int | None] = []
    for a in answers:
        if a is None:
            out.append(None)
            continue
        try:
            key = clean(a).text
        except Exception:
            key = a
        if key not in ids:
            ids[key] = len(ids)
        out.append(ids[key])
    return out


class _Sentinel:
    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name


_TIMEOUT = _Sentinel("TIMEOUT")
_DIED = _Sentinel("DIED")
_NOSTART = _Sentinel("NOSTART")
