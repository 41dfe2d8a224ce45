"""Grader benchmark: rarft-eval's grader against plain math-verify, on both case files, in one run.

Case files (both by default):

* ``tests/grading/cases.jsonl``: the project's own cases (818, hand-written verdicts);
* ``tests/grading/external_cases.jsonl``: assertions from other checkers' test suites (see
  ``tests/grading/build_external_cases.py``); only its ``dev`` part unless ``--heldout`` is given
  (the held-out part is meant to be looked at once).

For every case both graders run sequentially, each in its own child process pinned to one CPU core,
alternating over chunks of 150 cases (ABBA):

* rarft = ``grade(response, gold, spec, reference=False)`` with its soft deadlines (math-verify's
  verdict is computed inside it whenever it can change the outcome);
* math-verify = ``verify(parse(gold), parse(response))`` with its default configs and its own
  default SIGALRM timeouts, exactly as a reward function calls it (the gold boxed unless delimited).

A verdict is right when ``correct`` equals the case's expected verdict ("correct" -> True, anything
else -> False). Reported: accuracy per case file, split, category and source; the cases where only
one grader is right (ids); a disagreement table; throughput of each side (checks/s, same cases,
same core, same run) and their ratio; hangs (a check that does not return within ``--hang-s`` is
killed and counted); code execution (every ``compile`` of a string during grading is recorded by an
audit hook; any that is not arithmetic would be model text run as code); the project's fallbacks and vetoes.

Each check is timed once: both graders cache parses, so a repeated check would be answered from
the cache, which no grading run sees (a response is graded once).

Usage:  python benchmarks/grader.py [--cases FILE ...] [--heldout] [--json out.json] [--pool] [--no-aime]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import re
import statistics
import sys
import time
from collections import Counter, defaultdict
from multiprocessing.connection import wait
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_CASES = [ROOT / "tests" / "grading" / "cases.jsonl", ROOT / "tests" / "grading" / "external_cases.jsonl"]

# what sympy's own string evaluation of arithmetic looks like: its constructors, numbers, operators
_ARITHMETIC_EVAL_RE = re.compile(r"^(?:from sympy import \*|(?:Integer|Float|Rational|[\d.eE+\-*/()^,'\"\s])*)$")
# (the strings sympy's parser compiles for arithmetic look like "Integer (2 )*Rational (1 ,3 )")


def _spec(d):
    from rarft_eval.grading.types import GradeSpec

    return GradeSpec(**(d or {}))


def _pin_one_core() -> int | None:
    try:
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpus[-1]})
        return cpus[-1]
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return None


def _side_worker(conn, side: str, cases: list[dict], start: int, repeat: int) -> None:
    """Child process: grade cases[start:] sequentially on one core, one message per case."""
    import logging

    logging.disable(logging.CRITICAL)
    _pin_one_core()
    evals: list[str] = []
    if side == "rarft":
        from rarft_eval.grading.core import enable_soft_deadlines, grade

        enable_soft_deadlines()

        def run(c):
            v = grade(c["response"], c["gold"], _spec(c["spec"]), reference=False)
            return bool(v.correct), v.status, v.decided_by, v.extracted, v.extra.get("fallback")
    else:
        from math_verify import parse, verify

        from rarft_eval.grading.core import mv_gold_text

        def run(c):
            p = parse(c["response"])
            ok = verify(parse(mv_gold_text(c["gold"])), p)
            ext = (p[-1] if isinstance(p[-1], str) else str(p[0])) if p else None
            return bool(ok), "correct" if ok else "wrong", "math-verify", ext, None

    # warm-up (a right, a wrong and a symbolic check, so that both graders' lazy imports and regex
    # compilation happen here and are not charged to the first case of each chunk)
    for resp, gold in (("\\boxed{1}", "1"), ("\\boxed{2}", "1"), ("so $x^2 + 1$", "x^2 - 1"), ("The answer is 3", "4")):
        run({"response": resp, "gold": gold, "spec": {}})

    def hook(event, args):
        # a string compiled on behalf of the grading path: sympy's string parser (parse_expr /
        # sympify) called by math-verify, latex2sympy or rarft_eval. sympy's own code generation
        # (polynomial helpers, unit prefixes defined at import) is not model text and not counted.
        if event != "compile" or len(args) < 2 or args[1] != "<string>":
            return
        f = sys._getframe(1)
        via_parser = False
        while f is not None:
            fn = f.f_code.co_filename
            if f"sympy{os.sep}parsing" in fn or f"sympy{os.sep}core{os.sep}sympify" in fn:
                via_parser = True
            elif via_parser and f"{os.sep}sympy{os.sep}" not in fn:
                if any(k in fn for k in ("math_verify", "latex2sympy2_extended", "rarft_eval")):
                    src = args[0]
                    evals.append(src.decode("utf-8", "replace") if isinstance(src, (bytes, bytearray)) else str(src))
                return
            f = f.f_back

    sys.addaudithook(hook)
    conn.send(("ready",))
    for i in range(start, len(cases)):
        c = cases[i]
        times = []
        res = None
        n_before = len(evals)
        for _ in range(repeat):
            t0 = time.perf_counter()
            try:
                res = run(c)
            except Exception as e:  # a raised exception is a wrong verdict, noted
                res = (False, f"exception:{type(e).__name__}", None, None, None)
            times.append(time.perf_counter() - t0)
        new = evals[n_before:]
        odd = [e[:200] for e in new if not _ARITHMETIC_EVAL_RE.match(e)]
        conn.send(("case", i, res, min(times), len(new), odd))
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
                results[start] = {"correct": False, "status": "hang", "seconds": hang_s, "rule": None, "extracted": None,
                                  "evals": 0, "odd_evals": [], "fallback": None}
                start += 1
                break
            try:
                msg = a.recv()
            except EOFError:
                p.join()
                results[start] = {"correct": False, "status": "crash", "seconds": 0.0, "rule": None, "extracted": None,
                                  "evals": 0, "odd_evals": [], "fallback": None}
                start += 1
                break
            last = time.monotonic()
            if msg[0] == "ready":
                ready = True
            elif msg[0] == "case":
                _, i, (ok, status, rule, extracted, fallback), secs, n_evals, odd = msg
                results[i] = {"correct": ok, "status": status, "seconds": secs, "rule": rule, "extracted": extracted,
                              "evals": n_evals, "odd_evals": odd, "fallback": fallback}
                start = i + 1
            elif msg[0] == "done":
                p.join()
                start = len(cases)
                break
        a.close()
    return {"results": results, "hangs": hangs}


def load_cases(paths: list[Path], heldout: bool) -> list[dict]:
    cases = []
    for path in paths:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        external = "source" in rows[0] if rows else False
        for r in rows:
            r["file"] = path.name
            r.setdefault("split", "dev")
            r["source_repo"] = r["source"]["repo"] if external else "rarft-eval (own cases)"
            if external and r["split"] == "heldout" and not heldout:
                continue
            cases.append(r)
    return cases


def _acc(rows) -> str:
    n = len(rows)
    right = sum(rows)
    return f"{right / n:.3f} ({right}/{n})" if n else "-"


def aime_like_cases() -> list[dict]:
    """30 problems x 32 samples of long reasoning ending in a boxed integer, two thirds right: the
    shape of an avg@32 AIME run (the same gold graded 32 times). Timed only."""
    rows = []
    for p in range(30):
        gold = str((p * 37 + 11) % 1000)
        for s in range(32):
            ans = gold if s % 3 else str((int(gold) + s) % 1000)
            body = "".join(f"Step {k}: the partial value is ${k * p}$.\n" for k in range(60))
            rows.append({"id": f"aime-{p:02d}-{s:02d}", "file": "synthetic_aime_30x32", "split": "timed only",
                         "category": "aime", "source_repo": "synthetic", "gold": gold, "spec": {},
                         "response": f"<think>{body}</think>\nThe final answer is $\\boxed{{{ans}}}$.",
                         "expected": "correct" if ans == gold else "wrong"})
    return rows


def report(all_cases, mv_all, rf_all, args) -> dict:
    keep = [i for i, c in enumerate(all_cases) if c["file"] != "synthetic_aime_30x32"]
    cases = [all_cases[i] for i in keep]
    mv = {j: mv_all[i] for j, i in enumerate(keep)}
    rf = {j: rf_all[i] for j, i in enumerate(keep)}
    out: dict = {"n": len(cases)}
    want = [c["expected"] == "correct" for c in cases]
    m_ok = [mv[i]["correct"] == want[i] for i in range(len(cases))]
    r_ok = [rf[i]["correct"] == want[i] for i in range(len(cases))]

    def table(title, key):
        groups = defaultdict(list)
        for i, c in enumerate(cases):
            groups[key(c)].append(i)
        print(f"\n{title}")
        print(f"  {'':44} {'n':>4}  {'math-verify':>16}  {'rarft':>16}")
        rows = {}
        for g in sorted(groups):
            idx = groups[g]
            a, b = [m_ok[i] for i in idx], [r_ok[i] for i in idx]
            flag = "   <-- rarft worse" if sum(b) < sum(a) else ""
            print(f"  {g[:44]:44} {len(idx):4d}  {_acc(a):>16}  {_acc(b):>16}{flag}")
            rows[g] = {"n": len(idx), "math_verify": sum(a), "rarft": sum(b)}
        return rows

    out["by_file_split"] = table("accuracy by case file and split", lambda c: f"{c['file']} / {c['split']}")
    out["by_category"] = table("accuracy by case file and category", lambda c: f"{c['file'].split('.')[0]} / {c['category']}")
    out["by_source"] = table("accuracy by source (external cases: the checker whose test asserts the verdict)",
                             lambda c: c["source_repo"])
    ext = [c for c in cases if c["source_repo"] != "rarft-eval (own cases)"]
    if ext and len({c["split"] for c in ext}) > 1:
        out["by_split_category"] = table("external cases by split and category",
                                         lambda c: f"{c['split']} / {c['category']}" if c in ext else "(own cases)")
    neither = [c["id"] for i, c in enumerate(cases) if not m_ok[i] and not r_ok[i]]
    out["neither_right"] = neither
    print(f"\ncases neither grader gets right: {len(neither)} {' '.join(neither)}")

    only_rf = defaultdict(list)
    only_mv = defaultdict(list)
    for i, c in enumerate(cases):
        key = f"{c['file'].split('.')[0]} / {c['category']}"
        if r_ok[i] and not m_ok[i]:
            only_rf[key].append(c["id"])
        elif m_ok[i] and not r_ok[i]:
            only_mv[key].append(c["id"])
    out["rarft_only_right"] = dict(only_rf)
    out["math_verify_only_right"] = dict(only_mv)
    print(f"\ncases where only rarft is right: {sum(map(len, only_rf.values()))}")
    for k in sorted(only_rf):
        print(f"  {k:36} {len(only_rf[k]):3d}  {' '.join(only_rf[k])}")
    print(f"cases where only math-verify is right: {sum(map(len, only_mv.values()))}")
    for k in sorted(only_mv):
        print(f"  {k:36} {len(only_mv[k]):3d}  {' '.join(only_mv[k])}")

    # disagreement table: every case where the two verdicts differ
    dis = [i for i in range(len(cases)) if mv[i]["correct"] != rf[i]["correct"]]
    out["disagreements"] = []
    print(f"\ndisagreements ({len(dis)}): id | expected | math-verify | rarft (rule) | extracted by math-verify / rarft")

    def short(x, n=28):
        s = "-" if x is None else str(x).replace("\n", " ")
        return s if len(s) <= n else s[: n - 1] + "…"

    for i in dis:
        c = cases[i]
        right = "rarft" if r_ok[i] else "math-verify"
        print(f"  {c['id'][:46]:46} {c['expected'][:7]:7} {('yes' if mv[i]['correct'] else 'no'):3} "
              f"{('yes' if rf[i]['correct'] else 'no'):3} ({short(rf[i]['rule'], 20)}) right: {right:11} "
              f"{short(mv[i]['extracted'])} / {short(rf[i]['extracted'])}")
        out["disagreements"].append({"id": c["id"], "expected": c["expected"], "math_verify": mv[i]["correct"],
                                     "rarft": rf[i]["correct"], "rule": rf[i]["rule"], "right": right})
    rules = Counter(rf[i]["rule"] for i in range(len(cases)))
    out["rarft_rules"] = dict(rules)
    print("\nrarft's deciding rules: " + ", ".join(f"{k} {v}" for k, v in rules.most_common()))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", nargs="+", type=Path, default=DEFAULT_CASES)
    ap.add_argument("--heldout", action="store_true", help="also grade the external file's held-out part")
    ap.add_argument("--hang-s", type=float, default=20.0, help="seconds after which a check counts as a hang")
    ap.add_argument("--json", default=None, help="write the full result here")
    ap.add_argument("--pool", action="store_true", help="also time Grader.grade_many (all cores, both verdicts)")
    ap.add_argument("--no-aime", dest="aime", action="store_false",
                    help="skip the synthetic AIME-like 30 problems x 32 samples (timed only, not in the accuracy tables)")
    args = ap.parse_args(argv)

    cases = load_cases(args.cases, args.heldout)
    if args.aime:
        cases += aime_like_cases()
    if not cases:
        print("grader benchmark: no cases", file=sys.stderr)
        return 2
    print(f"cases: {len(cases)} from {', '.join(p.name for p in args.cases)}"
          f"{' (external held-out part included)' if args.heldout else ' (external: dev part only)'}; "
          f"cpu_count {os.cpu_count()}; each side sequential in one process pinned to one core")
    # the two sides alternate over chunks of the cases (ABBA), so that a change of load on this shared
    # machine during the run falls on both sides alike
    sides = {"math-verify": {"results": {}, "hangs": []}, "rarft": {"results": {}, "hangs": []}}
    chunk = 150
    for k, lo in enumerate(range(0, len(cases), chunk)):
        part = cases[lo : lo + chunk]
        order = ("math-verify", "rarft") if k % 2 == 0 else ("rarft", "math-verify")
        for side in order:
            r = run_side(side, part, args.hang_s, 1)
            sides[side]["results"].update({lo + i: x for i, x in r["results"].items()})
            sides[side]["hangs"] += r["hangs"]
    mv, rf = sides["math-verify"]["results"], sides["rarft"]["results"]
    out = report(cases, mv, rf, args)

    print("\nthroughput, hangs, code execution (same cases, same core, same run)")
    thr = {}
    for name, side in (("math-verify", sides["math-verify"]), ("rarft", sides["rarft"])):
        res = side["results"]
        total = sum(x["seconds"] for x in res.values())
        thr[name] = {
            "checks_per_s": len(res) / total if total else float("inf"),
            "seconds_total": total,
            "median_ms": 1000 * statistics.median(x["seconds"] for x in res.values()),
            "p99_ms": 1000 * sorted(x["seconds"] for x in res.values())[int(0.99 * (len(res) - 1))],
            "hangs": side["hangs"],
            "string_evals": sum(x["evals"] for x in res.values()),
            "non_arithmetic_evals": [(cases[i]["id"], e) for i, x in res.items() for e in x["odd_evals"]],
            "slowest": [(cases[i]["id"], round(x["seconds"], 2)) for i, x in sorted(res.items(), key=lambda kv: -kv[1]["seconds"])[:5]],
        }
        t = thr[name]
        print(f"  {name:12} {t['checks_per_s']:7.1f} checks/s  median {t['median_ms']:7.2f} ms  p99 {t['p99_ms']:8.1f} ms  "
              f"hangs (> {args.hang_s:g} s, killed) {len(t['hangs'])}  strings evaluated {t['string_evals']} "
              f"(non-arithmetic: {len(t['non_arithmetic_evals'])})")
        print(f"  {'':12} slowest: " + ", ".join(f"{i} {s}s" for i, s in t["slowest"]))
    ratio = thr["rarft"]["checks_per_s"] / thr["math-verify"]["checks_per_s"]
    print(f"  ratio rarft / math-verify throughput: {ratio:.2f}")
    # the same ratio per case file, and without the checks math-verify spends its own 5 s timeout on
    per_file = {}
    slow_mv = {i for i, x in mv.items() if x["seconds"] >= 4.9}
    groups = defaultdict(list)
    for i, c in enumerate(cases):
        groups[f"{c['file']} / {c['split']}"].append(i)
    groups["all, without math-verify's own timeouts"] = [i for i in range(len(cases)) if i not in slow_mv]
    for name, idx in groups.items():
        t_mv = sum(mv[i]["seconds"] for i in idx)
        t_rf = sum(rf[i]["seconds"] for i in idx)
        per_file[name] = {"n": len(idx), "math_verify": len(idx) / t_mv, "rarft": len(idx) / t_rf, "ratio": t_mv / t_rf}
        print(f"    {name:48} {len(idx):5d} checks: math-verify {len(idx) / t_mv:6.1f}/s  rarft {len(idx) / t_rf:6.1f}/s  "
              f"ratio {t_mv / t_rf:.2f}")
    out["throughput_by_file"] = per_file
    fallbacks = [cases[i]["id"] for i, x in rf.items() if x["fallback"]]
    timeouts = [cases[i]["id"] for i, x in rf.items() if x["status"] == "timeout"]
    vetoes = Counter(x["rule"] for x in rf.values() if x["rule"] in ("magnitude_veto", "unfinished_response"))
    print(f"  rarft: fallbacks to math-verify's verdict after its own comparison ran out of time: {len(fallbacks)} {fallbacks}")
    print(f"  rarft: timeout verdicts: {len(timeouts)} {timeouts};  vetoes: {dict(vetoes)}")
    out.update({"throughput": thr, "ratio": ratio, "fallbacks": fallbacks, "timeouts": timeouts, "vetoes": dict(vetoes)})

    if args.pool:
        out["pool"] = pool_throughput(cases, 1)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, default=str), encoding="utf-8")
    return 0


def pool_throughput(cases, repeat: int) -> dict:
    from rarft_eval.grading import Grader

    real = [c for c in cases if c["file"] != "synthetic_aime_30x32"]
    items = [(c["response"], c["gold"], _spec(c["spec"])) for c in real]
    aime = [(c["response"], c["gold"], _spec(c["spec"])) for c in aime_like_cases()]
    out = {}
    with Grader() as g:
        g.grade_many(items[:4])  # start workers outside the timing
        for name, its in (("case_files", items), ("aime_30x32", aime)):
            best = None
            for _ in range(repeat):
                t0 = time.perf_counter()
                vs = g.grade_many(its)
                dt = time.perf_counter() - t0
                best = dt if best is None else min(best, dt)
            out[name] = {"checks": len(its), "seconds": round(best, 3), "checks_per_s": round(len(its) / best, 1),
                         "timeouts": sum(v.status == "timeout" for v in vs), "errors": sum(v.status == "error" for v in vs)}
            p = out[name]
            print(f"Grader.grade_many ({len(g._workers)} workers, both verdicts) on {name}: {p['checks']} checks in "
                  f"{p['seconds']:.2f} s = {p['checks_per_s']:.1f} checks/s; timeouts {p['timeouts']}, errors {p['errors']}")
        out["workers"] = len(g._workers)
    return out


if __name__ == "__main__":
    raise SystemExit(main())
