"""Real lm-eval runs on the tiny Qwen3 model: `lm_eval --model hf`, and `--model rarft` on transformers and vLLM-CPU.

* `lm_eval --model hf` (lm-eval's own backend and sampling): the metric keys, all k samples kept,
  the native prompt, and lm-eval's metric values equal to native grading of the same samples.
* `--model rarft` (rarft-eval's engines inside lm-eval): the samples are the native run's, sample for
  sample (same prompts, seeds and n-sharing), so every metric equals the native run's metrics.json.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rarft_eval.engines.base import derive_seed
from rarft_eval.lm_eval_tasks import metric_names
from rarft_eval.lm_eval_tasks.utils import build_docs, grade_responses
from rarft_eval.metrics import compute_task_metrics
from rarft_eval.tasks import all_tasks

from ..conftest import cli_env, run_cli
from .conftest import evaluate, task_manager

SHARED = ("avg@k", "pass@1", "pass@2", "maj@1", "maj@2", "extraction_failure_rate")
LIMIT, K, MAX_TOKENS = 2, 2, 24


def native_prompt(tokenizer, problem) -> str:
    from rarft_eval.config import PromptOptions
    from rarft_eval.prompts import PromptBuilder

    spec = all_tasks()[problem.task].config.prompt
    return PromptBuilder(tokenizer, PromptOptions()).render(problem, spec, []).text


def read_lm_eval_output(out: Path, task: str = "rarft_aime25") -> tuple[dict, list[dict]]:
    results = json.loads(next(out.rglob("results_*.json")).read_text())
    samples = [json.loads(line) for line in next(out.rglob(f"samples_{task}_*.jsonl")).read_text().splitlines()]
    return results, sorted(samples, key=lambda s: s["doc_id"])


def native_grading(samples: list[dict]) -> dict:
    """Grade lm-eval's logged responses with the native code and compute the native task metrics."""
    docs = {d["id"]: d for d in build_docs("aime25")}
    per_problem = [grade_responses(docs[s["doc"]["id"]], s["filtered_resps"][0]) for s in samples]
    return compute_task_metrics(per_problem, K)


def assert_metrics_equal(lm: dict, native: dict) -> None:
    for key in SHARED:
        assert lm[f"{key},all_samples"] == pytest.approx(native[key], abs=1e-12), key
    assert lm["avg@k_stderr,all_samples"] == pytest.approx(native["avg@k_se"] or 0.0, abs=1e-12)


def test_lm_eval_hf_backend_scores_all_samples_with_the_native_grader(tiny_model, tiny_tokenizer, tasks_k2, tmp_path):
    out = tmp_path / "out"
    lm_eval_bin = Path(sys.executable).parent / "lm_eval"
    proc = subprocess.run(
        [str(lm_eval_bin), "--model", "hf", "--model_args", f"pretrained={tiny_model}", "--apply_chat_template",
         "--include_path", str(tasks_k2), "--tasks", "rarft_aime25", "--limit", str(LIMIT),
         "--gen_kwargs", f"max_gen_toks={MAX_TOKENS}", "--log_samples", "--output_path", str(out), "--seed", "1"],
        cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results, samples = read_lm_eval_output(out)
    lm = results["results"]["rarft_aime25"]
    expected = {f"{m},all_samples" for m in metric_names(K)} | {f"{m}_stderr,all_samples" for m in metric_names(K)}
    assert set(lm) - {"name", "alias", "sample_len"} == expected
    assert results["configs"]["rarft_aime25"]["repeats"] == K
    gen = results["configs"]["rarft_aime25"]["generation_kwargs"]
    assert gen["temperature"] == 1.0 and gen["top_p"] == 1.0 and gen["do_sample"] is True
    assert gen["max_gen_toks"] == MAX_TOKENS and gen["until"] == []

    problems = all_tasks()["aime25"].load_problems(LIMIT)
    assert [s["doc"]["id"] for s in samples] == [p.id for p in problems]
    for s, problem in zip(samples, problems):
        assert len(s["resps"][0]) == K and s["filtered_resps"][0] == s["resps"][0]  # identity filter: all k kept
        assert s["resps"][0][0] != s["resps"][0][1]  # k sampled responses, not one repeated
        assert logged_prompt(s) == native_prompt(tiny_tokenizer, problem)
    assert_metrics_equal(lm, native_grading(samples))


def logged_prompt(sample: dict) -> str:
    """The prompt of a logged lm-eval sample (in memory: [(prompt, gen_kwargs)]; on disk: {"gen_args_0": ...})."""
    args = sample["arguments"]
    return args["gen_args_0"]["arg_0"] if isinstance(args, dict) else args[0][0]


def _native_and_rarft_equal(native_dir: Path, samples: list[dict], lm: dict, seed: int) -> None:
    rows = [json.loads(line) for line in (native_dir / "samples.jsonl").read_text().splitlines()]
    native = {(r["problem_id"], r["sample_index"]): r for r in rows}
    assert len(native) == LIMIT * K and len(samples) == LIMIT
    from rarft_eval.prompts import prompt_hash

    for s in samples:
        pid = s["doc"]["id"]
        responses = s["filtered_resps"][0]
        assert len(responses) == K and responses[0] != responses[1]
        assert prompt_hash(logged_prompt(s)) == native[(pid, 0)]["prompt_hash"]
        for i, text in enumerate(responses):
            assert text == native[(pid, i)]["completion"], (pid, i)
            assert native[(pid, i)]["seed"] == derive_seed(seed, "aime25", pid) + i
    metrics = json.loads((native_dir / "metrics.json").read_text())["tasks"]["aime25"]
    assert_metrics_equal(lm, metrics)


def test_rarft_model_on_transformers_draws_the_native_samples(tiny_model, tasks_k2, tmp_path):
    from rarft_eval.lm_eval_tasks.model import RarftLM
    from rarft_eval.runner import RunOptions, run_eval

    seed = 5
    native = run_eval(RunOptions(model=str(tiny_model), engine="hf", tasks="aime25", k=K, limit=LIMIT,
                                 max_tokens=MAX_TOKENS, seed=seed, results_dir=tmp_path / "res", progress=False))
    lm = RarftLM(pretrained=str(tiny_model), engine="hf", seed=seed)
    res = evaluate(tasks_k2, ["rarft_aime25"], lm, limit=LIMIT, apply_chat_template=True,
                   gen_kwargs={"max_gen_toks": MAX_TOKENS})
    samples = sorted(res["samples"]["rarft_aime25"], key=lambda s: s["doc_id"])
    _native_and_rarft_equal(native.run_dir, samples, res["results"]["rarft_aime25"], seed)
    # the finish reason travelled with the text: 24 tokens cut every tiny-model sample
    assert all(getattr(t, "finish_reason", None) in ("stop", "length") for s in samples for t in s["filtered_resps"][0])

    # and the native run's samples replayed through lm-eval (prompt hashes checked) score the same
    replay = RarftLM(engine="replay", samples=str(native.run_dir / "samples.jsonl"), pretrained=str(tiny_model))
    again = evaluate(tasks_k2, ["rarft_aime25"], replay, limit=LIMIT, apply_chat_template=True)
    assert_metrics_equal(again["results"]["rarft_aime25"],
                         json.loads((native.run_dir / "metrics.json").read_text())["tasks"]["aime25"])


@pytest.mark.slow
def test_rarft_model_on_vllm_cpu_through_the_lm_eval_command_line(tiny_model, tasks_k2, tmp_path):
    """`python -m rarft_eval.lm_eval_tasks run --model rarft` = lm-eval's CLI with vLLM-CPU behind it."""
    seed = 7
    native = run_cli(["--model", str(tiny_model), "--engine", "vllm", "--tasks", "aime25", "-k", str(K), "--limit",
                      str(LIMIT), "--max-tokens", str(MAX_TOKENS), "--seed", str(seed), "--results-dir", "res",
                      "--no-progress"], cwd=tmp_path)
    assert native.returncode == 0, native.stderr[-3000:]
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "rarft_eval.lm_eval_tasks", "run", "--model", "rarft",
         "--model_args", f"pretrained={tiny_model},engine=vllm,seed={seed}", "--apply_chat_template",
         "--include_path", str(tasks_k2), "--tasks", "rarft_aime25", "--limit", str(LIMIT),
         "--gen_kwargs", f"max_gen_toks={MAX_TOKENS}", "--log_samples", "--output_path", str(out)],
        cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results, samples = read_lm_eval_output(out)
    run_dir = next((tmp_path / "res" / "runs").iterdir())
    _native_and_rarft_equal(run_dir, samples, results["results"]["rarft_aime25"], seed)
    assert results["config"]["rarft_engine_info"]["vllm_distribution"] == "vllm-cpu"


def test_rarft_model_refuses_a_token_budget_beyond_the_context(tiny_model, tasks_k2):
    from rarft_eval.errors import RarftError
    from rarft_eval.lm_eval_tasks.model import RarftLM

    lm = RarftLM(pretrained=str(tiny_model), engine="hf")
    with pytest.raises(RarftError, match="exceeds the model's context of 4096 tokens; pass --gen_kwargs max_gen_toks="):
        evaluate(tasks_k2, ["rarft_aime25"], lm, limit=1, apply_chat_template=True)  # the paper's 32768 tokens
    assert task_manager(tasks_k2).load(["rarft_aime25"])["tasks"]["rarft_aime25"].config.generation_kwargs[
        "max_gen_toks"] == 32768
