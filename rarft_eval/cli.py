"""Command line: `rarft-eval [run] ...`, `rarft-eval tasks`, `rarft-eval leaderboard`.

The bare form (`rarft-eval --model M --tasks aime25 -k 32`) runs an evaluation, like `run`.
Errors caused by input are printed as one line (`error: ...`) with a non-zero exit status.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Sequence

from rarft_eval import process_guard as _process_guard
from rarft_eval.errors import RarftError

SUBCOMMANDS = ("run", "ablate", "compare", "tasks", "leaderboard", "lm-eval-tasks")


def _bool_flag(parser: argparse.ArgumentParser, name: str, default: bool | None, help: str) -> None:
    parser.add_argument(f"--{name}", dest=name.replace("-", "_"), action=argparse.BooleanOptionalAction,
                        default=default, help=help)


def _kv(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def add_run_args(run: argparse.ArgumentParser, ablate: bool = False) -> None:
    g = run.add_argument_group("what to evaluate")
    g.add_argument("--model", help="HF model directory or hub id (default: the shipped micro-world policy models/micro/base; default:micro-grpo, default:micro-rarft, default:tiny-qwen3 name the others)")
    g.add_argument("--revision", help="model revision (hub branch, tag or commit)")
    g.add_argument("--tokenizer", help="tokenizer path or id if it differs from --model")
    g.add_argument("--tasks", default="micro", help="comma-separated tasks and groups (default: micro, the embedded "
                   "micro world; `paper` = the paper's four)")
    if ablate:
        g.add_argument("--retrievers", default="none,bm25,semantic",
                       help="comma-separated retrievers to compare (default: none,bm25,semantic)")
        g.add_argument("--name", help="ablation name (default: <model>-<tasks>)")
        g.add_argument("--no-plot", action="store_true", help="skip the PNG plot")
    else:
        g.add_argument("--retriever", default="none", help="demonstration retriever: none, random, bm25, semantic[:MODEL], "
                       "benefit:CHECKPOINT, oracle:LABELS (default: none)")
    g.add_argument("--demonstrations", type=int, default=1, help="demonstrations per prompt (default: 1, as the paper)")
    r = run.add_argument_group("retrieval")
    r.add_argument("--corpus", help="demonstration corpus, JSONL or Parquet (default: the bundled MATH train set)")
    r.add_argument("--corpus-fields", help='field mapping of --corpus, e.g. "id=uuid,problem=question,solution=response"')
    r.add_argument("--retrieval-gold", help="gold relevance labels (JSONL: query_id, demo_id, label) for recall@1/@5")
    r.add_argument("--leak-embedding", type=float,
                   help="also exclude demonstrations whose embedding cosine to the problem exceeds this (e.g. 0.95)")
    g.add_argument("-k", "--k", type=int, default=32, help="samples per problem (default: 32)")
    g.add_argument("--limit", type=int, help="only the first N problems of each task (smoke runs)")
    s = run.add_argument_group("sampling")
    s.add_argument("--preset", help="sampling preset: paper (T=1.0, top_p=1.0, 32768 tokens) or qwen3 (0.6, 0.95, top_k 20)")
    s.add_argument("--temperature", type=float)
    s.add_argument("--top-p", type=float)
    s.add_argument("--top-k", type=int)
    s.add_argument("--max-tokens", type=int)
    s.add_argument("--seed", type=int, default=0, help="run seed; per-sample seeds derive from it (default: 0)")
    p = run.add_argument_group("prompting and grading")
    _bool_flag(p, "chat-template", True, "apply the model's chat template (default: on)")
    _bool_flag(p, "enable-thinking", None, "thinking mode for models whose template supports it (default: the template's)")
    p.add_argument("--system-prompt", help="system message (default: none)")
    p.add_argument("--grader", default="rarft", choices=["rarft", "math-verify"],
                   help="which verdict counts: rarft-eval's grader (default) or plain math-verify as the paper's reward")
    _bool_flag(p, "reference-grader", True, "also record plain math-verify's verdict for every sample (default: on; "
               "off saves CPU on long responses, and the math-verify accuracy is then not reported)")
    e = run.add_argument_group("engine")
    e.add_argument("--engine", default="vllm", choices=["vllm", "hf", "openai"])
    e.add_argument("--tensor-parallel-size", "--tp", type=int, default=1)
    e.add_argument("--data-parallel-size", "--dp", type=int, default=1)
    e.add_argument("--max-model-len", type=int)
    e.add_argument("--dtype", default="auto")
    e.add_argument("--base-url", help="OpenAI-compatible server URL for --engine openai (e.g. http://127.0.0.1:8000/v1)")
    e.add_argument("--served-model", help="model name on the server (default: --model)")
    e.add_argument("--concurrency", type=int, default=16, help="parallel requests for --engine openai")
    e.add_argument("--engine-arg", action="append", type=_kv, default=[], metavar="KEY=VALUE",
                   help="extra engine keyword argument (repeatable), e.g. --engine-arg gpu_memory_utilization=0.85")
    o = run.add_argument_group("output")
    o.add_argument("--results-dir", type=Path, default=Path("results"), help="where runs and leaderboard.csv live")
    o.add_argument("--output", type=Path, help="run directory (default: results/runs/<model>__<retriever>__<tasks>)")
    o.add_argument("--new-run", action="store_true", help="start a fresh run directory even if one exists")
    o.add_argument("--repair", action="store_true", help="move corrupt sample lines aside and resample them")
    o.add_argument("--no-progress", action="store_true")
    o.add_argument("--grader-workers", type=int, help="grading processes (default: CPU count)")



def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rarft-eval",
        description="Evaluate LLMs on competition math with avg@k sampling and retrieval-augmented prompts.",
        epilog="The bare form `rarft-eval --model M --tasks aime25 -k 32` is the same as `rarft-eval run ...`.",
    )
    sub = parser.add_subparsers(dest="command")

    add_run_args(sub.add_parser("run", help="evaluate a model on tasks (the default command)"))
    add_run_args(sub.add_parser("ablate", help="one model over tasks x retrievers, with paired statistics"), ablate=True)

    c = sub.add_parser("compare", help="paired comparison of finished runs on the problems they share")
    c.add_argument("runs", nargs="+", type=Path, help="run directories; the first is the baseline")
    c.add_argument("--labels", help="comma-separated labels for the runs")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--json", type=Path, help="also write the table as JSON here")

    t = sub.add_parser("tasks", help="list registered tasks with problem counts and sources")
    t.add_argument("--json", action="store_true")

    lb = sub.add_parser("leaderboard", help="print results/leaderboard.csv")
    lb.add_argument("--results-dir", type=Path, default=Path("results"))
    lb.add_argument("--task", help="only rows of this task")

    sub.add_parser("lm-eval-tasks", help="print the --include_path that gives lm-evaluation-harness the rarft_* tasks")
    return parser


def _normalize_argv(argv: list[str]) -> list[str]:
    if not argv:
        return ["run"]
    if argv[0] in SUBCOMMANDS or argv[0] in ("-h", "--help"):
        return argv
    return ["run", *argv]


def main(argv: Sequence[str] | None = None) -> int:
    if (refused := _process_guard.cli_refusal("rarft-eval")) is not None:  # a script without a __main__ guard
        return refused
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")  # vLLM's INFO lines drown the progress bar
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args_list = _normalize_argv(list(sys.argv[1:] if argv is None else argv))
    parser = build_parser()
    args = parser.parse_args(args_list)
    try:
        if args.command == "tasks":
            return cmd_tasks(args)
        if args.command == "leaderboard":
            return cmd_leaderboard(args)
        if args.command == "ablate":
            return cmd_ablate(args)
        if args.command == "compare":
            return cmd_compare(args)
        if args.command == "lm-eval-tasks":
            return cmd_lm_eval_tasks(args)
        return cmd_run(args)
    except RarftError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted; samples written so far are kept, rerun the same command to resume", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug or an unforeseen failure: one line, the traceback only on request
        if os.environ.get("RARFT_EVAL_DEBUG"):
            raise
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(f"error: unexpected {type(exc).__name__}: {msg} (samples written so far are kept; "
              f"set RARFT_EVAL_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1


def cmd_tasks(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from rarft_eval.tasks import all_tasks, groups

    rows = []
    for task in all_tasks().values():
        rows.append({
            "task": task.name,
            "problems": len(task.load_problems()),
            "groups": ",".join(task.config.groups),
            "answer_type": task.config.grading.get("answer_type", "auto"),
            "source": task.config.dataset.source,
            "license": task.config.dataset.license,
        })
    if args.json:
        print(json.dumps({"tasks": rows, "groups": groups()}, indent=2))
        return 0
    table = Table(title="rarft-eval tasks")
    for col in ("task", "problems", "groups", "answer_type", "source"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r["task"], str(r["problems"]), r["groups"], r["answer_type"], r["source"])
    console = Console()
    console.print(table)
    console.print("groups: " + "; ".join(f"{g} = {','.join(ts)}" for g, ts in groups().items()))
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from rarft_eval import leaderboard

    path = args.results_dir / "leaderboard.csv"
    rows = leaderboard.read(path)
    if args.task:
        rows = [r for r in rows if r["task"] == args.task]
    if not rows:
        print(f"no results in {path} yet; run `rarft-eval --tasks micro -k 4 --limit 8` first", file=sys.stderr)
        return 1
    table = Table(title=str(path))
    cols = ["model", "task", "retriever", "k", "temperature", "avg@k", "avg@k_se", "avg@k_ci95_lo", "avg@k_ci95_hi",
            "pass@k", "maj@k", "truncation_rate", "n_problems", "date", "run_id"]
    for c in cols:
        table.add_column(c, overflow="fold")
    for r in rows:
        table.add_row(*[_pct(r[c]) if c.startswith(("avg@", "pass@", "maj@", "trunc")) else r[c] for c in cols])
    Console().print(table)
    return 0


def _pct(value: str) -> str:
    try:
        return f"{100 * float(value):.1f}"
    except ValueError:
        return value


def run_options(args: argparse.Namespace):
    from rarft_eval.runner import RunOptions

    return RunOptions(
        model=args.model, tasks=args.tasks, k=args.k, retriever=getattr(args, "retriever", "none"),
        n_demonstrations=args.demonstrations, corpus=args.corpus, corpus_fields=args.corpus_fields,
        retrieval_gold=args.retrieval_gold, leak_embedding=args.leak_embedding, engine=args.engine,
        preset=args.preset, temperature=args.temperature, top_p=args.top_p, top_k=args.top_k,
        max_tokens=args.max_tokens, seed=args.seed, limit=args.limit, revision=args.revision,
        tokenizer=args.tokenizer, chat_template=args.chat_template, enable_thinking=args.enable_thinking,
        system_prompt=args.system_prompt, grader=args.grader, reference_grader=args.reference_grader, results_dir=args.results_dir, output=args.output,
        new_run=args.new_run, repair=args.repair, tensor_parallel_size=args.tensor_parallel_size,
        data_parallel_size=args.data_parallel_size, max_model_len=args.max_model_len, dtype=args.dtype,
        base_url=args.base_url, served_model=args.served_model, concurrency=args.concurrency,
        engine_args=dict(args.engine_arg), grader_workers=args.grader_workers, progress=not args.no_progress,
    )


def cmd_run(args: argparse.Namespace) -> int:
    from rarft_eval.report import ConsoleReporter, print_metrics
    from rarft_eval.runner import run_eval

    opts = run_options(args)
    reporter = ConsoleReporter(enabled=opts.progress)
    try:
        result = run_eval(opts, on_event=reporter.on_event)
    finally:
        reporter.close()
    print_metrics(result)
    return 0


def cmd_ablate(args: argparse.Namespace) -> int:
    from rarft_eval.ablation import parse_retrievers, run_ablation
    from rarft_eval.report import ConsoleReporter, print_ablation

    opts = run_options(args)
    retrievers = parse_retrievers(args.retrievers)
    reporter = ConsoleReporter(enabled=opts.progress)
    try:
        rows, path = run_ablation(opts, retrievers, name=args.name, on_event=reporter.on_event, plot=not args.no_plot)
    finally:
        reporter.close()
    print_ablation(rows, retrievers, path)
    return 0


def cmd_lm_eval_tasks(args: argparse.Namespace) -> int:
    from rarft_eval.lm_eval_tasks import include_path

    path = include_path()
    if not any(path.glob("rarft_*.yaml")):
        raise RarftError(f"{path} holds no lm-eval task YAMLs; reinstall rarft-eval or run "
                         "`python -m rarft_eval.lm_eval_tasks generate`")
    print(path)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from rarft_eval.compare import comparison_table, dump, load_run_scores
    from rarft_eval.report import print_comparison

    if len(args.runs) < 2:
        raise RarftError("compare needs at least two run directories")
    labels = args.labels.split(",") if args.labels else [None] * len(args.runs)
    if len(labels) != len(args.runs):
        raise RarftError(f"--labels has {len(labels)} labels for {len(args.runs)} runs")
    runs = [load_run_scores(p, label) for p, label in zip(args.runs, labels)]
    rows = comparison_table(runs, seed=args.seed)
    print_comparison(rows)
    if args.json:
        dump(rows, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
