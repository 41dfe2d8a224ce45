"""Training recipes: typed YAML configs for each stage, with `--set key.path=value` overrides.

A recipe is one YAML mapping whose `stage` names the stage (labels, retriever, grpo). Relative
paths in a recipe are relative to the working directory (run from the repository root). Unknown
keys are refused with the key named, before anything heavy starts.
"""

from __future__ import annotations

import copy
import difflib
from pathlib import Path
from typing import Any, Literal, Sequence

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rarft_eval.errors import RarftError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class QueriesSpec(_Strict):
    """Where the training queries come from: a JSONL/Parquet file (default: the bundled MATH train
    set) read like a corpus, or a registered task."""

    path: str | None = None
    fields: str | dict[str, Any] | None = None  # "id=COL,problem=COL,answer=COL,metadata=COL|COL"
    task: str | None = None
    offset: int = 0
    limit: int | None = None
    sample: int | None = None  # a seeded random subset of that many queries (after offset/limit)
    seed: int = 0
    answer_type: str = "auto"  # GradeSpec.answer_type of file queries (tasks carry their own grading)

    @model_validator(mode="after")
    def _check(self) -> "QueriesSpec":
        if self.task and (self.path or self.fields):
            raise ValueError("give either `task` or `path`/`fields`, not both")
        if self.offset < 0 or (self.limit is not None and self.limit < 1) or (self.sample is not None and self.sample < 1):
            raise ValueError("`offset` must be >= 0, `limit` and `sample` >= 1")
        return self


class CorpusSpec(_Strict):
    """The demonstration corpus (default: the bundled MATH train set, the one `rarft-eval run` uses)."""

    path: str | None = None
    fields: str | dict[str, Any] | None = None


class PromptConfig(_Strict):
    """The prompt: a task's template (default: tasks/_default.yaml, which every bundled task includes)
    and the same chat options as `rarft-eval run`."""

    task: str | None = None
    chat_template: bool = True
    enable_thinking: bool | None = None
    system_prompt: str | None = None


class CandidatesSpec(_Strict):
    """Which (query, demonstration) pairs get a label.

    subject: every corpus record of the query's coarse subject (the paper's pruning of judge calls);
    retriever: the top_n of a first-stage retriever (bm25, semantic, ...); all: every record.
    Leaks (the query itself and its near duplicates) are never candidates.
    """

    strategy: Literal["subject", "retriever", "all"] = "subject"
    retriever: str = "bm25"
    top_n: int = 20
    subject_field: str | None = None  # metadata column; default: problem_type, type or subject
    subject_map: dict[str, str] = Field(default_factory=dict)  # raw value -> coarse subject (over the defaults)
    max_per_query: int | None = None  # seeded subsample of each query's candidates (None: all)
    seed: int = 0


class JudgeConfig(_Strict):
    base_url: str | None = None  # default: $OPENAI_BASE_URL
    model: str
    api_key_env: str = "OPENAI_API_KEY"  # the key is read from this variable (vllm serve: any value)
    temperature: float = 0.0
    max_tokens: int = 512
    seed: int | None = 0
    concurrency: int = 16
    max_retries: int = 5
    timeout_s: float = 600.0
    price_input_per_mtok: float = 0.0  # USD per million prompt tokens, for the cost report
    price_output_per_mtok: float = 0.0
    max_chars: int | None = None  # cut each problem/solution shown to the judge to this many characters
    extra_body: dict[str, Any] = Field(default_factory=dict)


class GainConfig(_Strict):
    policy: str
    engine: Literal["vllm", "hf", "openai"] = "vllm"
    engine_args: dict[str, Any] = Field(default_factory=dict)  # make_engine keywords (max_model_len, base_url, ...)
    m: int = 8  # rollouts with and without the demonstration
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int | None = None
    max_tokens: int = 4096
    seed: int = 0
    grader: Literal["rarft", "math-verify"] = "rarft"
    grader_workers: int | None = None


class LikelihoodConfig(_Strict):
    policy: str
    # the gold continuation scored after the prompt; `{answer}` is replaced by the gold answer
    continuation: str = "The final answer is $\\boxed{{answer}}$."
    batch_size: int = 8
    device: str = "auto"
    dtype: str = "auto"


class LabelsRecipe(_Strict):
    stage: Literal["labels"] = "labels"
    labeler: Literal["judge", "gain", "likelihood"]
    output: str
    queries: QueriesSpec = Field(default_factory=QueriesSpec)
    corpus: CorpusSpec = Field(default_factory=CorpusSpec)
    candidates: CandidatesSpec = Field(default_factory=CandidatesSpec)
    prompt: PromptConfig = Field(default_factory=PromptConfig)
    judge: JudgeConfig | None = None
    gain: GainConfig | None = None
    likelihood: LikelihoodConfig | None = None
    flush_every: int = 32  # cache lines are appended (and flushed) at least this often

    @model_validator(mode="after")
    def _section(self) -> "LabelsRecipe":
        if getattr(self, self.labeler) is None:
            raise ValueError(f"labeler `{self.labeler}` needs a `{self.labeler}:` section")
        return self


class RetrieverRecipe(_Strict):
    stage: Literal["retriever"] = "retriever"
    labels: list[str]
    queries: QueriesSpec | None = None  # default: queries.jsonl written next to the first labels file
    corpus: CorpusSpec = Field(default_factory=CorpusSpec)
    base_model: str | None = None  # sentence-transformers directory or cached hub id; default: offline MiniLM
    output: str
    index_text: Literal["problem", "problem+solution"] = "problem+solution"
    query_prefix: str = ""
    doc_prefix: str = ""
    positive_threshold: float = 0.0  # a pair is positive when its value is above this
    hard_negatives: int = 1  # labelled non-positives of the query added to each example
    temperature: float = 0.05
    epochs: int = 3
    batch_size: int = 128
    lr: float = 3e-5
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    holdout_fraction: float = 0.05
    min_holdout: int = 1
    eval_every: int | None = None  # steps between held-out evaluations (default: once per epoch)
    max_seq_length: int | None = None
    bf16: bool = False
    device: str = "auto"
    seed: int = 0
    # train only the top N transformer layers (and the pooler); the embeddings and the lower layers stay
    # frozen at the base model's weights. None: every weight trains
    trainable_layers: int | None = None
    # "full": a whole sentence-transformers directory; "delta": the manifest plus delta.safetensors with the
    # trainable tensors only (float16), applied on top of the base model at load time (a few MB to commit)
    save_format: Literal["full", "delta"] = "full"

    @model_validator(mode="before")
    @classmethod
    def _labels_list(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("labels"), str):
            data = {**data, "labels": [data["labels"]]}
        return data

    @model_validator(mode="after")
    def _check_trainable(self) -> "RetrieverRecipe":
        if self.trainable_layers is not None and self.trainable_layers < 1:
            raise ValueError(f"`trainable_layers` must be >= 1 (got {self.trainable_layers}); leave it out to train "
                             f"every layer")
        return self


class PolicyConfig(_Strict):
    model: str
    revision: str | None = None
    dtype: str = "float32"  # weights in memory; with `trainer.bf16: true` compute runs in bf16 autocast
    attn_implementation: str | None = None
    save_dtype: str | None = None  # cast the final checkpoint (e.g. bfloat16); None: as trained
    # PyTorch's cuDNN attention backend can turn GRPO's padded batches NaN in bf16 (grad_norm nan, then
    # "probability tensor contains inf/nan" in sampling; seen on an H100 with torch 2.11, and
    # huggingface/trl#7181); false disables that one SDPA backend (flash / memory-efficient stay on)
    cudnn_sdp: bool = False


class RetrievalConfig(_Strict):
    retriever: str = "none"
    corpus: CorpusSpec = Field(default_factory=CorpusSpec)
    n_demonstrations: int = 1
    options: dict[str, Any] = Field(default_factory=dict)  # make_retriever options (index_text, leak, ...)
    seed: int = 0
    # a run directory of `rarft-train grpo --prepare-only` (same recipe) whose retrieval-augmented dataset is
    # used as is: retrieve on one machine, train on another that lacks the retriever's model or corpus
    prepared: str | None = None


class RewardConfig(_Strict):
    grader: Literal["rarft", "math-verify"] = "rarft"
    truncated_is_wrong: bool = True  # a completion cut at max_completion_length scores 0, as in evaluation
    workers: int | None = None


class VerlConfig(_Strict):
    """`rarft-train export-verl`: the Parquet files and the launch script written for verl."""

    data_source: str = "rarft_eval"
    ability: str = "math"
    val_tasks: list[str] = Field(default_factory=list)  # eval tasks exported as val.parquet (same retriever)
    val_n: int = 4  # validation samples per problem (verl's rollout.val_kwargs.n)
    n_gpus_per_node: int = 8
    nnodes: int = 8  # the paper: 64 H100
    train_batch_size: int = 128  # prompts per step (not reported by the paper)
    ppo_mini_batch_size: int = 32
    max_prompt_length: int | None = None  # default: the longest exported prompt, rounded up to 256
    tensor_model_parallel_size: int = 1
    gpu_memory_utilization: float = 0.6
    total_epochs: int = 1
    project_name: str = "rarft"


class GRPORecipe(_Strict):
    stage: Literal["grpo"] = "grpo"
    name: str = "grpo"
    policy: PolicyConfig
    queries: QueriesSpec = Field(default_factory=QueriesSpec)
    retrieval: RetrievalConfig = Field(default_factory=RetrievalConfig)
    prompt: PromptConfig = Field(default_factory=PromptConfig)
    reward: RewardConfig = Field(default_factory=RewardConfig)
    trainer: dict[str, Any] = Field(default_factory=dict)  # trl.GRPOConfig keyword arguments
    output_dir: str | None = None
    verl: VerlConfig = Field(default_factory=VerlConfig)


class MicroPretrain(_Strict):
    """Pre-training of the micro policy (rarft_eval.micro.policy): the mix of solved problems and the optimizer."""

    examples: int = 100_000
    p_same: float = 0.2  # a taught procedure with a same-procedure demonstration
    p_other: float = 0.1  # a taught procedure with a demonstration of another one
    p_practice: float = 0.3  # a made-up rule explained only by its demonstration
    epochs: float = 1.0
    batch_size: int = 128
    lr: float = 1e-3
    warmup_ratio: float = 0.02
    weight_decay: float = 0.01
    vocab_size: int = 1024
    seed: int = 0


class MicroRecipe(_Strict):
    """`rarft-train micro`: every stage on the micro world (rarft_eval.micro.recipe)."""

    stage: Literal["micro"] = "micro"
    output: str = "runs/micro"
    world_seed: int = 0
    pretrain: MicroPretrain = Field(default_factory=MicroPretrain)
    # sub-stage recipes (rarft-train labels / retriever / grpo keys); paths are filled in by the recipe
    labels: list[dict[str, Any]] = Field(default_factory=list)
    retriever: dict[str, Any] = Field(default_factory=dict)
    grpo: dict[str, Any] = Field(default_factory=dict)
    engine: str = "auto"  # gain-label rollouts: vllm when importable, else hf (batched transformers)


RECIPES: dict[str, type[BaseModel]] = {"labels": LabelsRecipe, "retriever": RetrieverRecipe, "grpo": GRPORecipe,
                                       "micro": MicroRecipe}


def parse_override(text: str) -> tuple[list[str], Any]:
    """`a.b.c=VALUE` -> (["a", "b", "c"], yaml-parsed VALUE)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise RarftError(f"--set {text!r}: write KEY=VALUE, e.g. --set trainer.max_steps=10")
    try:
        parsed = yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError:
        parsed = value
    return [k for k in key.strip().split(".") if k], parsed


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    out = copy.deepcopy(data)
    for text in overrides:
        keys, value = parse_override(text)
        node = out
        for k in keys[:-1]:
            nxt = node.get(k)
            if nxt is None:
                nxt = node[k] = {}
            if not isinstance(nxt, dict):
                raise RarftError(f"--set {text!r}: `{k}` is not a mapping in the recipe")
            node = nxt
        node[keys[-1]] = value
    return out


def read_yaml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise RarftError(f"recipe {p} not found")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise RarftError(f"{p}: invalid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise RarftError(f"{p}: a recipe must be a YAML mapping")
    return data


def load_recipe(path: str | Path | None, stage: str, overrides: Sequence[str] = (),
                data: dict[str, Any] | None = None) -> Any:
    """The typed recipe of `stage` from a YAML file (or `data`), with `--set` overrides applied."""
    raw = dict(data) if data is not None else read_yaml(path) if path is not None else {}
    raw = apply_overrides(raw, overrides)
    where = str(path) if path is not None else "recipe"
    found = raw.get("stage", stage)
    if found != stage:
        raise RarftError(f"{where} is a `{found}` recipe; use `rarft-train {found} --config {where}`")
    raw["stage"] = stage
    model = RECIPES[stage]
    try:
        return model(**raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "recipe"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key" + _suggest(err["loc"], model)
        raise RarftError(f"{where}: `{loc}`: {msg}") from None


def _suggest(loc: Sequence[Any], model: type[BaseModel]) -> str:
    node: Any = model
    for part in loc[:-1]:
        field = getattr(node, "model_fields", {}).get(part)
        if field is None:
            return ""
        ann = field.annotation
        args = getattr(ann, "__args__", None) or (ann,)
        node = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if node is None:
            return ""
    known = list(getattr(node, "model_fields", {}))
    close = difflib.get_close_matches(str(loc[-1]), known, n=1)
    return f" (did you mean `{close[0]}`?)" if close else f" (known: {', '.join(known)})"


def to_plain(recipe: BaseModel) -> dict[str, Any]:
    return recipe.model_dump(mode="json")
