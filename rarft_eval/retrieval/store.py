"""On-disk index store: `$RARFT_EVAL_CACHE` (or `~/.cache/rarft-eval`) `/indexes/<retriever>-<hash>/`.

Each index folder holds the retriever's files and a `manifest.json`. The folder name hashes what
the index is *for* (retriever, corpus hash, model, parameters); the manifest adds what it was
*made with* (the model's weight hash, library versions). An index is reused only when the whole
manifest identity matches; otherwise it is rebuilt in place. Folders are written atomically:
built in a temporary sibling, then renamed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any, Callable

MANIFEST = "manifest.json"
FORMAT = 1


def cache_root(cache_dir: str | Path | None = None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("RARFT_EVAL_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "rarft-eval"


def stable_hash(obj: Any, n: int = 16) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:n]


def index_dir(name: str, key: dict[str, Any], cache_dir: str | Path | None = None) -> Path:
    return cache_root(cache_dir) / "indexes" / f"{name}-{stable_hash(key)}"


def library_versions(*names: str) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for n in names:
        try:
            out[n] = importlib_metadata.version(n)
        except importlib_metadata.PackageNotFoundError:
            out[n] = None
    return out


_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".onnx", ".h5", ".msgpack")
_WEIGHTS_CACHE: dict[tuple, str] = {}


def weights_sha256(model_dir: Path) -> str:
    """sha256 over the model's weight files (relative name + content), cached by size and mtime."""
    files = sorted(p for p in model_dir.rglob("*") if p.is_file() and p.suffix in _WEIGHT_SUFFIXES
                   and ".cache" not in p.parts)
    key = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    if key in _WEIGHTS_CACHE:
        return _WEIGHTS_CACHE[key]
    h = hashlib.sha256()
    for p in files:
        h.update(str(p.relative_to(model_dir)).encode() + b"\0")
        with p.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 22), b""):
                h.update(chunk)
    digest = h.hexdigest()
    _WEIGHTS_CACHE[key] = digest
    return digest


def file_sha256(p: Path) -> str:
    h = hashlib.sha256()
    with Path(p).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_manifest(path: Path) -> dict[str, Any] | None:
    """The folder's manifest, or None when it is missing or unreadable."""
    try:
        doc = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def write_atomic(target: Path, fill: Callable[[Path], None], manifest: dict[str, Any]) -> None:
    """Build `target` in a temporary sibling with `fill(tmp)`, add the manifest, then rename into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{target.name}-", dir=target.parent))
    try:
        fill(tmp)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n",
                                    encoding="utf-8")
        old = None
        if target.exists():
            old = target.parent / f".old-{target.name}-{os.getpid()}-{time.time_ns()}"
            try:
                os.rename(target, old)
            except OSError:
                old = None
        try:
            os.rename(tmp, target)
        except OSError:
            # another process put a folder there in the meantime: keep theirs
            shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
