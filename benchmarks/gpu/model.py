"""A random-weight model at a named real architecture, with a tokenizer of exactly its vocabulary size.

    python benchmarks/gpu/model.py tokenizer OUT_DIR [--vocab 151936]
    python benchmarks/gpu/model.py model --arch qwen3-1.7b --tokenizer TOK_DIR --out OUT_DIR [--device cuda]

Nothing is downloaded. The tokenizer is a byte-level BPE trained on the project's own math text
(`tasks/data/math_train/train.jsonl` and every `tasks/data/*/test.jsonl`), with ChatML special tokens
and chat template, and its vocabulary padded with plain entries `<xN>` to the architecture's exact size,
so that every id a random model samples decodes (padding with *added* tokens instead makes every
tokenizer load about 3x slower, which would inflate engine start-up). The weights are random
(`torch.manual_seed(seed)`), in bfloat16, built on the given device (seconds on a GPU).

The shapes are those of the published configs (hidden size, MLP width, layers, heads, KV heads, head
dim, vocabulary, tied embeddings, RoPE base); a random model has the real model's cost per token but
not its outputs: it almost never emits an end token, so every sample runs to `max_tokens`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# The published Qwen3 configs (config.json of Qwen/Qwen3-0.6B, -1.7B, -4B).
ARCHITECTURES: dict[str, dict] = {
    "qwen3-0.6b": dict(hidden_size=1024, intermediate_size=3072, num_hidden_layers=28, num_attention_heads=16,
                       num_key_value_heads=8, head_dim=128, vocab_size=151936, tie_word_embeddings=True),
    "qwen3-1.7b": dict(hidden_size=2048, intermediate_size=6144, num_hidden_layers=28, num_attention_heads=16,
                       num_key_value_heads=8, head_dim=128, vocab_size=151936, tie_word_embeddings=True),
    "qwen3-4b": dict(hidden_size=2560, intermediate_size=9728, num_hidden_layers=36, num_attention_heads=32,
                     num_key_value_heads=8, head_dim=128, vocab_size=151936, tie_word_embeddings=True),
}
COMMON = dict(max_position_embeddings=40960, rope_theta=1_000_000.0, rms_norm_eps=1e-6)
SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")  # ids 0, 1, 2
CHAT_TEMPLATE = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
                 "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def training_texts(repo: Path = REPO) -> list[str]:
    """Every string field longer than 20 characters of the shipped MATH train set and test sets."""
    files = [repo / "tasks" / "data" / "math_train" / "train.jsonl", *sorted((repo / "tasks" / "data").glob("*/test.jsonl"))]
    texts: list[str] = []
    for f in files:
        if not f.is_file():
            continue
        for line in f.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            texts.extend(v for v in row.values() if isinstance(v, str) and len(v) > 20)
    if not texts:
        raise SystemExit(f"error: no tokenizer training text under {repo / 'tasks' / 'data'}")
    return texts


def build_tokenizer(out: Path, vocab_size: int = 151936, texts: list[str] | None = None) -> Path:
    """Byte-level BPE with exactly `vocab_size` ids, ChatML specials and template, saved to `out`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    texts = training_texts() if texts is None else texts
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    if vocab_size < len(alphabet) + len(SPECIALS):
        raise ValueError(f"vocab_size {vocab_size} is below the byte alphabet + specials ({len(alphabet) + 3})")
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIALS), min_frequency=1,
                                  initial_alphabet=alphabet, show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    spec = json.loads(tok.to_str())
    vocab = spec["model"]["vocab"]
    # Pad the BPE vocabulary itself: entries no merge produces, which still decode ('<', 'x', digits and '>'
    # are byte-level characters).
    for i in range(len(vocab), vocab_size):
        vocab[f"<x{i}>"] = i
    tok = Tokenizer.from_str(json.dumps(spec))
    if tok.get_vocab_size() != vocab_size:
        raise AssertionError(f"tokenizer has {tok.get_vocab_size()} ids, expected {vocab_size}")
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   bos_token=None, unk_token=None)
    fast.chat_template = CHAT_TEMPLATE
    out.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(out)
    return out


def model_config(arch: str, **overrides):
    """The transformers Qwen3Config of a named architecture (overrides: tiny test sizes)."""
    from transformers import Qwen3Config

    if arch not in ARCHITECTURES:
        raise SystemExit(f"error: unknown architecture {arch!r}; known: {', '.join(ARCHITECTURES)}")
    kw = {**COMMON, **ARCHITECTURES[arch], **overrides}
    rope_theta = kw.pop("rope_theta")
    return Qwen3Config(**kw, rope_parameters={"rope_type": "default", "rope_theta": rope_theta},
                       bos_token_id=None, eos_token_id=2, pad_token_id=0, dtype="bfloat16")


def build_model(arch: str, tokenizer_dir: Path, out: Path, *, device: str = "cpu", seed: int = 0,
                **overrides) -> dict:
    """Random bfloat16 weights at `arch` (plus overrides), saved with the tokenizer into `out`."""
    import shutil

    import torch
    from transformers import AutoTokenizer, GenerationConfig, Qwen3ForCausalLM

    t0 = time.perf_counter()
    cfg = model_config(arch, **overrides)
    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    if len(tok) != cfg.vocab_size:
        raise SystemExit(f"error: tokenizer {tokenizer_dir} has {len(tok)} ids, {arch} needs {cfg.vocab_size}")
    torch.manual_seed(seed)
    with torch.device(device):
        model = Qwen3ForCausalLM(cfg).to(torch.bfloat16)
    model.generation_config = GenerationConfig(bos_token_id=None, eos_token_id=2, pad_token_id=0)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    for f in Path(tokenizer_dir).iterdir():
        if f.is_file():
            shutil.copy(f, out / f.name)
    n = sum(p.numel() for p in model.parameters())
    info = {"arch": arch, "overrides": overrides, "parameters": n, "seed": seed, "device": device,
            "build_s": round(time.perf_counter() - t0, 1)}
    (out / "rarft_random_model.json").write_text(json.dumps(info, indent=1))
    return info


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("tokenizer", help="train the tokenizer")
    t.add_argument("out", type=Path)
    t.add_argument("--vocab", type=int, default=151936)
    m = sub.add_parser("model", help="build a random model at a named architecture")
    m.add_argument("--arch", required=True, choices=sorted(ARCHITECTURES))
    m.add_argument("--tokenizer", type=Path, required=True)
    m.add_argument("--out", type=Path, required=True)
    m.add_argument("--device", default="cpu")
    m.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.cmd == "tokenizer":
        t0 = time.perf_counter()
        build_tokenizer(args.out, args.vocab)
        print(f"tokenizer: {args.vocab} ids -> {args.out} in {time.perf_counter() - t0:.1f} s", flush=True)
        return 0
    info = build_model(args.arch, args.tokenizer, args.out, device=args.device, seed=args.seed)
    print(f"model {info['arch']}: {info['parameters'] / 1e9:.3f} B parameters -> {args.out} in {info['build_s']} s",
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
