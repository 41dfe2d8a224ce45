"""Sample-level outcomes -> task-level metrics. Formulas are documented in docs/metrics.md.

- avg@k: mean over problems of the fraction of correct samples (the papers' "avg@32").
  * `se`: standard error across problems, std(p_i, ddof=1) / sqrt(N).
  * `std_runs`: the spread across the k sample-runs (run j = the j-th sample of every problem),
    std(acc_j, ddof=1): the number papers quote as "+-".
  * `ci95`: percentile bootstrap over problems.
- pass@k: the unbiased estimator of Chen et al. (2021), averaged over problems.
- maj@k: majority vote of the first k samples over answers grouped by equivalence; a tie between
  the largest clusters earns the fraction of tied clusters that are correct.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass
class SampleOutcome:
    correct: bool
    cluster: int | None  # equivalence class of the extracted answer within its problem; None: no answer
    extracted: str | None
    finish_reason: str | None
    completion_tokens: int
    math_verify_correct: bool | None = None


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one problem with n samples of which c are correct."""
    if not 1 <= k <= n:
        raise ValueError(f"pass@k needs 1 <= k <= n (k={k}, n={n})")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def pass_at_k_powers(n: int) -> list[int]:
    """k = 1, 2, 4, ... up to n."""
    ks, k = [], 1
    while k <= n:
        ks.append(k)
        k *= 2
    return ks


def _matrix(correct: Sequence[Sequence[bool | int]]) -> np.ndarray:
    widths = {len(row) for row in correct}
    if len(widths) != 1:
        raise ValueError(f"every problem needs the same number of samples (got {sorted(widths)})")
    return np.asarray(correct, dtype=float)


def avg_at_k(correct: Sequence[Sequence[bool | int]], *, n_bootstrap: int = 2000, seed: int = 0) -> dict:
    m = _matrix(correct)
    n_problems, k = m.shape
    per_problem = m.mean(axis=1)
    mean = float(per_problem.mean())
    se = float(per_problem.std(ddof=1) / math.sqrt(n_problems)) if n_problems > 1 else None
    std_runs = float(m.mean(axis=0).std(ddof=1)) if k > 1 else None
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n_problems, size=(n_bootstrap, n_problems))
    boot = per_problem[idx].mean(axis=1)
    lo, hi = np.quantile(boot, [0.025, 0.975])
    return {"mean": mean, "se": se, "std_runs": std_runs, "ci95": (float(lo), float(hi))}


def maj_at_k(samples: Sequence[SampleOutcome], k: int) -> float:
    """Majority vote over the first k samples' equivalence clusters; ties share the credit."""
    first = samples[:k]
    votes = Counter(s.cluster for s in first if s.cluster is not None)
    if not votes:
        return 0.0
    top = max(votes.values())
    tied = [c for c, v in votes.items() if v == top]
    correct_of = {s.cluster: s.correct for s in first if s.cluster is not None}
    return sum(1.0 for c in tied if correct_of[c]) / len(tied)


def compute_task_metrics(
    problems: Sequence[Sequence[SampleOutcome]],
    k: int,
    *,
    n_bootstrap: int = 2000,
    seed: int = 0,
    generation_seconds: float | None = None,
) -> dict:
    """Every metric of one task from the first k samples of each problem."""
    for row in problems:
        if len(row) < k:
            raise ValueError(f"a problem has {len(row)} samples, fewer than k={k}")
    rows = [list(row[:k]) for row in problems]
    flat = [s for row in rows for s in row]
    acc = avg_at_k([[s.correct for s in row] for row in rows], n_bootstrap=n_bootstrap, seed=seed)
    out: dict = {
        "n_problems": len(rows),
        "k": k,
        "n_samples": len(flat),
        "avg@k": acc["mean"],
        "avg@k_se": acc["se"],
        "avg@k_std_runs": acc["std_runs"],
        "avg@k_ci95": list(acc["ci95"]),
    }
    if all(s.math_verify_correct is not None for s in flat):
        mv = avg_at_k([[bool(s.math_verify_correct) for s in row] for row in rows], n_bootstrap=n_bootstrap, seed=seed)
        out["avg@k_math_verify"] = mv["mean"]
        out["avg@k_math_verify_se"] = mv["se"]
        out["grader_disagreements"] = sum(s.correct != s.math_verify_correct for s in flat)
    for kk in pass_at_k_powers(k):
        out[f"pass@{kk}"] = float(np.mean([pass_at_k(k, sum(s.correct for s in row), kk) for row in rows]))
    for kk in pass_at_k_powers(k):
        out[f"maj@{kk}"] = float(np.mean([maj_at_k(row, kk) for row in rows]))
    tokens = [s.completion_tokens for s in flat]
    out["extraction_failure_rate"] = sum(s.extracted is None for s in flat) / len(flat)
    out["truncation_rate"] = sum(s.finish_reason == "length" for s in flat) / len(flat)
    out["completion_tokens_mean"] = float(np.mean(tokens))
    out["completion_tokens_median"] = float(statistics.median(tokens))
    out["completion_tokens_total"] = int(sum(tokens))
    if generation_seconds:
        out["generation_seconds"] = generation_seconds
        out["tokens_per_second"] = sum(tokens) / generation_seconds
    return out
