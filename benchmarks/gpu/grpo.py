"""GRPO step time and memory: TRL's vLLM colocate generation against transformers generation, both arms.

    python benchmarks/gpu/grpo.py --policy POLICY_DIR --out OUT_DIR [--steps 3] [--modes vllm,hf]
                                  [--arms recipe,none] [--deadline-s 300]

Runs `rarft-train grpo --config training/grpo-bench.yaml` (64 MATH train queries, 8 rollouts of up to 256
tokens, 16 completions per step, bm25 top-1 demonstration in the `recipe` arm, `--retriever none` in the
other) once per (generation mode, arm), each in a fresh process, in the order given (modes outer):
`vllm` adds `trainer.use_vllm=true trainer.vllm_mode=colocate` (TRL starts a vLLM engine inside the
training process, on the same GPU, and pushes the policy's weights into it after every optimizer step);
`hf` is transformers' `generate`. Each run's `rarft_training.json` gives the per-step wall times and
torch's peak memory; an NVML sampler in this process adds the GPU memory the whole process tree used
(vLLM's KV cache is not a torch allocation). Runs that would end after `--deadline-s` (estimated from the
longest run so far) are skipped and listed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))

from threeway import Sampler, wait_for_free_gpu  # noqa: E402

MODE_SETTINGS = {
    "vllm": ["trainer.use_vllm=true", "trainer.vllm_mode=colocate"],
    "hf": ["trainer.use_vllm=false"],
}


def command(policy: Path, run_dir: Path, mode: str, arm: str, steps: int, recipe: Path, extra: list[str]) -> list[str]:
    cmd = [sys.executable, "-m", "rarft_eval.training.cli", "grpo", "--config", str(recipe),
           "--set", f"policy.model={policy}", "--set", f"trainer.max_steps={steps}", "--output-dir", str(run_dir)]
    for s in MODE_SETTINGS[mode] + extra:
        cmd += ["--set", s]
    if arm == "none":
        cmd += ["--retriever", "none"]
    return cmd


def summarize_run(record: Path) -> dict:
    doc = json.loads(record.read_text())
    m = doc["metrics"]
    times = m["step_times_s"]
    steady = times[1:] if len(times) > 1 else times
    hist = [h for h in m["log_history"] if "completions/mean_length" in h]
    return {"retriever": doc["identity"]["retrieval"]["retriever"], "steps": m["steps"], "step_times_s": times,
            "mean_step_s_after_first": round(sum(steady) / len(steady), 3) if steady else None,
            "train_seconds": m["train_seconds"], "total_seconds": m["total_seconds"], "peak_memory": m["peak_memory"],
            "prompt_tokens_mean": doc["lengths"]["prompt_tokens_mean"],
            "prompt_tokens_max": doc["lengths"]["prompt_tokens_max"],
            "completion_tokens_mean": round(sum(h["completions/mean_length"] for h in hist) / len(hist), 1)
            if hist else None,
            "reward_mean": round(sum(h.get("reward", 0.0) for h in hist) / len(hist), 4) if hist else None,
            "use_vllm": doc["grpo_config"].get("use_vllm"), "vllm_mode": doc["grpo_config"].get("vllm_mode")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--policy", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--modes", default="vllm,hf")
    ap.add_argument("--arms", default="recipe,none")
    ap.add_argument("--recipe", type=Path, default=REPO / "training" / "grpo-bench.yaml")
    ap.add_argument("--set", dest="extra", action="append", default=[], help="extra recipe override (all runs)")
    ap.add_argument("--deadline-s", type=float, default=0)
    args = ap.parse_args(argv)
    t_start = time.time()
    args.out.mkdir(parents=True, exist_ok=True)
    sampler = Sampler(0.2)
    sampler.start()
    summary: dict = {"policy": str(args.policy), "steps": args.steps, "runs": [], "skipped": []}
    try:
        summary["policy_info"] = json.loads((args.policy / "rarft_random_model.json").read_text())
    except OSError:
        pass
    longest = 0.0
    for mode in [m for m in args.modes.split(",") if m]:
        for arm in [a for a in args.arms.split(",") if a]:
            if args.deadline_s and time.time() - t_start + longest * 1.1 > args.deadline_s:
                summary["skipped"].append({"mode": mode, "arm": arm, "why": f"deadline {args.deadline_s} s"})
                print(f"skip {mode}/{arm}: deadline", flush=True)
                continue
            run_dir = args.out / f"run-{mode}-{arm}"
            waited = wait_for_free_gpu()  # the previous run's engine may still be releasing GPU memory
            cmd = command(args.policy, run_dir, mode, arm, args.steps, args.recipe, args.extra)
            t0 = time.time()
            proc = subprocess.run(cmd, capture_output=True, text=True)
            t1 = time.time()
            longest = max(longest, t1 - t0)
            (args.out / f"log-{mode}-{arm}.txt").write_text(proc.stdout + "\n----- stderr -----\n" + proc.stderr[-300_000:])
            entry: dict = {"mode": mode, "arm": arm, "returncode": proc.returncode, "wall_s": round(t1 - t0, 1),
                           "waited_for_free_gpu_s": waited,
                           "gpu_mem_max_mib_nvml": sampler.max_mem(t0, t1), "gpu_util_mean": sampler.mean_util(t0, t1),
                           "command": " ".join(cmd[1:])}
            record = run_dir / "rarft_training.json"
            if proc.returncode == 0 and record.is_file():
                entry.update(summarize_run(record))
            else:
                entry["stderr_tail"] = proc.stderr[-2500:]
            summary["runs"].append(entry)
            (args.out / "grpo.json").write_text(json.dumps(summary, indent=1))
            print(json.dumps({k: v for k, v in entry.items() if k not in ("command", "stderr_tail")}), flush=True)
            if entry.get("stderr_tail"):
                print(entry["stderr_tail"], flush=True)
    sampler.stop.set()
    lines = ["| generation | arm | steps | step times (s) | mean step after the first (s) | torch peak alloc / reserved "
             "(GiB) | GPU memory used, NVML (GiB) | run wall (s) |", "|" + "---|" * 8]
    for r in summary["runs"]:
        pm = r.get("peak_memory") or {}
        alloc, res = pm.get("gpu_max_allocated_gib"), pm.get("gpu_max_reserved_gib")
        nv = r.get("gpu_mem_max_mib_nvml")
        lines.append(f"| {r['mode']} | {r['arm']} | {r.get('steps')} | {r.get('step_times_s')} | "
                     f"{r.get('mean_step_s_after_first')} | {alloc and round(alloc, 1)} / {res and round(res, 1)} | "
                     f"{nv and round(nv / 1024, 1)} | {r['wall_s']} |")
    summary["table"] = "\n".join(lines)
    (args.out / "grpo.json").write_text(json.dumps(summary, indent=1))
    print(summary["table"], flush=True)
    return 0 if all(r["returncode"] == 0 for r in summary["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
