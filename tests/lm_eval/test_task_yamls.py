"""The rarft_* lm-eval task YAMLs: generated from tasks/*.yaml, committed, and read by lm-eval the native way."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from rarft_eval.errors import RarftError
from rarft_eval.lm_eval_tasks import (
    FILTER_NAME, check_task_yamls, generate_task_yamls, include_path, metric_names, write_task_yamls,
)
from rarft_eval.prompts import render_user_message
from rarft_eval.tasks import all_tasks, groups

from ..conftest import REPO, cli_env
from .conftest import task_manager


def test_committed_yamls_are_the_generated_ones():
    generated = generate_task_yamls()
    committed = {p.name: p.read_text(encoding="utf-8") for p in include_path().glob("*.yaml")}
    assert committed == generated, "run `python -m rarft_eval.lm_eval_tasks generate` and commit the result"
    assert check_task_yamls() == []
    proc = subprocess.run([sys.executable, "-m", "rarft_eval.lm_eval_tasks", "generate", "--check"],
                          cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "up to date" in proc.stdout


def test_drift_is_reported_in_one_line(tmp_path):
    write_task_yamls(tmp_path)
    assert check_task_yamls(tmp_path) == []
    path = tmp_path / "rarft_aime25.yaml"
    path.write_text(path.read_text().replace("temperature: 1.0", "temperature: 0.6"))
    (tmp_path / "rarft_gone.yaml").write_text("task: rarft_gone\n")
    (tmp_path / "rarft_amc23.yaml").unlink()
    assert check_task_yamls(tmp_path) == [
        "missing rarft_amc23.yaml", "stale rarft_gone.yaml", "outdated rarft_aime25.yaml",
    ]
    proc = subprocess.run(
        [sys.executable, "-m", "rarft_eval.lm_eval_tasks", "generate", "--check", "--out", str(tmp_path)],
        cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: ") and "rarft_aime25.yaml" in proc.stderr
    assert "Traceback" not in proc.stderr
    # regenerating repairs it, stale files included
    write_task_yamls(tmp_path)
    assert check_task_yamls(tmp_path) == [] and not (tmp_path / "rarft_gone.yaml").exists()


def test_path_command_prints_the_include_path():
    proc = subprocess.run([sys.executable, "-m", "rarft_eval.lm_eval_tasks", "path"],
                          cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(include_path())
    assert (include_path() / "rarft_aime25.yaml").is_file()


def test_every_task_group_and_variant_is_indexed_by_lm_eval():
    tm = task_manager(include_path())
    registry = all_tasks()
    for name in registry:
        for variant in (f"rarft_{name}", f"rarft_{name}_bm25", f"rarft_{name}_semantic"):
            assert variant in tm.all_subtasks, variant
    assert {"rarft_paper", "rarft_aime", "rarft_paper_bm25", "rarft_paper_semantic"} <= set(tm.all_groups)
    loaded = tm.load(["rarft_paper"])
    assert sorted(loaded["tasks"]) == sorted(f"rarft_{t}" for t in groups()["paper"])
    assert sorted(groups()["paper"]) == ["aime24", "aime25", "brumo25", "hmmt_feb25"]


def test_lm_eval_task_has_the_native_data_settings_and_prompts():
    native = all_tasks()["aime25"]
    problems = native.load_problems()
    task = task_manager(include_path()).load(["rarft_aime25"])["tasks"]["rarft_aime25"]
    cfg = task.config
    assert native.config.generation.preset == "paper"
    assert cfg.repeats == 32
    # the paper preset; `until: []` so nothing stops a reasoning trace but EOS (lm-eval's default is "\n\n")
    assert cfg.generation_kwargs == {
        "until": [], "do_sample": True, "temperature": 1.0, "top_p": 1.0, "max_gen_toks": 32768,
    }
    assert [f.name for f in task._filters] == [FILTER_NAME]
    assert set(task.aggregation()) == set(metric_names(32))
    docs = list(task.eval_docs)
    assert [d["id"] for d in docs] == [p.id for p in problems]
    for doc, problem in zip(docs, problems):
        assert doc["answer"] == problem.answer and doc["problem"] == problem.problem
        assert json.loads(doc["grade_spec"]) == problem.grade_spec.to_dict()
        assert json.loads(doc["retrieved"]) == []
        # lm-eval's own prompt construction (no chat template: the user message itself)
        assert task.fewshot_context(doc, 0) == render_user_message(problem, native.config.prompt, [])
        assert task.doc_to_target(doc) == problem.answer


def test_a_changed_template_or_data_file_shows_up_in_lm_eval(tmp_path, monkeypatch):
    """One source of truth: the committed YAML only names the task; lm-eval reads the registry."""
    tasks_dir = tmp_path / "tasks"
    (tasks_dir / "data" / "aime2025").mkdir(parents=True)
    src = REPO / "tasks"
    shutil.copy(src / "aime25.yaml", tasks_dir)
    default = (src / "_default.yaml").read_text()
    assert "Please reason step by step" in default
    (tasks_dir / "_default.yaml").write_text(default.replace("Please reason step by step", "Think it through"))
    lines = (src / "data" / "aime2025" / "test.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    rows[0]["problem"] = "What is 6 times 7?"
    rows[0]["answer"] = "42"
    (tasks_dir / "data" / "aime2025" / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.setenv("RARFT_EVAL_TASKS_DIR", str(tasks_dir))

    task = task_manager(include_path()).load(["rarft_aime25"])["tasks"]["rarft_aime25"]
    doc = task.eval_docs[0]
    prompt = task.fewshot_context(doc, 0)
    assert prompt.startswith("What is 6 times 7?\nThink it through, and put your final answer within")
    assert task.doc_to_target(doc) == "42"
    assert "Please reason step by step" not in task.fewshot_context(task.eval_docs[1], 0)


def test_retrieval_variant_places_the_demonstration_as_the_native_harness():
    from rarft_eval.retrieval import make_retriever

    native = all_tasks()["aime25"]
    problems = native.load_problems()
    demos = make_retriever("bm25").retrieve(problems, 1)
    assert all(len(d) == 1 for d in demos)
    expected = [render_user_message(p, native.config.prompt, d) for p, d in zip(problems, demos)]
    assert "Reference problem:" in expected[0] and demos[0][0].problem in expected[0]

    variant = task_manager(include_path()).load(["rarft_aime25_bm25"])["tasks"]["rarft_aime25_bm25"]
    got = [variant.fewshot_context(doc, 0) for doc in variant.eval_docs]
    assert got == expected
    assert [json.loads(doc["retrieved"])[0]["id"] for doc in variant.eval_docs] == [d[0].id for d in demos]

    # the task argument: `--metadata rarft_retriever=bm25` on the plain task does the same
    plain = task_manager(include_path(), rarft_retriever="bm25").load(["rarft_aime25"])["tasks"]["rarft_aime25"]
    assert [plain.fewshot_context(doc, 0) for doc in plain.eval_docs] == expected
    two = task_manager(include_path(), rarft_retriever="bm25", rarft_demonstrations=2).load(["rarft_aime25"])
    doc = two["tasks"]["rarft_aime25"].eval_docs[0]
    assert len(json.loads(doc["retrieved"])) == 2 and doc["prompt"].count("Reference problem:") == 2


def test_bad_task_arguments_are_one_line_errors():
    with pytest.raises(RarftError) as err:
        task_manager(include_path(), rarft_retriever="nosuch").load(["rarft_aime25"])
    assert "unknown retriever" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(RarftError) as err:
        task_manager(include_path(), rarft_grader="exact").load(["rarft_aime25"])
    assert "rarft_grader" in str(err.value) and "\n" not in str(err.value)
