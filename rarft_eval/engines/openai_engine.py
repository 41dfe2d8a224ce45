"""Any OpenAI-compatible server (`vllm serve`, SGLang, a load balancer in front of many GPUs).

The prompt is rendered here (chat template applied locally, so the stored prompt hash is the
exact text sent) and sent to `/v1/completions` with `n` and `seed`: vLLM serve fans `n` out with
seeds seed, seed+1, ... exactly like the offline engine. Concurrency is bounded by a thread pool;
transient failures are retried by the OpenAI client with backoff.
"""

from __future__ import annotations

import os
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Iterator, Sequence

from rarft_eval.config import SamplingConfig
from rarft_eval.engines.base import Completion, Engine, GenerationRequest, package_version
from rarft_eval.errors import RarftError


class OpenAIEngine(Engine):
    name = "openai"

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        served_model: str | None = None,
        concurrency: int = 16,
        max_retries: int = 5,
        request_timeout: float = 3600.0,
        token_counter: Any = None,
        max_model_len: int | None = None,
        extra: dict[str, Any] | None = None,
        **_: Any,
    ) -> None:
        from openai import OpenAI

        base_url = base_url or os.environ.get("OPENAI_BASE_URL")
        if not base_url:
            raise RarftError("--engine openai needs --base-url URL (e.g. http://127.0.0.1:8000/v1) or OPENAI_BASE_URL")
        self.client = OpenAI(
            base_url=base_url,
            api_key=api_key or os.environ.get("OPENAI_API_KEY", "EMPTY"),
            max_retries=max_retries,
            timeout=request_timeout,
        )
        self.model = served_model or model
        self.base_url = base_url
        self.concurrency = max(1, concurrency)
        self.count_tokens = token_counter
        self._max_len = max_model_len
        self.extra = extra or {}
        try:
            served = [m.id for m in self.client.models.list().data]
        except Exception as exc:
            raise RarftError(f"cannot reach the server at {base_url}: {str(exc).splitlines()[0]}") from None
        if self.model not in served:
            raise RarftError(f"server at {base_url} does not serve {self.model!r} (it serves {served}); pass --served-model")

    def max_context(self) -> int | None:
        return self._max_len

    def info(self) -> dict[str, Any]:
        return {
            "engine": "openai",
            "openai_version": package_version("openai"),
            "base_url": self.base_url,
            "served_model": self.model,
            "settings": {"concurrency": self.concurrency, **self.extra},
        }

    def _one(self, req: GenerationRequest, sampling: SamplingConfig) -> list[Completion]:
        body: dict[str, Any] = dict(self.extra)
        if sampling.top_k is not None:
            body["top_k"] = sampling.top_k
        if sampling.min_p:
            body["min_p"] = sampling.min_p
        resp = self.client.completions.create(
            model=self.model,
            prompt=req.prompt,
            n=req.n,
            seed=req.seed,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            max_tokens=sampling.max_tokens,
            extra_body=body or None,
        )
        choices = sorted(resp.choices, key=lambda c: c.index)
        if len(choices) != req.n:
            raise RarftError(f"server returned {len(choices)} choices for n={req.n}")
        usage_each = (resp.usage.completion_tokens // req.n) if resp.usage else 0
        prompt_tokens = resp.usage.prompt_tokens if resp.usage else None
        return [
            Completion(
                sample_index=req.first_index + c.index,
                text=c.text,
                finish_reason=c.finish_reason,
                completion_tokens=self.count_tokens(c.text) if self.count_tokens else usage_each,
                prompt_tokens=prompt_tokens,
            )
            for c in choices
        ]

    def generate(
        self, requests: Sequence[GenerationRequest], sampling: SamplingConfig
    ) -> Iterator[tuple[GenerationRequest, list[Completion]]]:
        pending = list(requests)[::-1]
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            running: dict[Future, GenerationRequest] = {}
            try:
                while pending or running:
                    while pending and len(running) < self.concurrency:
                        req = pending.pop()
                        running[pool.submit(self._one, req, sampling)] = req
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for fut in done:
                        req = running.pop(fut)
                        try:
                            comps = fut.result()
                        except RarftError:
                            raise
                        except Exception as exc:
                            raise RarftError(
                                f"request for {req.key[0]}/{req.key[1]} failed after retries: {str(exc).splitlines()[0]}"
                            ) from None
                        yield req, comps
            finally:
                for fut in running:
                    fut.cancel()
