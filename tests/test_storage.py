"""Sample files survive kills and corruption; the leaderboard is rewritten atomically."""

from __future__ import annotations

import json
import multiprocessing as mp

import pytest

from rarft_eval import leaderboard
from rarft_eval.errors import RarftError
from rarft_eval.storage import RunDir


def row(i: int) -> dict:
    return {"task": "t", "problem_id": str(i), "sample_index": 0, "completion": f"c{i}"}


def test_samples_round_trip_in_order(tmp_path):
    run = RunDir(tmp_path)
    with run.open_samples() as w:
        w.write_rows([row(0), row(1)])
        w.write_rows([row(2)])
    assert [r["problem_id"] for r in run.read_samples()] == ["0", "1", "2"]


def test_torn_last_line_from_a_kill_is_set_aside_and_the_rest_kept(tmp_path):
    run = RunDir(tmp_path)
    good = "".join(json.dumps(row(i)) + "\n" for i in range(3))
    run.samples_path.write_text(good + '{"task": "t", "problem_id": "3", "sam')
    rows = run.read_samples()
    assert [r["problem_id"] for r in rows] == ["0", "1", "2"]
    assert run.samples_path.read_text() == good  # the file is whole again
    assert (tmp_path / "samples.partial.jsonl").read_text().startswith('{"task": "t", "problem_id": "3"')


def test_corrupt_middle_line_stops_with_the_fix_and_repair_keeps_every_good_row(tmp_path):
    run = RunDir(tmp_path)
    text = json.dumps(row(0)) + "\nGARBAGE\n" + json.dumps(row(2)) + "\n"
    run.samples_path.write_text(text)
    with pytest.raises(RarftError, match=r"samples.jsonl:2 is corrupt.*--repair"):
        run.read_samples()
    assert run.samples_path.read_text() == text  # nothing touched without --repair
    rows = run.read_samples(repair=True)
    assert [r["problem_id"] for r in rows] == ["0", "2"]
    assert (tmp_path / "samples.corrupt.jsonl").read_text() == "GARBAGE\n"


def lb_row(task: str, value: float, run_id: str, k: int = 4) -> dict:
    base = {c: "x" for c in leaderboard.KEY}
    base.update(task=task, k=k, run_id=run_id, **{"avg@k": value})
    return base


def test_leaderboard_upsert_replaces_same_key_and_keeps_others(tmp_path):
    path = tmp_path / "leaderboard.csv"
    leaderboard.upsert(path, [lb_row("a", 0.1, "r1"), lb_row("b", 0.2, "r1")])
    leaderboard.upsert(path, [lb_row("a", 0.5, "r2")])
    leaderboard.upsert(path, [lb_row("a", 0.7, "r3", k=8)])  # other settings: a new row
    rows = leaderboard.read(path)
    got = sorted((r["task"], r["k"], r["avg@k"], r["run_id"]) for r in rows)
    assert got == [("a", "4", "0.5", "r2"), ("a", "8", "0.7", "r3"), ("b", "4", "0.2", "r1")]


def _hammer(path, worker: int) -> None:
    for i in range(15):
        leaderboard.upsert(path, [lb_row(f"w{worker}-{i}", i / 10, f"r{worker}")])


def test_concurrent_upserts_never_lose_or_corrupt_rows(tmp_path):
    path = tmp_path / "leaderboard.csv"
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_hammer, args=(path, w)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    rows = leaderboard.read(path)
    assert len(rows) == 45
    assert {r["task"] for r in rows} == {f"w{w}-{i}" for w in range(3) for i in range(15)}


def test_foreign_csv_is_refused_not_overwritten(tmp_path):
    path = tmp_path / "leaderboard.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(RarftError, match="not a rarft-eval leaderboard"):
        leaderboard.upsert(path, [lb_row("a", 0.1, "r")])
    assert path.read_text() == "a,b\n1,2\n"
