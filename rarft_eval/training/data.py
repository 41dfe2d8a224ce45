"""Training queries, the demonstration corpus, the prompt spec and coarse subjects.

Training queries are `Problem`s (task `train`, or the task they come from), so retrieval, prompts
and grading treat them exactly like evaluation problems: `Query.of(problem)` keys a query as
`task/id`, labels files use the bare id (`labels_for` finds either).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any, Sequence

from rarft_eval.errors import RarftError
from rarft_eval.grading.types import GradeSpec
from rarft_eval.tasks import Problem, PromptSpec, _load_yaml, default_tasks_dir, resolve_tasks
from rarft_eval.training.recipes import CorpusSpec, PromptConfig, QueriesSpec

QUERY_TASK = "train"  # task name of file-based training queries

# Raw subject labels -> the coarse problem types the paper prunes judge calls with
# (OpenR1-Math-220K `problem_type`, MATH `type`). Unknown labels are used as they are (lowercased).
DEFAULT_SUBJECTS: dict[str, str] = {
    "algebra": "algebra",
    "intermediate algebra": "algebra",
    "prealgebra": "algebra",
    "inequalities": "algebra",
    "precalculus": "precalculus",
    "calculus": "calculus",
    "counting & probability": "combinatorics",
    "counting and probability": "combinatorics",
    "combinatorics": "combinatorics",
    "number theory": "number_theory",
    "geometry": "geometry",
    "logic and puzzles": "logic",
}
SUBJECT_FIELDS = ("problem_type", "type", "subject")


def load_corpus(spec: CorpusSpec):
    from rarft_eval.retrieval import Corpus

    return Corpus.load(spec.path, spec.fields)


def load_queries(spec: QueriesSpec) -> list[Problem]:
    """The training queries of a recipe, in file order, cut by offset/limit, then sampled."""
    if spec.task:
        task = resolve_tasks(spec.task)
        if len(task) != 1:
            raise RarftError(f"queries.task {spec.task!r} names a group; name one task")
        problems = task[0].load_problems()
    else:
        problems = _file_queries(spec)
    problems = problems[spec.offset:]
    if spec.limit is not None:
        problems = problems[: spec.limit]
    if spec.sample is not None and spec.sample < len(problems):
        rng = random.Random(spec.seed)
        keep = sorted(rng.sample(range(len(problems)), spec.sample))
        problems = [problems[i] for i in keep]
    if not problems:
        raise RarftError("the training-query selection is empty; check queries.offset/limit")
    return problems


def _file_queries(spec: QueriesSpec) -> list[Problem]:
    """Queries from a JSONL/Parquet file: id, problem, answer (a column, else the last \\boxed{} of a solution
    column), metadata (subject, level, ...). The mapping syntax is the corpus's (`FieldMap`)."""
    from rarft_eval.retrieval.corpus import (
        _GUESSES,
        _METADATA_GUESSES,
        FieldMap,
        _as_text,
        _jsonl_rows,
        _parquet_rows,
        answer_from_solution,
        default_corpus_path,
    )

    path = Path(spec.path) if spec.path else default_corpus_path()
    fmap = FieldMap.parse(spec.fields)
    if spec.path is None and spec.fields is None:
        fmap = FieldMap("unique_id", "problem", "solution", None, ("type", "level"))
    if not path.is_file():
        raise RarftError(f"training queries file {path} not found")
    rows = _parquet_rows(path) if path.suffix.lower() == ".parquet" else _jsonl_rows(path)

    def pick(row: dict, col: str | None, key: str) -> str | None:
        if col is not None:
            return col
        return next((g for g in _GUESSES[key] if row.get(g) not in (None, "")), None)

    base = GradeSpec(answer_type=spec.answer_type)
    out: list[Problem] = []
    seen: set[str] = set()
    for lineno, row in rows:
        where = f"training queries {path.name}:{lineno}"
        pcol = pick(row, fmap.problem, "problem")
        if pcol is None or row.get(pcol) in (None, ""):
            raise RarftError(f"{where}: no problem text; map it with queries.fields problem=COLUMN")
        icol = pick(row, fmap.id, "id")
        qid = _as_text(row[icol]) if icol and row.get(icol) is not None else str(lineno - 1)
        if qid in seen:
            raise RarftError(f"{where}: duplicate id {qid!r}; map `id` to a unique column")
        seen.add(qid)
        acol = pick(row, fmap.answer, "answer")
        if acol is not None and row.get(acol) not in (None, ""):
            answer = _as_text(row[acol]).strip()
        else:
            scol = pick(row, fmap.solution, "solution")
            answer = answer_from_solution(_as_text(row[scol])) if scol and row.get(scol) else ""
        if not answer:
            continue  # no gold answer: not a training query
        meta_cols = fmap.metadata if fmap.metadata is not None else tuple(c for c in _METADATA_GUESSES if c in row)
        meta = {c: row[c] for c in meta_cols if c in row}
        for c in ("problem_type",):
            if c in row and c not in meta:
                meta[c] = row[c]
        out.append(Problem(QUERY_TASK, qid, _as_text(row[pcol]), answer, base, meta))
    if not out:
        raise RarftError(f"training queries {path}: no row has a gold answer (map answer=COLUMN in queries.fields)")
    return out


def problem_to_row(p: Problem) -> dict[str, Any]:
    return {"task": p.task, "id": p.id, "problem": p.problem, "answer": p.answer,
            "grade_spec": p.grade_spec.to_dict(), "metadata": p.metadata}


def problem_from_row(row: dict[str, Any]) -> Problem:
    spec = row.get("grade_spec") or {}
    known = set(GradeSpec.__dataclass_fields__)
    return Problem(row.get("task", QUERY_TASK), str(row["id"]), row["problem"], str(row["answer"]),
                   GradeSpec(**{k: v for k, v in spec.items() if k in known}), row.get("metadata") or {})


def write_queries(path: str | Path, problems: Sequence[Problem]) -> None:
    from rarft_eval.training.common import write_jsonl

    write_jsonl(path, (problem_to_row(p) for p in problems))


def read_queries(path: str | Path) -> list[Problem]:
    from rarft_eval.training.common import read_jsonl

    p = Path(path)
    if not p.is_file():
        raise RarftError(f"queries file {p} not found")
    return [problem_from_row(r) for r in read_jsonl(p)]


def prompt_spec(cfg: PromptConfig) -> PromptSpec:
    """The task's prompt spec, or the shared default of tasks/_default.yaml."""
    if cfg.task:
        tasks = resolve_tasks(cfg.task)
        if len(tasks) != 1:
            raise RarftError(f"prompt.task {cfg.task!r} names a group; name one task")
        return tasks[0].config.prompt
    data = _load_yaml(default_tasks_dir() / "_default.yaml")
    return PromptSpec(**data["prompt"])


def prompt_options(cfg: PromptConfig):
    from rarft_eval.config import PromptOptions

    return PromptOptions(cfg.chat_template, cfg.enable_thinking, cfg.system_prompt)


TINY_ALIASES = ("default:tiny-qwen3", "tiny")


def resolve_policy(model: str) -> str:
    """A policy reference as loadable: `default:tiny-qwen3` is the project's own tiny test model (built on first
    use, nothing downloaded); anything else is a local directory or hub id, passed through."""
    if model.strip() in TINY_ALIASES:
        from rarft_eval.testing.tiny_model import ensure_tiny_model

        return str(ensure_tiny_model())
    return model


def load_tokenizer(model: str, revision: str | None = None, *, need_chat_template: bool = True):
    """The policy's tokenizer, refused (one line) when the chat template the prompts need is missing."""
    from transformers import AutoTokenizer

    model = resolve_policy(model)
    local = Path(model).expanduser()
    if (model.startswith((".", "/", "~")) or model.count("/") > 1) and not local.exists():
        raise RarftError(f"policy {model} does not exist; point it at a Hugging Face model directory or a hub id")
    try:
        tok = AutoTokenizer.from_pretrained(model, revision=revision)
    except Exception as exc:  # noqa: BLE001 - transformers raises many types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RarftError(f"cannot load the tokenizer of {model!r} ({first}); check policy.model") from None
    if need_chat_template and not getattr(tok, "chat_template", None):
        raise RarftError(
            f"the tokenizer of {model} has no chat template, and the evaluation prompts use one; give the policy a "
            f"chat template (tokenizer_config.json / chat_template.jinja) or set prompt.chat_template: false in "
            f"training and --no-chat-template in evaluation"
        )
    return tok


def coarse_subject(metadata: dict[str, Any], field: str | None, extra: dict[str, str]) -> str | None:
    fields = (field,) if field else SUBJECT_FIELDS
    for f in fields:
        value = metadata.get(f)
        if value not in (None, ""):
            raw = str(value).strip()
            mapping = {**DEFAULT_SUBJECTS, **{k.lower(): v for k, v in extra.items()}}
            return mapping.get(raw.lower(), raw.lower())
    return None


def dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str)
