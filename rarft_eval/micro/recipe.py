"""`rarft-train micro --config training/micro.yaml`: the whole RA-RFT method on the micro world, in one command.

Stages, each a pure function of the recipe and the stages before it, each skipped when its output
exists (so an interrupted run resumes at the stage it was in; labels resume inside the stage):

1. world      the world's files (checked against the committed tasks/data/micro when the seed is 0)
2. policy     tokenizer + tiny Qwen3 from scratch, pre-trained on solved problems (rarft_eval.micro.policy)
3. labels     measured-gain benefit labels of the base policy (`rarft-train labels`, gain labeler), over a
              bm25 shortlist and a random sample of the corpus; never the procedure id
4. retriever  InfoNCE from the offline MiniLM on those labels (`rarft-train retriever`)
5. grpo-none  GRPO without retrieval (`rarft-train grpo --retriever none`)
6. grpo-benefit  RA-RFT: the same GRPO with the benefit retriever's top-1 demonstration in every prompt
7. install    (with --install DIR) copy the three policies and the retriever to DIR with the recipe

Every sub-stage recipe is written to OUT/recipes/ and run as `python -m rarft_eval.training.cli`, so each
stage can be rerun alone with the exact settings it had. OUT/timings.json records each stage's wall time.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from rarft_eval.errors import RarftError
from rarft_eval.training.recipes import MicroRecipe, load_recipe



def load_micro_recipe(path: str | Path, overrides: list[str]) -> MicroRecipe:
    return load_recipe(path, "micro", overrides)


def _engine(name: str) -> str:
    if name != "auto":
        return name
    try:
        import vllm  # noqa: F401
    except Exception:
        return "hf"
    return "vllm"


def _cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:
        return False


def stage_recipes(recipe: MicroRecipe, out: Path, data_dir: Path) -> dict[str, dict[str, Any]]:
    """The sub-stage recipes with this run's paths filled in."""
    corpus = {"path": str(data_dir / "corpus.jsonl")}
    queries = {"path": str(data_dir / "train.jsonl"), "answer_type": "integer"}
    policy = str(out / "policy")
    engine = _engine(recipe.engine)
    labels = []
    for i, spec in enumerate(recipe.labels):
        gain = dict(spec.get("gain", {}))
        gain.update(policy=policy, engine=gain.get("engine", engine))
        if gain["engine"] == "vllm":
            gain.setdefault("engine_args", {}).setdefault("max_model_len", 1024)
        labels.append({**spec, "stage": "labels", "labeler": "gain", "output": str(out / f"labels-{i}"),
                       "queries": {**queries, **spec.get("queries", {})}, "corpus": corpus,
                       "prompt": {"task": "micro", "chat_template": True}, "gain": gain})
    retriever = {**recipe.retriever, "stage": "retriever", "output": str(out / "retriever"), "corpus": corpus,
                 "labels": [str(out / f"labels-{i}" / "labels.jsonl") for i in range(len(labels))]}
    trainer = dict(recipe.grpo.get("trainer", {}))
    if not _cuda():  # the same recipe on a CPU: no bf16 autocast
        trainer.update(use_cpu=True, bf16=False)
    grpo_base = {**recipe.grpo, "stage": "grpo", "trainer": trainer,
                 "policy": {**recipe.grpo.get("policy", {}), "model": policy},
                 "queries": {**queries, **recipe.grpo.get("queries", {})},
                 "prompt": {"task": "micro", "chat_template": True}}
    arms = {}
    for arm, retr in (("none", "none"), ("benefit", f"benefit:{out / 'retriever'}")):
        arms[f"grpo-{arm}"] = {**grpo_base, "name": f"micro-{arm}", "output_dir": str(out / f"grpo-{arm}"),
                               "retrieval": {**recipe.grpo.get("retrieval", {}), "retriever": retr, "corpus": corpus}}
    return {**{f"labels-{i}": r for i, r in enumerate(labels)}, "retriever": retriever, **arms}


def _done(stage: str, out: Path) -> bool:
    if stage == "world":
        return (out / "world" / "world.json").is_file()
    if stage == "policy":
        return (out / "policy" / "rarft_micro_model.json").is_file()
    if stage.startswith("labels-"):
        return (out / stage / "report.json").is_file()
    if stage == "retriever":
        return (out / "retriever" / "rarft_retriever.json").is_file()
    return (out / stage / "final" / "config.json").is_file()


def _run_cli(stage_cmd: str, config: Path, log) -> None:
    cmd = [sys.executable, "-m", "rarft_eval.training.cli", stage_cmd, "--config", str(config)]
    log("micro: $ " + " ".join(cmd[1:]))
    proc = subprocess.run(cmd, env=os.environ.copy(), stdout=sys.stderr)  # stdout carries our own summary
    if proc.returncode != 0:
        raise RarftError(f"micro: stage `{stage_cmd}` failed (exit {proc.returncode}); rerun the same command to "
                         f"resume, or run `rarft-train {stage_cmd} --config {config}` alone")


def run_micro(recipe: MicroRecipe, *, stages: list[str] | None = None, install: str | None = None, log=print
              ) -> dict[str, Any]:
    from rarft_eval.micro.policy import pretrain
    from rarft_eval.micro.world import WorldConfig, write_world
    from rarft_eval.tasks import default_tasks_dir

    out = Path(recipe.output).absolute()
    out.mkdir(parents=True, exist_ok=True)
    (out / "micro.yaml").write_text(yaml.safe_dump(recipe.model_dump(mode="json"), sort_keys=False))
    timings_path = out / "timings.json"
    timings = json.loads(timings_path.read_text()) if timings_path.is_file() else {}
    world_cfg = WorldConfig(seed=recipe.world_seed)
    data_dir = out / "world"
    subs = stage_recipes(recipe, out, data_dir)
    rec_dir = out / "recipes"
    rec_dir.mkdir(exist_ok=True)
    for name, sub in subs.items():
        (rec_dir / f"{name}.yaml").write_text(yaml.safe_dump(sub, sort_keys=False))
    order = ["world", "policy", *[k for k in subs if k.startswith("labels-")], "retriever", "grpo-none", "grpo-benefit"]
    wanted = order if not stages else [s for s in order if s == "world" or s in stages or s.split("-")[0] in stages]
    for stage in wanted:
        if _done(stage, out):
            log(f"micro: {stage}: done already, kept")
            continue
        t0 = time.time()
        log(f"micro: {stage} ...")
        if stage == "world":
            written = write_world(data_dir, world_cfg)
            if recipe.world_seed == 0:
                shipped = default_tasks_dir() / "data" / "micro"
                for fname, sha in written.items():
                    import hashlib

                    if (shipped / fname).is_file() and hashlib.sha256((shipped / fname).read_bytes()).hexdigest() != sha:
                        raise RarftError(f"micro: the generator's {fname} differs from the shipped {shipped / fname}; "
                                         "the world changed: regenerate tasks/data/micro and its PROVENANCE entry")
        elif stage == "policy":
            pretrain(out / "policy", recipe.pretrain, world_cfg, log=log)
        elif stage.startswith("labels-"):
            _run_cli("labels", rec_dir / f"{stage}.yaml", log)
        elif stage == "retriever":
            _run_cli("retriever", rec_dir / "retriever.yaml", log)
        else:
            _run_cli("grpo", rec_dir / f"{stage}.yaml", log)
        timings[stage] = round(time.time() - t0, 1)
        timings_path.write_text(json.dumps(timings, indent=2) + "\n")
        log(f"micro: {stage} took {timings[stage]:.0f} s")
    result = {"output": str(out), "timings_s": timings, "total_s": round(sum(timings.values()), 1)}
    if install:
        result["installed"] = install_checkpoints(out, Path(install), recipe)
    return result


INSTALLED = {"base": "policy", "grpo": "grpo-none/final", "rarft": "grpo-benefit/final", "retriever": "retriever"}


def install_checkpoints(out: Path, dest: Path, recipe: MicroRecipe) -> dict[str, str]:
    """Copy the trained checkpoints (model files only, no optimizer state) to dest with the recipe."""
    keep = {".json", ".safetensors", ".jinja", ".txt", ".yaml", ".model"}
    done = {}
    for name, rel in INSTALLED.items():
        src = out / rel
        if not src.is_dir():
            raise RarftError(f"micro: {src} missing; run the stages first")
        tgt = dest / name
        tmp = dest / f".{name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(src, tmp, ignore=lambda d, names: [n for n in names if not (Path(d, n).is_dir() or Path(n).suffix in keep)])
        shutil.rmtree(tgt, ignore_errors=True)
        tmp.rename(tgt)
        done[name] = str(tgt)
    (dest / "micro.yaml").write_text(yaml.safe_dump(recipe.model_dump(mode="json"), sort_keys=False))
    shutil.copy(out / "timings.json", dest / "timings.json")
    return done
