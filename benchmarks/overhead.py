"""Harness overhead: the same avg@k workload through `rarft-eval run` and through a bare
`LLM.generate` loop, in one process run; prints the ratio. Target: overhead < 3% of generation time.

Also measures the peak memory of the harness process outside the engine (vLLM's engine core runs in
its own process) for an avg@k run over MATH-500, in a fresh subprocess. Target: < 2 GB for avg@32.

    .venv/bin/python benchmarks/overhead.py                       # tiny model, defaults below
    .venv/bin/python benchmarks/overhead.py --model Qwen/Qwen3-1.7B --task aime25 -k 32 --max-tokens 4096

Each measurement runs in a fresh process (ABBA order), so no engine of an earlier measurement still
holds a core. Timings exclude engine start-up on both sides (it is the same `LLM(...)` call): the bare side is the
`LLM.generate` call; the harness side is `run_eval`'s wall time minus its engine construction, so it
includes prompt rendering, streaming, grading every sample, writing samples.jsonl, metrics and the
leaderboard.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def bare_generate(model: str, prompts: list[str], seeds: list[int], k: int, max_tokens: int) -> tuple[float, int]:
    from vllm import LLM, SamplingParams

    from rarft_eval.engines.vllm_engine import is_cpu_build

    kwargs = dict(model=model, seed=0, enable_prefix_caching=True)
    if is_cpu_build():
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
        kwargs.update(enable_chunked_prefill=False, enforce_eager=True)
    llm = LLM(**kwargs)
    params = [SamplingParams(n=k, seed=s, temperature=1.0, top_p=1.0, max_tokens=max_tokens) for s in seeds]
    t0 = time.perf_counter()
    outs = llm.generate(prompts, params, use_tqdm=False)
    elapsed = time.perf_counter() - t0
    tokens = sum(len(o.token_ids) for out in outs for o in out.outputs)
    llm.llm_engine.engine_core.shutdown()
    del llm
    return elapsed, tokens


def harness_run(model: str, task: str, k: int, limit: int, max_tokens: int, results: Path,
                reference: bool = True) -> tuple[float, float, int]:
    from rarft_eval.runner import RunOptions, run_eval

    marks: dict[str, float] = {}

    def on_event(kind: str, data: dict) -> None:
        marks.setdefault(kind, time.perf_counter())

    opts = RunOptions(model=model, tasks=task, k=k, limit=limit, max_tokens=max_tokens, results_dir=results,
                      progress=False, reference_grader=reference)
    t0 = time.perf_counter()
    result = run_eval(opts, on_event=on_event)
    total = time.perf_counter() - t0
    end = t0 + total
    engine_start = marks["generation_start"] - marks["engine_start"]
    tokens = sum(m["completion_tokens_total"] for m in result.metrics.values())
    phases = {
        "setup (tasks, tokenizer, prompts, grader pool)": marks["engine_start"] - t0,
        "generation + streaming grading/writing": marks["metrics_start"] - marks["generation_start"],
        "metrics (clustering, bootstrap), leaderboard": end - marks["metrics_start"],
    }
    print("harness phases: " + "; ".join(f"{k}: {v:.2f} s" for k, v in phases.items()))
    return total - engine_start, engine_start, tokens


def rendered_prompts(model: str, task: str, limit: int, k: int) -> tuple[list[str], list[int]]:
    from transformers import AutoTokenizer

    from rarft_eval.config import PromptOptions
    from rarft_eval.engines.base import derive_seed
    from rarft_eval.prompts import PromptBuilder
    from rarft_eval.tasks import resolve_tasks

    t = resolve_tasks(task)[0]
    builder = PromptBuilder(AutoTokenizer.from_pretrained(model), PromptOptions())
    probs = t.load_problems(limit)
    return [builder.render(p, t.config.prompt, []).text for p in probs], [derive_seed(0, t.name, p.id) for p in probs]


def memory_child(args: argparse.Namespace) -> None:
    """Runs in a fresh process: the harness alone; prints its own peak RSS."""
    with tempfile.TemporaryDirectory() as tmp:
        harness_run(args.model, args.mem_task, args.mem_k, args.mem_limit, args.mem_max_tokens, Path(tmp))
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"peak_rss_mb": peak_kb / 1024}))


def _measure_child(args: argparse.Namespace) -> None:
    """One measurement in a fresh process, so no engine of an earlier measurement still holds a core."""
    if args.measure == "bare":
        prompts, seeds = rendered_prompts(args.model, args.task, args.limit, args.k)
        seconds, tokens = bare_generate(args.model, prompts, seeds, args.k, args.max_tokens)
        extra = {}
    else:
        with tempfile.TemporaryDirectory() as tmp:
            seconds, start, tokens = harness_run(args.model, args.task, args.k, args.limit, args.max_tokens, Path(tmp),
                                                 reference=not args.no_reference_grader)
        extra = {"engine_start_s": start}
    print("RESULT " + json.dumps({"seconds": seconds, "tokens": tokens, **extra}), flush=True)


def _spawn(args: argparse.Namespace, what: str) -> dict:
    cmd = [sys.executable, __file__, "--measure", what, "--model", args.model, "--task", args.task, "-k", str(args.k),
           "--limit", str(args.limit), "--max-tokens", str(args.max_tokens)]
    if args.no_reference_grader:
        cmd.append("--no-reference-grader")
    out = subprocess.run(cmd, capture_output=True, text=True)
    lines = [l for l in out.stdout.splitlines() if l.startswith("RESULT ")]
    if out.returncode or not lines:
        print(f"{what} measurement failed:\n{out.stderr[-3000:]}")
        sys.exit(1)
    phases = [l for l in out.stdout.splitlines() if l.startswith("harness phases")]
    if phases:
        print("  " + phases[-1])
    return json.loads(lines[-1][len("RESULT "):])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="model path or id (default: the embedded tiny model)")
    ap.add_argument("--task", default="math500")
    ap.add_argument("-k", type=int, default=8)
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=2, help="measurement pairs, in ABBA order (default: 2)")
    ap.add_argument("--no-reference-grader", action="store_true",
                    help="harness side without the plain math-verify verdict (rarft-eval --no-reference-grader)")
    ap.add_argument("--mem-task", default="math500")
    ap.add_argument("--mem-k", type=int, default=32)
    ap.add_argument("--mem-limit", type=int, default=None, help="problems for the memory run (default: all 500)")
    ap.add_argument("--mem-max-tokens", type=int, default=32)
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--measure", choices=["bare", "harness"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.model is None:
        from rarft_eval.testing.tiny_model import ensure_tiny_model

        args.model = str(ensure_tiny_model())
    if args.memory_child:
        memory_child(args)
        return
    if args.measure:
        _measure_child(args)
        return

    print(f"workload: {args.task} x {args.limit} problems, k={args.k}, max_tokens={args.max_tokens}, model={args.model}"
          + (", harness with --no-reference-grader" if args.no_reference_grader else ""))
    bare, harness = [], []
    for i in range(args.repeats):  # ABBA: bare, harness, harness, bare, ...
        order = ("bare", "harness") if i % 2 == 0 else ("harness", "bare")
        for what in order:
            res = _spawn(args, what)
            (bare if what == "bare" else harness).append(res)
            print(f"  {what:8s} {res['seconds']:8.2f} s  {res['tokens']:>9,} tokens  "
                  f"{res['tokens'] / res['seconds']:8,.0f} tok/s")
    if {r["tokens"] for r in bare + harness} != {bare[0]["tokens"]}:
        print("warning: the two sides drew different numbers of tokens; the workloads differ")
    b = statistics.mean(r["seconds"] for r in bare)
    h = statistics.mean(r["seconds"] for r in harness)
    print(f"bare LLM.generate:   {b:8.2f} s (mean of {len(bare)})")
    print(f"rarft-eval run:      {h:8.2f} s (mean of {len(harness)}; engine start "
          f"{statistics.mean(r['engine_start_s'] for r in harness):.1f} s excluded)")
    print(f"ratio harness/bare:  {h / b:.3f}  -> overhead {100 * (h / b - 1):+.1f}% (target < 3%)")
    if not args.skip_memory:
        cmd = [sys.executable, __file__, "--memory-child", "--model", args.model, "--mem-task", args.mem_task,
               "--mem-k", str(args.mem_k), "--mem-max-tokens", str(args.mem_max_tokens)]
        if args.mem_limit:
            cmd += ["--mem-limit", str(args.mem_limit)]
        out = subprocess.run(cmd, capture_output=True, text=True)
        line = [l for l in out.stdout.splitlines() if l.startswith("{")]
        if out.returncode or not line:
            print("memory run failed:", out.stderr[-2000:])
            sys.exit(1)
        peak = json.loads(line[-1])["peak_rss_mb"]
        n = args.mem_limit or "all"
        print(f"peak RSS of the harness process, avg@{args.mem_k} on {args.mem_task} ({n} problems, "
              f"{args.mem_max_tokens} tokens/sample): {peak:,.0f} MB (target < 2048 MB)")


if __name__ == "__main__":
    main()
