"""transformers `generate` engine, for machines with torch but no vLLM.

Requests are batched: every sample to draw is one row, and rows are packed into `generate` calls
of up to `batch_size` rows (`--engine-arg batch_size=N`; default 256 on CUDA, 64 on CPU). Prompts
are left-padded to a width that depends only on their own length (rounded up, at most ~25%), and
a batch holds rows of one width, taken in request order; a half-full width waits for more rows
until 16 x batch_size rows wait, then the one holding the oldest request runs. Each request is
yielded in request order once all of its samples (and those of the requests before it) are drawn.

Seeds follow the vLLM engine's rule (see `engines/base.py`): sample i of a problem draws with
seed `base + i`, whatever the batching. Sampling is the Gumbel-max trick: `generate` runs greedy
(`do_sample=False`) over logits that are warped like transformers' sampler (temperature, top-k,
top-p, min-p) and then perturbed by Gumbel noise that is a pure function of (the row's sample
seed, the decoding step, the token id), from a counter-based hash computed on the device.
argmax(logits / T + Gumbel) is an exact draw from softmax(logits / T). So a sample does not
depend on which other samples share its batch or on `batch_size`, and a resumed run draws only
the missing indices and gets what an uninterrupted run drew: identical on the same machine and
library versions, up to floating-point differences of padded batches (kept small by padding
each row by its own length only; on CPU the tiny model's draws are bit-identical for any
batch_size, while GPU kernels may round differently at other batch shapes and flip a near-tie,
rarely). Temperature 0 is plain greedy decoding: one draw serves every index. (Samples drawn by
the earlier one-`generate`-per-problem engine are not reproduced by this sampler.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Sequence

from rarft_eval.config import SamplingConfig
from rarft_eval.engines.base import Completion, Engine, GenerationRequest, package_version
from rarft_eval.errors import RarftError

DEFAULT_BATCH_SIZE = {"cuda": 256, "cpu": 64}

_M32 = 0xFFFFFFFF


def _mul32(h: Any, c: int) -> Any:
    """(h * c) mod 2**32 for 0 <= h < 2**32 (python ints or int64 tensors), without int64 overflow."""
    return (h * (c & 0xFFFF) + (((h * (c >> 16)) & 0xFFFF) << 16)) & _M32


def _fmix32(h: Any) -> Any:
    """MurmurHash3's 32-bit finalizer (a bijection with full avalanche) on values in [0, 2**32)."""
    h = h ^ (h >> 16)
    h = _mul32(h, 0x85EBCA6B)
    h = h ^ (h >> 13)
    h = _mul32(h, 0xC2B2AE35)
    return h ^ (h >> 16)


def _seed_key(seed: int) -> int:
    """A 32-bit key for a (64-bit) sample seed."""
    seed &= (1 << 64) - 1
    return _fmix32((seed & _M32) ^ _fmix32(((seed >> 32) ^ 0x5BD1E995) & _M32))


class SeededGumbelSampler:
    """A logits processor for greedy `generate` that turns it into seeded per-row sampling.

    Row r's noise at decoding step s for token v is a hash of (seeds[r], s, v) only, so a row's
    draw is independent of the batch it is in. `prompt_len` is the (padded) input length of the
    batch, so the step is `input_ids.shape[1] - prompt_len`.
    """

    def __init__(self, seeds: Sequence[int], prompt_len: int, sampling: SamplingConfig, device: Any) -> None:
        import torch
        from transformers import MinPLogitsWarper, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

        self.prompt_len = prompt_len
        self.keys = torch.tensor([_seed_key(int(s)) for s in seeds], dtype=torch.int64, device=device)
        # the order of transformers' own sampler (GenerationMixin._get_logits_processor)
        self.warpers: list[Any] = []
        if sampling.temperature != 1.0:
            self.warpers.append(TemperatureLogitsWarper(sampling.temperature))
        if sampling.top_k:
            self.warpers.append(TopKLogitsWarper(top_k=sampling.top_k))
        if sampling.top_p is not None and sampling.top_p < 1.0:
            self.warpers.append(TopPLogitsWarper(top_p=sampling.top_p))
        if sampling.min_p:
            self.warpers.append(MinPLogitsWarper(min_p=sampling.min_p))
        self._token_hash: Any = None

    def gumbel(self, step: int, vocab: int, device: Any) -> Any:
        """Gumbel(0, 1) noise of shape (rows, vocab), float32."""
        import torch

        if self._token_hash is None or self._token_hash.shape[0] != vocab:
            v = torch.arange(vocab, dtype=torch.int64, device=device)
            self._token_hash = _fmix32(_mul32(v, 0x9E3779B9) ^ 0x85EBCA77)
        sc = _fmix32(_mul32(step + 1, 0x27D4EB2F) ^ 0x165667B1)
        a = _fmix32(self.keys ^ sc)  # (rows,)
        b = _fmix32(a ^ 0x68E31DA4)
        h = _fmix32(self._token_hash.unsqueeze(0) ^ a.unsqueeze(1))
        h = _fmix32((h + b.unsqueeze(1)) & _M32)
        # 23 random bits -> u in (0, 1), exact in float32; G = -log(-log(u))
        u = ((h >> 9).to(torch.float32) + 0.5) * (1.0 / (1 << 23))
        return -torch.log(-torch.log(u))

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        for warp in self.warpers:
            scores = warp(input_ids, scores)
        step = input_ids.shape[1] - self.prompt_len
        noise = self.gumbel(step, scores.shape[-1], scores.device)
        return scores + noise.to(scores.dtype)


def _padded_width(n: int) -> int:
    """The padded prompt width of a row, a function of its own prompt length only.

    Rows are batched with rows of the same width, so a sample sees the same padding (and, on
    CPU at least, the same arithmetic) whichever requests share its batch: lengths round up to a
    multiple of 2**(floor(log2 n) - 2), at least 16, i.e. at most ~25% padding, ~4 widths per octave.
    """
    step = max(16, 1 << max(0, n.bit_length() - 3))
    return max(step, -(-n // step) * step)


@dataclass
class _Row:
    req: int  # position of the request in the call
    sample_index: int
    seed: int


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
        batch_size: int | None = None,
        extra: dict[str, Any] | None = None,
        **_: Any,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        extra = dict(extra or {})
        # `--engine-arg batch_size=N` arrives in `extra`; it is ours, not from_pretrained's
        if "batch_size" in extra:
            batch_size = extra.pop("batch_size")
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if batch_size is None:
            batch_size = DEFAULT_BATCH_SIZE.get(torch.device(self.device).type, 64)
        try:
            self.batch_size = int(batch_size)
        except (TypeError, ValueError):
            raise RarftError(f"batch_size must be a positive integer (got {batch_size!r})") from None
        if self.batch_size < 1:
            raise RarftError(f"batch_size must be a positive integer (got {batch_size!r})")
        torch_dtype = getattr(torch, dtype) if dtype not in ("auto", None) else "auto"
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(tokenizer or model, revision=revision)
            self.model = AutoModelForCausalLM.from_pretrained(
                model, revision=revision, dtype=torch_dtype, **extra
            ).to(self.device)
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RarftError(f"transformers could not load {model!r}: {first}") from None
        self.model.eval()
        self._max_len = max_model_len or getattr(self.model.config, "max_position_embeddings", None)
        self.settings = {
            "revision": revision,
            "dtype": str(dtype),
            "device": self.device,
            "seed": seed,
            "batch_size": self.batch_size,
            "sampler": "gumbel-max, seed base+i per sample",
        }

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
        tok = self.tokenizer
        eos_ids = self.model.generation_config.eos_token_id
        eos = set(eos_ids if isinstance(eos_ids, list) else [eos_ids] if eos_ids is not None else [])
        if tok.eos_token_id is not None:
            eos.add(tok.eos_token_id)
        pad = tok.pad_token_id if tok.pad_token_id is not None else next(iter(eos), 0)
        greedy = sampling.temperature <= 0

        prompt_ids: dict[int, list[int]] = {}
        drawn: dict[int, dict[int, list[int]]] = {}  # request -> sample index -> completion ids
        queues: dict[int, list[_Row]] = {}  # padded width -> rows waiting for a batch
        max_queued = 16 * self.batch_size  # rows waiting in half-full buckets before the oldest is run
        next_out = 0  # the next request to hand back

        def needed(r: int) -> int:
            return min(1, requests[r].n) if greedy else requests[r].n

        def completions(r: int) -> list[Completion]:
            req = requests[r]
            got = drawn.get(r, {})
            comps = []
            for i in req.sample_indices:
                ids = got[req.first_index] if greedy else got[i]  # greedy: one draw serves every index
                stop = next((j for j, t in enumerate(ids) if t in eos), None)
                kept = ids[: stop + 1] if stop is not None else ids
                comps.append(
                    Completion(
                        sample_index=i,
                        text=tok.decode(kept, skip_special_tokens=True),
                        finish_reason="stop" if stop is not None else "length",
                        completion_tokens=len(kept),
                        prompt_tokens=len(prompt_ids[r]),
                    )
                )
            return comps

        def run(width: int) -> None:
            queue = queues[width]
            batch, queues[width] = queue[: self.batch_size], queue[self.batch_size :]
            if not queues[width]:
                del queues[width]
            outs = self._generate_batch([prompt_ids[row.req] for row in batch], [row.seed for row in batch],
                                        width, pad, eos, sampling)
            for row, ids in zip(batch, outs):
                drawn.setdefault(row.req, {})[row.sample_index] = ids

        def finished() -> Iterator[tuple[GenerationRequest, list[Completion]]]:
            nonlocal next_out
            while next_out < len(requests) and next_out in prompt_ids and len(drawn.get(next_out, {})) >= needed(next_out):
                yield requests[next_out], completions(next_out)
                next_out += 1

        def oldest_queue() -> int:
            return min(queues, key=lambda w: queues[w][0].req)

        for r, req in enumerate(requests):
            ids = tok(req.prompt, add_special_tokens=False)["input_ids"]
            prompt_ids[r] = ids
            width = _padded_width(len(ids))
            if greedy:
                new = [_Row(r, req.first_index, req.base_seed)] if req.n > 0 else []
            else:  # one row per sample index, seeded base + i
                new = [_Row(r, i, req.base_seed + i) for i in req.sample_indices]
            if new:
                queues.setdefault(width, []).extend(new)
            while width in queues and len(queues[width]) >= self.batch_size:
                run(width)
                yield from finished()
            # bound what waits in half-full buckets, oldest request first, so results keep streaming
            while sum(len(q) for q in queues.values()) > max_queued:
                run(oldest_queue())
                yield from finished()
            yield from finished()
        while queues:
            run(oldest_queue())
            yield from finished()
        yield from finished()

    def _generate_batch(
        self,
        prompts: list[list[int]],
        seeds: list[int],
        width: int,
        pad: int,
        eos: set[int],
        sampling: SamplingConfig,
    ) -> list[list[int]]:
        """One `generate` call over prompts left-padded to `width`; returns each row's new token ids."""
        import torch

        input_ids = torch.full((len(prompts), width), pad, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for b, ids in enumerate(prompts):
            if ids:
                input_ids[b, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
                mask[b, width - len(ids) :] = 1
        gen_kwargs: dict[str, Any] = dict(
            max_new_tokens=sampling.max_tokens,
            do_sample=False,
            num_beams=1,
            num_return_sequences=1,
            pad_token_id=pad,
            eos_token_id=sorted(eos) or None,
        )
        if sampling.temperature > 0:
            from transformers import LogitsProcessorList

            sampler = SeededGumbelSampler(seeds, width, sampling, self.device)
            gen_kwargs["logits_processor"] = LogitsProcessorList([sampler])
        with torch.no_grad():
            out = self.model.generate(
                input_ids=input_ids.to(self.device), attention_mask=mask.to(self.device), **gen_kwargs
            )
        return out[:, width:].tolist()
