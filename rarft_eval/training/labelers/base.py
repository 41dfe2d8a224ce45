"""The labeler interface and helpers shared by the labelers."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Sequence

from rarft_eval.retrieval.corpus import CorpusRecord
from rarft_eval.tasks import Problem
from rarft_eval.training.cache import BASELINE, LabelCache, cache_key
from rarft_eval.training.common import stable_hash


@dataclass(frozen=True)
class Pair:
    query: Problem
    demo: CorpusRecord | None  # None: the query's no-demonstration baseline

    @property
    def demo_id(self) -> str:
        return BASELINE if self.demo is None else self.demo.id


class Labeler(ABC):
    name: str = "?"
    needs_baseline = False  # value = f(pair entry, baseline entry)

    @abstractmethod
    def params(self) -> dict[str, Any]:
        """Everything that changes a computed value; its hash is part of every cache key."""

    def params_hash(self) -> str:
        return stable_hash({"labeler": self.name, **self.params()})

    def key(self, query_id: str, demo_id: str) -> str:
        return cache_key(self.name, query_id, demo_id, self.params_hash())

    def work(self, pairs: Sequence[Pair], cache: LabelCache) -> list[Pair]:
        """The pairs (and baselines) whose values the cache lacks."""
        todo: list[Pair] = []
        seen: set[str] = set()
        for pair in pairs:
            wanted = [pair] + ([Pair(pair.query, None)] if self.needs_baseline else [])
            for item in wanted:
                key = self.key(item.query.id, item.demo_id)
                if key not in cache and key not in seen:
                    seen.add(key)
                    todo.append(item)
        return todo

    @abstractmethod
    def run(self, todo: Sequence[Pair], cache: LabelCache, report: dict[str, Any], flush_every: int = 32) -> None:
        """Compute the values of `todo`, appending cache rows as they finish; add counts to `report`."""

    @abstractmethod
    def value(self, entry: dict[str, Any], baseline: dict[str, Any] | None) -> float | None:
        """The label value of a pair from its cache entry (and its query's baseline entry)."""

    def label_row(self, pair: Pair, cache: LabelCache) -> dict[str, Any] | None:
        """The labels-file row of a pair (the format `rarft_eval.retrieval.labels.load_labels` reads)."""
        entry = cache.get(self.key(pair.query.id, pair.demo_id))
        if entry is None:
            return None
        base = cache.get(self.key(pair.query.id, BASELINE)) if self.needs_baseline else None
        if self.needs_baseline and base is None:
            return None
        value = self.value(entry, base)
        if value is None:
            return None
        return {"query_id": pair.query.id, "demo_id": pair.demo_id, "label": value, "labeler": self.name,
                **self.row_extra(entry, base)}

    def totals(self, entries: list[dict[str, Any]]) -> dict[str, Any]:
        """Counts over the cache entries of every requested pair (computed now or earlier)."""
        return {"entries": len(entries)}

    def row_extra(self, entry: dict[str, Any], baseline: dict[str, Any] | None) -> dict[str, Any]:
        return {}

    def row(self, pair: Pair, **fields: Any) -> dict[str, Any]:
        return {"key": self.key(pair.query.id, pair.demo_id), "labeler": self.name, "query_id": pair.query.id,
                "demo_id": pair.demo_id, "params": self.params_hash(), **fields}


def bounded_map(fn: Callable[[Any], Any], items: Iterable[Any], concurrency: int) -> Iterator[tuple[Any, Any, BaseException | None]]:
    """(item, result, error) as calls finish, with at most `concurrency` calls in flight."""
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    it = iter(items)
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        running: dict[Any, Any] = {}

        def fill() -> None:
            while len(running) < max(1, concurrency):
                try:
                    item = next(it)
                except StopIteration:
                    return
                running[pool.submit(fn, item)] = item

        fill()
        while running:
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for fut in done:
                item = running.pop(fut)
                exc = fut.exception()
                yield item, (None if exc else fut.result()), exc
            fill()
