"""`gain`: measured benefit, the paper's ideal target (Eq. 1) estimated by sampling.

benefit(q, c) = accuracy of the policy on q with demonstration c prepended - accuracy without,
each from m rollouts, graded by the harness's grader (a truncated rollout counts as wrong, as in
evaluation). Prompts are built by the evaluation's own `PromptBuilder`, so the labels measure the
prompt the policy is trained and tested with. The with- and without-demonstration rollouts of a
query share their seeds (common random numbers), which lowers the variance of the difference.
Run it over a first-stage retriever's top-N candidates (`candidates.strategy: retriever`) to stay
tractable: the cost is (N + 1) x m rollouts per query.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

from rarft_eval.config import SamplingConfig
from rarft_eval.engines.base import GenerationRequest, derive_seed
from rarft_eval.errors import RarftError
from rarft_eval.prompts import PromptBuilder
from rarft_eval.retrieval import Demonstration
from rarft_eval.training.cache import LabelCache
from rarft_eval.training.common import stable_hash
from rarft_eval.training.data import load_tokenizer, prompt_options, prompt_spec, resolve_policy
from rarft_eval.training.labelers.base import Labeler, Pair
from rarft_eval.training.recipes import GainConfig, PromptConfig


def as_demo(pair: Pair) -> list[Demonstration]:
    d = pair.demo
    if d is None:
        return []
    return [Demonstration(d.id, d.problem, d.solution, 0.0, d.answer, 1, dict(d.metadata))]


class PromptRenderer:
    """The evaluation's prompt for a (query, demonstration) pair."""

    def __init__(self, policy: str, prompt_cfg: PromptConfig):
        self.tokenizer = load_tokenizer(policy, need_chat_template=prompt_cfg.chat_template)
        self.options = prompt_options(prompt_cfg)
        self.builder = PromptBuilder(self.tokenizer, self.options)
        self.spec = prompt_spec(prompt_cfg)

    def render(self, pair: Pair) -> str:
        return self.builder.render(pair.query, self.spec, as_demo(pair)).text

    def identity(self) -> dict[str, Any]:
        return {"spec": self.spec.model_dump(), "chat_template": self.options.chat_template,
                "enable_thinking": self.options.enable_thinking, "system_prompt": self.options.system_prompt,
                "chat_template_sha": stable_hash(self.builder.chat_template_text() or "")}


class GainLabeler(Labeler):
    name = "gain"
    needs_baseline = True

    def __init__(self, cfg: GainConfig, prompt_cfg: PromptConfig):
        if cfg.m < 1:
            raise RarftError(f"gain.m must be >= 1 (got {cfg.m})")
        self.cfg = cfg
        self.sampling = SamplingConfig(cfg.temperature, cfg.top_p, cfg.max_tokens, cfg.top_k).validate()
        self.renderer = PromptRenderer(cfg.policy, prompt_cfg)

    def params(self) -> dict[str, Any]:
        c = self.cfg
        return {"policy": c.policy, "m": c.m, "temperature": c.temperature, "top_p": c.top_p, "top_k": c.top_k,
                "max_tokens": c.max_tokens, "seed": c.seed, "grader": c.grader, "prompt": self.renderer.identity(),
                "seed_rule": "derive_seed(seed, 'gain', query_id) + i, shared with and without the demonstration"}

    def run(self, todo: Sequence[Pair], cache: LabelCache, report: dict[str, Any], flush_every: int = 32) -> None:
        from rarft_eval.engines import make_engine
        from rarft_eval.grading import Grader

        stats = report.setdefault("gain", {"rollouts": 0, "completion_tokens": 0, "truncated": 0,
                                           "requests": 0, "generation_s": 0.0})
        if not todo:
            return
        c = self.cfg
        by_key: dict[tuple[str, str], Pair] = {}
        requests: list[GenerationRequest] = []
        for pair in todo:
            key = (pair.query.id, pair.demo_id)
            by_key[key] = pair
            requests.append(GenerationRequest(key, self.renderer.render(pair), 0, c.m,
                                              derive_seed(c.seed, "gain", pair.query.id), c.m))
        kwargs = dict(c.engine_args)
        if c.engine in ("vllm", "hf"):
            kwargs.setdefault("seed", c.seed)
        engine = make_engine(c.engine, resolve_policy(c.policy), **kwargs)
        stats["engine"] = engine.info()
        t0 = time.perf_counter()
        try:
            with Grader(workers=c.grader_workers) as grader:
                pending: list[tuple[GenerationRequest, list]] = []

                def flush() -> None:
                    items, spans = [], []
                    for req, comps in pending:
                        pair = by_key[req.key]
                        spec = pair.query.grade_spec
                        if spec.grader != c.grader:
                            from dataclasses import replace

                            spec = replace(spec, grader=c.grader)
                        spans.append((req, comps, len(items)))
                        items.extend((comp.text, pair.query.answer, spec) for comp in comps)
                    verdicts = grader.grade_many(items)
                    rows = []
                    for req, comps, start in spans:
                        vs = verdicts[start:start + len(comps)]
                        truncated = [comp.finish_reason == "length" for comp in comps]
                        correct = [bool(v.correct) and not t for v, t in zip(vs, truncated)]
                        tokens = sum(comp.completion_tokens for comp in comps)
                        stats["rollouts"] += len(comps)
                        stats["completion_tokens"] += tokens
                        stats["truncated"] += sum(truncated)
                        rows.append(self.row(by_key[req.key], n=len(comps), correct=sum(correct),
                                             accuracy=sum(correct) / len(comps), truncated=sum(truncated),
                                             no_answer=sum(1 for v in vs if v.extracted is None),
                                             completion_tokens=tokens))
                    cache.append(rows)
                    pending.clear()

                for req, comps in engine.generate(requests, self.sampling):
                    stats["requests"] += 1
                    pending.append((req, comps))
                    if len(pending) >= flush_every:
                        flush()
                if pending:
                    flush()
        finally:
            stats["generation_s"] += time.perf_counter() - t0
            engine.close()

    def totals(self, entries: list[dict[str, Any]]) -> dict[str, Any]:
        return {"entries": len(entries), "rollouts": sum(e.get("n", 0) for e in entries),
                "completion_tokens": sum(e.get("completion_tokens", 0) for e in entries),
                "truncated": sum(e.get("truncated", 0) for e in entries)}

    def value(self, entry: dict[str, Any], baseline: dict[str, Any] | None) -> float | None:
        if baseline is None:
            return None
        return float(entry["accuracy"]) - float(baseline["accuracy"])

    def row_extra(self, entry: dict[str, Any], baseline: dict[str, Any] | None) -> dict[str, Any]:
        return {"accuracy_with": entry["accuracy"], "accuracy_without": baseline["accuracy"] if baseline else None,
                "m": entry["n"]}
