"""`rarft-train micro` end to end on the CPU at toy sizes: every stage runs for real (TRL SFT, the gain labeler
on the transformers engine, InfoNCE from the offline MiniLM, both GRPO arms), a rerun skips them all, and
--install writes loadable checkpoints."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]

TOY = {
    "stage": "micro",
    "world_seed": 0,
    "engine": "hf",
    "pretrain": {"examples": 48, "batch_size": 16, "epochs": 1.0, "vocab_size": 512},
    "labels": [{"queries": {"sample": 4, "seed": 0},
                "candidates": {"strategy": "retriever", "retriever": "bm25", "top_n": 2},
                "gain": {"m": 2, "max_tokens": 24, "seed": 0}}],
    "retriever": {"positive_threshold": -1.1, "epochs": 1, "batch_size": 4, "holdout_fraction": 0.25,
                  "trainable_layers": 1, "save_format": "delta", "bf16": False, "max_seq_length": 64},
    "grpo": {"queries": {"limit": 2},
             "trainer": {"num_generations": 2, "per_device_train_batch_size": 2, "max_completion_length": 12,
                         "max_steps": 1, "learning_rate": 1.0e-5, "beta": 0.0, "bf16": False,
                         "save_strategy": "no", "report_to": "none", "logging_steps": 1, "seed": 0,
                         "dataloader_num_workers": 0},
             "reward": {"workers": 1}},
}


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rarft_eval.training.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=1500)


@pytest.mark.slow
def test_micro_recipe_runs_every_stage_resumes_and_installs(tmp_path):
    recipe = tmp_path / "micro.yaml"
    recipe.write_text(yaml.safe_dump({**TOY, "output": str(tmp_path / "run")}))
    proc = _cli(["micro", "--config", str(recipe), "--install", str(tmp_path / "models")], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert set(summary["timings_s"]) == {"world", "policy", "labels-0", "retriever", "grpo-none", "grpo-benefit"}
    run = tmp_path / "run"
    # the world stage reproduced the shipped files (seed 0) and each sub-stage recipe is on disk
    assert (run / "world" / "world.json").is_file()
    assert {p.name for p in (run / "recipes").iterdir()} == {"labels-0.yaml", "retriever.yaml", "grpo-none.yaml",
                                                             "grpo-benefit.yaml"}
    # the arms differ in retrieval only
    none = yaml.safe_load((run / "recipes" / "grpo-none.yaml").read_text())
    benefit = yaml.safe_load((run / "recipes" / "grpo-benefit.yaml").read_text())
    assert none["retrieval"]["retriever"] == "none" and benefit["retrieval"]["retriever"].startswith("benefit:")
    assert {k: v for k, v in none.items() if k not in ("retrieval", "name", "output_dir")} == \
           {k: v for k, v in benefit.items() if k not in ("retrieval", "name", "output_dir")}
    rows = [json.loads(x) for x in (run / "grpo-benefit" / "dataset.jsonl").read_text().splitlines()]
    assert all("Reference problem" in r["prompt"] for r in rows)
    assert not any("Reference problem" in json.loads(x)["prompt"]
                   for x in (run / "grpo-none" / "dataset.jsonl").read_text().splitlines())
    # labels come from the gain labeler, never from the procedure id
    labels = [json.loads(x) for x in (run / "labels-0" / "labels.jsonl").read_text().splitlines()]
    assert labels and all(r["labeler"] == "gain" and "procedure" not in r for r in labels)

    again = _cli(["micro", "--config", str(recipe)], tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stderr.count("done already, kept") == 6

    models = tmp_path / "models"
    assert {p.name for p in models.iterdir() if p.is_dir()} == {"base", "grpo", "rarft", "retriever"}
    assert not list(models.rglob("training_args.bin"))  # model files only
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(models / "rarft")
    from rarft_eval.retrieval import make_retriever

    retriever = make_retriever(f"benefit:{models / 'retriever'}", str(run / "world" / "corpus.jsonl"))
    retriever.index()
    assert retriever.manifest()["name"] == "benefit"


def test_micro_recipe_refuses_unknown_keys(tmp_path):
    recipe = tmp_path / "micro.yaml"
    recipe.write_text(yaml.safe_dump({**TOY, "pretrian": {}}))
    proc = _cli(["micro", "--config", str(recipe)], tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "pretrian" in proc.stderr
