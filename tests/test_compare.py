"""`rarft-eval compare` on run directories with known verdicts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rarft_eval.compare import comparison_table, load_run_scores
from rarft_eval.errors import RarftError

from .conftest import assert_one_line_error, run_cli


def make_run(path: Path, verdicts: dict[str, list[int]], k: int, retriever: str) -> Path:
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"k": k, "identity": {"model": "m", "retriever": retriever}}))
    rows = [
        {"task": "aime25", "problem_id": pid, "sample_index": i, "correct": bool(c)}
        for pid, cs in verdicts.items() for i, c in enumerate(cs)
    ]
    (path / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# per-problem accuracies: A = [0, .5, .75, 1, .25], B = [.5, .75, .5, 1, .75] (see test_stats.py)
A = {"p1": [0, 0, 0, 0], "p2": [1, 1, 0, 0], "p3": [1, 1, 1, 0], "p4": [1, 1, 1, 1], "p5": [1, 0, 0, 0]}
B = {"p1": [1, 1, 0, 0], "p2": [1, 1, 1, 0], "p3": [1, 1, 0, 0], "p4": [1, 1, 1, 1], "p5": [1, 1, 1, 0]}


def test_compare_pairs_problems_and_reports_the_paired_statistics(tmp_path):
    a = make_run(tmp_path / "a", A, 4, "none")
    b = make_run(tmp_path / "b", {**B, "extra": [1, 1, 1, 1]}, 4, "bm25")  # unshared problem: ignored
    rows = comparison_table([load_run_scores(a), load_run_scores(b)])
    overall = next(r for r in rows if r["task"] == "all")
    assert overall["n_problems"] == 5
    assert overall["diff"] == pytest.approx(0.2)
    assert (overall["wins"], overall["losses"], overall["ties"]) == (3, 1, 1)
    assert overall["sign_p"] == pytest.approx(10 / 16)
    assert overall["permutation_p"] == pytest.approx(6 / 16)


def test_compare_uses_only_the_runs_first_k_samples(tmp_path):
    a = make_run(tmp_path / "a", {"p": [1, 0, 0, 0]}, 2, "none")  # k=2: accuracy 0.5, not 0.25
    assert load_run_scores(a).accuracy[("aime25", "p")] == 0.5


def test_compare_cli_writes_json_and_refuses_disjoint_runs(tmp_path):
    a = make_run(tmp_path / "a", A, 4, "none")
    b = make_run(tmp_path / "b", B, 4, "bm25")
    proc = run_cli(["compare", str(a), str(b), "--labels", "none,bm25", "--json", "cmp.json"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads((tmp_path / "cmp.json").read_text())
    assert {r["task"] for r in rows} == {"aime25", "all"} and rows[0]["run"] == "bm25"
    assert "+20.0" in proc.stdout
    c = make_run(tmp_path / "c", {"q": [1, 1, 1, 1]}, 4, "x")
    proc = run_cli(["compare", str(a), str(c)], cwd=tmp_path)
    assert_one_line_error(proc, "share no finished problem")


def test_not_a_run_directory(tmp_path):
    with pytest.raises(RarftError, match="not a run directory"):
        load_run_scores(tmp_path)
