"""The micro result tables: group accuracy (taught / untaught) and the paired RL table from run directories."""

from __future__ import annotations

import json
from pathlib import Path

from rarft_eval.micro.tables import group_accuracy, table2, table3
from rarft_eval.tasks import all_tasks


def _problems():
    rows = [json.loads(x) for x in all_tasks()["micro"].data_path.read_text().splitlines()]
    taught = [r["id"] for r in rows if int(r["procedure"][1:]) < 16][:2]
    untaught = [r["id"] for r in rows if int(r["procedure"][1:]) >= 16][:2]
    return taught, untaught


def _run(path: Path, model: str, retriever: str, correct: dict[str, list[bool]]) -> Path:
    path.mkdir(parents=True)
    k = len(next(iter(correct.values())))
    (path / "config.json").write_text(json.dumps({"k": k, "identity": {"model": model, "retriever": retriever}}))
    with (path / "samples.jsonl").open("w") as f:
        for pid, verdicts in correct.items():
            for i, c in enumerate(verdicts):
                f.write(json.dumps({"task": "micro", "problem_id": pid, "sample_index": i, "correct": c}) + "\n")
    n = sum(len(v) for v in correct.values())
    acc = sum(sum(v) for v in correct.values()) / n
    (path / "metrics.json").write_text(json.dumps({"tasks": {"micro": {"avg@k": acc, "avg@k_se": 0.0, "k": k}}}))
    return path


def test_groups_and_paired_table(tmp_path):
    (t1, t2), (u1, u2) = _problems()
    grpo = _run(tmp_path / "g", "/m/grpo", "none", {t1: [True, True], t2: [True, False], u1: [False, False],
                                                    u2: [False, False]})
    rarft = _run(tmp_path / "r", "/m/rarft", "benefit:/m/retriever", {t1: [True, True], t2: [True, True],
                                                                      u1: [True, False], u2: [True, True]})
    assert group_accuracy(grpo)["micro"] == {"taught": 0.75, "untaught": 0.0}
    assert group_accuracy(rarft)["micro"] == {"taught": 1.0, "untaught": 0.75}
    lines = table2(grpo, rarft)
    row = next(line for line in lines if line.startswith("| micro |"))
    # per-problem accuracies 1, .5, 0, 0 vs 1, 1, .5, 1: means .375 and .875, 3 wins, 0 losses
    assert "| 0.375 | 0.875 | +0.500" in row and "| 3 / 0 |" in row and "0.750 / 0.000 | 1.000 / 0.750 |" in row
    rows3 = table3([grpo, rarft])
    assert any("| grpo | none | 0.375" in r for r in rows3)
    assert any("| rarft | benefit (retriever) | 0.875" in r for r in rows3)
