"""Task registry: declarative task definitions (YAML under `tasks/`) and their problems.

A task is declared once, in `tasks/<name>.yaml`:

    task: aime25
    include: _default.yaml          # shared prompt, grading and generation defaults
    groups: [paper]
    dataset: {path: data/aime2025/test.jsonl, source: "...", license: "..."}
    fields:  {id: id, problem: problem, answer: answer}
    grading: {answer_type: integer}

`fields` maps the data row onto a problem. A field is either a column name or a mapping
`{field: <column>, extract: last_boxed | first, join: ", ", strip: "$"}`. `item_grading` maps
per-row columns onto `GradeSpec` fields (e.g. OlympiadBench's own tolerance per row).

The same YAML files feed the lm-eval integration, so they hold data, never code.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rarft_eval.errors import RarftError
from rarft_eval.grading.types import GradeSpec

TASKS_DIR_ENV = "RARFT_EVAL_TASKS_DIR"


def default_tasks_dir() -> Path:
    """`tasks/` at the repository root (or `$RARFT_EVAL_TASKS_DIR`)."""
    if os.environ.get(TASKS_DIR_ENV):
        return Path(os.environ[TASKS_DIR_ENV])
    return Path(__file__).resolve().parents[1] / "tasks"


class FieldSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    field: str
    extract: str | None = None  # "last_boxed": the last \boxed{} of the column's text
    join: str | None = None  # join a list column with this separator
    strip: str | None = None  # characters stripped from both ends (e.g. "$")


class DatasetSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str
    source: str = ""
    license: str = ""


class PromptSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    instruction: str
    template: str  # slots: {demonstrations} {problem} {instruction}
    demonstration_template: str = ""  # slots: {problem} {solution}
    system: str | None = None


class GenerationSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    preset: str = "paper"


class RetrievalDefaults(BaseModel):
    """A task's own demonstration corpus and gold relevance labels (paths relative to the tasks dir),
    used when the run names none."""

    model_config = ConfigDict(extra="forbid")
    corpus: str | None = None
    gold: str | None = None


class TaskConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    task: str
    description: str = ""
    groups: list[str] = Field(default_factory=list)
    dataset: DatasetSpec
    fields: dict[str, str | FieldSpec]
    metadata_fields: list[str] = Field(default_factory=list)
    grading: dict[str, Any] = Field(default_factory=dict)
    item_grading: dict[str, str] = Field(default_factory=dict)
    prompt: PromptSpec
    generation: GenerationSpec = Field(default_factory=GenerationSpec)
    retrieval: RetrievalDefaults = Field(default_factory=RetrievalDefaults)
    version: int = 1


@dataclass(frozen=True)
class Problem:
    task: str
    id: str
    problem: str
    answer: str
    grade_spec: GradeSpec
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Task:
    config: TaskConfig
    yaml_path: Path

    @property
    def name(self) -> str:
        return self.config.task

    @property
    def data_path(self) -> Path:
        return (self.yaml_path.parent / self.config.dataset.path).resolve()

    def retrieval_default(self, key: str) -> str | None:
        """The task's own `retrieval.corpus` / `retrieval.gold` as an absolute path, or None."""
        rel = getattr(self.config.retrieval, key)
        return str((self.yaml_path.parent / rel).resolve()) if rel else None

    def data_sha256(self) -> str:
        return hashlib.sha256(self.data_path.read_bytes()).hexdigest()

    def base_grade_spec(self) -> GradeSpec:
        try:
            return GradeSpec(**self.config.grading)
        except TypeError as exc:
            raise RarftError(f"task {self.name}: bad `grading` block in {self.yaml_path.name}: {exc}") from None

    def load_problems(self, limit: int | None = None) -> list[Problem]:
        path = self.data_path
        if not path.exists():
            raise RarftError(f"task {self.name}: data file {path} is missing; reinstall or restore tasks/data/")
        base = self.base_grade_spec()
        problems: list[Problem] = []
        seen: set[str] = set()
        with path.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                where = f"{path.name}:{lineno}"
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise RarftError(f"task {self.name}: malformed JSON at {where} ({exc.msg}); fix or remove that line") from None
                if not isinstance(row, dict):
                    raise RarftError(f"task {self.name}: row at {where} is not a JSON object")
                prob = self._problem_from_row(row, base, where, lineno)
                if prob.id in seen:
                    raise RarftError(f"task {self.name}: duplicate problem id {prob.id!r} at {where}")
                seen.add(prob.id)
                problems.append(prob)
                if limit is not None and len(problems) >= limit:
                    break
        if not problems:
            raise RarftError(f"task {self.name}: {path} holds no problems")
        return problems

    def _problem_from_row(self, row: dict, base: GradeSpec, where: str, lineno: int) -> Problem:
        values: dict[str, str] = {}
        for key in ("problem", "answer"):
            if key not in self.config.fields:
                raise RarftError(f"task {self.name}: `fields` must map `{key}`")
        for key, spec in self.config.fields.items():
            values[key] = _read_field(row, spec, self.name, where, key)
        pid = values.get("id") or str(lineno - 1)
        overrides: dict[str, Any] = {}
        for spec_field, column in self.config.item_grading.items():
            value = row.get(column)
            if value is None:
                continue
            if spec_field in ("numeric_tolerance", "absolute_tolerance"):
                try:
                    value = float(value)
                except (TypeError, ValueError):
                    raise RarftError(f"task {self.name}: {where}: `{column}` = {value!r} is not a number") from None
            overrides[spec_field] = value
        spec = _replace_spec(base, overrides) if overrides else base
        metadata = {c: row[c] for c in self.config.metadata_fields if c in row}
        return Problem(self.name, pid, values["problem"], values["answer"], spec, metadata)


def _replace_spec(base: GradeSpec, overrides: dict[str, Any]) -> GradeSpec:
    from dataclasses import replace

    return replace(base, **overrides)


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} (or \\fbox{...}) in `text`, with nested braces."""
    best = None
    for marker in ("\\boxed", "\\fbox"):
        idx = text.rfind(marker)
        if idx > (best[0] if best else -1):
            best = (idx, marker)
    if best is None:
        return None
    i = best[0] + len(best[1])
    while i < len(text) and text[i] == " ":
        i += 1
    if i >= len(text) or text[i] != "{":
        return None
    depth, start = 0, i + 1
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[start:j]
    return None


def _read_field(row: dict, spec: str | FieldSpec, task: str, where: str, key: str) -> str:
    if isinstance(spec, str):
        spec = FieldSpec(field=spec)
    if spec.field not in row or row[spec.field] is None:
        raise RarftError(f"task {task}: row at {where} has no `{spec.field}` (mapped to `{key}`); fix the row or the task's `fields`")
    value = row[spec.field]
    if isinstance(value, list):
        if spec.join is None:
            raise RarftError(f"task {task}: `{spec.field}` at {where} is a list; give the field a `join` separator")
        value = spec.join.join(str(v) for v in value)
    elif isinstance(value, float) and value.is_integer():
        value = str(int(value))  # AMC stores 27.0 for 27
    else:
        value = str(value)
    if spec.extract == "last_boxed":
        boxed = last_boxed(value)
        if boxed is None:
            raise RarftError(f"task {task}: `{spec.field}` at {where} has no \\boxed{{}} answer to extract")
        value = boxed
    elif spec.extract is not None:
        raise RarftError(f"task {task}: unknown extract rule {spec.extract!r}")
    if spec.strip:
        value = value.strip(spec.strip)
    return value.strip()


def _deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _load_yaml(path: Path, depth: int = 0) -> dict:
    if depth > 5:
        raise RarftError(f"{path}: `include` nests too deep")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise RarftError(f"{path}: invalid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise RarftError(f"{path}: a task file must be a YAML mapping")
    include = data.pop("include", None)
    if include:
        data = _deep_merge(_load_yaml(path.parent / include, depth + 1), data)
    return data


@lru_cache(maxsize=8)
def _registry(tasks_dir: Path) -> dict[str, Task]:
    if not tasks_dir.is_dir():
        raise RarftError(f"tasks directory {tasks_dir} not found; set {TASKS_DIR_ENV} or reinstall")
    tasks: dict[str, Task] = {}
    for path in sorted(tasks_dir.glob("*.yaml")):
        if path.name.startswith("_"):
            continue
        data = _load_yaml(path)
        try:
            config = TaskConfig(**data)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err["loc"])
            raise RarftError(f"{path.name}: `{loc}`: {err['msg']}") from None
        if config.task in tasks:
            raise RarftError(f"task {config.task} is declared twice ({path.name})")
        tasks[config.task] = Task(config, path)
    return tasks


def all_tasks(tasks_dir: Path | None = None) -> dict[str, Task]:
    return _registry((tasks_dir or default_tasks_dir()).resolve())


def groups(tasks_dir: Path | None = None) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for task in all_tasks(tasks_dir).values():
        for g in task.config.groups:
            out.setdefault(g, []).append(task.name)
    return out


def task_retrieval_default(tasks: list["Task"], key: str) -> str | None:
    """The `retrieval.<key>` the tasks declare (corpus or gold); an error when they disagree."""
    found = {t.retrieval_default(key) for t in tasks}
    if len(found) > 1:
        names = ", ".join(t.name for t in tasks)
        flag = "--corpus" if key == "corpus" else "--retrieval-gold"
        raise RarftError(f"the tasks {names} declare different default {key} files; pass {flag}")
    return found.pop() if found else None


def resolve_tasks(spec: str | list[str], tasks_dir: Path | None = None) -> list[Task]:
    """Expand a comma-separated list of task and group names, keeping order, without repeats."""
    names = spec.split(",") if isinstance(spec, str) else list(spec)
    registry = all_tasks(tasks_dir)
    grouped = groups(tasks_dir)
    out: list[Task] = []
    for raw in names:
        name = raw.strip()
        if not name:
            continue
        if name in registry:
            chosen = [name]
        elif name in grouped:
            chosen = grouped[name]
        else:
            known = ", ".join(sorted(registry) + sorted(grouped))
            raise RarftError(f"unknown task or group {name!r}; known: {known} (see `rarft-eval tasks`)")
        for n in chosen:
            if all(t.name != n for t in out):
                out.append(registry[n])
    if not out:
        raise RarftError("no tasks given; pass --tasks NAME[,NAME...] (see `rarft-eval tasks`)")
    return out
