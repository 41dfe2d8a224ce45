"""transformers `generate` engine, for machines with torch but no vLLM.

Each problem is one batched `generate` call with `num_return_sequences=k`, seeded with the
problem's base seed, so its k samples are reproducible. A resumed problem with some samples
missing is regenerated whole and only the missing indices are kept (same seed, same samples on
the same machine and library versions).
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

from rarft_eval.config import SamplingConfig
from rarft_eval.engines.base import Completion, Engine, GenerationRequest, package_version
from rarft_eval.errors import RarftError


class HFEngine(Engine):
    name = "hf"

    def __init__(
        self,
        model: str,
        *,
        revision: str | None = None,
        tokenizer: str | None = None,
        seed: int = 0,
        dtype: str = "auto",
        device: str | None = None,
        max_model_len: int | None = None,
        extra: dict[str, Any] | None = None,
        **_: Any,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        torch_dtype = getattr(torch, dtype) if dtype not in ("auto", None) else "auto"
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(tokenizer or model, revision=revision)
            self.model = AutoModelForCausalLM.from_pretrained(
                model, revision=revision, dtype=torch_dtype, **(extra or {})
            ).to(self.device)
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RarftError(f"transformers could not load {model!r}: {first}") from None
        self.model.eval()
        self._max_len = max_model_len or getattr(self.model.config, "max_position_embeddings", None)
        self.settings = {"revision": revision, "dtype": str(dtype), "device": self.device, "seed": seed}

    def max_context(self) -> int | None:
        return self._max_len

    def info(self) -> dict[str, Any]:
        return {
            "engine": "hf",
            "transformers_version": package_version("transformers"),
            "torch_version": package_version("torch"),
            "settings": self.settings,
        }

    def generate(
        self, requests: Sequence[GenerationRequest], sampling: SamplingConfig
    ) -> Iterator[tuple[GenerationRequest, list[Completion]]]:
        import torch

        tok = self.tokenizer
        eos_ids = self.model.generation_config.eos_token_id
        eos = set(eos_ids if isinstance(eos_ids, list) else [eos_ids] if eos_ids is not None else [])
        if tok.eos_token_id is not None:
            eos.add(tok.eos_token_id)
        pad = tok.pad_token_id if tok.pad_token_id is not None else next(iter(eos), 0)
        for req in requests:
            # draw all k samples of the problem at once (the same batch as the first time) and keep
            # the requested ones, so every index gets the draw it had in an uninterrupted run
            total = max(req.k_total, req.first_index + req.n)
            enc = tok(req.prompt, return_tensors="pt", add_special_tokens=False).to(self.device)
            prompt_len = enc["input_ids"].shape[1]
            torch.manual_seed(req.base_seed)
            gen_kwargs: dict[str, Any] = dict(
                max_new_tokens=sampling.max_tokens,
                num_return_sequences=total,
                pad_token_id=pad,
                eos_token_id=sorted(eos) or None,
            )
            if sampling.temperature > 0:
                gen_kwargs.update(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p)
                gen_kwargs["top_k"] = sampling.top_k or 0
                if sampling.min_p:
                    gen_kwargs["min_p"] = sampling.min_p
            else:
                gen_kwargs.update(do_sample=False)
                gen_kwargs["num_return_sequences"] = 1
            with torch.no_grad():
                out = self.model.generate(**enc, **gen_kwargs)
            rows = out[:, prompt_len:].tolist()
            if len(rows) == 1 and total > 1:  # greedy: one draw serves every index
                rows = rows * total
            comps = []
            for i in req.sample_indices:
                ids = rows[i]
                stop = next((j for j, t in enumerate(ids) if t in eos), None)
                kept = ids[: stop + 1] if stop is not None else ids
                comps.append(
                    Completion(
                        sample_index=i,
                        text=tok.decode(kept, skip_special_tokens=True),
                        finish_reason="stop" if stop is not None else "length",
                        completion_tokens=len(kept),
                        prompt_tokens=prompt_len,
                    )
                )
            yield req, comps
