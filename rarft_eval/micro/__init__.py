"""The micro world (docs/micro.md): a procedurally generated task family, its tiny policies and its benefit
retriever, trained from scratch by `rarft-train micro`. The shipped checkpoints in `models/micro/` are the
embedded default model of `rarft-eval`."""

from __future__ import annotations

import os
from pathlib import Path

MODELS_ENV = "RARFT_EVAL_MODELS_DIR"
DEFAULT_MODEL = "default:micro-base"
SHIPPED = ("base", "grpo", "rarft", "retriever")


def models_dir() -> Path:
    """`models/micro/` at the repository root (or `$RARFT_EVAL_MODELS_DIR`)."""
    if os.environ.get(MODELS_ENV):
        return Path(os.environ[MODELS_ENV])
    return Path(__file__).resolve().parents[2] / "models" / "micro"


def shipped(name: str) -> Path:
    """The shipped checkpoint `name` (base, grpo, rarft: policies; retriever: the benefit retriever)."""
    from rarft_eval.errors import RarftError

    path = models_dir() / name
    if not (path / "config.json").is_file() and not (path / "rarft_retriever.json").is_file():
        raise RarftError(f"the shipped micro checkpoint {path} is missing; rebuild it with "
                         f"`rarft-train micro --config training/micro.yaml --install {models_dir()}`")
    return path
