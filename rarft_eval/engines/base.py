"""The engine interface: prompts in, completions out, as they finish.

Seeds: sample i of a problem is drawn with seed `base + i`, where `base` derives from the run
seed, the task and the problem id. vLLM fans a request with `n=k, seed=s` out into k child
requests seeded s, s+1, ..., s+k-1 (vllm/v1/engine/parallel_sampling.py), so a contiguous
block of missing samples [a, b) is one request with `n=b-a, seed=base+a`, and a resumed run
draws exactly the samples an uninterrupted one would.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

from rarft_eval.config import SamplingConfig


def derive_seed(run_seed: int, task: str, problem_id: str) -> int:
    """A 31-bit base seed for one problem; sample i uses base + i."""
    digest = hashlib.sha256(f"{run_seed}\x1f{task}\x1f{problem_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x3FFFFFFF  # leaves room for + sample index


@dataclass
class GenerationRequest:
    key: tuple[str, str]  # (task, problem id)
    prompt: str
    first_index: int  # the block's first sample index
    n: int  # number of samples in the block
    base_seed: int
    k_total: int = 0  # samples per problem in the run (engines that draw all k at once need it)

    @property
    def seed(self) -> int:
        return self.base_seed + self.first_index

    @property
    def sample_indices(self) -> range:
        return range(self.first_index, self.first_index + self.n)


@dataclass
class Completion:
    sample_index: int
    text: str
    finish_reason: str | None  # "stop" | "length" | ...
    completion_tokens: int
    prompt_tokens: int | None = None


def contiguous_blocks(indices: Sequence[int]) -> list[tuple[int, int]]:
    """[0,1,2,5,6] -> [(0, 3), (5, 2)] as (first index, count)."""
    blocks: list[tuple[int, int]] = []
    for i in sorted(indices):
        if blocks and blocks[-1][0] + blocks[-1][1] == i:
            blocks[-1] = (blocks[-1][0], blocks[-1][1] + 1)
        else:
            blocks.append((i, 1))
    return blocks


class Engine(ABC):
    name: str = "engine"

    @abstractmethod
    def generate(
        self, requests: Sequence[GenerationRequest], sampling: SamplingConfig
    ) -> Iterator[tuple[GenerationRequest, list[Completion]]]:
        """Yield each request with its completions as soon as all of its samples finish."""

    @abstractmethod
    def info(self) -> dict[str, Any]:
        """Engine name, library versions and settings, for config.json."""

    def max_context(self) -> int | None:
        """The engine's context length in tokens, if known."""
        return None

    def close(self) -> None:
        pass

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def package_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


ENGINES = ("vllm", "hf", "openai")


def make_engine(name: str, model: str, **kwargs: Any) -> Engine:
    """Lazily import and build an engine (vLLM is only imported when used)."""
    from rarft_eval.errors import RarftError

    if name == "vllm":
        from rarft_eval.engines.vllm_engine import VLLMEngine

        return VLLMEngine(model, **kwargs)
    if name == "hf":
        from rarft_eval.engines.hf_engine import HFEngine

        return HFEngine(model, **kwargs)
    if name == "openai":
        from rarft_eval.engines.openai_engine import OpenAIEngine

        return OpenAIEngine(model, **kwargs)
    raise RarftError(f"unknown engine {name!r}; known: {', '.join(ENGINES)}")
