"""Fixtures for the lm-evaluation-harness integration tests.

The rarft_* YAMLs are generated into a temporary directory with a small `repeats` (the committed
ones use k = 32); lm-eval's task manager is built on that directory alone (`include_defaults=False`)
for the in-process tests, which skips indexing lm-eval's thousands of bundled tasks (~20 s).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def make_task_dir(root: Path, repeats: int) -> Path:
    from rarft_eval.lm_eval_tasks import write_task_yamls

    out = root / f"lm_eval_tasks_k{repeats}"
    write_task_yamls(out, repeats=repeats, retrievers=[])
    return out


@pytest.fixture(scope="session")
def tasks_k2(tmp_path_factory) -> Path:
    return make_task_dir(tmp_path_factory.mktemp("lmeval"), 2)


@pytest.fixture(scope="session")
def tasks_k4(tmp_path_factory) -> Path:
    return make_task_dir(tmp_path_factory.mktemp("lmeval"), 4)


def task_manager(include_path: Path, **metadata):
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=str(include_path), include_defaults=False, metadata=metadata or None)


def write_samples(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def evaluate(include_path: Path, tasks: list, model, limit: int | None = None, **kwargs) -> dict:
    """lm-eval's own `simple_evaluate` on the rarft_* tasks of `include_path`."""
    import lm_eval

    return lm_eval.simple_evaluate(
        model=model, tasks=tasks, task_manager=task_manager(include_path), limit=limit, log_samples=True, **kwargs
    )
