from __future__ import annotations

import json
from pathlib import Path

import pytest

CASES_PATH = Path(__file__).parent / "cases.jsonl"


def load_cases() -> list[dict]:
    return [json.loads(line) for line in CASES_PATH.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="session")
def grader():
    """One worker pool for the whole grading test session (workers start once)."""
    from rarft_eval.grading import Grader

    g = Grader(workers=2)
    yield g
    g.close()
