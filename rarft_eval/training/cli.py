"""`rarft-train <stage> --config RECIPE.yaml [--set key=value ...]`: the training side's command line.

    rarft-train labels      --config training/labels-judge.yaml       # benefit labels (judge | gain | likelihood)
    rarft-train retriever   --config training/retriever.yaml          # InfoNCE bi-encoder -> benefit checkpoint
    rarft-train grpo        --config training/grpo-small.yaml         # RA-RFT arm
    rarft-train grpo        --config training/grpo-small.yaml --retriever none   # the GRPO baseline
    rarft-train export-verl --config training/grpo-paper.yaml --out data/verl

Errors caused by input are one line (`error: ...`, exit status 2), printed before any model is
loaded. Multi-GPU: `accelerate launch --config_file training/accelerate/<file>.yaml -m
rarft_eval.training.cli grpo --config ...` (docs/training.md).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from typing import Sequence

from rarft_eval.errors import RarftError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rarft-train", description="Train RA-RFT checkpoints: benefit labels -> "
                                     "retriever -> GRPO with retrieved demonstrations (and the GRPO baseline).")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", required=True, help="recipe YAML (see training/)")
        p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a recipe value, dotted path, YAML value (repeatable), e.g. trainer.max_steps=10")

    p = sub.add_parser("labels", help="benefit labels for (query, demonstration) pairs; cached and resumable")
    common(p)
    p.add_argument("--output", help="output directory (overrides the recipe's `output`)")

    p = sub.add_parser("retriever", help="fine-tune the bi-encoder retriever on the labels (InfoNCE)")
    common(p)
    p.add_argument("--labels", action="append", help="labels file(s) (override the recipe's `labels`)")
    p.add_argument("--output", help="checkpoint directory (overrides the recipe's `output`)")

    p = sub.add_parser("grpo", help="GRPO with retrieved demonstrations (TRL); --retriever none is the baseline")
    common(p)
    p.add_argument("--retriever", help="override retrieval.retriever (none = the GRPO baseline arm)")
    p.add_argument("--output-dir", help="run directory (default: runs/grpo/<name>__<retriever>)")
    p.add_argument("--dry-run", action="store_true", help="print the resolved run identity and exit (loads nothing)")
    p.add_argument("--prepare-only", action="store_true",
                   help="run every input check and build the retrieval-augmented dataset, then stop before training")

    p = sub.add_parser("micro", help="the micro world end to end: world, policy, gain labels, retriever, GRPO and "
                       "RA-RFT (docs/micro.md); rerun resumes")
    common(p)
    p.add_argument("--stages", help="comma-separated subset: world,policy,labels,retriever,grpo-none,grpo-benefit")
    p.add_argument("--install", metavar="DIR", help="copy the final checkpoints to DIR (models/micro: the defaults)")

    p = sub.add_parser("export-verl", help="verl Parquet (retrieval-augmented prompts) + the grader as reward function")
    common(p)
    p.add_argument("--retriever", help="override retrieval.retriever")
    p.add_argument("--out", required=True, help="output directory for train.parquet, val.parquet, run_verl.sh")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")  # stdout carries the JSON summary
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    stdout = sys.stdout
    try:
        # libraries print progress to stdout (the Trainer's log dicts, tqdm); stdout is kept for the JSON summary
        with contextlib.redirect_stdout(sys.stderr):
            result = _dispatch(args)
        if result is not None:
            print(json.dumps(result, indent=2, sort_keys=True, default=str), file=stdout)
        return 0
    except RarftError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted; computed labels and saved checkpoints are kept, rerun the same command to resume",
              file=sys.stderr)
        return 130
    except Exception as exc:  # a bug or an unforeseen failure: one line, the traceback only on request
        if os.environ.get("RARFT_EVAL_DEBUG"):
            raise
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(f"error: unexpected {type(exc).__name__}: {msg} (set RARFT_EVAL_DEBUG=1 for the traceback)",
              file=sys.stderr)
        return 1


def _dispatch(args: argparse.Namespace) -> dict | None:
    from rarft_eval.training.recipes import load_recipe

    overrides = list(args.overrides)
    if args.command == "labels":
        if args.output:
            overrides.append(f"output={args.output}")
        from rarft_eval.training.labels import run_labels

        report = run_labels(load_recipe(args.config, "labels", overrides))
        return _summary_labels(report)
    if args.command == "retriever":
        recipe = load_recipe(args.config, "retriever", overrides)
        if args.labels:
            recipe = recipe.model_copy(update={"labels": list(args.labels)})
        if args.output:
            recipe = recipe.model_copy(update={"output": args.output})
        from rarft_eval.training.retriever_train import run_retriever_training

        report = run_retriever_training(recipe)
        return {"checkpoint": report["checkpoint"], "heldout_recall@1_before": report["base"]["recall@1"],
                "heldout_recall@1": report["best"]["recall@1"], "best_step": report["best"]["step"],
                "verified_recall@1": report["verified"]["recall@1"], "train_seconds": report["train_seconds"]}
    if args.command == "micro":
        from rarft_eval.micro.recipe import load_micro_recipe, run_micro

        recipe = load_micro_recipe(args.config, overrides)
        stages = [s.strip() for s in args.stages.split(",") if s.strip()] if args.stages else None
        return run_micro(recipe, stages=stages, install=args.install, log=lambda m: print(m, file=sys.stderr, flush=True))
    if args.command in ("grpo", "export-verl"):
        if args.retriever:
            overrides.append(f"retrieval.retriever={args.retriever}")
        if args.command == "grpo" and args.output_dir:
            overrides.append(f"output_dir={args.output_dir}")
        recipe = load_recipe(args.config, "grpo", overrides)
        from rarft_eval.retrieval import parse_spec

        parse_spec(recipe.retrieval.retriever)  # an unknown retriever is a one-line error here
        if args.command == "export-verl":
            from rarft_eval.training.verl_export import export_verl

            manifest = export_verl(recipe, args.out)
            return {"out": args.out, "files": manifest["files"],
                    "chat_template_identical": manifest["chat_template_identical"]}
        from rarft_eval.training import grpo

        if args.dry_run:
            ident = grpo.run_identity(recipe)
            return {"arm": grpo.arm_of(recipe.retrieval.retriever), "output_dir": str(grpo.output_dir_for(recipe)),
                    "identity_hash": _hash(ident), "identity": ident}
        result = grpo.run_grpo(recipe, prepare_only=args.prepare_only)
        return {k: v for k, v in result.items() if k != "metrics"} | (
            {"steps": result["metrics"]["steps"], "mean_step_s": result["metrics"]["mean_step_s"],
             "step_times_s": result["metrics"]["step_times_s"], "peak_memory": result["metrics"]["peak_memory"]}
            if "metrics" in result else {})
    raise RarftError(f"unknown command {args.command}")


def _hash(obj) -> str:
    from rarft_eval.training.common import stable_hash

    return stable_hash(obj)


def _summary_labels(report: dict) -> dict:
    out = {k: report.get(k) for k in ("labeler", "n_queries", "labelled_pairs", "unlabelled_pairs", "positives",
                                      "queries_with_positive", "labels_path", "seconds")}
    out["candidates"] = {k: report["candidates"].get(k) for k in ("strategy", "pairs", "pairs_before_subsample",
                                                                  "exhaustive_pairs", "excluded_leaks")
                         if k in report["candidates"]}
    out["cache"] = report.get("cache")
    out["totals"] = report.get("totals")
    for key in ("judge", "gain", "likelihood"):
        if key in report:
            out[key] = {k: v for k, v in report[key].items() if k != "engine"}
    return out


if __name__ == "__main__":
    sys.exit(main())
