"""Append-only JSONL cache of label computations, keyed by (labeler, query id, demo id, params hash).

Every computed value is appended (and flushed) as soon as it exists, so a killed labeling run
resumes where it stopped: rerunning skips every key already in the file. A torn last line (the
process died mid-write) is dropped, and the file is cut back to the last complete line so the next
append starts on a fresh line; a malformed line anywhere else is an error naming the line.
The demo id "" holds a query's own baseline (e.g. its accuracy without any demonstration).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Iterable

from rarft_eval.errors import RarftError

log = logging.getLogger("rarft_eval.training")

BASELINE = ""  # demo id of a query's no-demonstration baseline


def cache_key(labeler: str, query_id: str, demo_id: str, params_hash: str) -> str:
    return json.dumps([labeler, str(query_id), str(demo_id), params_hash], ensure_ascii=False)


class LabelCache:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.entries: dict[str, dict[str, Any]] = {}
        self.torn_lines = 0
        self.appended = 0
        self._load()

    def _load(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        lines = data.split(b"\n")
        # the last element is b"" when the file ends with a newline, else a partial line
        keep_bytes = len(data)
        parsed: list[dict[str, Any]] = []
        last = max((i for i, raw in enumerate(lines) if raw.strip()), default=-1)
        offset = 0
        for i, raw in enumerate(lines):
            start = offset
            offset += len(raw) + 1
            if not raw.strip():
                continue
            is_last = i == last
            try:
                row = json.loads(raw)
                if not isinstance(row, dict) or "key" not in row:
                    raise ValueError("no key")
            except ValueError:
                if is_last:
                    self.torn_lines = 1
                    keep_bytes = start
                    log.warning("label cache %s: dropping a torn last line (%d bytes)", self.path, len(raw))
                    break
                raise RarftError(
                    f"label cache {self.path}:{i + 1} is corrupt (not a JSON record with a key); delete that line or "
                    f"the file to recompute"
                ) from None
            parsed.append(row)  # a complete last record without its newline is kept; the newline is added below
        if keep_bytes < len(data):
            with self.path.open("r+b") as fh:
                fh.truncate(keep_bytes)
        elif data and not data.endswith(b"\n"):
            with self.path.open("ab") as fh:
                fh.write(b"\n")
        for row in parsed:
            self.entries[row["key"]] = row

    def __contains__(self, key: str) -> bool:
        return key in self.entries

    def get(self, key: str) -> dict[str, Any] | None:
        return self.entries.get(key)

    def __len__(self) -> int:
        return len(self.entries)

    def append(self, rows: Iterable[dict[str, Any]]) -> int:
        rows = list(rows)
        if not rows:
            return 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            for row in rows:
                if "key" not in row:
                    raise ValueError("a cache row needs a key")
                fh.write(json.dumps(row, ensure_ascii=False, sort_keys=True, default=str) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        for row in rows:
            self.entries[row["key"]] = row
        self.appended += len(rows)
        return len(rows)
