"""Paired statistics against values worked out by hand."""

from __future__ import annotations

import math

import pytest

from rarft_eval.stats import paired_compare, permutation_p, sign_test_p

# per-problem accuracies of A and B; d = B - A = [0.5, 0.25, -0.25, 0, 0.5]
A = [0.0, 0.5, 0.75, 1.0, 0.25]
B = [0.5, 0.75, 0.5, 1.0, 0.75]


def test_sign_test_by_hand():
    # 3 wins, 1 loss: P(X <= 1 | n=4, p=1/2) = (1 + 4) / 16; two-sided = 10/16
    assert sign_test_p(3, 1) == pytest.approx(10 / 16)
    assert sign_test_p(0, 0) == 1.0
    assert sign_test_p(2, 2) == 1.0  # capped at 1
    assert sign_test_p(10, 0) == pytest.approx(2 / 2**10)


def test_exact_permutation_by_hand():
    # |d| = {0.5, 0.5, 0.25, 0.25} (the zero flips onto itself). Sign patterns whose |sum| >= the
    # observed 1.0: the two 0.5s agree (2 of 4 ways) and the 0.25s do not both oppose them
    # (3 of 4 ways) -> 6 of 16.
    p, exact = permutation_p([0.5, 0.25, -0.25, 0.0, 0.5])
    assert exact and p == pytest.approx(6 / 16)


def test_permutation_of_all_ties_is_one():
    assert permutation_p([0.0, 0.0]) == (1.0, True)


def test_monte_carlo_permutation_beyond_the_exact_limit_is_seeded_and_sensible():
    d = [0.1] * 25  # every problem improves: p ~ 2 / 2^25, floored by the Monte Carlo resolution
    p1, exact = permutation_p(d, seed=1)
    assert not exact and p1 == permutation_p(d, seed=1)[0]
    assert p1 < 0.001
    balanced = [0.1, -0.1] * 13
    assert permutation_p(balanced, seed=0)[0] > 0.9


def test_paired_compare_by_hand():
    r = paired_compare(A, B, n_bootstrap=4000, seed=0)
    assert r.n_problems == 5
    assert r.mean_a == pytest.approx(0.5) and r.mean_b == pytest.approx(0.7)
    assert r.diff == pytest.approx(0.2)
    assert (r.wins, r.losses, r.ties) == (3, 1, 1)
    assert r.sign_p == pytest.approx(10 / 16)
    assert r.permutation_p == pytest.approx(6 / 16) and r.permutation_exact
    lo, hi = r.ci95
    assert -0.25 <= lo < 0.2 < hi <= 0.5  # the bootstrap mean lies within [min d, max d]


def test_paired_compare_identical_systems():
    r = paired_compare(A, A, n_bootstrap=100, seed=0)
    assert r.diff == 0 and r.ci95 == (0.0, 0.0) and r.sign_p == 1.0 and r.permutation_p == 1.0


def test_paired_compare_needs_the_same_problems():
    with pytest.raises(ValueError):
        paired_compare([0.1, 0.2], [0.1], n_bootstrap=10)
    assert math.isclose(paired_compare([0.0], [1.0], n_bootstrap=10).diff, 1.0)
