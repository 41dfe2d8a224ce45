"""Typed run configuration: sampling presets and everything a run needs to be reproduced."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from rarft_eval.errors import RarftError


@dataclass(frozen=True)
class SamplingConfig:
    temperature: float
    top_p: float
    max_tokens: int
    top_k: int | None = None  # None: no top-k cut
    min_p: float = 0.0

    def validate(self) -> "SamplingConfig":
        if self.temperature < 0:
            raise RarftError(f"--temperature must be >= 0 (got {self.temperature})")
        if not 0 < self.top_p <= 1:
            raise RarftError(f"--top-p must be in (0, 1] (got {self.top_p})")
        if self.max_tokens < 1:
            raise RarftError(f"--max-tokens must be >= 1 (got {self.max_tokens})")
        if self.top_k is not None and self.top_k < 1:
            raise RarftError(f"--top-k must be >= 1 (got {self.top_k})")
        return self


PRESETS: dict[str, SamplingConfig] = {
    # RA-RFT's evaluation protocol: avg@32 at temperature 1.0 with 32k tokens (top_p not reported; 1.0).
    "paper": SamplingConfig(temperature=1.0, top_p=1.0, max_tokens=32768),
    # Qwen3's recommended thinking-mode sampling.
    "qwen3": SamplingConfig(temperature=0.6, top_p=0.95, top_k=20, max_tokens=32768),
    # The micro world (docs/micro.md): the paper's sampling with a budget that fits its 1k-token policy.
    "micro": SamplingConfig(temperature=1.0, top_p=1.0, max_tokens=256),
}


def preset(name: str, **overrides: Any) -> SamplingConfig:
    if name not in PRESETS:
        raise RarftError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
    clean = {k: v for k, v in overrides.items() if v is not None}
    return replace(PRESETS[name], **clean).validate()


@dataclass
class PromptOptions:
    chat_template: bool = True
    enable_thinking: bool | None = None  # None: leave the model's template default
    system_prompt: str | None = None


@dataclass
class RunConfig:
    """The identity of a run: every field here changes the samples a run draws."""

    model: str
    revision: str | None
    engine: str
    tasks: list[str]
    retriever: str
    n_demonstrations: int
    sampling: SamplingConfig
    prompt: PromptOptions
    seed: int
    grader: str
    engine_args: dict[str, Any] = field(default_factory=dict)
    retrieval_options: dict[str, Any] = field(default_factory=dict)  # corpus, field mapping, leak threshold

    def identity(self) -> dict[str, Any]:
        return asdict(self)

    def identity_hash(self) -> str:
        blob = json.dumps(self.identity(), sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


def config_diff(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Human-readable differences between two nested config dicts."""
    out: list[str] = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        name = f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict):
            out.extend(config_diff(a, b, name + "."))
        elif a != b:
            out.append(f"{name}: {a!r} -> {b!r}")
    return out
