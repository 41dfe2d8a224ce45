"""GRPO step time and peak memory, both arms (retrieval and none), on whatever accelerator is present.

    python -m rarft_eval.training.bench --out bench-out --steps 10

Builds a randomly initialised Qwen3 policy of a chosen shape locally (the tiny model's tokenizer and
chat template, nothing downloaded; default: Qwen3-0.6B's layer shape), then runs `rarft-train grpo`
twice in fresh processes with the same recipe (training/grpo-bench.yaml): once with the recipe's
retriever and once with `--retriever none`. Each run's `rarft_training.json` holds its per-step wall
times and peak memory; the summary is written to `<out>/bench.json`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def build_policy(out: Path, *, hidden: int, intermediate: int, layers: int, heads: int, kv_heads: int,
                 head_dim: int, seed: int = 0) -> Path:
    """A random Qwen3 of the given shape with the tiny model's locally trained tokenizer and chat template."""
    import torch
    from transformers import GenerationConfig, Qwen3Config, Qwen3ForCausalLM

    from rarft_eval.testing.tiny_model import IM_END, PAD, _corpus, _train_tokenizer

    if (out / "config.json").is_file() and (out / "model.safetensors").is_file():
        return out
    _, texts = _corpus()
    tok = _train_tokenizer(texts)
    tok.save_pretrained(out)
    ids = tok.convert_tokens_to_ids
    config = Qwen3Config(hidden_size=hidden, intermediate_size=intermediate, num_hidden_layers=layers,
                         num_attention_heads=heads, num_key_value_heads=kv_heads, head_dim=head_dim,
                         max_position_embeddings=8192, vocab_size=-(-len(tok) // 64) * 64, tie_word_embeddings=True,
                         rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0}, bos_token_id=None,
                         eos_token_id=ids(IM_END), pad_token_id=ids(PAD), dtype="bfloat16")
    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(config).to(torch.bfloat16)
    model.generation_config = GenerationConfig(bos_token_id=None, eos_token_id=[ids(IM_END), ids(PAD)],
                                               pad_token_id=ids(PAD))
    model.save_pretrained(out)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--recipe", type=Path, default=REPO / "training" / "grpo-bench.yaml")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--hidden", type=int, default=1024)
    p.add_argument("--intermediate", type=int, default=3072)
    p.add_argument("--layers", type=int, default=28)
    p.add_argument("--heads", type=int, default=16)
    p.add_argument("--kv-heads", type=int, default=8)
    p.add_argument("--head-dim", type=int, default=128)
    p.add_argument("--arms", default="recipe,none", help="`recipe` (the recipe's retriever) and/or `none`")
    p.add_argument("--set", dest="overrides", action="append", default=[])
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    policy = build_policy(args.out / "policy", hidden=args.hidden, intermediate=args.intermediate, layers=args.layers,
                          heads=args.heads, kv_heads=args.kv_heads, head_dim=args.head_dim)
    import torch
    from transformers import AutoConfig

    cfg = AutoConfig.from_pretrained(policy)
    n_params = None
    try:
        with torch.device("meta"):
            from transformers import AutoModelForCausalLM

            n_params = sum(x.numel() for x in AutoModelForCausalLM.from_config(cfg).parameters())
    except Exception:  # noqa: BLE001 - informational only
        pass
    summary = {"policy": {"path": str(policy), "parameters": n_params, "shape": {
        "hidden": args.hidden, "intermediate": args.intermediate, "layers": args.layers, "heads": args.heads,
        "kv_heads": args.kv_heads, "head_dim": args.head_dim, "vocab": cfg.vocab_size}},
        "build_s": round(time.perf_counter() - t0, 1), "arms": {}}
    if torch.cuda.is_available():
        summary["gpu"] = torch.cuda.get_device_name(0)
    for arm in args.arms.split(","):
        run_dir = args.out / f"run-{arm}"
        cmd = [sys.executable, "-m", "rarft_eval.training.cli", "grpo", "--config", str(args.recipe),
               "--set", f"policy.model={policy}", "--set", f"trainer.max_steps={args.steps}",
               "--output-dir", str(run_dir), *[x for o in args.overrides for x in ("--set", o)]]
        if arm == "none":
            cmd += ["--retriever", "none"]
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        (args.out / f"log-{arm}.txt").write_text(proc.stdout + "\n----- stderr -----\n" + proc.stderr[-200_000:])
        entry: dict = {"returncode": proc.returncode, "wall_s": round(time.perf_counter() - t, 1)}
        record = run_dir / "rarft_training.json"
        if proc.returncode == 0 and record.is_file():
            doc = json.loads(record.read_text())
            m = doc["metrics"]
            times = m["step_times_s"]
            steady = times[1:] if len(times) > 1 else times
            hist = [h for h in m["log_history"] if "completions/mean_length" in h]
            entry.update(retriever=doc["identity"]["retrieval"]["retriever"], steps=m["steps"],
                         step_times_s=times, mean_step_s=m["mean_step_s"],
                         mean_step_s_after_first=round(sum(steady) / len(steady), 3),
                         peak_memory=m["peak_memory"], prompt_tokens_max=doc["lengths"]["prompt_tokens_max"],
                         prompt_tokens_mean=doc["lengths"]["prompt_tokens_mean"],
                         completion_tokens_mean=round(sum(h["completions/mean_length"] for h in hist) / len(hist), 1)
                         if hist else None, grpo={k: doc["grpo_config"][k] for k in (
                             "num_generations", "per_device_train_batch_size", "gradient_accumulation_steps",
                             "max_completion_length", "bf16", "gradient_checkpointing", "learning_rate", "beta")},
                         dtype=doc["identity"]["policy"]["dtype"])
        else:
            entry["stderr_tail"] = proc.stderr[-3000:]
        summary["arms"][arm] = entry
        (args.out / "bench.json").write_text(json.dumps(summary, indent=2))
        print(json.dumps({arm: {k: v for k, v in entry.items() if k not in ("step_times_s", "grpo")}}), flush=True)
    return 0 if all(a["returncode"] == 0 for a in summary["arms"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
