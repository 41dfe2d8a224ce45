"""Paired comparison of finished runs on the problems they share (`rarft-eval compare`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from rarft_eval.errors import RarftError
from rarft_eval.stats import PairedResult, paired_compare
from rarft_eval.storage import RunDir


@dataclass
class RunScores:
    run_dir: Path
    label: str
    k: int
    accuracy: dict[tuple[str, str], float]  # (task, problem id) -> fraction of the first k samples correct


def load_run_scores(run_dir: Path, label: str | None = None) -> RunScores:
    run = RunDir(Path(run_dir))
    config = run.read_config()
    if config is None:
        raise RarftError(f"{run_dir} is not a run directory (no config.json)")
    k = int(config.get("k") or 0)
    rows = run.read_samples()
    per: dict[tuple[str, str], dict[int, bool]] = {}
    for r in rows:
        if int(r["sample_index"]) < k:
            per.setdefault((r["task"], str(r["problem_id"])), {})[int(r["sample_index"])] = bool(r["correct"])
    accuracy = {key: sum(v.values()) / k for key, v in per.items() if len(v) == k}
    if not accuracy:
        raise RarftError(f"{run_dir} has no problem with all {k} samples; finish the run first")
    ident = config.get("identity", {})
    default_label = f"{ident.get('model', '?')} / {ident.get('retriever', '?')}"
    return RunScores(Path(run_dir), label or default_label, k, accuracy)


def compare_runs(base: RunScores, other: RunScores, *, task: str | None = None, seed: int = 0) -> PairedResult:
    keys = sorted(k for k in base.accuracy.keys() & other.accuracy.keys() if task is None or k[0] == task)
    if not keys:
        raise RarftError(f"{base.run_dir.name} and {other.run_dir.name} share no finished problem"
                         + (f" of task {task}" if task else ""))
    return paired_compare([base.accuracy[k] for k in keys], [other.accuracy[k] for k in keys], seed=seed)


def tasks_of(*runs: RunScores) -> list[str]:
    common = set.intersection(*({k[0] for k in r.accuracy} for r in runs))
    return sorted(common)


def comparison_table(runs: list[RunScores], seed: int = 0) -> list[dict]:
    """Each run against the first, per shared task and over all shared problems."""
    base = runs[0]
    out = []
    for other in runs[1:]:
        for task in [*tasks_of(base, other), None]:
            r = compare_runs(base, other, task=task, seed=seed)
            out.append({"base": base.label, "run": other.label, "task": task or "all", **r.to_dict()})
    return out


def dump(rows: list[dict], path: Path) -> None:
    path.write_text(json.dumps(rows, indent=2) + "\n")
