"""Builds tests/grading/external_cases.jsonl: grading cases taken from OTHER answer checkers' test suites.

Every row records one (gold, response, verdict) triple that a public test of another checker asserts
(math-verify, lighteval, MARIO_EVAL, NeMo-Skills, verl, Trinity-RFT), with the source repository, file,
commit, test function and line. Nothing of their code is kept: only the facts each assertion states.

How a test pair becomes a case
------------------------------
* ``gold`` is the test's gold string unchanged (a bare answer, ``$...$``, a boxed string or, in a few
  tests, a whole reference solution); the harness passes it to both graders as it is.
* ``response`` is the test's prediction unchanged when it already reads as a response (it has ``$``,
  ``\\(``, ``\\[``, a box, or prose words); a bare answer (``7,425,000``, ``x \\in [0.5, \\infty)``) is shown
  as ``$...$``, the way a model's response shows it (``presented`` says which).
* ``expected`` is "correct" when the test asserts equivalence / a score of 1, else "wrong".

Which assertions are left out (and why) is decided by rules below, never by running a grader:
* options the verdict depends on: a looser ``precision`` than math-verify's default 6 with a positive
  verdict, ``strict=False``, ``allow_set_relation_comp=False`` with a negative one;
* languages other than English (the harness grades English responses);
* EXCLUDE: hand-listed assertions that state an extraction limit rather than a verdict on the answer,
  a checker policy (a box is required), a tolerance choice, or a verdict that is mathematically false;
* contested: the same (gold, response) asserted both ways by two tests (none at the pinned commits).

Split: ``heldout`` for a stable 30 % of the ids (sha256), ``dev`` otherwise. The held-out part is
looked at once, at the end (docs/grading.md).

Run (needs local snapshots of the source repositories; the tests never download anything):

    python tests/grading/build_external_cases.py --mirrors /work/.mirror

``--mirrors`` holds one bare git directory per repository at ``<owner>+<name>/repo`` (what the
project's ``fetch`` tool writes); each file is read with ``git show <commit>:<path>``, so the
pinned commits below are what is read, whatever the snapshot's HEAD.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
OUT = HERE / "external_cases.jsonl"
HELDOUT_PERCENT = 30

MV = ("huggingface/Math-Verify", "5d148cfaaf99214c2e4ffb4bc497ab042c592a7a")
LE = ("huggingface/lighteval", "3fd15266bc8448b797e61462d293aa3fd40b3580")
MARIO = ("MARIO-Math-Reasoning/MARIO_EVAL", "13584f20b71ffc6e9873e86481054849ed015065")
NEMO = ("NVIDIA/NeMo-Skills", "0b012df8a09cd4730d31b16e90a0d8f13d145fb8")
VERL = ("volcengine/verl", "87d81599de8a58cb7e0d35b2d5003d62698d4ae7")  # the test file was later removed from verl's tree
TRINITY = ("modelscope/Trinity-RFT", "8e2776b90bdad23156e6077515db7bfa28211d2a")
HENDRYCKS = ("hendrycks/math", "985bdc1696e88e8643f081a0ff4719da39f2ae2a")
ORLHF_GRADE = ("OpenRLHF/OpenRLHF", "563c316331efa1ec75b6538ef78a98fc44008490")  # later removed from the tree
ORLHF_BOX = ("OpenRLHF/OpenRLHF", "e1f4a219a5044750051e1d6888af59bdf88ef76e")

# (repo, commit, path, kind)
FILES = [
    (*MV, "tests/test_all.py", "mv"),
    (*MV, "tests/test_boxed.py", "mv"),
    (*MV, "tests/test_numina_cases.py", "mv"),
    (*MV, "tests/test_open_thoughts.py", "mv"),
    (*MV, "tests/test_yujianll.py", "mv"),
    (*MV, "tests/test_strict.py", "mv"),
    (*LE, "tests/unit/metrics/test_extractive_match.py", "mv"),
    (*MARIO, "math_evaluation/tests/test_is_equiv.py", "mario"),
    (*NEMO, "tests/test_math_equal.py", "nemo"),
    (*VERL, "tests/utils/reward_score/test_numeric_canonicalization_on_cpu.py", "verl"),
    (*HENDRYCKS, "modeling/math_equivalence_test.py", "hendrycks"),
    (*ORLHF_GRADE, "tests/test_math_utils.py", "openrlhf_grade"),
    (*ORLHF_BOX, "tests/test_boxed_answer_extraction.py", "openrlhf_extract"),
]

# Category of every case, by (test function); the per-file keys are unique across sources.
CATEGORY_BY_TEST = {
    "test_extraction_abc": "choice",
    "test_multilingual_extraction_math_latex_numbers": "free_text",
    "test_multilingual_extraction_math": "free_text",
    "test_number_extraction": "number_format",
    "test_simple_fraction_notation": "number",
    "test_sets_handling": "set_interval",
    "test_latex_notation": "latex_notation",
    "test_percent_notation": "percent",
    "test_latex_notation_math": "solution_text",
    "test_relations_math": "equation_relation",
    "test_matrix_extraction": "matrix",
    "test_complex_math_expressions": "expression",
    "test_math_extraction_edge_cases": "free_text",
    "test_math_extraction_additional_cases": "free_text",
    "test_set_rel_assymetry": "set_interval",
    "test_float_precision": "number",
    "test_sqrt_precision": "number",
    "test_symbols": "number",
    "test_boxed": "multi_part",
    "test_numina_cases": "multi_part",
    "test_math_numina_cases": "multi_part",
    "test_open_thoughts": "multi_part",
    "test_string_extraction": "misc_regressions",  # math-verify's test_yujianll.py
    "test_strict_variable_comparison": "expression",
    # MARIO_EVAL
    "test_are_equal_under_sympy": "expression",
    "test_is_equiv_real_or_list": "number_format",
    "test_is_equiv_complex": "expression",
    "test_is_fraction": "number",
    "test_is_equiv_units": "units",
    "test_is_equiv_parentheses": "expression",
    "test_is_equiv_sqrt": "expression",
    "test_is_equiv_equation": "equation_relation",
    "test_is_equiv_expression": "expression",
    "test_is_equiv_matrix": "matrix",
    "test_is_equiv_trigonometric": "expression",
    "test_is_equiv_scinot": "number",
    "test_is_equiv_interval": "set_interval",
    "test_is_equiv_coordinate": "multi_part",
    "test_is_equiv_function": "equation_relation",
    # verl
    "test_is_equiv_boxed": "number",
    # hendrycks/math
    "test_fractions": "expression",
    "test_order": "multi_part",
    "test_order2": "multi_part",
    "test_dfrac": "expression",
    "test_units": "units",
    "test_units2": "units",
    "test_dollars": "units",
    "test_parentheses": "expression",
    "test_decimals": "multi_part",
    "test_decimals2": "number",
    "test_percentage": "percent",
    "test_sqrt": "expression",
    "test_frac": "expression",
    "test_tfrac": "number",
    "test_expression": "equation_relation",
    "test_half": "number",
    # OpenRLHF
    "test_grade_answer_rejects_mismatched_tuple_delimiters": "set_interval",
    "test_grade_answer_accepts_equivalent_tuple_with_matching_delimiters": "set_interval",
    "test_extract_boxed_answer_supports_box_commands": "free_text",
    "test_extract_boxed_answer_rejects_unclosed_command": "free_text",
    # Trinity-RFT
    "test_verify_math_answer": "free_text",
    "test_both_boxed_and_equivalent": "solution_text",
    "test_solution_raw_and_ground_truth_boxed_equivalent": "solution_text",
    "test_solution_boxed_truth_raw_and_equivalent": "solution_text",
    "test_both_boxed_and_not_equivalent": "solution_text",
    "test_solution_boxed_truth_raw_and_not_equivalent": "solution_text",
    "test_multiple_boxed_answers_in_solution": "solution_text",
    "test_is_equiv": "number_format",
}

# Assertions left out by hand: (repo, test function, gold, pred) -> reason. Each is a statement about a
# checker's own mechanics or options, not a verdict a user would want from any grader.
EXCLUDE = {
    ("huggingface/Math-Verify", "test_latex_notation", "$9$", "Answer $ \n 9 \n $"):
        "asserts an extraction limit (inline math across lines is not read); the response does state 9",
    ("huggingface/Math-Verify", "test_latex_notation", "$9$", "Answer \\( \n 9 \n \\)"):
        "asserts an extraction limit (inline math across lines is not read); the response does state 9",
    ("huggingface/lighteval", "test_latex_notation", "$9$", "Answer $ \n 9 \n $"):
        "asserts an extraction limit (inline math across lines is not read); the response does state 9",
    ("huggingface/lighteval", "test_latex_notation", "$9$", "Answer \\( \n 9 \n \\)"):
        "asserts an extraction limit (inline math across lines is not read); the response does state 9",
    ("huggingface/Math-Verify", "test_string_extraction", "$1 - \\frac{1}{\\mathrm{e}}$", "$1 + \\frac{1}{\\mathrm{e}}$"):
        "the asserted verdict (equal) is mathematically false",
    ("huggingface/Math-Verify", "test_symbols", "$\text{13}$", "$13$"):
        "the test string holds a TAB (unescaped \\t in a non-raw string), not \\text{13}",
    ("MARIO-Math-Reasoning/MARIO_EVAL", "test_is_equiv_interval", "[1,+\\infty)", "[2^{\\frac{1}{2^{1000}}}, \\infty)"):
        "the asserted verdict (equal) is mathematically false: 2^(1/2^1000) > 1",
    ("MARIO-Math-Reasoning/MARIO_EVAL", "test_are_equal_under_sympy", "x + \\sqrt2I", "x + 1.414I"):
        "depends on a numeric tolerance (1.414 for sqrt 2)",
    ("MARIO-Math-Reasoning/MARIO_EVAL", "test_is_equiv_real_or_list", "\\frac13, \\sqrt3, \\pi", "1/3, 1.732, 3.1416"):
        "depends on a numeric tolerance (3-4 significant digits)",
    ("MARIO-Math-Reasoning/MARIO_EVAL", "test_is_equiv_real_or_list", "40\\pi", "125.663"):
        "depends on a numeric tolerance (6 significant digits of 40 pi)",
    ("MARIO-Math-Reasoning/MARIO_EVAL", "test_is_equiv_matrix", "\\begin{cases} a+b=\\frac12 \\\\ a-b=\\sqrt3 \\end{cases}",
     "\\begin{cases} a+b=0.5\\\\ a-b=1.732\\end{cases}"):
        "depends on a numeric tolerance (1.732 for sqrt 3)",
    ("hendrycks/math", "test_order", "10, 4, -2", "4, 10, -2"):
        "whether the order of an answer list matters is a convention (MARIO_EVAL's tests accept 1, 3, 2 for 1, 2, 3)",
    ("hendrycks/math", "test_decimals", "0.1, 4, 2", "4, .1, 2"):
        "whether the order of an answer list matters is a convention (MARIO_EVAL's tests accept 1, 3, 2 for 1, 2, 3)",
    ("MARIO-Math-Reasoning/MARIO_EVAL", "test_is_equiv_units", "10cm", "10"):
        "MARIO's own convention (a unit glued to a number is read as a variable); math-verify's tests assert the opposite for 1,000.99m²",
    ("MARIO-Math-Reasoning/MARIO_EVAL", "test_is_equiv_units", "10m", "10"):
        "MARIO's own convention (a unit glued to a number is read as a variable); math-verify's tests assert the opposite for 1,000.99m²",
}

# Trinity-RFT (snapshot over the size limit of the fetch tool; read with the file index at the commit
# above): its assertions transcribed as (test method, line, response, gold, verdict). Left out: the
# compute_score_v0 assertions that score an unboxed but stated answer 0 (a box-required policy) and
# the empty-gold / None / non-string inputs.
TRINITY_PATH = "tests/utils/eval_utils_test.py"
TRINITY_ROWS = [  # (test method, the assertion's own label, response, gold, verdict)
    ("test_both_boxed_and_equivalent", "solution/truth", "The final answer is \\boxed{42}", "The correct result is \\boxed{42}", True),
    ("test_solution_raw_and_ground_truth_boxed_equivalent", "solution/truth", "The answer is \\boxed{42}", "The answer is \\boxed{42}", True),
    ("test_solution_boxed_truth_raw_and_equivalent", "solution/truth", "Let's see, the result is \\boxed{100}", "100", True),
    ("test_both_boxed_and_not_equivalent", "solution/truth", "I think the answer is \\boxed{-1}", "The answer is \\boxed{1}", False),
    ("test_solution_boxed_truth_raw_and_not_equivalent", "solution/truth", "The answer is \\boxed{apple}", "orange", False),
    ("test_multiple_boxed_answers_in_solution", "solution/truth_correct",
     "First I thought it was \\boxed{A}, but then I realized it is \\boxed{B}", "\\boxed{B}", True),
    ("test_multiple_boxed_answers_in_solution", "solution/truth_incorrect",
     "First I thought it was \\boxed{A}, but then I realized it is \\boxed{B}", "\\boxed{A}", False),
    ("test_verify_math_answer", "Simple integer equality", "The answer is \\boxed{42}", "42", True),
    ("test_verify_math_answer", "Number with commas", "The result is 1,000.", "1000", True),
    ("test_verify_math_answer", "Negative number equality", "The answer is -50.", "-50", True),
    ("test_verify_math_answer", "Equivalence of value and equation", "The solution is 5", "x=5", True),
    ("test_verify_math_answer", "Simple numerical inequality", "The answer is \\boxed{42}", "43", False),
    ("test_verify_math_answer", "Symbolic expression inequality", "The answer is \\boxed{x+1}", "x-1", False),
    ("test_verify_math_answer", "Matrix inequality",
     "The matrix is \\boxed{\\begin{pmatrix}1 & 1 \\\\ 0 & 1\\end{pmatrix}}", "\\begin{pmatrix}1&0\\\\0&1\\end{pmatrix}", False),
    ("test_verify_math_answer", "Judgment after stripping units", "The speed is 50 km/h", "50", True),
    # is_equiv(str1, str2): str1 is taken as the answer given, str2 as the gold
    ("test_is_equiv", "Equivalence with whitespace", "  123  ", "123", True),
    ("test_is_equiv", "Equivalence with percentage sign", "50%", "50", True),
    ("test_is_equiv", "Equivalence with dollar sign", "$50", "50", True),
    ("test_is_equiv", "Basic inequality", "hello", "world", False),
    ("test_is_equiv", "Numerical inequality", "123", "1234", False),
]


# ------------------------------------------------------------------ reading sources


def read_source(mirrors: Path, repo: str, commit: str, path: str) -> str:
    gitdir = mirrors / repo.replace("/", "+") / "repo"
    if not gitdir.exists():
        raise SystemExit(f"build_external_cases: no snapshot of {repo} at {gitdir} (fetch it first)")
    try:
        return subprocess.run(
            ["git", "--git-dir", str(gitdir), "show", f"{commit}:{path}"], check=True, capture_output=True, text=True
        ).stdout
    except subprocess.CalledProcessError as e:
        raise SystemExit(f"build_external_cases: cannot read {repo}@{commit}:{path}: {e.stderr.strip()}") from None


class NotLiteral(Exception):
    pass


def lit(node):
    """A literal value of an AST node: literals, lists/tuples, enum attributes (their name), and
    arithmetic on numbers (NeMo-Skills writes ``5 / 2``). Anything else raises NotLiteral."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.Tuple, ast.List)):
        return [lit(e) for e in node.elts]
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return node.attr  # Language.ENGLISH -> "ENGLISH"
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -lit(node.operand)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        a, b = lit(node.left), lit(node.right)
        if isinstance(a, (int, float)) and isinstance(b, (int, float)):
            return a / b
    raise NotLiteral(ast.dump(node)[:80])


def parametrize_rows(tree: ast.Module):
    """Yield (function name, argnames, values, line) for every literal row of every parametrize."""
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef):
            continue
        for dec in fn.decorator_list:
            if not (isinstance(dec, ast.Call) and isinstance(dec.func, ast.Attribute) and dec.func.attr == "parametrize"):
                continue
            names = lit(dec.args[0])
            names = [n.strip() for n in (names.split(",") if isinstance(names, str) else names)]
            for row in dec.args[1].elts:
                try:
                    values = lit(row)
                except NotLiteral:
                    print(f"  skipped a non-literal row of {fn.name} (line {row.lineno})", file=sys.stderr)
                    continue
                if len(names) == 1:
                    values = [values]
                yield fn.name, dict(zip(names, values)), row.lineno


def body_options(fn_name: str, tree: ast.Module) -> dict:
    """Keyword options a test passes to its comparison call in the body (precision=5, strict=..)."""
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef) and fn.name == fn_name:
            opts = {}
            for node in ast.walk(fn):
                if isinstance(node, ast.Call):
                    for kw in node.keywords:
                        if kw.arg in ("precision", "strict", "allow_set_relation_comp", "match_types"):
                            try:
                                opts[kw.arg] = lit(kw.value)
                            except NotLiteral:
                                pass
            return opts
    return {}


def unittest_assertions(tree: ast.Module, funcs: dict[str, tuple[int, int]]):
    """(method, gold, pred, verdict, line) from unittest methods that assert on ``funcs`` calls.

    ``funcs`` maps a called function name to the (gold, pred) positions of its arguments.
    Tracks simple string assignments and ``for a, b in pairs`` loops.
    """
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef) or not fn.name.startswith("test"):
            continue
        yield from _walk_body(fn.name, fn.body, {}, funcs)


def _walk_body(name, body, env, funcs):
    for st in body:
        if isinstance(st, ast.Assign) and len(st.targets) == 1 and isinstance(st.targets[0], ast.Name):
            try:
                env[st.targets[0].id] = lit(st.value)
            except NotLiteral:
                pass
        elif isinstance(st, ast.For) and isinstance(st.target, ast.Tuple) and isinstance(st.iter, ast.Name):
            for values in env.get(st.iter.id, []):
                inner = dict(env)
                for t, v in zip(st.target.elts, values):
                    inner[t.id] = v
                yield from _walk_body(name, st.body, inner, funcs)
        elif isinstance(st, ast.Expr) and isinstance(st.value, ast.Call):
            call = st.value
            if not (isinstance(call.func, ast.Attribute) and call.func.attr in ("assertTrue", "assertFalse")):
                continue
            inner = call.args[0]
            if not (isinstance(inner, ast.Call) and isinstance(inner.func, ast.Name) and inner.func.id in funcs):
                continue
            gi, pi = funcs[inner.func.id]

            def val(node):
                if isinstance(node, ast.Name):
                    return env[node.id]
                return lit(node)

            yield name, val(inner.args[gi]), val(inner.args[pi]), call.func.attr == "assertTrue", st.lineno


def pytest_assertions(tree: ast.Module, func: str):
    """(test, arg0, arg1, verdict, line) for ``assert func(a, b)`` / ``assert not func(a, b)`` in pytest
    functions, with a and b literals or the names of the function's parametrize arguments."""
    rows = {}
    for fn, row, line in parametrize_rows(tree):
        rows.setdefault(fn, []).append((row, line))
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef):
            continue
        for node in ast.walk(fn):
            if not isinstance(node, ast.Assert):
                continue
            test, verdict = node.test, True
            if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
                test, verdict = test.operand, False
            if not (isinstance(test, ast.Call) and isinstance(test.func, ast.Name) and test.func.id == func):
                continue
            for env, line in rows.get(fn.name, [({}, node.lineno)]):
                a, b = (env[x.id] if isinstance(x, ast.Name) else lit(x) for x in test.args[:2])
                yield fn.name, a, b, verdict, line


# ------------------------------------------------------------------ turning facts into cases

_RESPONSE_MARKERS = ("$", "\\(", "\\[", "\\boxed", "\\fbox")
_CMD_RE = re.compile(r"\\(?:text|mathrm|textbf|mbox|begin|end)\s*\{[^{}]*\}|\\[a-zA-Z]+")
_WORD_RE = re.compile(r"[A-Za-z]{3,}")


def present(pred: str) -> tuple[str, str]:
    """(response, how): a bare answer is shown as ``$...$``; anything that reads as a response as is."""
    if any(m in pred for m in _RESPONSE_MARKERS):
        return pred, "as_is"
    if re.fullmatch(r"\s*\(?[A-E]\)?\s*", pred):
        return pred, "as_is"  # a bare choice letter
    if _WORD_RE.search(_CMD_RE.sub(" ", pred)):
        return pred, "as_is"  # prose ("28 percent", "Final Answer: ...", "10 weeks")
    return f"${pred.strip()}$", "dollar_wrapped"


def as_text(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return None
    if isinstance(v, float) and v.is_integer() is False:
        return repr(v)
    return str(v)


def category_of(f: dict) -> str:
    """By test function; NeMo-Skills' two generic tests by the shape of the gold."""
    if f["test"] in CATEGORY_BY_TEST:
        return CATEGORY_BY_TEST[f["test"]]
    g = f["gold"]
    if re.fullmatch(r"\(?[A-E]\)?", g.strip()):
        return "choice"
    if "matrix" in g or "matrix" in f["pred"]:
        return "matrix"
    if re.fullmatch(r"[-+.\d\\%$/{}frac ]+", g) and not re.search(r"[a-zA-Z]", g.replace("\\frac", "")):
        return "number"
    if "text" in g or "mathrm" in g or re.fullmatch(r"[a-z]+", g):
        return "text"
    return "expression"


def option_exclusion(opts: dict, expected: bool) -> str | None:
    lang = opts.get("language")
    if lang not in (None, "ENGLISH"):
        return f"language {lang}"
    prec = opts.get("precision", 6)
    if prec < 6 and expected:
        return f"positive verdict under a looser precision ({prec} decimals) than the default 6"
    if opts.get("strict") is False:
        return "strict=False (variables may differ)"
    if opts.get("allow_set_relation_comp") is False and not expected:
        return "negative verdict that depends on allow_set_relation_comp=False"
    return None


def build(mirrors: Path) -> tuple[list[dict], list[dict]]:
    facts: list[dict] = []  # {repo, commit, path, test, line, gold, pred, expected, opts}
    for repo, commit, path, kind in FILES:
        text = read_source(mirrors, repo, commit, path)
        tree = ast.parse(text)
        src = {"repo": repo, "commit": commit, "path": path}
        if kind == "mv":
            for fn, row, line in parametrize_rows(tree):
                opts = {**body_options(fn, tree), **{k: v for k, v in row.items() if k not in ("gold", "pred", "expected", "result")}}
                expected = row.get("expected", row.get("result"))
                facts.append({**src, "test": fn, "line": line, "gold": row["gold"], "pred": row["pred"],
                              "expected": bool(expected), "opts": opts})
        elif kind == "nemo":
            for fn, row, line in parametrize_rows(tree):
                a, b = (as_text(x) for x in row["output_pair"])
                if a is None or b is None:
                    continue
                verdict = fn == "test_correct_examples"
                # asserted in both directions
                facts.append({**src, "test": fn, "line": line, "gold": a, "pred": b, "expected": verdict, "opts": {}})
                facts.append({**src, "test": fn, "line": line, "gold": b, "pred": a, "expected": verdict, "opts": {}})
        elif kind == "verl":
            for fn, row, line in parametrize_rows(tree):
                if fn != "test_is_equiv_boxed":
                    continue
                gt = re.fullmatch(r"\\boxed\{(.*)\}", row["gt"]).group(1)  # the test compares remove_boxed(gt)
                facts.append({**src, "test": fn, "line": line, "gold": gt, "pred": row["pred"], "expected": True, "opts": {}})
        elif kind in ("mario", "hendrycks"):
            funcs = {"is_equiv": (0, 1), "_test_is_equiv": (0, 1), "_test_is_not_equiv": (0, 1), "are_equal_under_sympy": (0, 1)}
            for fn, gold, pred, verdict, line in unittest_assertions(tree, funcs):
                facts.append({**src, "test": fn, "line": line, "gold": gold, "pred": pred, "expected": verdict, "opts": {}})
        elif kind == "openrlhf_grade":  # grade_answer(given, truth), asserted true or `not`
            for fn, given, truth, verdict, line in pytest_assertions(tree, "grade_answer"):
                facts.append({**src, "test": fn, "line": line, "gold": truth, "pred": given, "expected": verdict, "opts": {}})
        elif kind == "openrlhf_extract":  # extract_boxed_answer(solution) == expected  /  is None
            for fn, row, line in parametrize_rows(tree):
                facts.append({**src, "test": fn, "line": line, "gold": row["expected"], "pred": row["solution"],
                              "expected": True, "opts": {}, "pred_is_response": True})
            for node in ast.walk(tree):
                if (isinstance(node, ast.Assert) and isinstance(node.test, ast.Compare)
                        and isinstance(node.test.ops[0], ast.Is) and isinstance(node.test.left, ast.Call)):
                    solution = lit(node.test.left.args[0])
                    cut = re.search(r"\{([^{}]*)$", solution).group(1)  # the cut-off box's content as the gold
                    fn = next(f.name for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and node in ast.walk(f))
                    facts.append({**src, "test": fn, "line": node.lineno, "gold": cut, "pred": solution,
                                  "expected": False, "opts": {}, "pred_is_response": True})
    for fn, label, response, gold, verdict in TRINITY_ROWS:
        facts.append({"repo": TRINITY[0], "commit": TRINITY[1], "path": TRINITY_PATH, "test": fn, "line": label,
                      "gold": gold, "pred": response, "expected": verdict, "opts": {},
                      "pred_is_response": fn != "test_is_equiv"})

    cases: dict[tuple[str, str], dict] = {}
    excluded: list[dict] = []
    for f in facts:
        where = {k: f[k] for k in ("repo", "path", "commit", "test", "line")}
        reason = EXCLUDE.get((f["repo"], f["test"], f["gold"], f["pred"])) or option_exclusion(f["opts"], f["expected"])
        if not isinstance(f["gold"], str) or not f["gold"].strip():
            reason = reason or "empty gold"
        if reason:
            excluded.append({"source": where, "gold": f["gold"], "pred": f["pred"], "reason": reason})
            continue
        if f.get("pred_is_response"):
            response, how = f["pred"], "as_is"
        else:
            response, how = present(f["pred"])
        key = (f["gold"], response)
        expected = "correct" if f["expected"] else "wrong"
        if key in cases:
            c = cases[key]
            if c["expected"] != expected:
                c["contested"] = True
            c["also_in"].append(where)
            continue
        cases[key] = {
            "gold": f["gold"],
            "response": response,
            "presented": how,
            "expected": expected,
            "category": category_of(f),
            "spec": {},
            "source": where,
            "also_in": [],
        }
    rows = []
    for c in cases.values():
        if c.pop("contested", False):
            excluded.append({"source": c["source"], "gold": c["gold"], "pred": c["response"],
                             "reason": "contested: asserted both ways"})
            continue
        rows.append(c)
    # stable ids: source short name + test + line (+ a suffix for several rows on one line)
    short = {MV[0]: "mv", LE[0]: "le", MARIO[0]: "mario", NEMO[0]: "nemo", VERL[0]: "verl", TRINITY[0]: "trinity",
             HENDRYCKS[0]: "hendrycks", ORLHF_GRADE[0]: "openrlhf"}
    seen: dict[str, int] = {}
    for c in rows:
        line = c["source"]["line"]
        where = f"L{line}" if isinstance(line, int) else re.sub(r"[^a-z0-9]+", "_", str(line).lower()).strip("_")
        base = f"{short[c['source']['repo']]}-{c['source']['test'].removeprefix('test_')}-{where}"
        seen[base] = seen.get(base, 0) + 1
        c["id"] = base if seen[base] == 1 else f"{base}-{seen[base]}"
        h = int(hashlib.sha256(c["id"].encode()).hexdigest(), 16)
        c["split"] = "heldout" if h % 100 < HELDOUT_PERCENT else "dev"
    order = ["id", "category", "split", "gold", "response", "presented", "expected", "spec", "source", "also_in"]
    return [{k: c[k] for k in order} for c in rows], excluded


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mirrors", required=True, type=Path, help="directory of <owner>+<name>/repo git snapshots")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    rows, excluded = build(args.mirrors)
    with args.out.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    by_reason: dict[str, int] = {}
    for e in excluded:
        by_reason[e["reason"]] = by_reason.get(e["reason"], 0) + 1
    splits = {s: sum(r["split"] == s for r in rows) for s in ("dev", "heldout")}
    print(f"{len(rows)} cases ({splits}), {len(excluded)} assertions left out -> {args.out}")
    for reason, n in sorted(by_reason.items(), key=lambda kv: -kv[1]):
        print(f"  left out {n:3d}: {reason}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
