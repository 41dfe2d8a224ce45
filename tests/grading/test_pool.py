"""Grader: isolation, hard timeouts, worker replacement, memory limit, parallelism, clustering."""

from __future__ import annotations

import os
import time

from rarft_eval.grading import GradeSpec, Grader
from rarft_eval.grading.pool import _TIMEOUT, _probe_many


def test_order_preserved_and_fields(grader):
    items = [(f"\\boxed{{{i}}}", str(i if i % 3 else i + 1), GradeSpec()) for i in range(40)]
    vs = grader.grade_many(items)
    assert [v.correct for v in vs] == [bool(i % 3) for i in range(40)]
    assert [v.extracted for v in vs] == [str(i) for i in range(40)]
    assert all(v.extraction_rule == "boxed" for v in vs)


def test_empty_input(grader):
    assert grader.grade_many([]) == []
    assert grader.cluster_answers([], GradeSpec()) == []


def test_soft_or_hard_timeout_is_a_verdict_and_the_pool_goes_on(grader):
    # six symbols (no numeric shortcut), a 40th power: many seconds per phase unbounded
    slow = ("\\boxed{(a+b+c+d+e+f)^{40}}", "(a+b+c+d+e+g)^{40}", GradeSpec(timeout_s=0.5))
    ok = ("\\boxed{5}", "5", GradeSpec())
    t0 = time.monotonic()
    vs = grader.grade_many([ok, slow, ok, slow, ok])
    assert time.monotonic() - t0 < 30
    assert [v.status for v in vs[::2]] == ["correct", "correct", "correct"]
    for v in vs[1::2]:
        # both phases ran out of time: a timeout verdict; or math-verify finished first and its
        # verdict stands, marked as a fallback (never a silent "wrong")
        assert v.correct is False and v.rarft_correct is False
        assert v.status == "timeout" or (v.status == "wrong" and v.extra.get("fallback") == "rarft_timeout"), v


def test_hard_kill_after_math_verify_finished_keeps_its_verdict(grader):
    res = _probe_many(grader, "ref_then_sleep", 60.0, 1, hard_timeout=0.5)
    assert res == [_TIMEOUT]
    # the worker had sent math-verify's result before it got stuck: grade_many turns that into the
    # verdict (decided_by math_verify, extra fallback "hard_timeout") instead of a timeout
    assert grader._refs[0]["math_verify_correct"] is True


def test_hard_kill_of_a_check_that_ignores_the_soft_deadline(grader):
    restarts = grader.stats["worker_restarts"]
    t0 = time.monotonic()
    res = _probe_many(grader, "sleep", 60.0, 1, hard_timeout=0.5)
    assert res == [_TIMEOUT]
    assert time.monotonic() - t0 < 20  # killed long before the 60 s sleep ends
    assert grader.stats["worker_restarts"] == restarts + 1
    # the replacement worker grades normally
    assert grader.grade_many([("\\boxed{2}", "2", GradeSpec())])[0].correct


def test_grade_many_timeout_verdict_keeps_explanation():
    with Grader(workers=1, timeout_s=0.3) as g:
        # the Grader-level timeout overrides the spec; the soft budget is ~0.13 s per phase
        v = g.grade_many([("x" * 50 + "\\boxed{(a+b+c+d+e+f)^{40}}", "(a+b+c+d+e+g)^{40}", GradeSpec())])[0]
    assert v.status == "timeout" and v.correct is False
    assert v.extracted == "(a+b+c+d+e+f)^{40}" and v.extraction_rule == "boxed"


def test_memory_limit_is_set_in_workers():
    with Grader(workers=1, max_memory_mb=1536) as g:
        info = _probe_many(g, "limits", 0, 1, hard_timeout=30)[0]
        assert info["rlimit_as"] == 1536 * 1024 * 1024
        assert info["pid"] != os.getpid()


def test_workers_run_in_parallel_processes():
    n = min(os.cpu_count() or 1, 4)
    with Grader() as g:
        assert g.max_workers == (os.cpu_count() or 1)
        infos = _probe_many(g, "sleep", 0.5, n, hard_timeout=30)
        pids = {i["pid"] for i in infos}
        assert len(pids) == n  # the sleeps ran in n different processes
        t0 = time.monotonic()
        _probe_many(g, "sleep", 1.0, n, hard_timeout=30)
        # n one-second sleeps on n workers: about 1 s, not n seconds
        assert time.monotonic() - t0 < 1.0 * n - 0.3 or n == 1


def test_worker_death_is_an_error_verdict_not_a_crash(grader):
    import signal

    # kill the worker while it runs a probe; the pool reports, replaces it and goes on
    infos = _probe_many(grader, "limits", 0, 2, hard_timeout=30)
    for info in infos:
        os.kill(info["pid"], signal.SIGKILL)
    vs = grader.grade_many([("\\boxed{3}", "3", GradeSpec()), ("\\boxed{4}", "3", GradeSpec())])
    assert [v.status for v in vs] == ["correct", "wrong"]


def test_cluster_answers_by_equivalence(grader):
    answers = ["1/2", None, "0.5", "\\frac{1}{2}", "3", "x=3", "\\frac{6}{2}", "4", None, "\\dfrac{2}{4}"]
    assert grader.cluster_answers(answers, GradeSpec()) == [0, None, 0, 0, 1, 1, 1, 2, None, 0]


def test_cluster_answers_tuples_and_text(grader):
    answers = ["(1,2)", "(2,1)", "\\left(1, 2\\right)", "\\text{Monday}", "Monday", "monday"]
    assert grader.cluster_answers(answers, GradeSpec()) == [0, 1, 0, 2, 2, 2]


def test_closed_grader_refuses():
    g = Grader(workers=1)
    g.close()
    try:
        g.grade_many([("\\boxed{1}", "1", GradeSpec())])
    except RuntimeError:
        pass
    else:
        raise AssertionError("a closed Grader must refuse work")


def test_grade_many_turns_a_killed_check_with_a_known_reference_into_its_verdict(monkeypatch):
    # the parent's half of the protocol above, without workers: _run reports two hard kills, one
    # after math-verify's result arrived and one before
    g = Grader(workers=1)

    def fake_run(tasks, n_workers):
        g._refs = {0: {"math_verify_correct": True, "math_verify_extracted": "5", "timeout": False},
                   1: {"math_verify_correct": False, "math_verify_extracted": None, "timeout": True}}
        return {0: _TIMEOUT, 1: _TIMEOUT}

    monkeypatch.setattr(g, "_run", fake_run)
    a, b = g.grade_many([("\\boxed{5}", "5", GradeSpec()), ("\\boxed{6}", "5", GradeSpec())])
    assert a.correct is True and a.status == "correct" and a.decided_by == "math_verify"
    assert a.extra["fallback"] == "hard_timeout" and g.stats["fallbacks"] == 1
    assert b.correct is False and b.status == "timeout"
    g.close()
