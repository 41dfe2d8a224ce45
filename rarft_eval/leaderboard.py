"""`results/leaderboard.csv`: one row per (model, task, retriever, settings), rewritten atomically."""

from __future__ import annotations

import csv
import fcntl
import io
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from rarft_eval.errors import RarftError
from rarft_eval.storage import atomic_write_text

KEY = [
    "model", "revision", "task", "retriever", "grader", "engine", "temperature", "top_p", "top_k",
    "max_tokens", "k", "chat_template", "enable_thinking",
]
COLUMNS = KEY + [
    "n_problems", "avg@k", "avg@k_se", "avg@k_std_runs", "avg@k_ci95_lo", "avg@k_ci95_hi",
    "avg@k_math_verify", "pass@k", "maj@k", "truncation_rate", "extraction_failure_rate",
    "completion_tokens_mean", "date", "run_id",
]


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(path.suffix + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def read(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames is None:
                return []
            missing = [c for c in KEY if c not in reader.fieldnames]
            if missing:
                raise RarftError(f"{path} is not a rarft-eval leaderboard (missing columns {missing}); move it aside")
            return list(reader)
    except csv.Error as exc:
        raise RarftError(f"{path} is corrupt ({exc}); move it aside, it is rebuilt by the next run") from None


def upsert(path: Path, rows: list[dict]) -> None:
    """Add rows, replacing any row with the same key; never leaves a half-written file."""
    with _locked(path):
        existing = read(path)
        new_keys = {tuple(str(r.get(c, "")) for c in KEY) for r in rows}
        kept = [r for r in existing if tuple(str(r.get(c, "")) for c in KEY) not in new_keys]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for r in kept + rows:
            writer.writerow({c: format_cell(r.get(c)) for c in COLUMNS})
        atomic_write_text(path, buf.getvalue())


def format_cell(value: object) -> str:
    """A CSV cell: empty for None, 6 significant digits for floats."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
