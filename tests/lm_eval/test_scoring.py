"""Scoring through lm-eval: all k samples count, and lm-eval's numbers are the native harness's.

The completions are written by hand (a native run's samples.jsonl format) and fed to lm-eval by the
`rarft` model's replay engine, so lm-eval's own request building, repeats, filters, process_results
and aggregation run on samples whose right answers are known.
"""

from __future__ import annotations

import pytest

from rarft_eval.errors import RarftError
from rarft_eval.lm_eval_tasks.model import RarftLM
from rarft_eval.lm_eval_tasks.utils import grade_responses
from rarft_eval.metrics import compute_task_metrics
from rarft_eval.tasks import all_tasks

from .conftest import evaluate, task_manager, write_samples


def row(task, pid, i, completion, finish="stop"):
    return {"task": task, "problem_id": pid, "sample_index": i, "completion": completion, "finish_reason": finish,
            "completion_tokens": len(completion.split())}


def test_avg_at_k_scores_every_sample_not_just_the_first(tasks_k2, tmp_path):
    # AIME 2025 problem 0 has the answer 70: sample 0 is wrong, sample 1 right
    samples = write_samples(tmp_path / "samples.jsonl", [
        row("aime25", "0", 0, "I think it is \\boxed{69}."),
        row("aime25", "0", 1, "So the sum is \\boxed{70}."),
    ])
    res = evaluate(tasks_k2, ["rarft_aime25"], RarftLM(engine="replay", samples=str(samples)), limit=1)
    m = res["results"]["rarft_aime25"]
    assert m["avg@k,all_samples"] == 0.5  # take_first would score 0.0
    assert m["pass@1,all_samples"] == 0.5 and m["pass@2,all_samples"] == 1.0
    assert m["maj@1,all_samples"] == 0.0  # the first sample's answer, 69
    assert m["maj@2,all_samples"] == 0.5  # a 1-1 tie between 69 and 70 earns half
    logged = res["samples"]["rarft_aime25"]
    assert len(logged) == 1
    assert logged[0]["filtered_resps"] == [["I think it is \\boxed{69}.", "So the sum is \\boxed{70}."]]
    assert logged[0]["filter"] == "all_samples"


def test_take_first_filter_is_refused_instead_of_scoring_one_sample(tasks_k2, tmp_path):
    """A YAML that drops the filter_list falls back to lm-eval's take_first: refused, not scored on sample 0."""
    import shutil

    tasks = tmp_path / "tasks"
    shutil.copytree(tasks_k2, tasks)
    (tasks / "rarft_aime25_take_first.yaml").write_text(
        "include: rarft_aime25.yaml\ntask: rarft_aime25_take_first\nfilter_list: null\n")
    samples = write_samples(tmp_path / "samples.jsonl", [
        row("aime25", "0", 0, "\\boxed{69}"), row("aime25", "0", 1, "\\boxed{70}"),
    ])
    task = task_manager(tasks).load(["rarft_aime25_take_first"])["tasks"]["rarft_aime25_take_first"]
    assert [f.name for f in task._filters] == ["none"] and task.config.repeats == 2  # lm-eval's default take_first
    with pytest.raises(RarftError, match="keep all `repeats` samples"):
        evaluate(tasks, ["rarft_aime25_take_first"], RarftLM(engine="replay", samples=str(samples)), limit=1)


# Hand-written samples, k = 4: wrong, right, equivalent forms, a right answer cut at the token limit
# (wrong, as natively), no answer, and majority-vote ties.
CASES = {
    ("aime25", "0"): ["\\boxed{69}", "So the sum is \\boxed{70}.", "The final answer is 70.",
                      ("... hence \\boxed{70}", "length")],
    ("aime25", "1"): ["I cannot finish this.", "\\boxed{588}", "\\boxed{588.0}", "\\boxed{12}"],
    ("aime25", "2"): ["\\boxed{1}", "\\boxed{2}", "\\boxed{2}", "\\boxed{3}"],
    ("brumo25", "1"): ["\\boxed{2^{99}}", "\\boxed{633825300114114700748351602688}", "\\boxed{2^{100}}",
                       "\\boxed{2^{100}}"],
    ("brumo25", "2"): ["$\\frac{1}{9}$ is the answer: \\boxed{1/9}", "\\boxed{0.111}", "\\boxed{\\dfrac19}", "no"],
}
K = 4


def case_rows() -> list[dict]:
    rows = []
    for (task, pid), comps in CASES.items():
        for i, c in enumerate(comps):
            text, finish = c if isinstance(c, tuple) else (c, "stop")
            rows.append(row(task, pid, i, text, finish))
    return rows


def native_metrics(rows: list[dict]) -> tuple[dict, dict]:
    """The native runner's own path: Grader.grade_many -> sample_row -> cluster_answers -> _outcome -> metrics."""
    from rarft_eval.engines.base import Completion
    from rarft_eval.grading import Grader
    from rarft_eval.prompts import RenderedPrompt
    from rarft_eval.runner import _outcome, sample_row

    registry = all_tasks()
    verdicts: dict = {}
    metrics: dict = {}
    with Grader() as grader:
        for task in sorted({t for t, _ in CASES}):
            problems = {p.id: p for p in registry[task].load_problems()}
            per_problem = []
            for (t, pid) in [key for key in CASES if key[0] == task]:
                p = problems[pid]
                mine = [r for r in rows if (r["task"], r["problem_id"]) == (t, pid)]
                mine.sort(key=lambda r: r["sample_index"])
                vs = grader.grade_many([(r["completion"], p.answer, p.grade_spec) for r in mine])
                native_rows = [
                    sample_row(p, RenderedPrompt("", "", []), Completion(r["sample_index"], r["completion"],
                               r["finish_reason"], r["completion_tokens"]), 0, v)
                    for r, v in zip(mine, vs)
                ]
                clusters = grader.cluster_answers([r["extracted"] for r in native_rows], p.grade_spec)
                outcomes = [_outcome(r, c) for r, c in zip(native_rows, clusters)]
                verdicts[(t, pid)] = [o.correct for o in outcomes]
                per_problem.append(outcomes)
            metrics[task] = compute_task_metrics(per_problem, K)
    return verdicts, metrics


def test_lm_eval_and_native_grading_agree_on_verdicts_and_metrics(tasks_k4, tmp_path):
    rows = case_rows()
    samples = write_samples(tmp_path / "samples.jsonl", rows)
    native_verdicts, native = native_metrics(rows)
    # the hand-made cases really exercise the metrics (nothing trivially 0 or 1)
    assert native_verdicts[("aime25", "0")] == [False, True, True, False]  # the truncated \boxed{70} is wrong
    assert native_verdicts[("brumo25", "1")] == [True, True, False, False]
    assert 0 < native["aime25"]["avg@k"] < 1 and 0 < native["brumo25"]["maj@4"] < 1

    # lm-eval's `samples` picks the documents: aime25 problems 0-2, brumo25 problems 1-2 (its first ids)
    res = evaluate(tasks_k4, ["rarft_aime25", "rarft_brumo25"], RarftLM(engine="replay", samples=str(samples)),
                   samples={"rarft_aime25": [0, 1, 2], "rarft_brumo25": [0, 1]})
    by_doc = {(s["doc"]["task"], s["doc"]["id"]): s for t in res["samples"].values() for s in t}
    assert set(by_doc) == set(CASES)

    # per problem: the k responses lm-eval kept and the avg@k its process_results hook logged
    for key, verdicts in native_verdicts.items():
        logged = by_doc[key]
        assert len(logged["filtered_resps"][0]) == K and len(logged["resps"][0]) == K
        assert logged["avg@k"] == sum(verdicts) / K, key

    # per task: every native metric lm-eval reports, through lm-eval's own aggregation
    for task in ("aime25", "brumo25"):
        lm = res["results"][f"rarft_{task}"]
        nat = native[task]
        assert lm["avg@k,all_samples"] == pytest.approx(nat["avg@k"], abs=1e-12)
        assert lm["avg@k_stderr,all_samples"] == pytest.approx(nat["avg@k_se"], abs=1e-12)
        for key in ("pass@1", "pass@2", "pass@4", "maj@1", "maj@2", "maj@4", "extraction_failure_rate"):
            assert lm[f"{key},all_samples"] == pytest.approx(nat[key], abs=1e-12), (task, key)


def test_grade_responses_matches_the_native_verdicts_sample_by_sample():
    rows = case_rows()
    native_verdicts, _ = native_metrics(rows)
    from rarft_eval.lm_eval_tasks.utils import GeneratedText, build_docs

    docs = {(d["task"], d["id"]): d for t in ("aime25", "brumo25") for d in build_docs(t)}
    for key, comps in CASES.items():
        responses = [GeneratedText(*c) if isinstance(c, tuple) else GeneratedText(c, "stop") for c in comps]
        assert [o.correct for o in grade_responses(docs[key], responses)] == native_verdicts[key], key
    # a plain string (lm-eval's own backends) has no finish reason: the cut-off \boxed{70} then counts
    plain = [o.correct for o in grade_responses(docs[("aime25", "0")], ["... hence \\boxed{70}"])]
    assert plain == [True]


def test_replay_refuses_a_sample_drawn_from_another_prompt(tasks_k2, tmp_path):
    samples = write_samples(tmp_path / "samples.jsonl", [
        dict(row("aime25", "0", i, "\\boxed{70}"), prompt_hash="0123456789abcdef") for i in range(2)
    ])
    with pytest.raises(RarftError, match="another prompt"):
        evaluate(tasks_k2, ["rarft_aime25"], RarftLM(engine="replay", samples=str(samples)), limit=1)
    missing = write_samples(tmp_path / "missing.jsonl", [row("aime25", "0", 0, "\\boxed{70}")])
    with pytest.raises(RarftError, match="no sample 1 of aime25/0"):
        evaluate(tasks_k2, ["rarft_aime25"], RarftLM(engine="replay", samples=str(missing)), limit=1)


def test_group_reports_the_unweighted_mean_of_its_tasks(tasks_k4, tmp_path):
    """rarft_aime = aime24 + aime25; the group's avg@k is the mean of the two (native `mean_avg@k`)."""
    rows = [row("aime25", "0", i, c) for i, c in enumerate(["\\boxed{70}"] * 3 + ["\\boxed{1}"])]
    aime24 = all_tasks()["aime24"].load_problems(1)[0]
    rows += [row("aime24", aime24.id, i, f"\\boxed{{{aime24.answer}}}" if i == 0 else "no") for i in range(K)]
    samples = write_samples(tmp_path / "samples.jsonl", rows)
    res = evaluate(tasks_k4, ["rarft_aime"], RarftLM(engine="replay", samples=str(samples)), limit=1)
    assert res["results"]["rarft_aime25"]["avg@k,all_samples"] == 0.75
    assert res["results"]["rarft_aime24"]["avg@k,all_samples"] == 0.25
    assert res["groups"]["rarft_aime"]["avg@k,all_samples"] == pytest.approx(0.5)


def test_stop_sequences_cut_the_response_where_lm_eval_backends_stop(tasks_k2, tmp_path):
    """The engines have no stop strings: `until` is applied to the text, and such a sample ended by a stop."""
    samples = write_samples(tmp_path / "samples.jsonl", [
        row("aime25", "0", 0, "\\boxed{70} DONE and then \\boxed{69}", "length"),
        row("aime25", "0", 1, "\\boxed{69} DONE \\boxed{70}"),
    ])
    res = evaluate(tasks_k2, ["rarft_aime25"], RarftLM(engine="replay", samples=str(samples)), limit=1,
                   gen_kwargs={"until": ["DONE"]})
    logged = res["samples"]["rarft_aime25"][0]
    assert logged["filtered_resps"][0] == ["\\boxed{70} ", "\\boxed{69} "]
    # sample 0 stopped at DONE before the token limit: correct; sample 1 answered 69
    assert res["results"]["rarft_aime25"]["avg@k,all_samples"] == 0.5
    assert res["results"]["rarft_aime25"]["maj@1,all_samples"] == 1.0
