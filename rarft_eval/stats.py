"""Paired statistics for two systems scored on the same problems.

`d_i = b_i - a_i` where a_i, b_i are the per-problem accuracies (fraction of correct samples).
- mean difference and its 95% CI from a paired bootstrap over problems (seeded);
- sign test: two-sided exact binomial test on the number of problems where B beats A (ties dropped);
- paired permutation (sign-flip) test of the mean difference: exact enumeration of all sign
  patterns when at most 20 problems differ, otherwise a seeded Monte Carlo with 20,000 flips.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

EXACT_LIMIT = 20
MONTE_CARLO_FLIPS = 20_000


@dataclass
class PairedResult:
    n_problems: int
    mean_a: float
    mean_b: float
    diff: float
    ci95: tuple[float, float]
    wins: int  # problems where B > A
    losses: int
    ties: int
    sign_p: float
    permutation_p: float
    permutation_exact: bool

    def to_dict(self) -> dict:
        return asdict(self)


def sign_test_p(wins: int, losses: int) -> float:
    """Two-sided exact binomial p-value of `wins` vs `losses` under p = 1/2."""
    n = wins + losses
    if n == 0:
        return 1.0
    low = min(wins, losses)
    tail = sum(math.comb(n, i) for i in range(low + 1)) / 2**n
    return min(1.0, 2 * tail)


def permutation_p(d: Sequence[float], *, seed: int = 0) -> tuple[float, bool]:
    """Two-sided sign-flip permutation p-value of mean(d); returns (p, exact)."""
    values = np.asarray([x for x in d if x != 0], dtype=float)
    if values.size == 0:
        return 1.0, True
    observed = abs(values.sum())
    tol = 1e-12 * max(1.0, observed)
    if values.size <= EXACT_LIMIT:
        n = values.size
        patterns = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1) * 2 - 1  # every +-1 sign pattern
        sums = np.abs(patterns @ values)
        return float(np.mean(sums >= observed - tol)), True
    rng = np.random.default_rng(seed)
    signs = rng.choice((-1.0, 1.0), size=(MONTE_CARLO_FLIPS, values.size))
    sums = np.abs(signs @ values)
    return float((np.sum(sums >= observed - tol) + 1) / (MONTE_CARLO_FLIPS + 1)), False


def paired_compare(a: Sequence[float], b: Sequence[float], *, n_bootstrap: int = 10_000, seed: int = 0) -> PairedResult:
    if len(a) != len(b):
        raise ValueError(f"paired comparison needs the same problems (got {len(a)} and {len(b)})")
    if not len(a):
        raise ValueError("paired comparison needs at least one problem")
    av, bv = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    d = bv - av
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, d.size, size=(n_bootstrap, d.size))
    boot = d[idx].mean(axis=1)
    lo, hi = np.quantile(boot, [0.025, 0.975])
    wins, losses = int(np.sum(d > 0)), int(np.sum(d < 0))
    perm, exact = permutation_p(d, seed=seed)
    return PairedResult(
        n_problems=int(d.size),
        mean_a=float(av.mean()),
        mean_b=float(bv.mean()),
        diff=float(d.mean()),
        ci95=(float(lo), float(hi)),
        wins=wins,
        losses=losses,
        ties=int(d.size - wins - losses),
        sign_p=sign_test_p(wins, losses),
        permutation_p=perm,
        permutation_exact=exact,
    )
