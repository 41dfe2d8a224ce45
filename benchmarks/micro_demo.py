"""The README's main command on this machine: the micro-world retriever ablation with the shipped policy.

    python benchmarks/micro_demo.py            # cold caches (a fresh index cache and results dir)
    python benchmarks/micro_demo.py --warm     # twice in the same cache dir; the second run is timed too

Target: under 5 minutes on a 2-core CPU (docs/micro.md). Prints the wall time, its ratio to that budget, and,
as the reference measured in the same run, the time of `rarft-eval tasks` (interpreter start, imports and
task loading: the fixed part of any command), so the part that is the ablation's own can be read off.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUDGET_S = 300.0
RETRIEVERS = "none,random,bm25,semantic,benefit:models/micro/retriever,oracle:tasks/data/micro/same_procedure.jsonl"


def timed(args: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    subprocess.run(args, cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--warm", action="store_true", help="also time a second run with warm index caches")
    p.add_argument("-k", type=int, default=4)
    a = p.parse_args()
    exe = str(Path(sys.executable).with_name("rarft-eval"))
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "RARFT_EVAL_CACHE": str(Path(tmp) / "cache")}
        out["reference_tasks_s"] = round(timed([exe, "tasks"], env), 1)
        for i, label in enumerate(["cold", "warm"][: 2 if a.warm else 1]):
            results = Path(tmp) / f"results-{i}"
            out[f"{label}_s"] = round(timed([exe, "ablate", "--tasks", "micro", "-k", str(a.k), "--retrievers",
                                             RETRIEVERS, "--results-dir", str(results), "--no-progress"], env), 1)
    out["budget_s"] = BUDGET_S
    out["cold_over_budget"] = round(out["cold_s"] / BUDGET_S, 3)
    out["cold_over_reference"] = round(out["cold_s"] / out["reference_tasks_s"], 1)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
