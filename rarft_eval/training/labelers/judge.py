"""`judge`: an LLM judge decides whether two problems share transferable reasoning (RA-RFT §3.2).

The judge (any model behind an OpenAI-compatible chat endpoint: a local `vllm serve`, a hosted
API) sees the training query with its answer and a candidate demonstration with its solution, writes
a short justification, and ends with a final line that must be exactly `Answer: yes` or
`Answer: no` (case-insensitive, surrounding whitespace ignored). Anything else is *unparsable*:
counted and cached as such, never guessed. Label: 1 (yes) or 0 (no).

The paper's prompt (its Fig. 7) is an image; this one follows its description: two
question-answer pairs, the same theorems / algorithms / proof techniques, topic and notation
similarity ignored, a brief justification then a binary decision.
"""

from __future__ import annotations

import os
import re
import time
from typing import Any, Sequence

from rarft_eval.errors import RarftError
from rarft_eval.training.cache import LabelCache
from rarft_eval.training.common import stable_hash
from rarft_eval.training.labelers.base import Labeler, Pair, bounded_map
from rarft_eval.training.recipes import JudgeConfig

PROMPT_VERSION = 1

SYSTEM = (
    "You are an expert competition mathematician. You judge whether the worked solution of one problem would "
    "help a student solve another problem because both rely on the same reasoning."
)

USER = """\
Below are a TARGET problem with its answer and a REFERENCE problem with its worked solution.

Decide whether the two problems share transferable reasoning: the same key theorem, algorithm, \
construction or proof technique, so that studying the REFERENCE solution would help solve the TARGET. \
Ignore similarity of topic, wording, notation or numbers on their own: two problems about triangles that \
need different ideas do NOT share reasoning; a counting problem and a geometry problem that both reduce \
to the same recursion DO.

TARGET problem:
{query}

TARGET answer: {answer}

REFERENCE problem:
{demo}

REFERENCE solution:
{solution}

First write a brief justification (at most three sentences) that names the key technique of each \
problem. Then write a final line that is exactly "Answer: yes" or "Answer: no"."""

_VERDICT = re.compile(r"answer: (yes|no)", re.IGNORECASE)


def parse_verdict(text: str | None) -> bool | None:
    """True/False from a final line that is exactly `Answer: yes|no` (any case); None otherwise."""
    if not text:
        return None
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    if not lines:
        return None
    m = _VERDICT.fullmatch(lines[-1])
    if m is None:
        return None
    return m.group(1).lower() == "yes"


def _cut(text: str, limit: int | None) -> str:
    if limit is None or len(text) <= limit:
        return text
    return text[:limit] + " [...]"


class JudgeLabeler(Labeler):
    name = "judge"

    def __init__(self, cfg: JudgeConfig):
        from openai import OpenAI

        self.cfg = cfg
        base_url = cfg.base_url or os.environ.get("OPENAI_BASE_URL")
        if not base_url:
            raise RarftError("the judge needs judge.base_url (e.g. http://127.0.0.1:8000/v1) or OPENAI_BASE_URL")
        self.base_url = base_url
        self.client = OpenAI(base_url=base_url, api_key=os.environ.get(cfg.api_key_env) or "EMPTY",
                             max_retries=cfg.max_retries, timeout=cfg.timeout_s)

    def check(self) -> None:
        """Fail fast (one line) when the endpoint is down or does not serve the model."""
        try:
            served = [m.id for m in self.client.models.list().data]
        except Exception as exc:  # noqa: BLE001 - connection, auth and HTTP errors alike
            raise RarftError(f"cannot reach the judge at {self.base_url}: {str(exc).splitlines()[0]}") from None
        if served and self.cfg.model not in served:
            raise RarftError(f"the judge endpoint {self.base_url} does not serve {self.cfg.model!r} (it serves "
                             f"{served[:5]}); set judge.model")

    def params(self) -> dict[str, Any]:
        c = self.cfg
        return {"model": c.model, "temperature": c.temperature, "max_tokens": c.max_tokens, "seed": c.seed,
                "max_chars": c.max_chars, "extra_body": c.extra_body, "prompt_version": PROMPT_VERSION,
                "prompt_sha": stable_hash([SYSTEM, USER])}

    def messages(self, pair: Pair) -> list[dict[str, str]]:
        q, d = pair.query, pair.demo
        assert d is not None
        lim = self.cfg.max_chars
        user = USER.format(query=_cut(q.problem, lim), answer=_cut(q.answer, lim), demo=_cut(d.problem, lim),
                           solution=_cut(d.solution, lim))
        return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]

    def _call(self, pair: Pair) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.cfg.model, "messages": self.messages(pair),
                                "temperature": self.cfg.temperature, "max_tokens": self.cfg.max_tokens}
        if self.cfg.seed is not None:
            body["seed"] = self.cfg.seed
        if self.cfg.extra_body:
            body["extra_body"] = dict(self.cfg.extra_body)
        t0 = time.perf_counter()
        resp = self.client.chat.completions.create(**body)
        text = resp.choices[0].message.content or ""
        usage = resp.usage
        return {"response": text, "finish_reason": resp.choices[0].finish_reason,
                "prompt_tokens": getattr(usage, "prompt_tokens", None) if usage else None,
                "completion_tokens": getattr(usage, "completion_tokens", None) if usage else None,
                "latency_s": round(time.perf_counter() - t0, 3)}

    def run(self, todo: Sequence[Pair], cache: LabelCache, report: dict[str, Any], flush_every: int = 32) -> None:
        stats = report.setdefault("judge", {"calls": 0, "errors": 0, "yes": 0, "no": 0, "unparsable": 0,
                                            "prompt_tokens": 0, "completion_tokens": 0, "error_examples": []})
        if todo:
            self.check()
        buffer: list[dict[str, Any]] = []
        for pair, result, exc in bounded_map(self._call, todo, self.cfg.concurrency):
            stats["calls"] += 1
            if exc is not None:
                stats["errors"] += 1
                if len(stats["error_examples"]) < 5:
                    stats["error_examples"].append(f"{pair.query.id} x {pair.demo_id}: {type(exc).__name__}: "
                                                   f"{str(exc).splitlines()[0] if str(exc) else ''}"[:300])
                continue
            verdict = parse_verdict(result["response"])
            status = "unparsable" if verdict is None else ("yes" if verdict else "no")
            stats[status] += 1
            stats["prompt_tokens"] += result["prompt_tokens"] or 0
            stats["completion_tokens"] += result["completion_tokens"] or 0
            buffer.append(self.row(pair, status=status, label=None if verdict is None else int(verdict), **result))
            if len(buffer) >= flush_every:
                cache.append(buffer)
                buffer = []
        cache.append(buffer)
        stats["cost_usd"] = self.cost(stats["prompt_tokens"], stats["completion_tokens"])

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.cfg.price_input_per_mtok + completion_tokens * self.cfg.price_output_per_mtok) / 1e6

    def totals(self, entries: list[dict[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {"entries": len(entries), "yes": 0, "no": 0, "unparsable": 0}
        for e in entries:
            out[e.get("status", "unparsable")] = out.get(e.get("status", "unparsable"), 0) + 1
        pt = sum(e.get("prompt_tokens") or 0 for e in entries)
        ct = sum(e.get("completion_tokens") or 0 for e in entries)
        out.update(prompt_tokens=pt, completion_tokens=ct, cost_usd=self.cost(pt, ct))
        return out

    def value(self, entry: dict[str, Any], baseline: dict[str, Any] | None) -> float | None:
        label = entry.get("label")
        return None if label is None else float(label)

    def row_extra(self, entry: dict[str, Any], baseline: dict[str, Any] | None) -> dict[str, Any]:
        return {"status": entry.get("status")}
