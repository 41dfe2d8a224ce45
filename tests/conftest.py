from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """The project's own tiny Qwen3 model (random weights, locally trained tokenizer)."""
    from rarft_eval.testing.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny-qwen3", seed=0)


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model)


def cli_env(cache: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("RARFT_EVAL_DEBUG", None)
    if cache is not None:
        env["RARFT_EVAL_CACHE"] = str(cache)
    return env


def run_cli(args: list[str], cwd: Path, timeout: float = 600, cache: Path | None = None) -> subprocess.CompletedProcess:
    """`rarft-eval ARGS` in a subprocess, as a user types it."""
    return subprocess.run(
        [sys.executable, "-m", "rarft_eval", *args],
        cwd=cwd, env=cli_env(cache), capture_output=True, text=True, timeout=timeout,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, proc.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]
