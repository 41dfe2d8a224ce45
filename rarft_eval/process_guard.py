"""Refuse to start an evaluation inside a multiprocessing child process.

The grading pool (forkserver) and vLLM (spawn) start child processes that re-import the parent's
main module by path. A user script that calls `rarft_eval.cli.main()` or `run_eval()` at module
level, without an `if __name__ == "__main__":` guard, then re-runs the whole evaluation in every
child: each grading worker started its own vLLM engine on the GPU until the machine ran out of
memory. `refuse_in_child()` turns that into one error line in the child.
"""

from __future__ import annotations

import multiprocessing

from rarft_eval.errors import RarftError


def in_multiprocessing_child() -> bool:
    """True in a process started by `multiprocessing` (any start method), including while such a
    child is still importing its parent's main module (`_inheriting`, the flag that multiprocessing's
    own "bootstrapping phase" check reads)."""
    if multiprocessing.parent_process() is not None:
        return True
    return bool(getattr(multiprocessing.current_process(), "_inheriting", False))


def refuse_in_child(what: str = "rarft-eval") -> None:
    """Raise a one-line RarftError when called inside a multiprocessing child process."""
    if in_multiprocessing_child():
        name = multiprocessing.current_process().name
        raise RarftError(
            f"{what} refused to start inside the multiprocessing child process {name!r}: the script that "
            f"starts it must call it under `if __name__ == \"__main__\":` (grading workers and vLLM re-import "
            f"the main module)"
        )


def cli_refusal(what: str = "rarft-eval") -> int | None:
    """For command-line entry points: print the refusal as one `error:` line and return the exit status,
    or return None in a main process."""
    import sys

    try:
        refuse_in_child(what)
    except RarftError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return None
