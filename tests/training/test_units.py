"""Training side, fast tests: recipes, identical arms, the judge's parser, the label cache, the reward,
the verl reward function, candidate pairs, the likelihood arithmetic, the shipped configs."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import yaml

from rarft_eval.config import config_diff
from rarft_eval.errors import RarftError
from rarft_eval.training.cache import LabelCache, cache_key
from rarft_eval.training.labelers.judge import parse_verdict
from rarft_eval.training.recipes import load_recipe

REPO = Path(__file__).resolve().parents[2]
TRAINING = REPO / "training"


# ----------------------------------------------------------------------------------------- recipes
@pytest.mark.parametrize("name,stage", [("labels-judge", "labels"), ("labels-gain", "labels"),
                                        ("labels-likelihood", "labels"), ("retriever", "retriever"),
                                        ("grpo-paper", "grpo"), ("grpo-small", "grpo"), ("grpo-tiny-cpu", "grpo")])
def test_every_shipped_recipe_validates(name, stage):
    recipe = load_recipe(TRAINING / f"{name}.yaml", stage)
    assert recipe.stage == stage


@pytest.mark.parametrize("name", ["grpo-paper", "grpo-small", "grpo-tiny-cpu"])
def test_grpo_presets_are_valid_trl_configs(name, tmp_path):
    """Every trainer key is a GRPOConfig field and TRL's own batch/generation checks pass (bf16 off: no GPU here)."""
    from rarft_eval.training.grpo import grpo_config

    recipe = load_recipe(TRAINING / f"{name}.yaml", "grpo", ["trainer.bf16=false", "trainer.use_cpu=true"])
    args = grpo_config(recipe, tmp_path)
    assert args.beta == 0.0 and args.generation_batch_size % args.num_generations == 0


def test_paper_preset_holds_the_paper_settings():
    r = load_recipe(TRAINING / "grpo-paper.yaml", "grpo")
    t = r.trainer
    assert (t["num_generations"], t["beta"], t["learning_rate"], t["max_completion_length"]) == (16, 0.0, 1e-6, 32768)
    assert r.retrieval.n_demonstrations == 1 and r.retrieval.retriever.startswith("benefit:")
    rt = load_recipe(TRAINING / "retriever.yaml", "retriever")
    assert (rt.temperature, rt.epochs, rt.batch_size, rt.lr, rt.warmup_ratio, rt.weight_decay, rt.holdout_fraction) == \
        (0.05, 3, 128, 3e-5, 0.1, 0.01, 0.05)


def test_unknown_recipe_key_is_named_with_a_suggestion(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text(yaml.safe_dump({"stage": "retriever", "labels": ["x"], "output": "o", "temperatur": 0.1}))
    with pytest.raises(RarftError, match=r"`temperatur`: unknown key \(did you mean `temperature`\?\)"):
        load_recipe(p, "retriever")
    with pytest.raises(RarftError, match="is a `retriever` recipe; use `rarft-train retriever"):
        load_recipe(p, "grpo")


def test_unknown_trainer_key_is_refused_before_training(tmp_path):
    from rarft_eval.training.grpo import grpo_config

    recipe = load_recipe(TRAINING / "grpo-tiny-cpu.yaml", "grpo", ["trainer.num_generation=4"])
    with pytest.raises(RarftError, match="trainer.num_generation is not a trl.GRPOConfig field .*`num_generations`"):
        grpo_config(recipe, tmp_path)


def test_overrides_are_typed_and_dotted():
    r = load_recipe(TRAINING / "grpo-tiny-cpu.yaml", "grpo",
                    ["trainer.max_steps=7", "retrieval.retriever=none", "queries.limit=3", "prompt.enable_thinking=true"])
    assert r.trainer["max_steps"] == 7 and r.retrieval.retriever == "none" and r.queries.limit == 3
    assert r.prompt.enable_thinking is True


# ----------------------------------------------------------------------------------------- identical arms
def test_the_two_arms_differ_only_in_the_retriever(tmp_path):
    """The GRPO baseline is the RA-RFT recipe with the retriever set to none: nothing else may differ."""
    from rarft_eval.training.grpo import grpo_config, output_dir_for, run_identity

    for name in ("grpo-paper", "grpo-small", "grpo-tiny-cpu"):
        ra = load_recipe(TRAINING / f"{name}.yaml", "grpo", ["retrieval.retriever=benefit:runs/retriever/benefit"])
        base = load_recipe(TRAINING / f"{name}.yaml", "grpo", ["retrieval.retriever=none"])
        diff = config_diff(run_identity(ra), run_identity(base))
        assert diff == ["retrieval.retriever: 'benefit:runs/retriever/benefit' -> 'none'"], diff
        assert output_dir_for(ra) != output_dir_for(base)  # the arms never share a run directory
        cpu = ["trainer.bf16=false", "trainer.use_cpu=true"]
        a = json.loads(grpo_config(load_recipe(TRAINING / f"{name}.yaml", "grpo", cpu), tmp_path / "a").to_json_string())
        b = json.loads(grpo_config(load_recipe(TRAINING / f"{name}.yaml", "grpo", cpu + ["retrieval.retriever=none"]),
                                   tmp_path / "b").to_json_string())
        differing = {k for k in set(a) | set(b) if a.get(k) != b.get(k)}
        assert differing <= {"output_dir", "logging_dir", "run_name"}, differing


def test_dry_run_prints_the_identity_without_loading_anything(tmp_path):
    from tests.training.conftest import run_train

    out = {}
    for arm in ("bm25", "none"):
        proc = run_train(["grpo", "--config", str(TRAINING / "grpo-tiny-cpu.yaml"), "--retriever", arm, "--dry-run"],
                         cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        out[arm] = json.loads(proc.stdout)
    assert out["bm25"]["arm"] == "retrieval" and out["none"]["arm"] == "baseline"
    assert config_diff(out["bm25"]["identity"], out["none"]["identity"]) == ["retrieval.retriever: 'bm25' -> 'none'"]
    assert not list(tmp_path.iterdir())  # nothing written


# ----------------------------------------------------------------------------------------- judge parser
@pytest.mark.parametrize("text,expected", [
    ("Both use the pigeonhole principle.\nAnswer: yes", True),
    ("Different ideas.\n\nanswer: NO\n", False),
    ("  ANSWER: Yes  ", True),
    ("Answer: yes.", None),             # trailing period: not exactly the format
    ("Answer: yes\nThanks!", None),     # the verdict must be the last line
    ("**Answer: yes**", None),
    ("Answer:yes", None),
    ("Answer: maybe", None),
    ("The answer is yes", None),
    ("Answer: yes or no", None),
    ("", None),
    (None, None),
    ("Answer: no\nAnswer: yes", True),  # only the last line counts
])
def test_judge_verdict_is_parsed_strictly(text, expected):
    assert parse_verdict(text) is expected


# ----------------------------------------------------------------------------------------- cache
def test_cache_appends_resumes_and_tolerates_a_torn_last_line(tmp_path):
    path = tmp_path / "cache.jsonl"
    c = LabelCache(path)
    rows = [{"key": cache_key("gain", "q1", d, "h"), "accuracy": i / 4} for i, d in enumerate(["", "a", "b"])]
    c.append(rows)
    with path.open("a") as fh:  # a process killed mid-write
        fh.write('{"key": "[\\"gain\\", \\"q2\\"')
    c2 = LabelCache(path)
    assert c2.torn_lines == 1 and len(c2) == 3
    assert path.read_text().endswith("}\n")  # cut back to the last complete line
    c2.append([{"key": cache_key("gain", "q2", "", "h"), "accuracy": 1.0}])
    c3 = LabelCache(path)
    assert len(c3) == 4 and c3.torn_lines == 0
    assert c3.get(cache_key("gain", "q1", "b", "h"))["accuracy"] == 0.5


def test_a_complete_last_line_without_newline_is_kept(tmp_path):
    path = tmp_path / "cache.jsonl"
    path.write_text(json.dumps({"key": "k1", "v": 1}) + "\n" + json.dumps({"key": "k2", "v": 2}))
    c = LabelCache(path)
    assert len(c) == 2 and c.torn_lines == 0
    c.append([{"key": "k3"}])
    assert len(LabelCache(path)) == 3


def test_a_corrupt_line_inside_the_cache_is_an_error(tmp_path):
    path = tmp_path / "cache.jsonl"
    path.write_text('{"key": "k1"}\nnot json\n{"key": "k2"}\n')
    with pytest.raises(RarftError, match=r"cache.jsonl:2 is corrupt"):
        LabelCache(path)


# ----------------------------------------------------------------------------------------- reward
def test_grader_reward_scores_the_last_boxed_answer_with_the_harness_grader():
    from rarft_eval.grading.types import GradeSpec
    from rarft_eval.training.reward import GraderReward

    eos = 7
    reward = GraderReward("rarft", end_token_ids=[eos], workers=1)
    try:
        spec = json.dumps(GradeSpec(answer_type="numeric", numeric_tolerance=0.01).to_dict())
        completions = ["So x = 3. \\boxed{\\frac{1}{2}}", "\\boxed{0.5}", "\\boxed{2} then \\boxed{0.501}",
                       "\\boxed{0.6}", "no answer here", "\\boxed{1/2}"]
        ids = [[1, eos]] * 5 + [[1, 2, 3]]  # the last one hit max_completion_length
        logged = {}
        out = reward(prompts=["p"] * 6, completions=completions, completion_ids=ids, answer=["1/2"] * 6,
                     grade_spec=[spec] * 6, log_metric=lambda k, v: logged.__setitem__(k, v))
    finally:
        reward.close()
    assert out == [1.0, 1.0, 1.0, 0.0, 0.0, 0.0]
    assert logged["grader/graded"] == 6 and logged["grader/truncated_frac"] == pytest.approx(1 / 6)
    assert logged["grader/correct_but_truncated"] == 1.0


# ----------------------------------------------------------------------------------------- verl reward
def test_verl_reward_loads_by_path_and_takes_verls_keywords():
    """verl imports the file by path (spec_from_file_location) and calls compute_score with keywords."""
    from rarft_eval.training import verl_reward

    spec = importlib.util.spec_from_file_location("custom_module", verl_reward.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fn = module.compute_score
    gs = json.dumps({"answer_type": "integer"})
    ok = fn(data_source="rarft_eval", solution_str="... so the answer is \\boxed{907}", ground_truth="907",
            extra_info={"grade_spec": gs, "num_turns": None, "rollout_reward_scores": {}},
            reward_router_address=None)
    assert ok["score"] == 1.0 and ok["acc"] == 1.0
    assert fn(data_source="x", solution_str="\\boxed{906}", ground_truth="907", extra_info={"grade_spec": gs})["score"] == 0
    assert fn(data_source="x", solution_str="nothing", ground_truth="907", extra_info=None)["no_answer"] == 1.0


# ----------------------------------------------------------------------------------------- candidates
def test_subject_candidates_prune_by_coarse_subject_and_exclude_the_query_itself(constructed):
    from rarft_eval.retrieval import Corpus
    from rarft_eval.training.data import load_queries
    from rarft_eval.training.labels import build_candidates
    from rarft_eval.training.recipes import CandidatesSpec, QueriesSpec

    queries = load_queries(QueriesSpec(path=str(constructed["queries"])))
    corpus_rows = [json.loads(x) for x in constructed["corpus"].read_text().splitlines()]
    # a corpus that also holds one query verbatim (it must never be its own candidate)
    q0 = queries[0]
    corpus_rows.append({"id": "dup", "type": "Counting & Probability", "problem": q0.problem, "solution": "\\boxed{1}"})
    path = constructed["corpus"].parent / "corpus_dup.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in corpus_rows))
    corpus = Corpus.load(path)
    report: dict = {}
    pairs = build_candidates(CandidatesSpec(strategy="subject"), queries, corpus, report)
    by_q: dict[str, set[str]] = {}
    for p in pairs:
        by_q.setdefault(p.query.id, set()).add(p.demo.id)
    algebra = {r["id"] for r in corpus_rows if r["type"] in ("Algebra", "Prealgebra")}  # both coarse "algebra"
    vieta = next(q for q in queries if q.id.startswith("q3-"))
    assert by_q[vieta.id] == algebra
    assert "dup" not in by_q[q0.id] and "dup" in by_q[queries[1].id]
    assert report["candidates"]["excluded_leaks"] >= 1
    assert report["candidates"]["pairs"] < report["candidates"]["exhaustive_pairs"]


# ----------------------------------------------------------------------------------------- likelihood
def test_batched_prompt_logprobs_equal_a_plain_forward_pass(tiny_model):
    import torch
    from transformers import AutoModelForCausalLM

    from rarft_eval.training.labelers.likelihood import sequence_logprobs

    model = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32).eval()
    batch = [([5, 17, 99, 240, 31], [12, 13]), ([8, 9], [400, 401, 402, 403]), ([1, 2, 3], [77])]
    got = sequence_logprobs(model, batch, pad_id=0, device="cpu")
    for (p, c), value in zip(batch, got):
        with torch.inference_mode():
            logits = model(torch.tensor([p + c])).logits[0].float()
        logp = torch.log_softmax(logits, -1)
        want = sum(float(logp[len(p) - 1 + i, tok]) for i, tok in enumerate(c))
        assert value == pytest.approx(want, abs=1e-3)


# ----------------------------------------------------------------------------------------- launch configs
def test_accelerate_and_deepspeed_configs_are_consistent():
    for path in (TRAINING / "accelerate").glob("*.yaml"):
        cfg = yaml.safe_load(path.read_text())
        assert cfg["distributed_type"] in ("MULTI_GPU", "DEEPSPEED"), path
        assert cfg["num_processes"] % cfg["num_machines"] == 0, path
        ds = (cfg.get("deepspeed_config") or {}).get("deepspeed_config_file")
        if ds:
            doc = json.loads((REPO / ds).read_text())
            assert doc["zero_optimization"]["stage"] in (2, 3)
            assert doc["train_micro_batch_size_per_gpu"] == "auto"  # the Trainer fills batch settings in


# ----------------------------------------------------------------------------------------- GRPO dataset
def test_grpo_dataset_is_stored_once_and_rebuilt_when_its_inputs_change(constructed, tiny_tokenizer, tmp_path,
                                                                         monkeypatch):
    from rarft_eval.training.grpo import build_dataset

    monkeypatch.setenv("RARFT_EVAL_CACHE", str(tmp_path / "cache"))
    queries = tmp_path / "queries.jsonl"
    queries.write_text(constructed["queries"].read_text())
    recipe = load_recipe(TRAINING / "grpo-tiny-cpu.yaml", "grpo", [
        f"queries.path={queries}", f"retrieval.corpus.path={constructed['corpus']}", "retrieval.retriever=bm25"])
    logs: list[str] = []
    rows, manifest = build_dataset(recipe, tiny_tokenizer, tmp_path / "run", log=logs.append)
    assert len(rows) == 8 and manifest["n_demonstrations"] == 1 and manifest["retriever"]["name"] == "bm25"
    assert all(len(json.loads(r["retrieved"])) == 1 and "Reference problem:" in r["prompt"] for r in rows)
    again, m2 = build_dataset(recipe, tiny_tokenizer, tmp_path / "run", log=logs.append)
    assert again == rows and m2["key"] == manifest["key"] and "reusing the stored dataset" in logs[-1]
    # an edited query file is a new dataset, though the recipe is unchanged
    queries.write_text(queries.read_text().replace("socks", "stockings", 1))
    edited, m3 = build_dataset(recipe, tiny_tokenizer, tmp_path / "run", log=logs.append)
    assert m3["key"] != manifest["key"] and "reusing" not in logs[-1]
    assert edited[0]["prompt"] != rows[0]["prompt"]
    # the baseline arm: no demonstration, the bare evaluation prompt
    base = load_recipe(TRAINING / "grpo-tiny-cpu.yaml", "grpo", [f"queries.path={queries}", "retrieval.retriever=none"])
    plain, m4 = build_dataset(base, tiny_tokenizer, tmp_path / "base", log=logs.append)
    assert m4["n_demonstrations"] == 0 and all(json.loads(r["retrieved"]) == [] for r in plain)
    assert all("Reference problem:" not in r["prompt"] for r in plain)


def test_grpo_prepared_dataset_is_used_as_is_and_checked(constructed, tiny_tokenizer, tmp_path, monkeypatch):
    """retrieval.prepared: retrieve on one machine, train on another; a dataset built for another retriever,
    query set or template is refused, and a changed file is caught by its sha256."""
    from rarft_eval.training.grpo import build_dataset

    monkeypatch.setenv("RARFT_EVAL_CACHE", str(tmp_path / "cache"))
    queries = tmp_path / "queries.jsonl"
    queries.write_text(constructed["queries"].read_text())
    common = [f"queries.path={queries}", f"retrieval.corpus.path={constructed['corpus']}"]
    recipe = load_recipe(TRAINING / "grpo-tiny-cpu.yaml", "grpo", [*common, "retrieval.retriever=bm25"])
    rows, _ = build_dataset(recipe, tiny_tokenizer, tmp_path / "prep", log=lambda *a: None)
    # the training machine: the same recipe, another output dir, the corpus gone
    used = load_recipe(TRAINING / "grpo-tiny-cpu.yaml", "grpo", [
        f"queries.path={queries}", "retrieval.corpus.path=/nonexistent.jsonl", "retrieval.retriever=bm25",
        f"retrieval.prepared={tmp_path / 'prep'}"])
    got, manifest = build_dataset(used, tiny_tokenizer, tmp_path / "train", log=lambda *a: None)
    assert got == rows and manifest["prepared_from"] == str(tmp_path / "prep")
    assert (tmp_path / "train" / "dataset.jsonl").read_text() == (tmp_path / "prep" / "dataset.jsonl").read_text()
    other = load_recipe(TRAINING / "grpo-tiny-cpu.yaml", "grpo", [
        *common, "retrieval.retriever=random", f"retrieval.prepared={tmp_path / 'prep'}"])
    with pytest.raises(RarftError, match="another retriever"):
        build_dataset(other, tiny_tokenizer, tmp_path / "x", log=lambda *a: None)
    fewer = load_recipe(TRAINING / "grpo-tiny-cpu.yaml", "grpo", [
        *common, "queries.limit=3", "retrieval.retriever=bm25", f"retrieval.prepared={tmp_path / 'prep'}"])
    with pytest.raises(RarftError, match="another query set"):
        build_dataset(fewer, tiny_tokenizer, tmp_path / "y", log=lambda *a: None)
    data = tmp_path / "prep" / "dataset.jsonl"
    data.write_text(data.read_text().replace("Reference", "Referenc", 1))
    with pytest.raises(RarftError, match="sha256"):
        build_dataset(used, tiny_tokenizer, tmp_path / "z", log=lambda *a: None)


def test_judge_endpoint_that_is_down_is_one_line(tmp_path):
    from rarft_eval.training.labelers.judge import JudgeLabeler
    from rarft_eval.training.recipes import JudgeConfig
    from tests.conftest import free_port

    judge = JudgeLabeler(JudgeConfig(base_url=f"http://127.0.0.1:{free_port()}/v1", model="m", max_retries=0,
                                     timeout_s=5))
    with pytest.raises(RarftError, match="cannot reach the judge at http://127.0.0.1"):
        judge.check()
