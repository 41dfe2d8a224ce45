from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_vllm_server(model: Path, log: Path):
    """`vllm serve` of `model` on 127.0.0.1 (the API server module: `vllm serve` fails on the CPU build)."""
    port = free_port()
    env = cli_env()
    env.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model), "--host", "127.0.0.1",
             "--port", str(port), "--no-enable-chunked-prefill", "--enforce-eager", "--max-model-len", "2048"],
            stdout=fh, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    return proc, f"http://127.0.0.1:{port}"


def wait_healthy(proc, url: str, log: Path, timeout: float = 300) -> None:
    import urllib.request

    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, log.read_text()[-3000:]
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(1)
    pytest.fail("vllm serve did not come up: " + log.read_text()[-2000:])


def stop_server(proc) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
