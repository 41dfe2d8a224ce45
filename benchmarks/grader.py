"""Grader benchmark: rarft-eval's grader vs plain math-verify on the grading case file.

Measured in the same run, on the same cases:

* accuracy per category and overall: a verdict is right when ``correct`` equals the case's
  expected verdict ("correct" -> True, "wrong"/"no_answer" -> False);
* throughput (checks/second) of each grader run sequentially on one core in a child
  process: rarft = ``grade(response, gold, spec, reference=False)`` with its soft deadlines;
  math-verify = ``verify(parse(gold), parse(response))`` with its default configs and its own
  default SIGALRM timeouts, exactly as a reward function calls it;
* hangs: a check that does not return within ``--hang-s`` seconds is killed (SIGKILL) by the
  benchmark and counted as a hang for that grader (and as a wrong verdict);
* end-to-end throughput of ``Grader.grade_many`` (both verdicts, all cores) on the case
  file and on a simulated 30 problems x 32 samples AIME run.

Usage:  python benchmarks/grader.py [--cases tests/grading/cases.jsonl] [--repeat 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import sys
import time
from collections import defaultdict
from multiprocessing.connection import wait
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _spec(d):
    from rarft_eval.grading.types import GradeSpec

    return GradeSpec(**(d or {}))


def _side_worker(conn, side: str, cases: list[dict], start: int, repeat: int) -> None:
    """Child process: grade cases[start:] sequentially, one message per case."""
    import logging

    logging.disable(logging.CRITICAL)
    if side == "rarft":
        from rarft_eval.grading.core import enable_soft_deadlines, grade

        enable_soft_deadlines()

        def run(c):
            v = grade(c["response"], c["gold"], _spec(c["spec"]), reference=False)
            return bool(v.correct), v.status
    else:
        from math_verify import parse, verify

        from rarft_eval.grading.core import mv_gold_text

        def run(c):
            ok = verify(parse(mv_gold_text(c["gold"])), parse(c["response"]))
            return bool(ok), "correct" if ok else "wrong"

    # warm-up on a trivial case so import-time costs are not charged to the first case
    run({"response": "\\boxed{1}", "gold": "1", "spec": {}})
    conn.send(("ready",))
    for i in range(start, len(cases)):
        c = cases[i]
        times = []
        res = None
        for _ in range(repeat):
            t0 = time.perf_counter()
            try:
                res = run(c)
            except Exception as e:  # a raised exception is a wrong verdict, noted
                res = (False, f"exception:{type(e).__name__}")
            times.append(time.perf_counter() - t0)
        conn.send(("case", i, res[0], res[1], min(times)))
    conn.send(("done",))


def run_side(side: str, cases: list[dict], hang_s: float, repeat: int) -> dict:
    ctx = mp.get_context("spawn")
    results: dict[int, dict] = {}
    start = 0
    hangs = []
    while start < len(cases):
        a, b = ctx.Pipe()
        p = ctx.Process(target=_side_worker, args=(b, side, cases, start, repeat), daemon=True)
        p.start()
        b.close()
        ready = False
        last = time.monotonic()
        while True:
            limit = hang_s * repeat if ready else 300.0
            got = wait([a, p.sentinel], timeout=max(0.0, last + limit - time.monotonic()))
            if not got:
                # the running case exceeded the hang limit: kill, record, continue after it
                p.kill()
                p.join()
                hangs.append(cases[start]["id"])
                results[start] = {"correct": False, "status": "hang", "seconds": hang_s}
                start += 1
                break
            try:
                msg = a.recv()
            except EOFError:
                p.join()
                results[start] = {"correct": False, "status": "crash", "seconds": 0.0}
                start += 1
                break
            last = time.monotonic()
            if msg[0] == "ready":
                ready = True
            elif msg[0] == "case":
                _, i, ok, status, secs = msg
                results[i] = {"correct": ok, "status": status, "seconds": secs}
                start = i + 1
            elif msg[0] == "done":
                p.join()
                start = len(cases)
                break
        a.close()
    return {"results": results, "hangs": hangs}


def accuracy(cases, results) -> tuple[dict, int, int]:
    per = defaultdict(lambda: [0, 0])
    right = 0
    for i, c in enumerate(cases):
        want = c["expected"] == "correct"
        ok = results[i]["correct"] == want
        per[c["category"]][0] += ok
        per[c["category"]][1] += 1
        right += ok
    return dict(per), right, len(cases)


def pool_throughput(cases, repeat: int) -> dict:
    from rarft_eval.grading import Grader

    items = [(c["response"], c["gold"], _spec(c["spec"])) for c in cases]
    aime = []
    for p in range(30):
        gold = str((p * 37 + 11) % 1000)
        for s in range(32):
            ans = gold if s % 3 else str((int(gold) + s) % 1000)
            body = "".join(f"Step {k}: partial value {k * p}.\n" for k in range(60))
            aime.append((f"<think>{body}</think>\nThe final answer is $\\boxed{{{ans}}}$.", gold, _spec({})))
    out = {}
    with Grader() as g:
        g.grade_many(items[:4])  # start workers outside the timing
        for name, its in (("case_file", items), ("aime_30x32", aime)):
            best = None
            for _ in range(repeat):
                t0 = time.perf_counter()
                vs = g.grade_many(its)
                dt = time.perf_counter() - t0
                best = dt if best is None else min(best, dt)
            out[name] = {
                "checks": len(its),
                "seconds": round(best, 3),
                "checks_per_s": round(len(its) / best, 1),
                "timeouts": sum(v.status == "timeout" for v in vs),
                "errors": sum(v.status == "error" for v in vs),
            }
        out["workers"] = len(g._workers)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", default=str(ROOT / "tests" / "grading" / "cases.jsonl"))
    ap.add_argument("--repeat", type=int, default=1, help="timing repeats per check (min is kept)")
    ap.add_argument("--hang-s", type=float, default=20.0, help="seconds after which a check counts as a hang")
    ap.add_argument("--json", default=None, help="write the full result here")
    ap.add_argument("--no-pool", action="store_true", help="skip the Grader pool throughput")
    args = ap.parse_args(argv)

    cases = [json.loads(l) for l in Path(args.cases).read_text(encoding="utf-8").splitlines() if l.strip()]
    report: dict = {"cases": len(cases), "cpu_count": os.cpu_count()}
    sides = {}
    for side in ("math-verify", "rarft"):
        r = run_side(side, cases, args.hang_s, args.repeat)
        per, right, n = accuracy(cases, r["results"])
        total_s = sum(x["seconds"] for x in r["results"].values())
        sides[side] = {
            "per_category": per,
            "right": right,
            "n": n,
            "accuracy": right / n,
            "hangs": r["hangs"],
            "timeouts": [cases[i]["id"] for i, x in r["results"].items() if x["status"] == "timeout"],
            "seconds_total": total_s,
            "checks_per_s": n / total_s if total_s else float("inf"),
            "median_ms": 1000 * statistics.median(x["seconds"] for x in r["results"].values()),
            "results": r["results"],
        }
    for k, v in sides.items():
        slow = sorted(v["results"].items(), key=lambda kv: -kv[1]["seconds"])[:6]
        v["slowest"] = [(cases[i]["id"], round(x["seconds"], 3), x["status"]) for i, x in slow]
    report["sides"] = {k: {kk: vv for kk, vv in v.items() if kk != "results"} for k, v in sides.items()}
    mv, rf = sides["math-verify"], sides["rarft"]

    print(f"grading cases: {len(cases)}   cpu_count: {os.cpu_count()}")
    print(f"{'category':16} {'n':>4} {'math-verify':>12} {'rarft':>8}")
    worse = []
    for cat in sorted(rf["per_category"]):
        a = mv["per_category"][cat]
        b = rf["per_category"][cat]
        flag = "  <-- rarft worse" if b[0] < a[0] else ""
        if b[0] < a[0]:
            worse.append(cat)
        print(f"{cat:16} {b[1]:4d} {a[0] / a[1]:12.3f} {b[0] / b[1]:8.3f}{flag}")
    print(f"{'overall':16} {len(cases):4d} {mv['accuracy']:12.3f} {rf['accuracy']:8.3f}   ({mv['right']} vs {rf['right']} right)")
    for split in sorted({c.get("split", "dev") for c in cases}):
        idx = [i for i, c in enumerate(cases) if c.get("split", "dev") == split]
        want = {i: cases[i]["expected"] == "correct" for i in idx}
        a = sum(mv["results"][i]["correct"] == want[i] for i in idx)
        b = sum(rf["results"][i]["correct"] == want[i] for i in idx)
        report.setdefault("per_split", {})[split] = {"n": len(idx), "math_verify": a, "rarft": b}
        print(f"split {split:10} {len(idx):4d} {a / len(idx):12.3f} {b / len(idx):8.3f}   ({a} vs {b} right)")
    print(f"hangs (> {args.hang_s:g} s, killed): math-verify {len(mv['hangs'])} {mv['hangs']}   rarft {len(rf['hangs'])} {rf['hangs']}")
    print(f"soft timeouts: rarft {len(rf['timeouts'])} {rf['timeouts']}")
    mv_slow = [cases[i]["id"] for i, x in mv["results"].items() if x["seconds"] >= 4.9 and x["status"] != "hang"]
    report["math_verify_ran_into_own_timeout"] = mv_slow
    print(f"math-verify checks that ran into its own 5 s timeout: {len(mv_slow)} {mv_slow}")
    for name, side in (("math-verify", mv), ("rarft", rf)):
        print(f"slowest {name}: " + ", ".join(f"{i} {t:.2f}s" for i, t, _ in side["slowest"]))
    ratio = rf["checks_per_s"] / mv["checks_per_s"]
    print(
        f"throughput, one core, sequential: math-verify {mv['checks_per_s']:.1f} checks/s "
        f"(median {mv['median_ms']:.2f} ms)   rarft {rf['checks_per_s']:.1f} checks/s "
        f"(median {rf['median_ms']:.2f} ms)   ratio rarft/math-verify {ratio:.2f}"
    )
    # same cases, without the ones where either side hung (their time is the kill limit)
    hung = {i for s in (mv, rf) for i, x in s["results"].items() if x["status"] == "hang"}
    t_mv = sum(x["seconds"] for i, x in mv["results"].items() if i not in hung)
    t_rf = sum(x["seconds"] for i, x in rf["results"].items() if i not in hung)
    n_ok = len(cases) - len(hung)
    if t_mv and t_rf:
        print(
            f"throughput excluding {len(hung)} hung case(s): math-verify {n_ok / t_mv:.1f} checks/s   "
            f"rarft {n_ok / t_rf:.1f} checks/s   ratio {t_mv / t_rf:.2f}"
        )
        report["throughput_excluding_hangs"] = {"n": n_ok, "math_verify": n_ok / t_mv, "rarft": n_ok / t_rf}
    report["ratio"] = ratio
    report["worse_categories"] = worse
    disagreements = [
        (c["id"], c["expected"], mv["results"][i]["correct"], rf["results"][i]["correct"])
        for i, c in enumerate(cases)
        if mv["results"][i]["correct"] != rf["results"][i]["correct"]
    ]
    report["disagreements"] = disagreements
    gains = defaultdict(list)
    losses = defaultdict(list)
    for i, c in enumerate(cases):
        want = c["expected"] == "correct"
        m_ok = mv["results"][i]["correct"] == want
        r_ok = rf["results"][i]["correct"] == want
        if r_ok and not m_ok:
            gains[c["category"]].append(c["id"])
        elif m_ok and not r_ok:
            losses[c["category"]].append(c["id"])
    report["rarft_right_math_verify_wrong"] = dict(gains)
    report["math_verify_right_rarft_wrong"] = dict(losses)
    print("cases where rarft is right and math-verify wrong, by category:")
    for cat in sorted(gains):
        print(f"  {cat:16} {len(gains[cat]):3d}  {' '.join(gains[cat])}")
    print(f"cases where math-verify is right and rarft wrong: {sum(map(len, losses.values()))} {dict(losses)}")
    rf_wrong = [c["id"] for i, c in enumerate(cases) if rf["results"][i]["correct"] != (c["expected"] == "correct")]
    print(f"rarft verdicts that differ from the expected verdict: {len(rf_wrong)} {rf_wrong}")
    if not args.no_pool:
        pool = pool_throughput(cases, max(1, args.repeat))
        report["pool"] = pool
        for name in ("case_file", "aime_30x32"):
            p = pool[name]
            print(
                f"Grader.grade_many ({pool['workers']} workers, both verdicts) on {name}: {p['checks']} checks in "
                f"{p['seconds']:.2f} s = {p['checks_per_s']:.1f} checks/s; timeouts {p['timeouts']}, errors {p['errors']}"
            )
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
