"""The verl export's reward function on a run's samples, against the verdicts the run recorded.

    python benchmarks/gpu/verl_check.py SAMPLES.jsonl[.xz] --tokenizer DIR [--task aime25]

Exports the task as verl validation rows (`rarft-train export-verl` with `verl.val_tasks=[TASK]`, recipe
training/grpo-bench.yaml, no retrieval), then calls `rarft_eval.training.verl_reward.compute_score` the way
verl does (`data_source`, `solution_str`, `ground_truth`, `extra_info` of the sample's row) on every sample,
and counts agreement with the run's own grader verdicts: the score with `verdict.correct`, `no_answer`
with "nothing extracted", `math_verify` with the recorded math-verify verdict. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import lzma
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("samples", type=Path)
    ap.add_argument("--tokenizer", required=True, help="tokenizer directory with a chat template")
    ap.add_argument("--task", default="aime25")
    args = ap.parse_args(argv)
    import pyarrow.parquet as pq

    from rarft_eval.training.recipes import load_recipe
    from rarft_eval.training.verl_export import export_verl
    from rarft_eval.training.verl_reward import compute_score

    opener = lzma.open if args.samples.suffix == ".xz" else open
    with opener(args.samples, "rt", encoding="utf-8") as f:
        samples = [json.loads(line) for line in f if line.strip()]
    recipe = load_recipe(REPO / "training" / "grpo-bench.yaml", "grpo", [
        f"policy.model={args.tokenizer}", "retrieval.retriever=none", f"verl.val_tasks=[{args.task}]",
        "queries.limit=4"])
    with tempfile.TemporaryDirectory() as tmp:
        export_verl(recipe, tmp, log=lambda *a: None)
        rows = pq.read_table(Path(tmp) / "val.parquet").to_pylist()
    by_id = {str(r["extra_info"]["query_id"]): r for r in rows}
    counts = {"samples": len(samples), "score_agrees": 0, "no_answer_agrees": 0, "math_verify_agrees": 0,
              "score_1": 0, "answers_extracted": 0}
    t0 = time.perf_counter()
    for s in samples:
        row = by_id[str(s["problem_id"])]
        res = compute_score(data_source=row["data_source"], solution_str=s["completion"],
                            ground_truth=row["reward_model"]["ground_truth"], extra_info=row["extra_info"])
        v = s["verdict"]
        counts["score_1"] += res["score"] == 1.0
        counts["answers_extracted"] += v.get("extracted") is not None
        counts["score_agrees"] += (res["score"] == 1.0) == bool(v.get("correct"))
        counts["no_answer_agrees"] += (res["no_answer"] == 1.0) == (v.get("extracted") is None)
        counts["math_verify_agrees"] += (res["math_verify"] == 1.0) == bool(v.get("math_verify_correct"))
    counts["seconds"] = round(time.perf_counter() - t0, 2)
    print(json.dumps(counts))
    return 0 if counts["score_agrees"] == counts["samples"] else 1


if __name__ == "__main__":
    sys.exit(main())
