"""Bare vLLM vs `rarft-eval run` vs lm-eval `--model vllm`, on one CUDA vLLM engine, same prompts.

    python benchmarks/gpu/threeway.py --model MODEL_DIR --out OUT_DIR \\
        --workload 1024:aime25:30 --workload 8192:aime25:1 [-k 32] [--deadline-s 460]

A workload `MAX_TOKENS:TASK:PROBLEMS` is the first PROBLEMS problems of TASK, k samples each, at
temperature 1.0 and top_p 1.0 (the paper preset) with up to MAX_TOKENS tokens. For each workload, in
this order:

* **bare**: one `LLM.generate` over the harness's prompts with the harness's seeds (`SamplingParams(n=k,
  seed=derive_seed(0, task, id))`); the prompts are rendered before its clock starts, as a bare user
  would read them from a file; its phase writes the completions to a JSONL file.
* **rarft-eval**: what `rarft-eval run --model M --tasks TASK -k K --max-tokens N --limit P` does
  (`cli.run_options` on the parsed command line, then `runner.run_eval` and `report.print_metrics`), with
  the engine pool handing it the already started engine.
* **lm-eval**: lm-eval's own `vllm` model class (`lm_eval.models.vllm_causallms.VLLM`, repeats=32 from the
  project's task YAML `rarft_TASK`, `--apply_chat_template`, `--gen_kwargs max_gen_toks=N`, `--limit P`,
  `--log_samples --output_path`), with its `LLM(...)` call handed the same started engine. lm-eval seeds
  the engine once instead of per request, so its samples are not the harness's samples.

All three share one engine (started once with the harness's own `VLLMEngine` settings) so that the device
time buys the comparison itself; each system's import cost is measured at the end in a fresh process per
system (`import_s`, warm file cache), and `e2e_s` = import + engine start + phase, as if each had been
its own command. GPU utilisation is sampled with NVML every 0.1 s in a thread; `gpu_util_gen` is the
mean over the generation window. Phases are skipped, and said to be, once the next one would end after
`--deadline-s` (estimated from the phases already run).

Run it under `if __name__ == "__main__":` (it is): grading workers and vLLM re-import the main module.
"""

from __future__ import annotations

import time

T_PROC = time.time()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
from pathlib import Path  # noqa: E402

SYSTEMS = ("bare", "rarft-eval", "lm-eval")


class Sampler(threading.Thread):
    """NVML GPU utilisation (%) and memory used (MiB) every `period` s."""

    def __init__(self, period: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.period = period
        self.rows: list[tuple[float, int, int]] = []
        self.stop = threading.Event()
        self.error: str | None = None

    def run(self) -> None:
        try:
            import pynvml

            pynvml.nvmlInit()
            h = pynvml.nvmlDeviceGetHandleByIndex(0)
        except Exception as exc:  # noqa: BLE001 - no NVML: the table says so
            self.error = f"{type(exc).__name__}: {exc}"
            return
        while not self.stop.is_set():
            u = pynvml.nvmlDeviceGetUtilizationRates(h)
            m = pynvml.nvmlDeviceGetMemoryInfo(h)
            self.rows.append((time.time(), int(u.gpu), int(m.used >> 20)))
            time.sleep(self.period)

    def mean_util(self, a: float | None, b: float | None) -> float | None:
        if a is None or b is None:
            return None
        xs = [u for t, u, _ in self.rows if a <= t <= b]
        return round(sum(xs) / len(xs), 1) if xs else None

    def max_mem(self, a: float, b: float) -> int | None:
        xs = [m for t, _, m in self.rows if a <= t <= b]
        return max(xs) if xs else None


def wait_for_free_gpu(limit_mib: int = 4096, timeout_s: float = 120.0) -> float | None:
    """Wait until the GPU holds less than `limit_mib` MiB (an engine of an earlier command may still be
    releasing its memory: a vLLM engine asked for 0.3 of the GPU found only 32 GiB free right after the
    three-way run ended). Returns the seconds waited, None without NVML."""
    try:
        import pynvml

        pynvml.nvmlInit()
        h = pynvml.nvmlDeviceGetHandleByIndex(0)
    except Exception:  # noqa: BLE001 - no NVML, nothing to wait for
        return None
    t0 = time.time()
    while pynvml.nvmlDeviceGetMemoryInfo(h).used >> 20 > limit_mib and time.time() - t0 < timeout_s:
        time.sleep(0.5)
    return round(time.time() - t0, 1)


def parse_workload(text: str) -> dict:
    try:
        mt, task, n = text.split(":")
        return {"max_tokens": int(mt), "task": task, "problems": int(n)}
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MAX_TOKENS:TASK:PROBLEMS, got {text!r}") from None


def render_prompts(model: str, task_name: str, n: int, seed: int) -> list[dict]:
    """The prompt texts and base seeds `rarft-eval run` builds (chat template on, no retrieval)."""
    from rarft_eval.config import PromptOptions
    from rarft_eval.engines.base import derive_seed
    from rarft_eval.prompts import PromptBuilder
    from rarft_eval.runner import load_tokenizer
    from rarft_eval.tasks import resolve_tasks

    tok = load_tokenizer(model, None, required=True)
    builder = PromptBuilder(tok, PromptOptions(True, None, None))
    (task,) = resolve_tasks(task_name)
    return [{"id": p.id, "prompt": builder.render(p, task.config.prompt, []).text,
             "seed": derive_seed(seed, task.name, p.id)} for p in task.load_problems(n)]


def run_bare(llm, rows: list[dict], k: int, max_tokens: int, out: Path, rec: dict) -> None:
    from vllm import SamplingParams

    params = [SamplingParams(n=k, seed=r["seed"], temperature=1.0, top_p=1.0, top_k=-1, min_p=0.0,
                             max_tokens=max_tokens) for r in rows]
    rec["gen_start"] = time.time()
    outs = llm.generate([r["prompt"] for r in rows], params, use_tqdm=False)
    rec["gen_end"] = time.time()
    finish: dict[str, int] = {}
    with open(out, "w", encoding="utf-8") as f:
        for r, o in zip(rows, outs):
            for c in o.outputs:
                finish[str(c.finish_reason)] = finish.get(str(c.finish_reason), 0) + 1
                f.write(json.dumps({"problem_id": r["id"], "sample_index": c.index, "completion": c.text,
                                    "completion_tokens": len(c.token_ids)}) + "\n")
    rec["tokens"] = sum(len(c.token_ids) for o in outs for c in o.outputs)
    rec["samples"] = sum(len(o.outputs) for o in outs)
    rec["finish"] = finish


class SharedPool:
    """An `EnginePool` that hands `run_eval` the already started engine (and never closes it)."""

    def __init__(self, engine) -> None:
        self.engine = engine

    def has(self, *a, **kw) -> bool:
        return True

    def get(self, *a, **kw):
        return self.engine

    def close(self) -> None:
        pass


def run_harness(engine, model: str, wl: dict, k: int, out: Path, rec: dict) -> None:
    from rarft_eval import cli
    from rarft_eval.report import print_metrics
    from rarft_eval.runner import run_eval

    argv = ["run", "--model", model, "--tasks", wl["task"], "-k", str(k), "--max-tokens", str(wl["max_tokens"]),
            "--limit", str(wl["problems"]), "--seed", "0", "--output", str(out / "run"), "--results-dir", str(out),
            "--no-progress", "--new-run"]
    rec["command"] = "rarft-eval " + " ".join(argv)
    events: dict[str, float] = {}

    def on_event(kind: str, data: dict) -> None:
        now = time.time()
        events.setdefault(kind, now)
        if kind == "progress":
            events["last_progress"] = now
            rec["tokens"] = data.get("tokens")

    opts = cli.run_options(cli.build_parser().parse_args(argv))
    result = run_eval(opts, on_event=on_event, engines=SharedPool(engine))
    print_metrics(result)
    rec["gen_start"], rec["gen_end"] = events.get("generation_start"), events.get("last_progress")
    rec["events"] = {k_: round(v - rec["phase_start"], 3) for k_, v in events.items()}
    m = json.loads((result.run_dir / "metrics.json").read_text())
    rec["generation_seconds_this_invocation"] = m["generation_seconds_this_invocation"]
    rec["samples"] = m["new_samples"]
    rec["run_dir"] = str(result.run_dir)


def run_lm_eval(llm, model: str, wl: dict, out: Path, rec: dict, rows: list[dict]) -> None:
    import lm_eval.models.vllm_causallms as lmv
    from lm_eval import evaluator
    from lm_eval.loggers import EvaluationTracker
    from lm_eval.tasks import TaskManager

    from rarft_eval.lm_eval_tasks import include_path

    task = f"rarft_{wl['task']}"
    rec["command"] = (f"lm_eval --model vllm --model_args pretrained={model} --tasks {task} --include_path "
                      f"{include_path()} --apply_chat_template --gen_kwargs max_gen_toks={wl['max_tokens']} "
                      f"--limit {wl['problems']} --log_samples --output_path {out}")
    real_llm = lmv.LLM
    lmv.LLM = lambda **kw: llm  # lm-eval's own construction, with the engine already started
    try:
        lm = lmv.VLLM(pretrained=model)
    finally:
        lmv.LLM = real_llm
    counts = {"tokens": 0, "samples": 0, "gen_s": 0.0}
    inner = lm._model_generate

    def timed_generate(requests, generate=False, sampling_params=None):
        t = time.time()
        rec.setdefault("gen_start", t)
        outs = inner(requests, generate=generate, sampling_params=sampling_params)
        rec["gen_end"] = time.time()
        counts["gen_s"] += rec["gen_end"] - t
        for o in outs:
            counts["tokens"] += sum(len(c.token_ids) for c in o.outputs)
            counts["samples"] += len(o.outputs)
        return outs

    lm._model_generate = timed_generate
    tm = TaskManager(include_path=str(include_path()))
    tracker = EvaluationTracker(output_path=str(out))
    res = evaluator.simple_evaluate(model=lm, tasks=[task], limit=wl["problems"], task_manager=tm,
                                    gen_kwargs=f"max_gen_toks={wl['max_tokens']}", apply_chat_template=True,
                                    log_samples=True, evaluation_tracker=tracker)
    samples = res.pop("samples", {})
    tracker.save_results_aggregated(results=res, samples=samples)
    for name in res["configs"]:
        tracker.save_results_samples(task_name=name, samples=samples[name])
    rec["tokens"], rec["samples"] = counts["tokens"], counts["samples"]
    sent = {int(s["doc_id"]): s["arguments"]["gen_args_0"]["arg_0"] for s in samples.get(task, [])}
    rec["prompts_identical_to_harness"] = sum(sent.get(i) == r["prompt"] for i, r in enumerate(rows))
    rec["metrics"] = {k_: v for k_, v in res["results"].get(task, {}).items() if k_.startswith(("avg@k", "pass@1,"))}


def identical_share(bare_file: Path, run_dir: Path) -> dict:
    """How many (problem, sample) completions of bare and the harness are the same text."""
    bare = {}
    for line in bare_file.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        bare[(str(r["problem_id"]), int(r["sample_index"]))] = r["completion"]
    same = total = 0
    for line in (run_dir / "samples.jsonl").read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        key = (str(r["problem_id"]), int(r["sample_index"]))
        if key in bare:
            total += 1
            same += bare[key] == r["completion"]
    return {"compared": total, "identical": same}


def import_cost(system: str) -> float | None:
    mods = {"bare": "vllm", "rarft-eval": "rarft_eval.cli, rarft_eval.runner, rarft_eval.grading, vllm",
            "lm-eval": "lm_eval.evaluator, lm_eval.tasks, lm_eval.models.vllm_causallms, vllm"}[system]
    code = f"import time; t = time.perf_counter(); import {mods}; print(time.perf_counter() - t)"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    try:
        return round(float(p.stdout.strip().splitlines()[-1]), 2)
    except (ValueError, IndexError):
        return None


def busy_profile(report: dict, nvml_csv: Path) -> list[dict]:
    """Per phase, from the NVML trace: the GPU-busy window (first to last sample with utilisation > 0) and
    the mean utilisation in each eighth of the generation window."""
    import csv

    rows = [(float(r["t"]), int(r["util"])) for r in csv.DictReader(nvml_csv.open())]
    out = []
    for p in report["phases"]:
        a, b, g0, g1 = p["phase_start"], p["phase_end"], p.get("gen_start"), p.get("gen_end")
        busy = [t for t, u in rows if a <= t <= b and u > 0]
        eighths = []
        if g0 and g1:
            w = (g1 - g0) / 8
            for i in range(8):
                us = [u for t, u in rows if g0 + i * w <= t < g0 + (i + 1) * w]
                eighths.append(round(sum(us) / len(us)) if us else None)
        out.append({"system": p["system"], "max_tokens": p["max_tokens"], "problems": p["problems"],
                    "gpu_busy_s": round(busy[-1] - busy[0], 2) if busy else None,
                    "after_gpu_idle_s": round(g1 - busy[-1], 2) if busy and g1 else None,
                    "util_by_eighth": eighths})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--report", type=Path, metavar="DIR",
                    help="reprint the table and the GPU-busy profile of a finished run (threeway.json, nvml.csv)")
    if argv is None:
        argv = sys.argv[1:]
    if "--report" in argv:
        d = Path(argv[argv.index("--report") + 1])
        report = json.loads((d / "threeway.json").read_text())
        summarize(report)
        for row in busy_profile(report, d / "nvml.csv"):
            print(json.dumps(row))
        return 0
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--workload", type=parse_workload, action="append", required=True)
    ap.add_argument("-k", type=int, default=32)
    ap.add_argument("--systems", default=",".join(SYSTEMS))
    ap.add_argument("--engine-arg", action="append", default=[], metavar="KEY=JSON",
                    help="extra LLM(...) argument for the shared engine, e.g. max_num_seqs=512")
    ap.add_argument("--concurrency-probe", type=int, default=0, metavar="P",
                    help="after the workloads, bare again on the first P problems of the first workload "
                         "(fewer sequences in flight on the same engine)")
    ap.add_argument("--deadline-s", type=float, default=0, help="skip phases that would end after this (0: none)")
    args = ap.parse_args(argv)
    systems = [s for s in args.systems.split(",") if s]
    args.out.mkdir(parents=True, exist_ok=True)
    report_path = args.out / "threeway.json"
    sampler = Sampler()
    sampler.start()
    report: dict = {"argv": sys.argv, "workloads": args.workload, "k": args.k, "phases": [], "skipped": []}

    def save() -> None:
        report["wall_s"] = round(time.time() - T_PROC, 1)
        report_path.write_text(json.dumps(report, indent=1))
        with open(args.out / "nvml.csv", "w") as f:
            f.write("t,util,mem_mib\n" + "".join(f"{t:.2f},{u},{m}\n" for t, u, m in sampler.rows))

    report["waited_for_free_gpu_s"] = wait_for_free_gpu()
    import torch

    t = time.time()
    import vllm

    from rarft_eval.engines.vllm_engine import VLLMEngine

    report["import_vllm_s"] = round(time.time() - t, 2)
    extra = {}
    for kv in args.engine_arg:
        key, val = kv.split("=", 1)
        try:
            extra[key] = json.loads(val)
        except ValueError:
            extra[key] = val
    report["versions"] = {"vllm": vllm.__version__, "torch": torch.__version__, "cuda": torch.version.cuda,
                          "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    t = time.time()
    engine = VLLMEngine(args.model, seed=0, extra=extra)  # the harness's engine settings
    report["engine_start_s"] = round(time.time() - t, 2)
    report["engine"] = engine.info()
    llm = engine.llm
    cfg = llm.llm_engine.vllm_config
    report["scheduler"] = {"max_num_seqs": cfg.scheduler_config.max_num_seqs,
                           "max_num_batched_tokens": cfg.scheduler_config.max_num_batched_tokens,
                           "async_scheduling": getattr(cfg.scheduler_config, "async_scheduling", None),
                           "max_cudagraph_capture_size": getattr(cfg.compilation_config,
                                                                 "max_cudagraph_capture_size", None),
                           "use_v2_model_runner": getattr(cfg, "use_v2_model_runner", None)}
    print(f"engine: import {report['import_vllm_s']} s, start {report['engine_start_s']} s, {report['scheduler']}",
          flush=True)
    from vllm import SamplingParams

    warm = render_prompts(args.model, args.workload[0]["task"], 8, 0)
    llm.generate([r["prompt"] for r in warm], SamplingParams(n=2, seed=1, max_tokens=32), use_tqdm=False)
    save()

    durations: dict[tuple[str, int], float] = {}

    def phase(system: str, wl: dict, fn) -> dict | None:
        key = (system, wl["max_tokens"])
        guess = durations.get(("bare", wl["max_tokens"]), 0) * 1.3 or None
        if args.deadline_s and guess and time.time() - T_PROC + guess > args.deadline_s:
            report["skipped"].append({"system": system, **wl, "why": f"deadline {args.deadline_s} s"})
            print(f"skip {system} {wl}: deadline", flush=True)
            save()
            return None
        rec: dict = {"system": system, **wl, "k": args.k, "phase_start": time.time()}
        try:
            fn(rec)
            rec["ok"] = True
        except Exception as exc:  # noqa: BLE001 - one system failing must not lose the others
            rec["ok"] = False
            rec["error"] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
            import traceback

            traceback.print_exc()
        rec["phase_end"] = time.time()
        rec["phase_s"] = round(rec["phase_end"] - rec["phase_start"], 2)
        if rec.get("gen_start") and rec.get("gen_end"):
            rec["gen_s"] = round(rec["gen_end"] - rec["gen_start"], 2)
            rec["gpu_util_gen"] = sampler.mean_util(rec["gen_start"], rec["gen_end"])
            if rec.get("tokens"):
                rec["tok_per_s"] = round(rec["tokens"] / rec["gen_s"], 1)
        rec["gpu_util_phase"] = sampler.mean_util(rec["phase_start"], rec["phase_end"])
        rec["gpu_mem_max_mib"] = sampler.max_mem(rec["phase_start"], rec["phase_end"])
        durations[key] = rec["phase_s"]
        report["phases"].append(rec)
        print(json.dumps({k_: v for k_, v in rec.items() if k_ not in ("events", "metrics")}), flush=True)
        save()
        return rec

    for wl in args.workload:
        wdir = args.out / f"mt{wl['max_tokens']}"
        wdir.mkdir(exist_ok=True)
        rows = render_prompts(args.model, wl["task"], wl["problems"], 0)
        if "bare" in systems:
            phase("bare", wl, lambda rec: run_bare(llm, rows, args.k, wl["max_tokens"], wdir / "bare.jsonl", rec))
        if "rarft-eval" in systems:
            r = phase("rarft-eval", wl, lambda rec: run_harness(engine, args.model, wl, args.k, wdir / "rarft", rec))
            if r and r.get("ok") and (wdir / "bare.jsonl").is_file():
                r["identical_to_bare"] = identical_share(wdir / "bare.jsonl", Path(r["run_dir"]))
                print("identical to bare:", r["identical_to_bare"], flush=True)
                save()
        if "lm-eval" in systems:
            phase("lm-eval", wl, lambda rec: run_lm_eval(llm, args.model, wl, wdir / "lm-eval", rec, rows))
    if args.concurrency_probe:
        wl = dict(args.workload[0], problems=args.concurrency_probe)
        rows = render_prompts(args.model, wl["task"], wl["problems"], 0)
        phase("bare", wl, lambda rec: run_bare(llm, rows, args.k, wl["max_tokens"],
                                               args.out / f"bare-probe-{wl['problems']}.jsonl", rec))
    engine.close()
    remaining = args.deadline_s - (time.time() - T_PROC) if args.deadline_s else 1e9
    if remaining > 45:
        report["import_s"] = {s: import_cost(s) for s in systems}
    summarize(report)
    save()
    return 0 if all(p.get("ok") for p in report["phases"]) else 1


def summarize(report: dict) -> None:
    """e2e estimates and ratios against bare; a Markdown table on stdout."""
    imports = report.get("import_s") or {}
    start = report.get("engine_start_s") or 0.0
    by = {(p["system"], p["max_tokens"], p["problems"]): p for p in report["phases"]}
    lines = ["| max tokens | problems x k | system | generation s | phase s | e2e s | tokens | tok/s | GPU util (gen) "
             "| gen / bare | e2e / bare |", "|" + "---|" * 11]
    for p in report["phases"]:
        imp = imports.get(p["system"])
        p["e2e_s"] = round(imp + start + p["phase_s"], 1) if imp is not None else None
    for p in report["phases"]:
        bare = by.get(("bare", p["max_tokens"], p["problems"]))
        g = p.get("gen_s")
        r_gen = round(g / bare["gen_s"], 3) if bare and g and bare.get("gen_s") else None
        r_e2e = round(p["e2e_s"] / bare["e2e_s"], 3) if bare and p.get("e2e_s") and bare.get("e2e_s") else None
        p["ratio_gen_vs_bare"], p["ratio_e2e_vs_bare"] = r_gen, r_e2e
        lines.append(f"| {p['max_tokens']} | {p['problems']} x {p['k']} | {p['system']}{'' if p.get('ok') else ' (FAILED)'} "
                     f"| {g} | {p['phase_s']} | {p.get('e2e_s')} | {p.get('tokens')} | {p.get('tok_per_s')} "
                     f"| {p.get('gpu_util_gen')} | {r_gen} | {r_e2e} |")
    report["table"] = "\n".join(lines)
    print(f"\nengine start {start} s; import s {imports}\n" + report["table"], flush=True)


if __name__ == "__main__":
    sys.exit(main())
