"""Stage 3: GRPO with retrieved demonstrations (RA-RFT §3.4), and the GRPO baseline.

    rarft-train grpo --config training/grpo-small.yaml                       # RA-RFT arm
    rarft-train grpo --config training/grpo-small.yaml --retriever none      # GRPO baseline

The frozen retriever's top-k demonstrations (k = 1, as the paper) are retrieved once for every
training query and stored with the dataset (`dataset.jsonl` in the run directory); each prompt is
rendered by the evaluation's own `PromptBuilder` (chat template, task template, demonstration
block), so a query's training prompt is byte-identical to the prompt `rarft-eval run --retriever
SAME` sends for it. TRL's `GRPOTrainer` samples `num_generations` completions per prompt, the reward
is the harness's grader (`reward.GraderReward`), and the policy update conditions on the same
context the rollouts were drawn with.

Arms: the baseline is the same recipe with `retrieval.retriever: none`; `run_identity()` is what
must be equal between arms except for `retrieval.retriever`, and is recorded with the git commit in
`rarft_training.json` of every checkpoint. Everything that can fail on input (policy tokenizer and
its chat template, trainer keys, queries, the retriever checkpoint and its corpus hash, prompt
lengths) is checked before the policy's weights are loaded.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import fields as dc_fields
from pathlib import Path
from typing import Any

from rarft_eval.errors import RarftError
from rarft_eval.training.common import (
    git_info,
    host_info,
    info,
    now,
    peak_memory,
    read_jsonl,
    sha256_file,
    stable_hash,
    versions,
    write_json,
    write_jsonl,
)
from rarft_eval.training.recipes import GRPORecipe, to_plain

TRAINING_RECORD = "rarft_training.json"
RECORD_FORMAT = 1
# GRPOConfig fields that name where a run writes, not how it trains
_PLACE_FIELDS = {"output_dir", "logging_dir", "run_name", "hub_model_id", "push_to_hub", "hub_token",
                 "resume_from_checkpoint"}
# applied under the recipe's `trainer:` block
DEFAULT_TRAINER: dict[str, Any] = {"beta": 0.0, "report_to": "none", "logging_steps": 1, "save_strategy": "no",
                                   "remove_unused_columns": False}


def arm_of(retriever: str) -> str:
    return "baseline" if retriever.strip().lower() in ("none", "") else "retrieval"


def retriever_label(spec: str) -> str:
    from rarft_eval.retrieval import parse_spec

    name, arg = parse_spec(spec)
    return name if not arg else f"{name}-{Path(arg).name or 'x'}"


def output_dir_for(recipe: GRPORecipe) -> Path:
    from rarft_eval.storage import slug

    if recipe.output_dir:
        return Path(recipe.output_dir)
    return Path("runs") / "grpo" / f"{slug(recipe.name)}__{slug(retriever_label(recipe.retrieval.retriever))}"


def run_identity(recipe: GRPORecipe) -> dict[str, Any]:
    """Every setting of a run that shapes the trained policy. The RA-RFT and baseline arms of one recipe
    differ only in `retrieval.retriever`."""
    plain = to_plain(recipe)
    trainer = {k: v for k, v in {**DEFAULT_TRAINER, **plain["trainer"]}.items() if k not in _PLACE_FIELDS}
    return {"policy": plain["policy"], "queries": plain["queries"], "retrieval": plain["retrieval"],
            "prompt": plain["prompt"], "reward": plain["reward"], "trainer": trainer}


def grpo_config(recipe: GRPORecipe, output_dir: Path):
    """The trl.GRPOConfig of a recipe; unknown keys and TRL's own consistency checks are one-line errors."""
    import difflib

    from trl import GRPOConfig

    kwargs = {**DEFAULT_TRAINER, **recipe.trainer}
    known = {f.name for f in dc_fields(GRPOConfig)}
    for key in kwargs:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f" (did you mean `{close[0]}`?)" if close else ""
            raise RarftError(f"trainer.{key} is not a trl.GRPOConfig field{hint}")
    for key in _PLACE_FIELDS & set(recipe.trainer):
        raise RarftError(f"trainer.{key}: set the run directory with output_dir (or --output-dir), not in trainer")
    init = dict(kwargs.pop("model_init_kwargs", None) or {})
    init.setdefault("dtype", recipe.policy.dtype)
    if recipe.policy.revision:
        init.setdefault("revision", recipe.policy.revision)
    if recipe.policy.attn_implementation:
        init.setdefault("attn_implementation", recipe.policy.attn_implementation)
    try:
        return GRPOConfig(output_dir=str(output_dir), model_init_kwargs=init, **kwargs)
    except (ValueError, TypeError) as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RarftError(f"trainer: {msg}") from None


def _jsonable_args(args) -> dict[str, Any]:
    return json.loads(args.to_json_string())


# ---------------------------------------------------------------------------------------------- dataset
def build_dataset(recipe: GRPORecipe, tokenizer, out: Path, *, log=info) -> tuple[list[dict], dict[str, Any]]:
    """Retrieve once, render every prompt with the evaluation's PromptBuilder, store both in `out`.

    Reused when `out/dataset.jsonl` was built from the same queries, retrieval and prompt settings.
    """
    from rarft_eval.prompts import PromptBuilder
    from rarft_eval.retrieval import make_retriever
    from rarft_eval.training.data import load_corpus, load_queries, prompt_options, prompt_spec

    spec = prompt_spec(recipe.prompt)
    options = prompt_options(recipe.prompt)
    builder = PromptBuilder(tokenizer, options)  # refuses a tokenizer without a chat template
    r = recipe.retrieval
    if r.prepared:
        return _prepared_dataset(recipe, builder, spec, Path(r.prepared), out, log=log)
    if r.n_demonstrations < 1:
        raise RarftError(f"retrieval.n_demonstrations must be >= 1 (got {r.n_demonstrations}); the baseline arm is "
                         f"retrieval.retriever: none")
    retriever = make_retriever(r.retriever, None if r.retriever.strip() == "none" else load_corpus(r.corpus),
                               seed=r.seed, **r.options)
    t0 = time.perf_counter()
    retriever.index()  # a benefit checkpoint trained for another corpus is refused here (cached index: cheap)
    ident = retriever.identity() if retriever.uses_corpus else {"retriever": "none"}
    problems = load_queries(recipe.queries)
    queries_hash = stable_hash([[p.task, p.id, p.problem, p.answer, p.grade_spec.to_dict()] for p in problems], 64)
    key = stable_hash({"queries": to_plain(recipe.queries), "queries_sha": queries_hash,
                       "retrieval": to_plain(recipe.retrieval),
                       "retriever_identity": ident, "prompt": to_plain(recipe.prompt), "spec": spec.model_dump(),
                       "chat_template": builder.chat_template_text() or ""})
    data_path, manifest_path = out / "dataset.jsonl", out / "dataset_manifest.json"
    if data_path.is_file() and manifest_path.is_file():
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except ValueError:
            manifest = {}
        if manifest.get("key") == key and manifest.get("sha256") == sha256_file(data_path):
            log(f"grpo: reusing the stored dataset {data_path} ({manifest.get('n_rows')} prompts)")
            return read_jsonl(data_path), manifest
    k = 0 if retriever.name == "none" else r.n_demonstrations
    demos = retriever.retrieve(problems, k)
    rows = []
    for p, ds in zip(problems, demos):
        rendered = builder.render(p, spec, ds)
        rows.append({"prompt": rendered.text, "prompt_hash": rendered.hash, "task": p.task, "query_id": p.id,
                     "answer": p.answer, "grade_spec": json.dumps(p.grade_spec.to_dict(), sort_keys=True),
                     "retrieved": json.dumps(rendered.retrieved)})
    short = sum(1 for ds in demos if len(ds) < k)
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(data_path, rows)
    manifest = {"key": key, "n_rows": len(rows), "sha256": sha256_file(data_path), "retriever": retriever.manifest(),
                "n_demonstrations": k, "queries_short_of_demonstrations": short,
                "retrieval_seconds": round(time.perf_counter() - t0, 3), "prompt_spec": spec.model_dump(),
                "chat_template_sha": stable_hash(builder.chat_template_text() or ""), "built": now()}
    write_json(manifest_path, manifest)
    log(f"grpo: {len(rows)} prompts, retriever {retriever.spec} (k={k}) -> {data_path}")
    return rows, manifest


def _prepared_dataset(recipe: GRPORecipe, builder, spec, src: Path, out: Path, *, log=info
                      ) -> tuple[list[dict], dict[str, Any]]:
    """The dataset of an earlier `--prepare-only` run, checked against this recipe before use: the file's
    sha256, the retriever kind, the prompt template, the chat template and the query ids must all match."""
    from rarft_eval.retrieval import parse_spec
    from rarft_eval.training.data import load_queries

    data_path, manifest_path = src / "dataset.jsonl", src / "dataset_manifest.json"
    if not (data_path.is_file() and manifest_path.is_file()):
        raise RarftError(f"retrieval.prepared: {src} holds no dataset.jsonl + dataset_manifest.json "
                         f"(make it with `rarft-train grpo --prepare-only`)")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except ValueError:
        raise RarftError(f"retrieval.prepared: {manifest_path} is not valid JSON") from None
    def fail(what: str) -> None:
        raise RarftError(f"retrieval.prepared: {src} was built with another {what}; prepare it again with this recipe")

    if manifest.get("sha256") != sha256_file(data_path):
        raise RarftError(f"retrieval.prepared: {data_path} does not match the sha256 in its manifest (changed or torn)")
    want = parse_spec(recipe.retrieval.retriever)[0] if recipe.retrieval.retriever.strip() != "none" else "none"
    if manifest.get("retriever", {}).get("name") != want:
        fail("retriever")
    if manifest.get("prompt_spec") != spec.model_dump():
        fail("prompt template")
    if manifest.get("chat_template_sha") != stable_hash(builder.chat_template_text() or ""):
        fail("chat template")
    if manifest.get("n_demonstrations") != (0 if want == "none" else recipe.retrieval.n_demonstrations):
        fail("number of demonstrations")
    rows = read_jsonl(data_path)
    if [r["query_id"] for r in rows] != [p.id for p in load_queries(recipe.queries)]:
        fail("query set")
    out.mkdir(parents=True, exist_ok=True)
    if src.resolve() != out.resolve():
        write_jsonl(out / "dataset.jsonl", rows)
        manifest = {**manifest, "prepared_from": str(src)}
        write_json(out / "dataset_manifest.json", manifest)
    log(f"grpo: {len(rows)} prompts from the prepared dataset {data_path} (retriever {manifest['retriever'].get('spec')})")
    return rows, manifest


def check_lengths(rows: list[dict], tokenizer, policy: str, recipe: GRPORecipe, args) -> dict[str, int]:
    from transformers import AutoConfig

    lengths = [len(tokenizer(r["prompt"])["input_ids"]) for r in rows]
    longest = max(lengths)
    try:
        cfg = AutoConfig.from_pretrained(policy, revision=recipe.policy.revision)
        ctx = getattr(cfg, "max_position_embeddings", None)
    except Exception:  # noqa: BLE001 - a missing config is reported by the model load itself
        ctx = None
    need = longest + int(args.max_completion_length or 0)
    if ctx and need > ctx:
        raise RarftError(f"the longest training prompt ({longest} tokens) + max_completion_length "
                         f"{args.max_completion_length} exceeds the policy's context of {ctx} tokens; lower "
                         f"trainer.max_completion_length to at most {ctx - longest}")
    return {"prompt_tokens_max": longest, "prompt_tokens_mean": round(sum(lengths) / len(lengths), 1),
            "context": ctx or -1}


# ---------------------------------------------------------------------------------------------- record
def training_record(recipe: GRPORecipe, out: Path, args, manifest: dict[str, Any], extra: dict[str, Any]) -> dict:
    ident = run_identity(recipe)
    return {"format": RECORD_FORMAT, "stage": "grpo", "arm": arm_of(recipe.retrieval.retriever),
            "recipe": to_plain(recipe), "identity": ident, "identity_hash": stable_hash(ident),
            "output_dir": str(out), "grpo_config": _jsonable_args(args),
            "dataset": {"path": str(out / "dataset.jsonl"), "sha256": manifest.get("sha256"),
                        "n_rows": manifest.get("n_rows"), "key": manifest.get("key"),
                        "n_demonstrations": manifest.get("n_demonstrations")},
            "retriever": manifest.get("retriever"), "git": git_info(), "versions": versions(), "host": host_info(),
            "evaluate_with": f"rarft-eval run --model {out / 'final'} --retriever {recipe.retrieval.retriever} "
                             f"--demonstrations {recipe.retrieval.n_demonstrations} --tasks paper -k 32",
            "written": now(), **extra}


def _callbacks(recipe: GRPORecipe, out: Path, args, manifest: dict[str, Any]):
    from transformers import TrainerCallback

    class Record(TrainerCallback):
        """Step times and peak memory; the training record in every saved checkpoint."""

        def __init__(self) -> None:
            self.step_times: list[float] = []
            self._t = None

        def on_step_begin(self, a, state, control, **kw):
            self._t = time.perf_counter()

        def on_step_end(self, a, state, control, **kw):
            if self._t is not None:
                self.step_times.append(time.perf_counter() - self._t)

        def on_save(self, a, state, control, **kw):
            if state.is_world_process_zero:
                ckpt = out / f"checkpoint-{state.global_step}"
                if ckpt.is_dir():
                    write_json(ckpt / TRAINING_RECORD, training_record(
                        recipe, out, args, manifest, {"global_step": state.global_step, "checkpoint": str(ckpt)}))

    return Record()


def _save_final(trainer, recipe: GRPORecipe, final: Path) -> None:
    trainer.save_model(str(final))
    if trainer.accelerator.is_main_process:
        trainer.processing_class.save_pretrained(str(final))
        if recipe.policy.save_dtype:
            import torch
            from transformers import AutoModelForCausalLM

            dtype = getattr(torch, recipe.policy.save_dtype, None)
            if not isinstance(dtype, torch.dtype):
                raise RarftError(f"policy.save_dtype {recipe.policy.save_dtype!r} is not a torch dtype")
            model = AutoModelForCausalLM.from_pretrained(str(final), dtype=dtype)
            model.save_pretrained(str(final))


def run_grpo(recipe: GRPORecipe, *, prepare_only: bool = False, log=info) -> dict[str, Any]:
    from accelerate import PartialState

    from rarft_eval.training.data import load_tokenizer, resolve_policy

    t_start = time.perf_counter()
    out = output_dir_for(recipe)
    policy = resolve_policy(recipe.policy.model)
    # 1. cheap input checks, before anything is loaded on a GPU
    tokenizer = load_tokenizer(policy, recipe.policy.revision, need_chat_template=recipe.prompt.chat_template)
    tokenizer.padding_side = "left"
    args = grpo_config(recipe, out)
    state = PartialState()
    # 2. retrieval once (the main process first; the others then read the stored dataset)
    with state.main_process_first():
        rows, manifest = build_dataset(recipe, tokenizer, out, log=log if state.is_main_process else (lambda *a: None))
    lengths = check_lengths(rows, tokenizer, policy, recipe, args)
    if state.is_main_process:
        write_json(out / TRAINING_RECORD, training_record(recipe, out, args, manifest,
                                                          {"status": "prepared", "lengths": lengths}))
    if prepare_only:
        return {"output_dir": str(out), "n_rows": len(rows), "lengths": lengths, "dataset": manifest}

    # 3. the policy and the trainer
    import torch
    from datasets import Dataset

    if torch.cuda.is_available() and not recipe.policy.cudnn_sdp:
        torch.backends.cuda.enable_cudnn_sdp(False)
    from trl import GRPOTrainer

    from rarft_eval.training.reward import GraderReward

    dataset = Dataset.from_list([{k: r[k] for k in ("prompt", "answer", "grade_spec", "query_id", "retrieved")}
                                 for r in rows])
    # grading processes per training process: the recipe's, else a share of the node's cores (at most 8)
    local = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    workers = recipe.reward.workers or max(1, min(8, (os.cpu_count() or 1) // local))
    reward = GraderReward(recipe.reward.grader, truncated_is_wrong=recipe.reward.truncated_is_wrong, workers=workers)
    record = _callbacks(recipe, out, args, manifest)
    trainer = GRPOTrainer(model=policy, reward_funcs=[reward], args=args, train_dataset=dataset,
                          processing_class=tokenizer, callbacks=[record])
    reward.end_token_ids = {int(t) for t in [*trainer.eos_token_ids, tokenizer.pad_token_id] if t is not None}
    t_train = time.perf_counter()
    try:
        result = trainer.train(resume_from_checkpoint=_last_checkpoint(out) if recipe.trainer.get("save_strategy",
                               DEFAULT_TRAINER["save_strategy"]) != "no" else None)
    finally:
        reward.close()
    train_s = time.perf_counter() - t_train
    final = out / "final"
    _save_final(trainer, recipe, final)
    metrics = {"train_seconds": round(train_s, 3), "steps": trainer.state.global_step,
               "step_times_s": [round(x, 4) for x in record.step_times],
               "mean_step_s": round(sum(record.step_times) / len(record.step_times), 4) if record.step_times else None,
               "peak_memory": peak_memory(), "train_output": result.metrics, "log_history": trainer.state.log_history,
               "reward_calls": reward.calls, "completions_graded": reward.graded,
               "sdp_backends": {"cudnn": torch.backends.cuda.cudnn_sdp_enabled(),
                                "flash": torch.backends.cuda.flash_sdp_enabled(),
                                "mem_efficient": torch.backends.cuda.mem_efficient_sdp_enabled()}
               if torch.cuda.is_available() else None,
               "total_seconds": round(time.perf_counter() - t_start, 3)}
    if trainer.accelerator.is_main_process:
        doc = training_record(recipe, out, args, manifest, {"status": "finished", "lengths": lengths,
                                                            "final_checkpoint": str(final), "metrics": metrics})
        write_json(final / TRAINING_RECORD, doc)
        write_json(out / TRAINING_RECORD, doc)
        log(f"grpo: {metrics['steps']} steps in {train_s:.1f} s (mean step {metrics['mean_step_s']} s) -> {final}")
    return {"output_dir": str(out), "final": str(final), "metrics": metrics}


def _last_checkpoint(out: Path) -> str | None:
    if not out.is_dir():
        return None
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(out))
