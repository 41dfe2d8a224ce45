"""Run directories: `config.json`, append-only `samples.jsonl`, `metrics.json`.

Durability rules:
- every sample row is written with one `write` of a whole line and flushed at once, so a
  SIGKILL loses at most the requests still in flight;
- a last line cut short by a kill (no trailing newline) is moved to `samples.partial.jsonl`
  and the rest is kept; a corrupt line anywhere else stops the run with the fix to apply
  (`--repair` moves such lines to `samples.corrupt.jsonl` and resamples them);
- JSON and CSV files that are rewritten (config, metrics, leaderboard) are written to a temp
  file and renamed over the old one, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Iterable

from rarft_eval.errors import RarftError

SAMPLES = "samples.jsonl"
CONFIG = "config.json"
METRICS = "metrics.json"


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def slug(text: str, max_len: int = 60) -> str:
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", text.strip("/")).strip("-")
    return s[-max_len:] if len(s) > max_len else s


class RunDir:
    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def samples_path(self) -> Path:
        return self.path / SAMPLES

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG

    def ensure_writable(self) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            probe = self.path / ".write-test"
            probe.write_text("")
            probe.unlink()
        except OSError as exc:
            raise RarftError(f"cannot write to {self.path} ({exc.strerror}); pass --output DIR somewhere writable") from None

    def read_config(self) -> dict | None:
        if not self.config_path.exists():
            return None
        try:
            return json.loads(self.config_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            raise RarftError(f"{self.config_path} is corrupt; move the run directory aside or pass --new-run") from None

    def read_samples(self, repair: bool = False) -> list[dict]:
        """All complete sample rows; handles a torn last line and (with repair) corrupt lines."""
        path = self.samples_path
        if not path.exists():
            return []
        data = path.read_bytes()
        rows: list[dict] = []
        bad: list[tuple[int, bytes]] = []
        lines = data.split(b"\n")
        torn = lines.pop() if lines else b""  # text after the last newline: empty unless a write was cut
        for lineno, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw)
                if not isinstance(row, dict) or "task" not in row or "sample_index" not in row:
                    raise ValueError("not a sample row")
                rows.append(row)
            except ValueError:
                bad.append((lineno, raw))
        if bad and not repair:
            lineno = bad[0][0]
            raise RarftError(
                f"{path}:{lineno} is corrupt ({len(bad)} bad line(s)); rerun with --repair to move them to "
                f"samples.corrupt.jsonl and resample those problems"
            )
        if torn.strip() or bad:
            if torn.strip():
                with (self.path / "samples.partial.jsonl").open("ab") as fh:
                    fh.write(torn + b"\n")
            if bad:
                with (self.path / "samples.corrupt.jsonl").open("ab") as fh:
                    for _, raw in bad:
                        fh.write(raw + b"\n")
            good = b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in rows)
            atomic_write_bytes(path, good)
        return rows

    def open_samples(self) -> "SampleWriter":
        return SampleWriter(self.samples_path)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class SampleWriter:
    """Appends sample rows; each row is one write of one line, flushed immediately."""

    def __init__(self, path: Path) -> None:
        self.fh = path.open("a", encoding="utf-8")

    def write_rows(self, rows: Iterable[dict]) -> None:
        blob = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        self.fh.write(blob)
        self.fh.flush()

    def close(self) -> None:
        self.fh.close()

    def __enter__(self) -> "SampleWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
