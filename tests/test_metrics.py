"""Metrics against values worked out by hand (see docs/metrics.md for the formulas)."""

from __future__ import annotations

import math

import pytest

from rarft_eval.metrics import (
    SampleOutcome,
    avg_at_k,
    compute_task_metrics,
    maj_at_k,
    pass_at_k,
    pass_at_k_powers,
)


def outcomes(correct, clusters=None, finish=None, tokens=None, extracted=None):
    n = len(correct)
    clusters = clusters or list(range(n))
    return [
        SampleOutcome(
            correct=bool(c),
            cluster=clusters[i],
            extracted=(extracted[i] if extracted else ("x" if clusters[i] is not None else None)),
            finish_reason=(finish[i] if finish else "stop"),
            completion_tokens=(tokens[i] if tokens else 10),
        )
        for i, c in enumerate(correct)
    ]


# --- pass@k (Chen et al. 2021): 1 - C(n-c, k) / C(n, k) ------------------------------------------

@pytest.mark.parametrize(
    "n,c,k,expected",
    [
        (4, 2, 1, 0.5),
        (4, 2, 2, 1 - 1 / 6),  # C(2,2)/C(4,2) = 1/6
        (4, 2, 3, 1.0),  # n - c < k: every 3-subset holds a correct sample
        (4, 0, 2, 0.0),
        (4, 4, 4, 1.0),
        (1, 1, 1, 1.0),
        (1, 0, 1, 0.0),
        (10, 3, 5, 1 - math.comb(7, 5) / math.comb(10, 5)),  # = 1 - 21/252 = 0.91666...
    ],
)
def test_pass_at_k_unbiased(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected)


def test_pass_at_k_rejects_k_above_n():
    with pytest.raises(ValueError):
        pass_at_k(4, 1, 8)


def test_pass_at_k_powers_of_two_up_to_n():
    assert pass_at_k_powers(6) == [1, 2, 4]
    assert pass_at_k_powers(8) == [1, 2, 4, 8]
    assert pass_at_k_powers(1) == [1]


# --- avg@k -------------------------------------------------------------------------------------

MATRIX = [[1, 1, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0]]


def test_avg_at_k_mean_and_two_kinds_of_error():
    res = avg_at_k(MATRIX, n_bootstrap=2000, seed=0)
    assert res["mean"] == pytest.approx(0.5)
    # per-problem accuracies 0.5, 1, 0: sample std 0.5, SE = 0.5 / sqrt(3)
    assert res["se"] == pytest.approx(0.5 / math.sqrt(3))
    # the k "sample-runs" (columns) score 2/3, 2/3, 1/3, 1/3: sample std sqrt(1/27)
    assert res["std_runs"] == pytest.approx(math.sqrt(1 / 27))
    lo, hi = res["ci95"]
    assert 0.0 <= lo < 0.5 < hi <= 1.0


def test_avg_at_k_bootstrap_is_seeded_and_degenerate_when_constant():
    a = avg_at_k(MATRIX, n_bootstrap=500, seed=3)
    b = avg_at_k(MATRIX, n_bootstrap=500, seed=3)
    assert a["ci95"] == b["ci95"]
    allright = avg_at_k([[1, 1], [1, 1]], n_bootstrap=200, seed=0)
    assert allright["mean"] == 1.0 and allright["ci95"] == (1.0, 1.0) and allright["se"] == 0.0
    none = avg_at_k([[0, 0], [0, 0]], n_bootstrap=200, seed=0)
    assert none["mean"] == 0.0 and none["ci95"] == (0.0, 0.0)


def test_avg_at_k_single_sample_and_single_problem():
    res = avg_at_k([[1], [0], [1], [1]], n_bootstrap=100, seed=0)
    assert res["mean"] == pytest.approx(0.75)
    assert res["std_runs"] is None  # one sample-run has no spread
    one = avg_at_k([[1, 0, 1]], n_bootstrap=100, seed=0)
    assert one["mean"] == pytest.approx(2 / 3)
    assert one["se"] is None  # one problem has no across-problem error


def test_avg_at_k_rejects_ragged_matrix():
    with pytest.raises(ValueError):
        avg_at_k([[1, 0], [1]], n_bootstrap=10, seed=0)


# --- maj@k -------------------------------------------------------------------------------------

def test_maj_at_k_votes_over_equivalence_clusters_not_strings():
    # clusters 0,0,1: two samples agree (cluster 0) and are correct
    assert maj_at_k(outcomes([1, 1, 0], clusters=[0, 0, 1]), 3) == 1.0
    # majority wrong
    assert maj_at_k(outcomes([1, 0, 0], clusters=[0, 1, 1]), 3) == 0.0


def test_maj_at_k_tie_gives_fractional_credit():
    # two clusters of two: one correct, one wrong -> expected credit over tie-breaks 1/2
    assert maj_at_k(outcomes([1, 0, 1, 0], clusters=[0, 1, 0, 1]), 4) == pytest.approx(0.5)
    # three singletons, one correct -> 1/3
    assert maj_at_k(outcomes([0, 1, 0], clusters=[0, 1, 2]), 3) == pytest.approx(1 / 3)


def test_maj_at_k_ignores_samples_without_an_answer():
    # two samples without an answer do not form a winning "None" cluster
    o = outcomes([0, 0, 1], clusters=[None, None, 0])
    assert maj_at_k(o, 3) == 1.0
    assert maj_at_k(outcomes([0, 0], clusters=[None, None]), 2) == 0.0


def test_maj_at_k_uses_first_k_samples():
    o = outcomes([1, 0, 0, 0], clusters=[0, 1, 1, 1])
    assert maj_at_k(o, 1) == 1.0  # only the first sample votes
    assert maj_at_k(o, 4) == 0.0


# --- the task summary ---------------------------------------------------------------------------

def test_compute_task_metrics_rates_and_tokens():
    problems = [
        outcomes([1, 0], clusters=[0, None], finish=["stop", "length"], tokens=[10, 30]),
        outcomes([0, 0], clusters=[0, 1], finish=["stop", "stop"], tokens=[20, 40]),
    ]
    m = compute_task_metrics(problems, k=2, n_bootstrap=200, seed=0)
    assert m["n_problems"] == 2 and m["k"] == 2
    assert m["avg@k"] == pytest.approx(0.25)
    assert m["truncation_rate"] == pytest.approx(0.25)
    assert m["extraction_failure_rate"] == pytest.approx(0.25)
    assert m["completion_tokens_mean"] == pytest.approx(25.0)
    assert m["completion_tokens_median"] == pytest.approx(25.0)
    assert m["pass@1"] == pytest.approx(0.25)
    assert m["pass@2"] == pytest.approx(0.5)
    # p1: only cluster 0 votes and it is right (1); p2: a tie of two wrong clusters (0)
    assert m["maj@2"] == pytest.approx(0.5)


def test_compute_task_metrics_uses_first_k_of_longer_rows_and_refuses_short_rows():
    problems = [outcomes([1, 1, 0, 0]), outcomes([0, 0, 1, 1])]
    m = compute_task_metrics(problems, k=2, n_bootstrap=50, seed=0)
    assert m["avg@k"] == pytest.approx(0.5)  # 1.0 and 0.0
    with pytest.raises(ValueError):
        compute_task_metrics([outcomes([1])], k=2, n_bootstrap=10, seed=0)


def test_compute_task_metrics_reports_math_verify_accuracy_when_graders_differ():
    problems = [outcomes([1, 1]), outcomes([1, 0])]
    problems[0][0].math_verify_correct = False  # ours says right, plain math-verify wrong
    for row in problems:
        for s in row:
            if s.math_verify_correct is None:
                s.math_verify_correct = s.correct
    m = compute_task_metrics(problems, k=2, n_bootstrap=10, seed=0)
    assert m["avg@k"] == pytest.approx(0.75)
    assert m["avg@k_math_verify"] == pytest.approx(0.5)
