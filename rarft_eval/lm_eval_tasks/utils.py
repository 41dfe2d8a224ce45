"""The hooks the rarft_* lm-eval task YAMLs call: data and prompts, the identity filter, grading and metrics.

* `load_dataset` (the YAMLs' `custom_dataset`): lm-eval calls it with the task YAML's `metadata`
  merged with the run's `--metadata` and `--model_args`. It loads the problems of `rarft_task` from
  rarft-eval's registry, retrieves demonstrations with `rarft_retriever` and renders each problem's
  user message with the same `render_user_message` as the native harness. Retrieval happens here,
  over the whole test set at once, and not through lm-eval's few-shot sampler: that sampler only
  sees the query doc when the few-shot split is the test split, and prepends whole Q/A turns.
* `keep_all_samples` (the `custom` filter of `filter_list`): keeps all `repeats` samples.
* `process_results`: grades the k samples with the native `Grader` (worker pool, hard timeouts),
  clusters their answers for maj@k and returns the per-problem avg@k, unbiased pass@k and maj@k;
  lm-eval's `mean` aggregation over problems then gives the native task metrics.

Recognised metadata keys (set in the YAML, or for a whole run with `--metadata KEY=VALUE`):
`rarft_task`, `rarft_retriever` (a retriever spec, e.g. `bm25` or `semantic:MODEL`; default none),
`rarft_demonstrations` (demonstrations per prompt; default 1, as the paper), `rarft_grader`
(`rarft` or `math-verify`).
"""

from __future__ import annotations

import atexit
import json
import threading
from typing import Any, Sequence

from rarft_eval.errors import RarftError
from rarft_eval.grading.types import GradeSpec
from rarft_eval.lm_eval_tasks import FILTER_NAME
from rarft_eval.metrics import SampleOutcome, maj_at_k, pass_at_k, pass_at_k_powers

_lock = threading.Lock()
_grader = None
_retrievers: dict[tuple[str, str | None], Any] = {}


class GeneratedText(str):
    """A completion that remembers why it ended (the `rarft` lm-eval model returns these).

    lm-eval passes responses through as opaque objects, so `process_results` can see the finish
    reason and, as the native harness does, count a sample cut at the token limit as wrong. Plain
    strings (from lm-eval's own backends) carry no finish reason and are graded as they are.
    """

    finish_reason: str | None
    completion_tokens: int

    def __new__(cls, text: str, finish_reason: str | None = None, completion_tokens: int = 0) -> "GeneratedText":
        obj = super().__new__(cls, text)
        obj.finish_reason = finish_reason
        obj.completion_tokens = int(completion_tokens or 0)
        return obj

    def __reduce__(self):  # pickles (lm-eval's sqlite cache) keep the finish reason
        return (GeneratedText, (str(self), self.finish_reason, self.completion_tokens))


# ------------------------------------------------------------------ data


def _retriever(spec: str, corpus: str | None = None):
    """One retriever per (spec, corpus); corpus None is the bundled MATH train set."""
    from rarft_eval.retrieval import make_retriever

    with _lock:
        if (spec, corpus) not in _retrievers:
            _retrievers[(spec, corpus)] = make_retriever(spec, corpus) if spec != "none" else make_retriever(spec)
        return _retrievers[(spec, corpus)]


def build_docs(
    task_name: str,
    retriever: str = "none",
    demonstrations: int = 1,
    grader: str | None = None,
) -> list[dict[str, Any]]:
    """One lm-eval doc per problem of `task_name`: its fields, grading spec and rendered user message."""
    from dataclasses import replace

    from rarft_eval.prompts import render_user_message
    from rarft_eval.tasks import all_tasks

    registry = all_tasks()
    if task_name not in registry:
        raise RarftError(f"rarft_task {task_name!r} is not a rarft-eval task; known: {', '.join(sorted(registry))}")
    if grader not in (None, "rarft", "math-verify"):
        raise RarftError(f"rarft_grader must be rarft or math-verify (got {grader!r})")
    demonstrations = int(demonstrations)
    if demonstrations < 0:
        raise RarftError(f"rarft_demonstrations must be >= 0 (got {demonstrations})")
    task = registry[task_name]
    problems = task.load_problems()
    n_demos = demonstrations if retriever != "none" else 0
    demos = _retriever(retriever, task.retrieval_default("corpus")).retrieve(problems, n_demos)  # the task's corpus
    spec_prompt = task.config.prompt
    docs = []
    for problem, retrieved in zip(problems, demos):
        spec = problem.grade_spec
        if grader is not None and grader != spec.grader:
            spec = replace(spec, grader=grader)
        docs.append({
            "task": task.name,
            "id": problem.id,
            "problem": problem.problem,
            "answer": problem.answer,
            "prompt": render_user_message(problem, spec_prompt, retrieved),
            "system": spec_prompt.system or "",
            "grade_spec": json.dumps(spec.to_dict(), sort_keys=True),
            "retriever": retriever,
            "retrieved": json.dumps([{"id": d.id, "score": d.score} for d in retrieved]),
            "metadata": json.dumps(problem.metadata, sort_keys=True, default=str),
        })
    return docs


def load_dataset(
    rarft_task: str | None = None,
    rarft_retriever: str = "none",
    rarft_demonstrations: int = 1,
    rarft_grader: str | None = None,
    **_other_metadata: Any,
):
    """The YAMLs' `custom_dataset`: {"test": Dataset} of `build_docs(...)`."""
    import datasets

    if not rarft_task:
        raise RarftError(
            "the task YAML's metadata has no `rarft_task`; regenerate the YAMLs: "
            "python -m rarft_eval.lm_eval_tasks generate"
        )
    docs = build_docs(str(rarft_task), str(rarft_retriever or "none"), rarft_demonstrations, rarft_grader)
    return {"test": datasets.Dataset.from_list(docs)}


# ------------------------------------------------------------------ filter


def keep_all_samples(resps: Sequence[list], docs: Sequence[dict]) -> list[list]:
    """Identity filter: every instance keeps all of its `repeats` responses."""
    return [list(r) for r in resps]


# ------------------------------------------------------------------ grading and metrics


def get_grader():
    """The process-wide grading pool (started on first use, closed at exit)."""
    global _grader
    with _lock:
        if _grader is None:
            from rarft_eval.grading import Grader

            _grader = Grader()
            atexit.register(_grader.close)
        return _grader


def grade_responses(doc: dict, responses: Sequence[str]) -> list[SampleOutcome]:
    """The native harness's sample outcomes for one problem's responses.

    As in the native runner: a response cut at the token limit (finish reason `length`, known only for
    `GeneratedText`) is wrong and casts no majority vote; answers are clustered by equivalence.
    """
    spec = GradeSpec(**json.loads(doc["grade_spec"]))
    gold = doc["answer"]
    grader = get_grader()
    verdicts = grader.grade_many([(str(r), gold, spec) for r in responses])
    clusters = grader.cluster_answers([v.extracted for v in verdicts], spec)
    outcomes = []
    for resp, verdict, cluster in zip(responses, verdicts, clusters):
        finish = getattr(resp, "finish_reason", None)
        truncated = finish == "length"
        mv = verdict.math_verify_correct
        outcomes.append(SampleOutcome(
            correct=bool(verdict.correct) and not truncated,
            cluster=None if truncated else cluster,
            extracted=verdict.extracted,
            finish_reason=finish,
            completion_tokens=int(getattr(resp, "completion_tokens", 0) or 0),
            math_verify_correct=None if mv is None else (bool(mv) and not truncated),
        ))
    return outcomes


def problem_metrics(outcomes: Sequence[SampleOutcome]) -> dict[str, float]:
    """avg@k, pass@1,2,4..k (unbiased) and maj@1,2,4..k of one problem's k samples."""
    k = len(outcomes)
    if k == 0:
        raise RarftError("a problem has no samples to score")
    c = sum(s.correct for s in outcomes)
    out: dict[str, float] = {"avg@k": c / k}
    for kk in pass_at_k_powers(k):
        out[f"pass@{kk}"] = pass_at_k(k, c, kk)
    for kk in pass_at_k_powers(k):
        out[f"maj@{kk}"] = maj_at_k(list(outcomes), kk)
    out["extraction_failure_rate"] = sum(s.extracted is None for s in outcomes) / k
    return out


def process_results(doc: dict, results: list) -> dict[str, float]:
    """The YAMLs' `process_results`: `results` is [the filtered responses of the problem's one instance]."""
    if len(results) != 1:
        raise RarftError(f"expected one request per problem, got {len(results)}")
    responses = results[0]
    if isinstance(responses, str):
        raise RarftError(
            "process_results got a single response: the task's filter_list must keep all `repeats` samples "
            f"(the `{FILTER_NAME}` filter of the generated YAMLs); lm-eval's default take_first scores only the first"
        )
    return problem_metrics(grade_responses(doc, list(responses)))

