"""Stage 4: verl-ready data for runs at the paper's scale (it trained with verl on 64 H100s).

    rarft-train export-verl --config training/grpo-paper.yaml --out data/verl/ra-rft

Writes, from the same recipe the TRL trainer uses (queries, retriever, prompt):

* `train.parquet` (and `val.parquet` for `verl.val_tasks`) with verl's data schema
  (docs/preparation/prepare_data.rst): `data_source`, `prompt` (chat messages: the evaluation's user
  message with the retrieved demonstration, plus the system message if any), `ability`,
  `reward_model` {`style`: "rule", `ground_truth`}, `extra_info` {`split`, `index`, `query_id`,
  `task`, `grade_spec` (JSON), `retrieved` (JSON), `prompt_hash`};
* `run_verl.sh`: a `python -m verl.trainer.main_ppo` launch with the paper's settings (GRPO, 16
  rollouts, no KL, lr 1e-6, 32k responses) and the harness's grader as the custom reward function
  (`rarft_eval/training/verl_reward.py`, `compute_score`);
* `manifest.json`: counts, the retriever manifest, hashes, and the chat-template check: verl applies
  the tokenizer's chat template to `prompt` itself, so every exported row is rendered both ways and
  must equal the prompt text `rarft-eval run` sends (counted in `chat_template_identical`).
"""

from __future__ import annotations

import json
import math
import shlex
from pathlib import Path
from typing import Any

from rarft_eval.errors import RarftError
from rarft_eval.training.common import git_info, info, now, sha256_file, versions, write_json
from rarft_eval.training.data import resolve_policy
from rarft_eval.training.recipes import GRPORecipe, to_plain

VERL_COLUMNS = ("data_source", "prompt", "ability", "reward_model", "extra_info")


def _rows(problems, demos, builder, spec, cfg, split: str, tokenizer, options) -> tuple[list[dict], int, int]:
    from rarft_eval.prompts import render_user_message

    rows = []
    identical = 0
    longest = 0
    for i, (p, ds) in enumerate(zip(problems, demos)):
        rendered = builder.render(p, spec, ds)
        messages = []
        system = options.system_prompt if options.system_prompt is not None else spec.system
        if system:
            messages.append({"role": "system", "content": system})
        messages.append({"role": "user", "content": render_user_message(p, spec, ds)})
        if options.chat_template:
            kwargs = {} if options.enable_thinking is None else {"enable_thinking": options.enable_thinking}
            verl_text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, **kwargs)
            identical += int(verl_text == rendered.text)
        longest = max(longest, len(tokenizer(rendered.text)["input_ids"]))
        rows.append({
            "data_source": cfg.data_source,
            "prompt": messages,
            "ability": cfg.ability,
            "reward_model": {"style": "rule", "ground_truth": p.answer},
            "extra_info": {"split": split, "index": i, "query_id": p.id, "task": p.task,
                           "grade_spec": json.dumps(p.grade_spec.to_dict(), sort_keys=True),
                           "retrieved": json.dumps(rendered.retrieved), "prompt_hash": rendered.hash},
        })
    return rows, identical, longest


def _write_parquet(rows: list[dict], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([
        ("data_source", pa.string()),
        ("prompt", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
        ("ability", pa.string()),
        ("reward_model", pa.struct([("style", pa.string()), ("ground_truth", pa.string())])),
        ("extra_info", pa.struct([("split", pa.string()), ("index", pa.int64()), ("query_id", pa.string()),
                                  ("task", pa.string()), ("grade_spec", pa.string()), ("retrieved", pa.string()),
                                  ("prompt_hash", pa.string())])),
    ])
    table = pa.Table.from_pylist(rows, schema=schema)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp)
    tmp.replace(path)


def verl_command(recipe: GRPORecipe, out: Path, has_val: bool, max_prompt_length: int) -> list[str]:
    """`python -m verl.trainer.main_ppo` overrides mirroring the recipe (paper: GRPO, n=16, no KL, lr 1e-6)."""
    t = recipe.trainer
    v = recipe.verl
    beta = float(t.get("beta", 0.0))
    response = int(t.get("max_completion_length", 32768))
    args = [
        "algorithm.adv_estimator=grpo",
        "algorithm.use_kl_in_reward=False",
        "algorithm.norm_adv_by_std_in_grpo=True",
        f"data.train_files={out / 'train.parquet'}",
        f"data.val_files={out / ('val.parquet' if has_val else 'train.parquet')}",
        "data.prompt_key=prompt",
        f"data.train_batch_size={v.train_batch_size}",
        f"data.max_prompt_length={max_prompt_length}",
        f"data.max_response_length={response}",
        "data.truncation=error",
        f"actor_rollout_ref.model.path={resolve_policy(recipe.policy.model)}",
        f"actor_rollout_ref.actor.optim.lr={t.get('learning_rate', 1e-6)}",
        f"actor_rollout_ref.actor.use_kl_loss={'True' if beta > 0 else 'False'}",
        f"actor_rollout_ref.actor.kl_loss_coef={beta}",
        "actor_rollout_ref.actor.entropy_coeff=0",
        "actor_rollout_ref.actor.loss_agg_mode=token-mean",
        f"actor_rollout_ref.actor.clip_ratio={t.get('epsilon', 0.2)}",
        f"actor_rollout_ref.actor.ppo_mini_batch_size={v.ppo_mini_batch_size}",
        "actor_rollout_ref.actor.use_dynamic_bsz=True",
        f"actor_rollout_ref.actor.ppo_max_token_len_per_gpu={max_prompt_length + response}",
        "actor_rollout_ref.rollout.name=vllm",
        f"actor_rollout_ref.rollout.n={t.get('num_generations', 16)}",
        f"actor_rollout_ref.rollout.temperature={t.get('temperature', 1.0)}",
        f"actor_rollout_ref.rollout.top_p={t.get('top_p', 1.0)}",
        f"actor_rollout_ref.rollout.tensor_model_parallel_size={v.tensor_model_parallel_size}",
        f"actor_rollout_ref.rollout.gpu_memory_utilization={v.gpu_memory_utilization}",
        f"actor_rollout_ref.rollout.val_kwargs.n={v.val_n}",
        f"actor_rollout_ref.rollout.val_kwargs.temperature={t.get('temperature', 1.0)}",
        "actor_rollout_ref.rollout.val_kwargs.do_sample=True",
        "reward.custom_reward_function.path=$REWARD_FN",
        "reward.custom_reward_function.name=compute_score",
        f"trainer.n_gpus_per_node={v.n_gpus_per_node}",
        f"trainer.nnodes={v.nnodes}",
        f"trainer.total_epochs={v.total_epochs}",
        f"trainer.project_name={v.project_name}",
        f"trainer.experiment_name={recipe.name}__{recipe.retrieval.retriever.split(':')[0]}",
        "trainer.logger=[console]",
    ]
    if not has_val:
        args += ["trainer.val_before_train=False", "trainer.test_freq=-1"]
    if recipe.prompt.enable_thinking is not None:
        args.append(f"+data.apply_chat_template_kwargs.enable_thinking={recipe.prompt.enable_thinking}")
    return args


def export_verl(recipe: GRPORecipe, out: str | Path, *, log=info) -> dict[str, Any]:
    from rarft_eval.prompts import PromptBuilder
    from rarft_eval.retrieval import make_retriever
    from rarft_eval.tasks import resolve_tasks
    from rarft_eval.training.data import (
        load_corpus,
        load_queries,
        load_tokenizer,
        prompt_options,
        prompt_spec,
    )

    out = Path(out)
    tokenizer = load_tokenizer(recipe.policy.model, recipe.policy.revision,
                               need_chat_template=recipe.prompt.chat_template)
    options = prompt_options(recipe.prompt)
    builder = PromptBuilder(tokenizer, options)
    spec = prompt_spec(recipe.prompt)
    r = recipe.retrieval
    retriever = make_retriever(r.retriever, None if r.retriever.strip() == "none" else load_corpus(r.corpus),
                               seed=r.seed, **r.options)
    k = 0 if retriever.name == "none" else r.n_demonstrations
    retriever.index()
    problems = load_queries(recipe.queries)
    train_rows, same, longest = _rows(problems, retriever.retrieve(problems, k), builder, spec, recipe.verl, "train",
                                      tokenizer, options)
    _write_parquet(train_rows, out / "train.parquet")
    files = {"train.parquet": {"rows": len(train_rows), "sha256": sha256_file(out / "train.parquet")}}
    n_rows, n_same = len(train_rows), same
    val_rows: list[dict] = []
    for task in (resolve_tasks(recipe.verl.val_tasks) if recipe.verl.val_tasks else []):
        probs = task.load_problems()
        rows, same, lg = _rows(probs, retriever.retrieve(probs, k), builder, spec, recipe.verl, "test", tokenizer,
                               options)
        for row in rows:
            row["data_source"] = f"{recipe.verl.data_source}/{task.name}"
        val_rows.extend(rows)
        n_rows, n_same, longest = n_rows + len(rows), n_same + same, max(longest, lg)
    if val_rows:
        for i, row in enumerate(val_rows):
            row["extra_info"]["index"] = i
        _write_parquet(val_rows, out / "val.parquet")
        files["val.parquet"] = {"rows": len(val_rows), "sha256": sha256_file(out / "val.parquet")}
    if recipe.prompt.chat_template and n_same != n_rows:
        raise RarftError(f"verl would render {n_rows - n_same} of {n_rows} prompts differently from rarft-eval "
                         f"(the tokenizer's chat template is not a pure function of the messages); not exporting")
    max_prompt = recipe.verl.max_prompt_length or int(math.ceil(longest / 256) * 256)
    if longest > max_prompt:
        raise RarftError(f"the longest exported prompt has {longest} tokens > verl.max_prompt_length {max_prompt}")
    overrides = verl_command(recipe, out.resolve(), bool(val_rows), max_prompt)
    script = ["#!/usr/bin/env bash",
              "# RA-RFT with verl, written by `rarft-train export-verl` (see docs/training.md).",
              f"# recipe: {recipe.name}; retriever: {r.retriever}; {len(train_rows)} training prompts",
              "set -euo pipefail",
              "REWARD_FN=$(python -c 'import rarft_eval.training.verl_reward as m; print(m.__file__)')",
              "python3 -m verl.trainer.main_ppo \\"]
    quoted = [f'"{a}"' if "$" in a else shlex.quote(a) for a in overrides]
    script += [f"  {a} \\" for a in quoted]
    script += ['  "$@"']
    (out / "run_verl.sh").write_text("\n".join(script) + "\n", encoding="utf-8")
    (out / "run_verl.sh").chmod(0o755)
    manifest = {"recipe": to_plain(recipe), "files": files, "retriever": retriever.manifest(),
                "n_demonstrations": k, "chat_template_identical": n_same if recipe.prompt.chat_template else None,
                "rows": n_rows, "prompt_tokens_max": longest, "max_prompt_length": max_prompt,
                "reward_function": {"path": "rarft_eval/training/verl_reward.py", "name": "compute_score"},
                "verl_overrides": overrides, "git": git_info(), "versions": versions(), "written": now()}
    write_json(out / "manifest.json", manifest)
    log(f"export-verl: {len(train_rows)} train rows" + (f", {len(val_rows)} val rows" if val_rows else "")
        + f" -> {out}; launch with {out / 'run_verl.sh'}")
    return manifest
