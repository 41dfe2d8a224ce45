"""A tiny random-weight Qwen3 model, built locally, for tests and smoke runs.

`build_tiny_model(out_dir)` writes a complete Hugging Face model folder (config, safetensors
weights, generation config, tokenizer, chat template) that both transformers and vLLM load
like a real Qwen3 checkpoint. Nothing is downloaded: the tokenizer is a byte-level BPE trained on
the benchmark text shipped in `tasks/data/*/test.jsonl`, the weights are random from `seed`.

The build is deterministic (same seed and builder version -> byte-identical weights), idempotent
(a complete folder with a matching `rarft_tiny_model.json` marker is reused) and atomic (built in
a temporary sibling folder, then renamed into place).

    python -m rarft_eval.testing.tiny_model OUT_DIR [--seed N] [--force]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

BUILDER_VERSION = 1
MARKER_FILE = "rarft_tiny_model.json"
WEIGHTS_FILE = "model.safetensors"
REQUIRED_FILES = (
    "config.json",
    "generation_config.json",
    WEIGHTS_FILE,
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.jinja",
)
REPO_ROOT = Path(__file__).resolve().parents[2]

# Qwen-style added tokens. The first three are special (dropped by skip_special_tokens); the
# think tags are ordinary added tokens, as in Qwen3, so they survive decoding.
PAD, IM_START, IM_END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"
THINK, END_THINK = "<think>", "</think>"
VOCAB_SIZE = 3072  # BPE vocab (incl. the 256 byte symbols) + the 5 added tokens; a multiple of 64
# Qwen2/Qwen3 pre-tokenizer split: single digits, letters runs, punctuation runs, whitespace.
SPLIT_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# Qwen3-style chat template (system/user/assistant/tool turns; `enable_thinking=False` closes an
# empty think block after the generation prompt, exactly as Qwen3's own template does).
CHAT_TEMPLATE = """\
{%- for message in messages %}
    {%- if message['role'] == 'tool' %}
        {{- '<|im_start|>user\\n<tool_response>\\n' + message['content'] + '\\n</tool_response><|im_end|>\\n' }}
    {%- else %}
        {{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
    {%- if enable_thinking is defined and enable_thinking is false %}
        {{- '<think>\\n\\n</think>\\n\\n' }}
    {%- endif %}
{%- endif %}
"""

# Architecture: head_dim 64 because vLLM's CPU attention backend rejects smaller heads.
MODEL_SHAPE = dict(
    hidden_size=128,
    intermediate_size=256,
    num_hidden_layers=2,
    num_attention_heads=2,
    num_key_value_heads=1,
    head_dim=64,
    max_position_embeddings=4096,
)
DTYPE = "bfloat16"


def default_tiny_model_dir() -> Path:
    """`$RARFT_EVAL_CACHE` (or `~/.cache/rarft-eval`) `/models/tiny-qwen3-s0`."""
    cache = os.environ.get("RARFT_EVAL_CACHE") or Path.home() / ".cache" / "rarft-eval"
    return Path(cache).expanduser() / "models" / "tiny-qwen3-s0"


def ensure_tiny_model() -> Path:
    """The default tiny model (seed 0), built in `default_tiny_model_dir()` if missing."""
    return build_tiny_model(default_tiny_model_dir(), seed=0)


def build_tiny_model(out_dir: str | Path, *, seed: int = 0, force: bool = False) -> Path:
    """Build (or reuse) the tiny Qwen3 model for `seed` in `out_dir`; return `out_dir`.

    An existing `out_dir` is replaced only if it is empty or was written by this builder
    (holds the marker file); anything else raises `FileExistsError`.
    """
    out_dir = Path(out_dir).expanduser().absolute()
    if not force and _is_complete(out_dir, seed):
        return out_dir
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / MARKER_FILE).exists():
        raise FileExistsError(f"{out_dir} exists and is not a tiny model folder; not replacing it")

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        _build_into(tmp, seed)
        tmp.chmod(0o755)  # mkdtemp (and the safetensors writer) make private files
        for file in tmp.iterdir():
            file.chmod(0o644)
        if out_dir.exists():  # stale, other seed, or force: move aside, then swap in
            old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
            os.replace(out_dir, old / "m")
            shutil.rmtree(old, ignore_errors=True)
        try:
            os.rename(tmp, out_dir)
        except OSError:  # a concurrent builder got there first
            if not _is_complete(out_dir, seed):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def _build_into(path: Path, seed: int) -> None:
    import tokenizers
    import torch
    import transformers
    from transformers import GenerationConfig, Qwen3Config, Qwen3ForCausalLM

    files, texts = _corpus()
    tokenizer = _train_tokenizer(texts)
    tokenizer.save_pretrained(path)

    ids = tokenizer.convert_tokens_to_ids
    vocab_size = -(-len(tokenizer) // 64) * 64
    config = Qwen3Config(
        **MODEL_SHAPE,
        vocab_size=vocab_size,
        tie_word_embeddings=True,
        rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0},
        bos_token_id=None,
        eos_token_id=ids(IM_END),
        pad_token_id=ids(PAD),
        dtype=DTYPE,
    )
    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(config)
    # Explicit init, in a fixed order from our own generator, so the weights depend on the
    # seed and the shapes only, not on how a transformers version initialises modules.
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in sorted(model.named_parameters()):
            if name.endswith("norm.weight"):
                param.fill_(1.0)
            else:
                param.copy_(torch.randn(param.shape, generator=gen) * config.initializer_range)
    model.to(getattr(torch, DTYPE))
    model.generation_config = GenerationConfig(
        bos_token_id=None, eos_token_id=[ids(IM_END), ids(PAD)], pad_token_id=ids(PAD)
    )
    model.save_pretrained(path)

    marker = {
        "builder": "rarft_eval.testing.tiny_model",
        "version": BUILDER_VERSION,
        "seed": seed,
        "weights_sha256": _sha256(path / WEIGHTS_FILE),
        "tokenizer_sha256": _sha256(path / "tokenizer.json"),
        "corpus_files": [str(f.relative_to(REPO_ROOT)) for f in files],
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__,
        },
    }
    missing = [f for f in REQUIRED_FILES if not (path / f).is_file()]
    if missing:
        raise RuntimeError(f"tiny model build did not write {missing}")
    (path / MARKER_FILE).write_text(json.dumps(marker, indent=2) + "\n")  # written last


def _corpus() -> tuple[list[Path], list[str]]:
    """Problem/question/solution strings of every `tasks/data/*/test.jsonl`, in a fixed order."""
    files = sorted((REPO_ROOT / "tasks" / "data").glob("*/test.jsonl"))
    texts: list[str] = []
    for file in files:
        for line in file.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            for key in ("problem", "question", "solution"):
                value = row.get(key)
                for text in value if isinstance(value, list) else [value]:
                    if isinstance(text, str) and text.strip():
                        texts.append(text)
    if not texts:
        raise FileNotFoundError(f"no tokenizer training text under {REPO_ROOT / 'tasks' / 'data'}")
    return files, texts


def _train_tokenizer(texts: list[str], vocab_size: int = VOCAB_SIZE):
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers
    from tokenizers import pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = [AddedToken(t, special=True, normalized=False) for t in (PAD, IM_START, IM_END)]
    think = [AddedToken(t, special=False, normalized=False) for t in (THINK, END_THINK)]

    tok = Tokenizer(models.BPE(byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(SPLIT_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - len(specials) - len(think),
        min_frequency=2,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    tok.add_special_tokens(specials)
    tok.add_tokens(think)

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=None,
        eos_token=IM_END,
        pad_token=PAD,
        unk_token=None,
        model_max_length=MODEL_SHAPE["max_position_embeddings"],
        padding_side="left",
        clean_up_tokenization_spaces=False,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def _is_complete(path: Path, seed: int) -> bool:
    try:
        marker = json.loads((path / MARKER_FILE).read_text())
    except (OSError, ValueError):
        return False
    return (
        marker.get("version") == BUILDER_VERSION
        and marker.get("seed") == seed
        and all((path / f).is_file() for f in REQUIRED_FILES)
        and marker.get("weights_sha256") == _sha256(path / WEIGHTS_FILE)
    )


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build the tiny random Qwen3 test model.")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true", help="rebuild even if already built")
    args = parser.parse_args(argv)
    print(build_tiny_model(args.out_dir, seed=args.seed, force=args.force))


if __name__ == "__main__":
    main()
