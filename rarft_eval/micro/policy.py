"""The micro policy: a tokenizer trained on the world's text, a tiny Qwen3 built from scratch, and its
pre-training (supervised next-token loss on the solution, TRL's SFTTrainer) on solved world problems,
some with a demonstration in context, rendered with exactly the prompt the evaluation sends.

    python -m rarft_eval.micro.policy OUT_DIR [--examples N] [--epochs E]   # or a stage of rarft-train micro
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path
from typing import Any

from rarft_eval.micro.world import World, WorldConfig
from rarft_eval.training.recipes import MicroPretrain

# head_dim 64: vLLM's CPU attention refuses smaller heads. ~2.9M parameters with a 1k vocabulary.
MICRO_SHAPE = dict(
    hidden_size=256,
    intermediate_size=768,
    num_hidden_layers=4,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=64,
    max_position_embeddings=1024,
)
MARKER = "rarft_micro_model.json"


PretrainConfig = MicroPretrain  # the `pretrain:` section of training/micro.yaml


def micro_task():
    from rarft_eval.tasks import all_tasks

    return all_tasks()["micro"]


def prompt_builder(tokenizer):
    from rarft_eval.config import PromptOptions
    from rarft_eval.prompts import PromptBuilder

    return PromptBuilder(tokenizer, PromptOptions(chat_template=True))


def render(builder, spec, item, demo) -> str:
    from rarft_eval.grading.types import GradeSpec
    from rarft_eval.retrieval import Demonstration
    from rarft_eval.tasks import Problem

    problem = Problem("micro", item.id, item.problem, item.answer, GradeSpec())
    demos = [Demonstration(demo.id, demo.problem, demo.solution, 1.0, demo.answer)] if demo is not None else []
    return builder.render(problem, spec, demos).text


def build_tokenizer(world: World, cfg: PretrainConfig):
    """Byte-level BPE (Qwen's digit-splitting pre-tokenizer) on the world's text and the prompt templates."""
    from rarft_eval.testing.tiny_model import _train_tokenizer

    spec = micro_task().config.prompt
    texts = [spec.instruction, spec.template, spec.demonstration_template]
    for items in world.splits().values():
        for it in items:
            texts += [it.problem, it.solution]
    for item, demo in world.pretrain_examples(2000, seed=cfg.seed + 1):
        texts += [item.problem, item.solution]
    tok = _train_tokenizer(texts, vocab_size=cfg.vocab_size)
    tok.model_max_length = MICRO_SHAPE["max_position_embeddings"]
    return tok


def init_model(tokenizer, seed: int):
    import torch
    from transformers import GenerationConfig, Qwen3Config, Qwen3ForCausalLM

    from rarft_eval.testing.tiny_model import IM_END, PAD

    ids = tokenizer.convert_tokens_to_ids
    config = Qwen3Config(
        **MICRO_SHAPE,
        vocab_size=-(-len(tokenizer) // 64) * 64,
        tie_word_embeddings=True,
        rope_parameters={"rope_type": "default", "rope_theta": 10_000.0},
        bos_token_id=None,
        eos_token_id=ids(IM_END),
        pad_token_id=ids(PAD),
    )
    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=None, eos_token_id=[ids(IM_END), ids(PAD)], pad_token_id=ids(PAD)
    )
    return model


def pretrain_dataset(world: World, tokenizer, cfg: PretrainConfig):
    from datasets import Dataset

    builder = prompt_builder(tokenizer)
    spec = micro_task().config.prompt
    rows = {"prompt": [], "completion": []}
    for item, demo in world.pretrain_examples(cfg.examples, seed=cfg.seed, p_same=cfg.p_same, p_other=cfg.p_other,
                                             p_practice=cfg.p_practice):
        rows["prompt"].append(render(builder, spec, item, demo))
        rows["completion"].append(item.solution)
    return Dataset.from_dict(rows)


def pretrain(out_dir: str | Path, cfg: PretrainConfig = PretrainConfig(), world_cfg: WorldConfig = WorldConfig(),
             log=print) -> dict[str, Any]:
    """Tokenizer + random init + SFT on the world's solved problems; writes a HF model folder."""
    import torch
    import transformers
    import trl
    from trl import SFTConfig, SFTTrainer

    out = Path(out_dir)
    t0 = time.time()
    world = World(world_cfg)
    tokenizer = build_tokenizer(world, cfg)
    model = init_model(tokenizer, cfg.seed)
    n_params = sum(p.numel() for p in model.parameters())
    data = pretrain_dataset(world, tokenizer, cfg)
    log(f"micro policy: {n_params / 1e6:.2f}M parameters, vocab {len(tokenizer)}, {len(data)} pre-training examples")
    cuda = torch.cuda.is_available()
    args = SFTConfig(
        output_dir=str(out.parent / f".{out.name}.trainer"),
        num_train_epochs=cfg.epochs,
        per_device_train_batch_size=cfg.batch_size,
        learning_rate=cfg.lr,
        lr_scheduler_type="cosine",
        warmup_steps=max(1, int(cfg.warmup_ratio * cfg.epochs * len(data) / cfg.batch_size)),
        weight_decay=cfg.weight_decay,
        max_length=MICRO_SHAPE["max_position_embeddings"],
        completion_only_loss=True,
        bf16=cuda,
        use_cpu=not cuda,
        logging_steps=50,
        save_strategy="no",
        report_to="none",
        seed=cfg.seed,
        data_seed=cfg.seed,
        dataloader_num_workers=0,
        dataset_num_proc=max(1, min(8, (os.cpu_count() or 2) // 2)),
        eos_token=tokenizer.eos_token,
        pad_token=tokenizer.pad_token,
    )
    trainer = SFTTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer)
    result = trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    model = trainer.model.to(torch.bfloat16)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    manifest = {
        "model": "rarft-eval micro policy (base, pre-trained)",
        "parameters": n_params,
        "shape": MICRO_SHAPE,
        "pretrain": cfg.model_dump(),
        "world": world.manifest()["config"] | {"config_sha256": world_cfg.sha256()},
        "train_loss_first_last": [losses[0], losses[-1]] if losses else None,
        "train_runtime_s": round(result.metrics.get("train_runtime", 0.0), 1),
        "wall_s": round(time.time() - t0, 1),
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "trl": trl.__version__},
    }
    (out / MARKER).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Pre-train the micro policy from scratch.")
    parser.add_argument("out_dir", type=Path)
    defaults = PretrainConfig()
    parser.add_argument("--examples", type=int, default=defaults.examples)
    parser.add_argument("--epochs", type=float, default=defaults.epochs)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--seed", type=int, default=0)
    a = parser.parse_args(argv)
    random.seed(a.seed)
    m = pretrain(a.out_dir, PretrainConfig(examples=a.examples, epochs=a.epochs, batch_size=a.batch_size, seed=a.seed))
    print(json.dumps({k: m[k] for k in ("parameters", "train_loss_first_last", "wall_s", "device")}))


if __name__ == "__main__":
    main()
