"""The command line: subcommands, and bad input as one line with a non-zero exit."""

from __future__ import annotations

import json

from .conftest import assert_one_line_error, run_cli


def test_tasks_lists_every_task_with_counts(tmp_path):
    proc = run_cli(["tasks", "--json"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    counts = {t["task"]: t["problems"] for t in data["tasks"]}
    assert counts["aime25"] == 30 and counts["olympiadbench"] == 675 and counts["minerva"] == 272
    assert sorted(data["groups"]["paper"]) == ["aime24", "aime25", "brumo25", "hmmt_feb25"]
    assert all(t["source"] for t in data["tasks"])


def test_unknown_task(tmp_path, tiny_model):
    proc = run_cli(["--model", str(tiny_model), "--tasks", "aime26"], cwd=tmp_path)
    assert_one_line_error(proc, "unknown task or group 'aime26'")
    assert proc.returncode == 2


def test_unknown_preset(tmp_path, tiny_model):
    proc = run_cli(["--model", str(tiny_model), "--preset", "fast"], cwd=tmp_path)
    assert_one_line_error(proc, "unknown preset 'fast'", "paper")


def test_missing_model_path(tmp_path):
    proc = run_cli(["--model", "./no/such/model", "--tasks", "aime25"], cwd=tmp_path)
    assert_one_line_error(proc, "model path ./no/such/model does not exist")


def test_model_directory_without_config(tmp_path):
    (tmp_path / "empty").mkdir()
    proc = run_cli(["--model", str(tmp_path / "empty")], cwd=tmp_path)
    assert_one_line_error(proc, "has no config.json")


def test_unwritable_output(tmp_path, tiny_model):
    (tmp_path / "afile").write_text("x")
    proc = run_cli(["--model", str(tiny_model), "--tasks", "aime25", "-k", "1", "--limit", "1",
                    "--max-tokens", "8", "--output", str(tmp_path / "afile" / "run")], cwd=tmp_path)
    assert_one_line_error(proc, "cannot write to", "--output")


def test_max_tokens_beyond_the_models_context(tmp_path, tiny_model):
    proc = run_cli(["--model", str(tiny_model), "--tasks", "aime25", "--limit", "1", "-k", "1"], cwd=tmp_path)
    assert_one_line_error(proc, "exceeds the model's context of 4096", "--max-tokens")  # paper preset: 32768


def test_corrupt_samples_line_is_refused_and_kept(tmp_path, tiny_model):
    run = tmp_path / "run"
    run.mkdir()
    text = '{"task": "aime25", "problem_id": "0", "sample_index": 0}\nNOT JSON\n'
    (run / "samples.jsonl").write_text(text)
    proc = run_cli(["--model", str(tiny_model), "--tasks", "aime25", "-k", "1", "--limit", "1",
                    "--max-tokens", "8", "--output", str(run)], cwd=tmp_path)
    assert_one_line_error(proc, "samples.jsonl:2 is corrupt", "--repair")
    assert (run / "samples.jsonl").read_text() == text


def test_malformed_task_data_row(tmp_path, tiny_model):
    tasks = tmp_path / "tasks"
    (tasks / "data").mkdir(parents=True)
    (tasks / "data" / "t.jsonl").write_text('{"id": 1, "problem": "p", "answer": "1"}\n{"id": 2,\n')
    (tasks / "t.yaml").write_text(
        "task: t\ndataset: {path: data/t.jsonl}\nfields: {id: id, problem: problem, answer: answer}\n"
        "prompt: {instruction: x, template: '{problem}'}\n"
    )
    import os

    env_tasks = os.environ.get("RARFT_EVAL_TASKS_DIR")
    os.environ["RARFT_EVAL_TASKS_DIR"] = str(tasks)
    try:
        proc = run_cli(["--model", str(tiny_model), "--tasks", "t", "-k", "1", "--max-tokens", "8"], cwd=tmp_path)
    finally:
        if env_tasks is None:
            os.environ.pop("RARFT_EVAL_TASKS_DIR")
        else:
            os.environ["RARFT_EVAL_TASKS_DIR"] = env_tasks
    assert_one_line_error(proc, "malformed JSON at t.jsonl:2")


def test_leaderboard_without_results(tmp_path):
    proc = run_cli(["leaderboard"], cwd=tmp_path)
    assert proc.returncode == 1 and "no results" in proc.stderr


def test_lm_eval_tasks_prints_the_include_path(tmp_path):
    from rarft_eval.lm_eval_tasks import include_path

    proc = run_cli(["lm-eval-tasks"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(include_path())
    assert any(include_path().glob("rarft_aime25.yaml"))
