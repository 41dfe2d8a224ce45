"""The micro world's result tables, from finished run directories (docs/micro.md).

    python -m rarft_eval.micro.tables --ablation results/micro/ablation-micro-base.csv \\
        --grpo results/micro/runs/<grpo run> --rarft results/micro/runs/<ra-rft run> --out results/micro/README.md

Table 1 is the ablation CSV of `rarft-eval ablate` (avg@k +- SE, the paired difference against `none`
with its 95% bootstrap CI, recall@1 of a same-procedure demonstration). Table 2 is the paired comparison
of the two RL arms (`rarft_eval.compare`, the same statistics as `rarft-eval compare`). A diagnostic
split by procedure group (taught in pre-training or not) is read from the samples and the hidden
procedure ids of the task files; nothing here feeds back into a model or retriever.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import defaultdict
from pathlib import Path

from rarft_eval.compare import compare_runs, load_run_scores
from rarft_eval.storage import RunDir
from rarft_eval.tasks import all_tasks


def _procedures(task: str) -> dict[str, str]:
    path = all_tasks()[task].data_path
    return {str(json.loads(line)["id"]): json.loads(line)["procedure"] for line in path.open() if line.strip()}


def _taught(proc: str, n_taught: int = 16) -> bool:
    return int(proc[1:]) < n_taught


def group_accuracy(run_dir: Path) -> dict[str, dict[str, float]]:
    """{task: {"taught": acc, "untaught": acc}} averaged over samples."""
    rows = RunDir(run_dir).read_samples()
    k = int(RunDir(run_dir).read_config().get("k") or 0)
    acc: dict[tuple[str, str], list[int]] = defaultdict(list)
    procs: dict[str, dict[str, str]] = {}
    for r in rows:
        if int(r["sample_index"]) >= k:
            continue
        task = r["task"]
        if task not in procs:
            procs[task] = _procedures(task)
        group = "taught" if _taught(procs[task][str(r["problem_id"])]) else "untaught"
        acc[(task, group)].append(int(bool(r["correct"])))
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for (task, group), v in sorted(acc.items()):
        out[task][group] = sum(v) / len(v)
    return out


def _f(x: str | float | None, digits: int = 3) -> str:
    if x in (None, ""):
        return "–"
    return f"{float(x):.{digits}f}"


def table1(csv_path: Path, run_root: Path) -> list[str]:
    rows = list(csv.DictReader(csv_path.open()))
    lines = ["| task | retriever | avg@k ± SE | vs none [95% CI] | vs semantic [95% CI] | recall@1 same-procedure "
             "| taught / untaught |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["task"] == "all":
            continue
        groups = {}
        run_dir = run_root / r["run_id"]
        if run_dir.is_dir():
            groups = group_accuracy(run_dir).get(r["task"], {})

        def diff(ref: str) -> str:
            if not r.get(f"vs_{ref}_diff"):
                return "–"
            return f"{float(r[f'vs_{ref}_diff']):+.3f} [{float(r[f'vs_{ref}_ci95_lo']):+.3f}, {float(r[f'vs_{ref}_ci95_hi']):+.3f}]"

        lines.append(f"| {r['task']} | {_short(r['retriever'])} | {_f(r['avg@k'])} ± {_f(r['avg@k_se'])} | {diff('none')} "
                     f"| {diff('semantic')} | {_f(r.get('recall@1'))} | {_f(groups.get('taught'))} / "
                     f"{_f(groups.get('untaught'))} |")
    return lines


def _short(spec: str) -> str:
    name, _, arg = spec.partition(":")
    return f"{name} ({Path(arg).name})" if arg else name


def table2(grpo: Path, rarft: Path) -> list[str]:
    a, b = load_run_scores(grpo, "GRPO"), load_run_scores(rarft, "RA-RFT")
    ga, gb = group_accuracy(grpo), group_accuracy(rarft)
    lines = ["| task | GRPO (no retrieval) | RA-RFT (benefit top-1) | RA-RFT − GRPO [95% CI] | wins / losses "
             "| permutation p | GRPO taught / untaught | RA-RFT taught / untaught |", "|---|---|---|---|---|---|---|---|"]
    tasks = sorted({t for t, _ in a.accuracy} & {t for t, _ in b.accuracy})
    for task in [*tasks, None]:
        r = compare_runs(a, b, task=task)
        name = task or "all"
        lines.append(
            f"| {name} | {r.mean_a:.3f} | {r.mean_b:.3f} | {r.diff:+.3f} [{r.ci95[0]:+.3f}, {r.ci95[1]:+.3f}] "
            f"| {r.wins} / {r.losses} | {r.permutation_p:.3g} | "
            + (f"{_f(ga[task].get('taught'))} / {_f(ga[task].get('untaught'))} | "
               f"{_f(gb[task].get('taught'))} / {_f(gb[task].get('untaught'))} |" if task else "– | – |"))
    return lines


def table3(runs: list[Path]) -> list[str]:
    """Any runs side by side: policy, test-time retriever, avg@k +- SE, taught / untaught."""
    lines = ["| task | policy | test-time retriever | avg@k ± SE | k | taught / untaught |", "|---|---|---|---|---|---|"]
    for run in runs:
        cfg = RunDir(run).read_config()
        metrics = json.loads((run / "metrics.json").read_text())
        groups = group_accuracy(run)
        for task, m in sorted(metrics["tasks"].items()):
            g = groups.get(task, {})
            lines.append(f"| {task} | {Path(cfg['identity']['model']).name} | {_short(cfg['identity']['retriever'])} "
                         f"| {m['avg@k']:.3f} ± {m['avg@k_se']:.3f} | {m['k']} | {_f(g.get('taught'))} / "
                         f"{_f(g.get('untaught'))} |")
    return lines


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Render the micro world's tables as Markdown.")
    p.add_argument("--ablation", type=Path, action="append", required=True, help="ablation CSV (repeatable)")
    p.add_argument("--runs", type=Path, default=Path("results/micro/runs"), help="where the ablation's runs are")
    p.add_argument("--grpo", type=Path, required=True, help="run directory of the GRPO policy")
    p.add_argument("--rarft", type=Path, required=True, help="run directory of the RA-RFT policy")
    p.add_argument("--hard-grpo", type=Path, help="the GRPO policy's run on micro_hard")
    p.add_argument("--hard-rarft", type=Path, help="the RA-RFT policy's run on micro_hard")
    p.add_argument("--cross", type=Path, action="append", default=[],
                   help="more runs for Table 3 (e.g. each RL policy with the other arm's test-time retrieval)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--header", type=Path, help="Markdown put above the tables (the commands)")
    a = p.parse_args(argv)
    lines = [a.header.read_text().rstrip() + "\n"] if a.header else []
    lines += ["## Table 1: the base policy with each retriever", ""]
    for path in a.ablation:
        lines += table1(path, a.runs) + [""]
    lines += ["## Table 2: GRPO vs RA-RFT, each evaluated with its own training-time retrieval", ""]
    lines += table2(a.grpo, a.rarft) + [""]
    if a.hard_grpo and a.hard_rarft:
        lines += table2(a.hard_grpo, a.hard_rarft) + [""]
    if a.cross:
        lines += ["## Table 3: which part is the policy, which the retrieval", ""]
        lines += table3([a.grpo, a.rarft, *a.cross]) + [""]
    a.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    import sys

    from rarft_eval.errors import RarftError

    try:
        main()
    except (RarftError, OSError, KeyError, ValueError) as exc:  # a missing run or a malformed CSV: one line
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
