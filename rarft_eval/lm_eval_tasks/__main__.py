"""`python -m rarft_eval.lm_eval_tasks COMMAND`

    path                      print the directory for lm-eval's --include_path
    generate [--check] [--out DIR] [--repeats K] [--retrievers bm25,semantic]
                              (re)write the lm-eval task YAMLs from rarft-eval's task registry;
                              --check only reports drift (exit 2)
    run|ls|validate ARGS...   lm-eval's own command line, with `--model rarft` registered
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from rarft_eval.errors import RarftError


def _generate(argv: list[str]) -> int:
    from rarft_eval.lm_eval_tasks import (
        DEFAULT_REPEATS, DEFAULT_RETRIEVAL_VARIANTS, GENERATOR, check_task_yamls, include_path, write_task_yamls,
    )

    p = argparse.ArgumentParser(prog=GENERATOR, description="Write the rarft_* lm-eval task YAMLs.")
    p.add_argument("--out", type=Path, help=f"output directory (default: {include_path()})")
    p.add_argument("--repeats", type=int, default=DEFAULT_REPEATS,
                   help=f"samples per problem, k (default: {DEFAULT_REPEATS})")
    p.add_argument("--retrievers", default=",".join(DEFAULT_RETRIEVAL_VARIANTS),
                   help="retrievers that get rarft_<task>_<retriever> variants (default: %(default)s)")
    p.add_argument("--check", action="store_true", help="only compare the committed YAMLs with the generated ones")
    args = p.parse_args(argv)
    if args.check:
        problems = check_task_yamls(args.out)
        if problems:
            shown = ", ".join(problems[:5]) + (f" (+{len(problems) - 5} more)" if len(problems) > 5 else "")
            raise RarftError(f"the lm-eval task YAMLs differ from tasks/*.yaml: {shown}; run `{GENERATOR}`")
        print(f"{args.out or include_path()}: up to date")
        return 0
    retrievers = [r.strip() for r in args.retrievers.split(",") if r.strip()]
    paths = write_task_yamls(args.out, repeats=args.repeats, retrievers=retrievers)
    print(f"wrote {len(paths)} files to {paths[0].parent}")
    return 0


def _lm_eval(argv: list[str]) -> int:
    import os

    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")  # as `rarft-eval run`: vLLM's INFO lines drown lm-eval's
    import rarft_eval.lm_eval_tasks.model  # noqa: F401  (registers --model rarft)
    from lm_eval.__main__ import cli_evaluate

    sys.argv = ["lm-eval", *argv]
    cli_evaluate()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if not args or args[0] in ("-h", "--help", "help"):
            print(__doc__.strip())
            return 0
        if args[0] == "path":
            from rarft_eval.lm_eval_tasks import include_path

            print(include_path())
            return 0
        if args[0] == "generate":
            return _generate(args[1:])
        return _lm_eval(args)
    except RarftError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
