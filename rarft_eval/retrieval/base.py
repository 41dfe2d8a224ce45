"""The retriever interface and the `none` retriever."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Sequence

from rarft_eval.errors import RarftError
from rarft_eval.tasks import Problem


@dataclass(frozen=True)
class Demonstration:
    id: str
    problem: str
    solution: str
    score: float


class Retriever(ABC):
    name: str

    @abstractmethod
    def retrieve(self, problems: Sequence[Problem], k: int) -> list[list[Demonstration]]:
        """The top-k demonstrations for each problem, best first."""

    def manifest(self) -> dict[str, Any]:
        """What identifies this retriever's output (corpus hash, model, parameters)."""
        return {"name": self.name}


class NoRetriever(Retriever):
    """No demonstration: the plain-prompt baseline."""

    name = "none"

    def retrieve(self, problems: Sequence[Problem], k: int) -> list[list[Demonstration]]:
        return [[] for _ in problems]


RETRIEVERS = {"none": NoRetriever}


def make_retriever(spec: str) -> Retriever:
    name = spec.split(":", 1)[0]
    if name not in RETRIEVERS:
        raise RarftError(f"unknown retriever {spec!r}; available: {', '.join(RETRIEVERS)}")
    return RETRIEVERS[name]()
