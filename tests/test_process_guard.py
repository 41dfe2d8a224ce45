"""`rarft-eval` and `run_eval` refuse to start inside a multiprocessing child process: a script without a
`__main__` guard is re-imported by every grading worker (forkserver) and by vLLM (spawn), and without the
refusal each of them re-ran the whole evaluation and started its own engine."""

from __future__ import annotations

import multiprocessing as mp
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rarft_eval.process_guard import cli_refusal, in_multiprocessing_child

REPO = Path(__file__).resolve().parents[1]


def test_the_main_process_is_not_a_child():
    assert in_multiprocessing_child() is False
    assert cli_refusal() is None


def _in_child(q) -> None:
    import contextlib
    import io

    from rarft_eval.cli import main
    from rarft_eval.errors import RarftError
    from rarft_eval.runner import RunOptions, run_eval

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = main(["lm-eval-tasks"])
    try:
        run_eval(RunOptions(tasks="no-such-task"))
        raised = None
    except RarftError as exc:
        raised = str(exc)
    q.put((rc, err.getvalue(), raised))


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_cli_main_and_run_eval_refuse_in_a_child(method):
    ctx = mp.get_context(method)
    q = ctx.Queue()
    p = ctx.Process(target=_in_child, args=(q,))
    p.start()
    rc, err, raised = q.get(timeout=120)
    p.join(30)
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith("error: rarft-eval refused to start inside the multiprocessing child")
    assert "__main__" in err
    # refused before the unknown task is looked up
    assert raised is not None and raised.startswith("run_eval refused to start inside the multiprocessing child")


def test_a_script_without_main_guard_runs_once(tmp_path):
    script = tmp_path / "eval_script.py"
    script.write_text(textwrap.dedent("""
        import multiprocessing as mp
        from rarft_eval.cli import main

        rc = main(["lm-eval-tasks"])  # module level, no __main__ guard: a child re-imports this
        print(f"{mp.current_process().name} rc={rc}", flush=True)

        def work():
            pass

        if mp.parent_process() is None and not getattr(mp.current_process(), "_inheriting", False):
            p = mp.get_context("spawn").Process(target=work)
            p.start()
            p.join()
            print(f"child exit {p.exitcode}", flush=True)
    """))
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    lines = out.stdout.splitlines()
    assert "MainProcess rc=0" in lines
    assert any(line.startswith("SpawnProcess") and line.endswith("rc=2") for line in lines), out.stdout
    assert "child exit 0" in lines
    assert out.stderr.count("error: rarft-eval refused to start inside the multiprocessing child") == 1
    assert "Traceback" not in out.stderr
