"""The retriever ablation: one model over tasks x retrievers, with paired statistics.

`rarft-eval ablate --model M --tasks paper --retrievers none,bm25,semantic,benefit:PATH -k 32`
runs (or resumes, or reuses) one run per retriever, all on one engine, then writes
`results/ablation-<name>.csv`, a PNG plot, and returns the table rows.
"""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from pathlib import Path
from typing import Callable

from rarft_eval.compare import compare_runs, load_run_scores
from rarft_eval.errors import RarftError
from rarft_eval.leaderboard import format_cell
from rarft_eval.runner import EnginePool, RunOptions, RunResult, run_eval
from rarft_eval.storage import atomic_write_text, slug

REFERENCES = ("none", "semantic")
COLUMNS = [
    "task", "retriever", "n_problems", "k", "avg@k", "avg@k_se", "avg@k_ci95_lo", "avg@k_ci95_hi",
    "avg@k_math_verify",
]
for _ref in REFERENCES:
    COLUMNS += [f"vs_{_ref}_diff", f"vs_{_ref}_ci95_lo", f"vs_{_ref}_ci95_hi", f"vs_{_ref}_sign_p",
                f"vs_{_ref}_permutation_p", f"vs_{_ref}_wins", f"vs_{_ref}_losses"]
COLUMNS += ["excluded_leaks", "mean_latency_ms", "recall@1", "recall@5", "run_id"]


def parse_retrievers(spec: str) -> list[str]:
    items = [s.strip() for s in spec.split(",") if s.strip()]
    if not items:
        raise RarftError("--retrievers is empty; e.g. --retrievers none,bm25,semantic")
    if len(set(items)) != len(items):
        raise RarftError(f"--retrievers names a retriever twice: {spec}")
    return items


def _reference(retrievers: list[str], name: str) -> str | None:
    """The retriever spec used as reference `name` (`semantic` matches `semantic` or `semantic:...`)."""
    for r in retrievers:
        if r == name or r.startswith(name + ":"):
            return r
    return None


def run_ablation(
    base: RunOptions,
    retrievers: list[str],
    *,
    name: str | None = None,
    on_event: Callable[[str, dict], None] | None = None,
    plot: bool = True,
) -> tuple[list[dict], Path]:
    results: dict[str, RunResult] = {}
    with EnginePool() as engines:
        for r in retrievers:
            results[r] = run_eval(replace(base, retriever=r), on_event=on_event, engines=engines)
    scores = {r: load_run_scores(res.run_dir, label=r) for r, res in results.items()}
    tasks = list(next(iter(results.values())).metrics)
    rows: list[dict] = []
    for task in tasks + (["mean"] if len(tasks) > 1 else []):
        for r in retrievers:
            res = results[r]
            row: dict = {"task": task, "retriever": r, "run_id": res.run_id}
            if task == "mean":
                ms = list(res.metrics.values())
                row.update({"n_problems": sum(m["n_problems"] for m in ms), "k": ms[0]["k"],
                            "avg@k": sum(m["avg@k"] for m in ms) / len(ms)})
            else:
                m = res.metrics[task]
                row.update({
                    "n_problems": m["n_problems"], "k": m["k"], "avg@k": m["avg@k"], "avg@k_se": m["avg@k_se"],
                    "avg@k_ci95_lo": m["avg@k_ci95"][0], "avg@k_ci95_hi": m["avg@k_ci95"][1],
                    "avg@k_math_verify": m.get("avg@k_math_verify"),
                })
                stats = m.get("retrieval", {})
                for key in ("excluded_leaks", "mean_latency_ms", "recall@1", "recall@5"):
                    row[key] = stats.get(key)
            for ref_name in REFERENCES:
                ref = _reference(retrievers, ref_name)
                if ref is None or ref == r:
                    continue
                paired = compare_runs(scores[ref], scores[r], task=None if task == "mean" else task, seed=base.seed)
                row.update({
                    f"vs_{ref_name}_diff": paired.diff, f"vs_{ref_name}_ci95_lo": paired.ci95[0],
                    f"vs_{ref_name}_ci95_hi": paired.ci95[1], f"vs_{ref_name}_sign_p": paired.sign_p,
                    f"vs_{ref_name}_permutation_p": paired.permutation_p,
                    f"vs_{ref_name}_wins": paired.wins, f"vs_{ref_name}_losses": paired.losses,
                })
            rows.append(row)
    model_name = base.model.rstrip("/").split("/")[-1] if base.model else "default-micro-base"
    name = name or slug(f"{model_name}-{'+'.join(tasks)}")
    out = base.results_dir / f"ablation-{name}.csv"
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: format_cell(row.get(c)) for c in COLUMNS})
    atomic_write_text(out, buf.getvalue())
    if plot:
        plot_ablation(rows, retrievers, out.with_suffix(".png"), title=name)
    return rows, out


def plot_ablation(rows: list[dict], retrievers: list[str], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(dict.fromkeys(r["task"] for r in rows if r["task"] != "mean"))
    width = 0.8 / len(retrievers)
    fig, ax = plt.subplots(figsize=(max(5, 1.6 * len(tasks) * max(1, len(retrievers) / 3)), 3.8))
    for i, ret in enumerate(retrievers):
        vals = [next(r for r in rows if r["task"] == t and r["retriever"] == ret) for t in tasks]
        xs = [j + (i - (len(retrievers) - 1) / 2) * width for j in range(len(tasks))]
        ax.bar(xs, [100 * v["avg@k"] for v in vals], width, label=ret,
               yerr=[100 * (v.get("avg@k_se") or 0) for v in vals], capsize=3)
    ax.set_xticks(range(len(tasks)))
    ax.set_xticklabels(tasks)
    ax.set_ylabel("avg@k (%) ± SE")
    ax.set_title(f"retriever ablation: {title}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(path)
