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
