"""The task registry and the bundled data."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from rarft_eval.errors import RarftError
from rarft_eval.tasks import all_tasks, last_boxed, resolve_tasks

REPO = Path(__file__).resolve().parents[1]

EXPECTED_COUNTS = {
    "aime24": 30, "aime25": 30, "hmmt_feb25": 30, "brumo25": 30,
    "math500": 500, "amc23": 40, "minerva": 272, "olympiadbench": 675,
}


def test_every_registered_task_loads_with_its_expected_size():
    tasks = all_tasks()
    assert set(EXPECTED_COUNTS) <= set(tasks)
    for name, count in EXPECTED_COUNTS.items():
        problems = tasks[name].load_problems()
        assert len(problems) == count, name
        assert all(p.problem.strip() and p.answer.strip() for p in problems), name
        assert len({p.id for p in problems}) == count, f"{name}: ids must be unique"


def test_paper_group_is_the_papers_four_benchmarks():
    assert sorted(t.name for t in resolve_tasks("paper")) == ["aime24", "aime25", "brumo25", "hmmt_feb25"]
    # groups and names mix, without repeats
    assert [t.name for t in resolve_tasks("aime25,paper")][:1] == ["aime25"]
    assert len(resolve_tasks("aime25,paper")) == 4


def test_unknown_task_names_the_known_ones():
    with pytest.raises(RarftError, match="unknown task or group 'aime26'.*aime25"):
        resolve_tasks("aime26")


def test_bundled_files_match_the_provenance_sha256():
    """Copied data must stay byte-identical to what PROVENANCE.md records."""
    prov = (REPO / "tasks" / "data" / "PROVENANCE.md").read_text()
    for task in all_tasks().values():
        rel = task.config.dataset.path.removeprefix("data/")
        m = re.search(r"`" + re.escape(rel) + r"`[^|]*\|\s*\d+\s*\|\s*`([0-9a-f]{64})`", prov)
        assert m, f"{rel} is not listed in PROVENANCE.md"
        assert hashlib.sha256(task.data_path.read_bytes()).hexdigest() == m.group(1), rel


def test_aime24_keeps_zero_padded_gold_and_amc_floats_become_integers():
    aime24 = {p.id: p for p in all_tasks()["aime24"].load_problems()}
    assert aime24["60"].answer == "204"
    assert any(p.answer.startswith("0") for p in aime24.values())  # e.g. "025": graded as integers
    amc = all_tasks()["amc23"].load_problems()
    assert amc[0].answer == "27"  # stored as 27.0


def test_minerva_gold_is_the_last_boxed_answer_of_the_solution():
    minerva = all_tasks()["minerva"].load_problems()
    assert minerva[0].answer == "1.6"
    assert minerva[0].grade_spec.numeric_tolerance == pytest.approx(0.01)


def test_olympiadbench_keeps_multi_answer_items_and_per_row_grading():
    probs = all_tasks()["olympiadbench"].load_problems()
    multi = [p for p in probs if p.grade_spec.multiple_answers]
    assert len(multi) == 94  # none dropped
    assert all("," in p.answer for p in multi if p.id != "x")
    tol = [p for p in probs if p.grade_spec.absolute_tolerance is not None]
    assert [(p.id, p.grade_spec.absolute_tolerance) for p in tol] == [("2592", 0.1)]
    assert sum(p.grade_spec.unit is not None for p in probs) == 8


def test_last_boxed_handles_nested_braces_and_fbox():
    assert last_boxed(r"a \boxed{1} then \boxed{\frac{1}{2}}") == r"\frac{1}{2}"
    assert last_boxed(r"\fbox{7}") == "7"
    assert last_boxed("no box") is None
    assert last_boxed(r"\boxed{unclosed") is None


def _task_dir(tmp_path: Path, row_lines: list[str], fields: str = "{id: id, problem: problem, answer: answer}") -> Path:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "t.jsonl").write_text("\n".join(row_lines) + "\n")
    (tmp_path / "t.yaml").write_text(
        "task: t\ndataset: {path: data/t.jsonl}\n"
        f"fields: {fields}\n"
        "prompt: {instruction: x, template: '{problem}'}\n"
    )
    return tmp_path


def test_malformed_data_row_is_a_clear_error_naming_the_line(tmp_path):
    d = _task_dir(tmp_path, ['{"id": 1, "problem": "p", "answer": "1"}', '{"id": 2, "problem": "q", '])
    with pytest.raises(RarftError, match=r"malformed JSON at t.jsonl:2"):
        all_tasks(d)["t"].load_problems()


def test_row_missing_a_mapped_field_is_a_clear_error(tmp_path):
    d = _task_dir(tmp_path, ['{"id": 1, "problem": "p"}'])
    with pytest.raises(RarftError, match=r"t.jsonl:1 has no `answer`"):
        all_tasks(d)["t"].load_problems()


def test_task_yaml_with_unknown_key_is_refused(tmp_path):
    d = _task_dir(tmp_path, ['{"id": 1, "problem": "p", "answer": "1"}'])
    (d / "t.yaml").write_text((d / "t.yaml").read_text() + "bogus: 1\n")
    with pytest.raises(RarftError, match="bogus"):
        all_tasks(d)


def test_limit_takes_the_first_n_problems():
    probs = all_tasks()["math500"].load_problems(limit=3)
    first = [json.loads(l)["unique_id"] for l in (REPO / "tasks/data/math500/test.jsonl").read_text().splitlines()[:3]]
    assert [p.id for p in probs] == first
