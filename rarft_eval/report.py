"""Console output: live progress (problems x samples, tokens/s) and the metrics table."""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table


class ConsoleReporter:
    def __init__(self, enabled: bool = True) -> None:
        self.console = Console(stderr=True)
        self.enabled = enabled
        self.progress: Progress | None = None
        self.task_id: Any = None

    def on_event(self, kind: str, data: dict) -> None:
        if kind == "plan":
            self.console.print(
                f"run dir {data['run_dir']}: {data['reused']} samples on disk, {data['missing']} to draw"
            )
        elif kind == "engine_start":
            self.console.print(f"starting engine {data['engine']} ...")
        elif kind == "generation_start" and self.enabled:
            self.progress = Progress(
                TextColumn("[bold]sampling"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(), TimeRemainingColumn(), console=self.console,
                disable=not self.console.is_terminal and "PYTEST_CURRENT_TEST" in __import__("os").environ,
            )
            self.progress.start()
            self.task_id = self.progress.add_task("sampling", total=data["total"], rate="")
        elif kind == "progress" and self.progress is not None:
            rate = data["tokens"] / data["elapsed"] if data["elapsed"] > 0 else 0.0
            self.progress.update(self.task_id, advance=data["advance"], rate=f"{rate:,.0f} tok/s")
        elif kind == "metrics_start":
            self.close()

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def print_metrics(result: Any, file: Any = None) -> None:
    console = Console(file=file or sys.stdout)
    if not console.is_terminal:
        console.width = max(console.width, 150)
    table = Table(title=f"run {result.run_id}")
    for col in ("task", "n", "k", "avg@k", "± SE", "± std(runs)", "95% CI", "pass@k", "maj@k", "math-verify",
                "trunc.", "no answer", "tokens"):
        table.add_column(col, justify="right" if col != "task" else "left")
    for task, m in result.metrics.items():
        k = m["k"]
        top = max(kk for kk in (1 << i for i in range(20)) if kk <= k)
        lo, hi = m["avg@k_ci95"]
        table.add_row(
            task, str(m["n_problems"]), str(k), _pct(m["avg@k"]), _pct(m["avg@k_se"]), _pct(m["avg@k_std_runs"]),
            f"[{_pct(lo)}, {_pct(hi)}]", _pct(m[f"pass@{top}"]), _pct(m[f"maj@{top}"]),
            _pct(m.get("avg@k_math_verify")), _pct(m["truncation_rate"]), _pct(m["extraction_failure_rate"]),
            f"{m['completion_tokens_mean']:.0f}",
        )
    console.print(table)
    console.print(f"samples: {result.new_samples} new, {result.reused_samples} reused -> {result.run_dir}")


def _p(x: float | None) -> str:
    return "-" if x is None else (f"{x:.3f}" if x >= 0.001 else f"{x:.1e}")


def _diff(row: dict, ref: str) -> str:
    d = row.get(f"vs_{ref}_diff")
    if d is None:
        return "-"
    lo, hi = row[f"vs_{ref}_ci95_lo"], row[f"vs_{ref}_ci95_hi"]
    return f"{100 * d:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}] p={_p(row.get(f'vs_{ref}_permutation_p'))}"


def _console() -> Console:
    console = Console()
    if not console.is_terminal:
        console.width = max(console.width, 150)
    return console


def print_ablation(rows: list[dict], retrievers: list[str], path: Any) -> None:
    table = Table(title="retriever ablation: avg@k ± SE; paired diff vs none / semantic [95% CI] permutation p")
    for col in ("task", "retriever", "avg@k", "± SE", "vs none", "vs semantic", "leaks excl.", "recall@1"):
        table.add_column(col, justify="left" if col in ("task", "retriever") else "right")
    for r in rows:
        table.add_row(
            r["task"], r["retriever"], _pct(r["avg@k"]), _pct(r.get("avg@k_se")), _diff(r, "none"),
            _diff(r, "semantic"), "-" if r.get("excluded_leaks") is None else str(r["excluded_leaks"]),
            _pct(r.get("recall@1")),
        )
    console = _console()
    console.print(table)
    console.print(f"table: {path}  plot: {path.with_suffix('.png') if hasattr(path, 'with_suffix') else ''}")


def print_comparison(rows: list[dict]) -> None:
    table = Table(title="paired comparison against the first run (per-problem accuracies)")
    for col in ("task", "baseline", "run", "n", "baseline avg", "run avg", "diff [95% CI]", "W/L/T", "sign p",
                "perm. p"):
        table.add_column(col, justify="left" if col in ("task", "baseline", "run") else "right")
    for r in rows:
        lo, hi = r["ci95"]
        table.add_row(
            r["task"], r["base"], r["run"], str(r["n_problems"]), _pct(r["mean_a"]), _pct(r["mean_b"]),
            f"{100 * r['diff']:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]", f"{r['wins']}/{r['losses']}/{r['ties']}",
            _p(r["sign_p"]), _p(r["permutation_p"]) + ("" if r["permutation_exact"] else "*"),
        )
    console = _console()
    console.print(table)
    console.print("* Monte Carlo permutation p-value (more than 20 problems differ); otherwise exact.")
