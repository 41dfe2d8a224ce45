"""Fixtures of the training tests: the constructed set, `rarft-train` in a subprocess, and the
session's real retriever checkpoint and GRPO run (built once, used by several tests)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import cli_env
from tests.training.constructed import write_constructed

REPO = Path(__file__).resolve().parents[2]


def run_train(args: list[str], cwd: Path, cache: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """`rarft-train ARGS` in a subprocess, as a user types it (`python -m rarft_eval.training.cli`)."""
    env = cli_env(cache)
    env.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    return subprocess.run([sys.executable, "-m", "rarft_eval.training.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def write_recipe(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def summary(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout)


@pytest.fixture(scope="session")
def constructed(tmp_path_factory) -> dict[str, Path]:
    return write_constructed(tmp_path_factory.mktemp("constructed"))


@pytest.fixture(scope="session")
def train_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("rarft-cache")


# Small enough for 2 shared cores: 36 training pairs, 12 held-out queries, 6 optimizer steps.
RETRIEVER_TEST_SETTINGS = {"holdout_fraction": 0.25, "epochs": 2, "batch_size": 12, "lr": 1.0e-4,
                           "max_seq_length": 80, "hard_negatives": 1, "seed": 0}


@pytest.fixture(scope="session")
def retriever_run(constructed, tmp_path_factory, train_cache):
    """`rarft-train retriever` on the constructed labels: (process summary, checkpoint dir)."""
    work = tmp_path_factory.mktemp("retriever")
    recipe = write_recipe(work / "retriever.yaml", {
        "stage": "retriever", "labels": [str(constructed["labels"])],
        "queries": {"path": str(constructed["queries"])}, "corpus": {"path": str(constructed["corpus"])},
        "output": str(work / "ckpt"), **RETRIEVER_TEST_SETTINGS})
    proc = run_train(["retriever", "--config", str(recipe)], cwd=work, cache=train_cache)
    return summary(proc), work / "ckpt", proc


@pytest.fixture(scope="session")
def grpo_run(constructed, retriever_run, tiny_model, tmp_path_factory, train_cache):
    """Two GRPO steps of the tiny model on CPU with the trained retriever's top-1 demonstration."""
    _, ckpt, _ = retriever_run
    work = tmp_path_factory.mktemp("grpo")
    args = ["grpo", "--config", str(REPO / "training" / "grpo-tiny-cpu.yaml"),
            "--set", f"policy.model={tiny_model}", "--set", f"queries.path={constructed['queries']}",
            "--set", f"retrieval.corpus.path={constructed['corpus']}", "--retriever", f"benefit:{ckpt}",
            "--output-dir", str(work / "run")]
    t0 = time.perf_counter()
    proc = run_train(args, cwd=work, cache=train_cache)
    return summary(proc), work / "run", time.perf_counter() - t0


