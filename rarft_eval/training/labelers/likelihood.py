"""`likelihood`: log p(gold answer | demo, query) - log p(gold answer | query) (EPR / LLM-R style).

The prompt is the evaluation's (chat template, demonstration block, instruction); the scored
continuation is `continuation` with `{answer}` replaced by the gold answer (default: `The final
answer is $\\boxed{ANSWER}$.`). Both log-probabilities are prompt log-probs of one forward pass
(teacher forcing), no sampling: cheap, a proxy for the gain. The continuation is tokenized on its
own and appended to the prompt's tokens, so both sides score exactly the same answer tokens.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

from rarft_eval.errors import RarftError
from rarft_eval.training.cache import LabelCache
from rarft_eval.training.labelers.base import Labeler, Pair
from rarft_eval.training.labelers.gain import PromptRenderer
from rarft_eval.training.recipes import LikelihoodConfig, PromptConfig


def continuation_text(template: str, answer: str) -> str:
    return template.replace("{answer}", answer)


def resolve_device(name: str) -> str:
    import torch

    if name != "auto":
        return name
    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_dtype(name: str, device: str):
    import torch

    if name == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    dt = getattr(torch, name, None)
    if not isinstance(dt, torch.dtype):
        raise RarftError(f"unknown dtype {name!r}; use auto, float32, bfloat16 or float16")
    return dt


def sequence_logprobs(model, batch: list[tuple[list[int], list[int]]], pad_id: int, device: str) -> list[float]:
    """Sum of log p(continuation tokens | prompt tokens) for each (prompt ids, continuation ids)."""
    import torch

    seqs = [p + c for p, c in batch]
    width = max(len(s) for s in seqs)
    keep = max(len(c) for _, c in batch) + 1
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):  # left padding: every continuation ends at the last position
        ids[i, width - len(s):] = torch.tensor(s)
        mask[i, width - len(s):] = 1
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    ids, mask, pos = ids.to(device), mask.to(device), pos.to(device)
    with torch.inference_mode():
        try:
            out = model(input_ids=ids, attention_mask=mask, position_ids=pos, logits_to_keep=keep)
        except TypeError:  # models without logits_to_keep
            out = model(input_ids=ids, attention_mask=mask, position_ids=pos)
        logits = out.logits[:, -keep:, :].float()
        logp = torch.log_softmax(logits, dim=-1)
    result = []
    for i, (_, c) in enumerate(batch):
        n = len(c)
        # logits at position t predict token t+1: the continuation's n tokens are predicted by the n
        # positions before the last one
        pred = logp[i, keep - 1 - n: keep - 1, :]
        target = torch.tensor(c, device=pred.device)
        result.append(float(pred.gather(-1, target[:, None]).sum()))
    return result


class LikelihoodLabeler(Labeler):
    name = "likelihood"
    needs_baseline = True

    def __init__(self, cfg: LikelihoodConfig, prompt_cfg: PromptConfig):
        if "{answer}" not in cfg.continuation:
            raise RarftError("likelihood.continuation must contain the {answer} slot")
        self.cfg = cfg
        self.renderer = PromptRenderer(cfg.policy, prompt_cfg)

    def params(self) -> dict[str, Any]:
        return {"policy": self.cfg.policy, "continuation": self.cfg.continuation, "dtype": self.cfg.dtype,
                "prompt": self.renderer.identity(), "tokenization": "prompt ids + continuation ids (no special tokens)"}

    def run(self, todo: Sequence[Pair], cache: LabelCache, report: dict[str, Any], flush_every: int = 32) -> None:
        stats = report.setdefault("likelihood", {"forward_sequences": 0, "tokens": 0, "seconds": 0.0})
        if not todo:
            return
        import torch
        from transformers import AutoModelForCausalLM

        tok = self.renderer.tokenizer
        items = []
        for pair in todo:
            prompt_ids = tok(self.renderer.render(pair))["input_ids"]
            cont_ids = tok(continuation_text(self.cfg.continuation, pair.query.answer), add_special_tokens=False)["input_ids"]
            if not cont_ids:
                raise RarftError(f"query {pair.query.id}: the gold continuation tokenizes to nothing")
            items.append((pair, prompt_ids, cont_ids))
        device = resolve_device(self.cfg.device)
        dtype = resolve_dtype(self.cfg.dtype, device)
        t0 = time.perf_counter()
        from rarft_eval.training.data import resolve_policy

        model = AutoModelForCausalLM.from_pretrained(resolve_policy(self.cfg.policy), dtype=dtype).to(device)
        model.eval()
        pad = tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)
        order = sorted(range(len(items)), key=lambda i: len(items[i][1]) + len(items[i][2]))
        buffer: list[dict[str, Any]] = []
        bs = max(1, self.cfg.batch_size)
        for start in range(0, len(order), bs):
            chunk = [items[i] for i in order[start:start + bs]]
            values = sequence_logprobs(model, [(p, c) for _, p, c in chunk], pad, device)
            for (pair, p, c), lp in zip(chunk, values):
                stats["forward_sequences"] += 1
                stats["tokens"] += len(p) + len(c)
                buffer.append(self.row(pair, logp=lp, n_tokens=len(c), mean_logp=lp / len(c)))
            if len(buffer) >= flush_every:
                cache.append(buffer)
                buffer = []
        cache.append(buffer)
        stats["seconds"] += time.perf_counter() - t0
        del model
        if device.startswith("cuda"):
            torch.cuda.empty_cache()

    def value(self, entry: dict[str, Any], baseline: dict[str, Any] | None) -> float | None:
        if baseline is None:
            return None
        return float(entry["logp"]) - float(baseline["logp"])

    def row_extra(self, entry: dict[str, Any], baseline: dict[str, Any] | None) -> dict[str, Any]:
        return {"logp_with": entry["logp"], "logp_without": baseline["logp"] if baseline else None}
