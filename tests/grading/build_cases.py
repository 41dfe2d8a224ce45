"""Builds tests/grading/cases.jsonl: the data-driven grading cases.

Every row: id, category, gold, response, spec (GradeSpec overrides), expected
("correct" | "wrong" | "no_answer"), note. The expected verdict is the mathematically right
one, written by hand for each case; it is never computed by either grader.

Run:  python tests/grading/build_cases.py   (rewrites cases.jsonl next to this file)
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).parent
ROWS: list[dict] = []

PREAMBLE = (
    "Let me work through this carefully.\n\n"
    "First, we set up the equations. We have $a + b = 12$ and $ab = 35$, so $a = 5$ and $b = 7$.\n"
    "Checking: $5 \\cdot 7 = 35$ and $5 + 7 = 12$. Both hold.\n\n"
    "Next we combine these results. The sum of squares is $a^2 + b^2 = 144 - 70 = 74$.\n\n"
)


def add(category, gold, response, expected, note="", allow_timeout=False, **spec):
    ROWS.append(
        {
            "id": f"{category}-{sum(r['category'] == category for r in ROWS) + 1:03d}",
            "category": category,
            "gold": gold,
            "response": response,
            "spec": spec,
            "expected": expected,
            "note": note,
            # a hard-timeout verdict is an acceptable outcome for "wrong" (never for "correct")
            "allow_timeout": allow_timeout,
        }
    )


def boxed(x, pre=PREAMBLE):
    return f"{pre}Therefore, the final answer is $\\boxed{{{x}}}$."


# Answer formats a model uses for a final answer X (name, template)
FORMATS = [
    ("boxed_inline", lambda x: boxed(x)),
    ("boxed_display", lambda x: f"{PREAMBLE}Thus\n\\[\n\\boxed{{{x}}}\n\\]"),
    ("fbox", lambda x: f"{PREAMBLE}The answer is $\\fbox{{{x}}}$."),
    ("final_answer_phrase", lambda x: f"{PREAMBLE}The final answer is ${x}$. I hope it is correct."),
    ("answer_label", lambda x: f"{PREAMBLE}**Answer:** ${x}$"),
    ("answer_colon_plain", lambda x: f"{PREAMBLE}Answer: {x}"),
    ("think_boxed", lambda x: f"<think>\nHmm, maybe 12? No, recheck: it should be {x}.\n</think>\n\nThe answer is $\\boxed{{{x}}}$."),
    ("bold", lambda x: f"{PREAMBLE}So the result is **{x}**."),
]

# ------------------------------------------------------------------ integers (AIME-like)
for gold, pred, exp, note in [
    ("70", "70", "correct", ""),
    ("588", "588", "correct", ""),
    ("16", "61", "wrong", "digits swapped"),
    ("117", "116", "wrong", "off by one"),
    ("0", "0", "correct", "zero"),
    ("104", "-104", "wrong", "sign"),
    ("907", "907.0", "correct", "integer written as decimal"),
    ("62", "62.5", "wrong", "non-integer"),
    ("336", "3 3 6", "wrong", "digits with spaces are not the number"),
    ("468", "468 ", "correct", "trailing space"),
]:
    for name, fmt in FORMATS[:5]:
        add("integer", gold, fmt(pred), exp, f"{note} [{name}]".strip())

for gold, pred, exp in [("025", "25", "correct"), ("25", "025", "correct"), ("007", "7", "correct"), ("7", "007", "correct"),
                        ("025", "250", "wrong"), ("080", "8", "wrong"), ("000", "0", "correct"), ("049", "49", "correct")]:
    add("leading_zeros", gold, boxed(pred), exp, "AIME answers are written with leading zeros")
    add("leading_zeros", gold, f"{PREAMBLE}**Final Answer:** {pred}", exp, "AIME answers are written with leading zeros")

# AMC-style float golds
for gold, pred, exp in [("27.0", "27", "correct"), ("27.0", "27.00", "correct"), ("36.0", "35", "wrong"), ("3.0", "\\frac{6}{2}", "correct"),
                        ("100.0", "10^2", "correct"), ("5.0", "-5", "wrong")]:
    add("integer", gold, boxed(pred), exp, "AMC float gold")

# ------------------------------------------------------------------ fractions
for gold, pred, exp in [
    ("\\frac{9}{7}", "\\frac{9}{7}", "correct"),
    ("\\frac{9}{7}", "\\dfrac{9}{7}", "correct"),
    ("\\dfrac{9}{7}", "\\frac{9}{7}", "correct"),
    ("\\dfrac{9}{7}", "9/7", "correct"),
    ("\\frac{9}{7}", "\\tfrac{9}{7}", "correct"),
    ("\\frac{9}{7}", "\\frac{18}{14}", "correct"),
    ("\\frac{9}{7}", "1\\frac{2}{7}", "correct"),
    ("\\frac{9}{7}", "\\frac{7}{9}", "wrong"),
    ("\\frac{1}{2}", "0.5", "correct"),
    ("\\frac{1}{2}", "\\frac12", "correct"),
    ("-\\frac{1}{2}", "\\frac{-1}{2}", "correct"),
    ("-\\frac{1}{2}", "\\frac{1}{2}", "wrong"),
    ("\\frac{3}{56}", "\\frac{3}{56}", "correct"),
    ("\\frac{3}{56}", "\\frac{3}{65}", "wrong"),
    ("\\frac{1}{3}", "0.33", "wrong"),
    ("\\frac{2}{5}", "0.4", "correct"),
    ("\\frac{639}{40}", "15.975", "correct"),
    ("\\frac{1}{16}", "\\frac{1}{4^2}", "correct"),
    ("\\frac{8}{15}", "8 / 15", "correct"),
    ("\\frac{8}{15}", "\\frac{8}{16}", "wrong"),
    ("\\frac{-1}{1997}", "-\\frac{1}{1997}", "correct"),
    ("\\frac{58}{3}", "19\\frac{1}{3}", "correct"),
    ("\\frac{9}{256}", "\\left(\\frac{3}{16}\\right)^2", "correct"),
]:
    add("fraction", gold, boxed(pred), exp)
add("fraction", "\\dfrac{9}{7}", "So we get $\\dfrac{9}{7}$ as the ratio. **Answer:** $\\dfrac{9}{7}$", "correct", "unboxed dfrac gold and answer")
add("fraction", "\\frac{1}{2004!}", boxed("\\frac{1}{2006!}"), "wrong", "math-verify rounds both to 0")
add("fraction", "\\frac{1}{2004!}", boxed("\\frac{1}{2004!}"), "correct")
add("fraction", "\\frac{1}{2^{40}}", boxed("\\frac{1}{2^{41}}"), "wrong", "tiny values differ by factor 2")
add("fraction", "\\frac{1}{10^{9}}", boxed("0"), "wrong", "tiny value vs zero")
add("fraction", "\\frac{1}{10^{9}}", boxed("10^{-9}"), "correct")

# ------------------------------------------------------------------ decimals and tolerance
for gold, pred, tol, exp in [
    ("1.6", "1.6", None, "correct"),
    ("1.6", "1.60", None, "correct"),
    ("1.6", "1.62", 0.05, "correct"),
    ("1.6", "1.7", 0.05, "wrong"),
    ("1.6", "1.59", 0.01, "correct"),
    ("4.5e33", "4.5 \\times 10^{33}", 0.01, "correct"),
    ("4.5e33", "4.5e33", 0.01, "correct"),
    ("4.5e33", "4.6 \\times 10^{33}", 0.01, "wrong"),
    ("3.83e35", "3.8 \\times 10^{35}", 0.05, "correct"),
    ("3.83e35", "3.83 \\times 10^{34}", 0.05, "wrong"),
    ("8.7e8", "8.7 \\times 10^8", 0.05, "correct"),
    ("7.5e7", "75000000", 0.05, "correct"),
    ("0.006", "6 \\times 10^{-3}", 0.05, "correct"),
    ("0.006", "0.06", 0.05, "wrong"),
    ("20.39", "20.4", 0.01, "correct"),
    ("41.8", "41.81^\\circ", 0.01, "correct"),
    ("0.022", "0.0219", 0.05, "correct"),
    ("2e27", "2 \\times 10^{27}", 0.05, "correct"),
    ("9.6", "9.6 \\text{ \\AA}", 0.05, "correct"),
    ("300", "300 \\mathrm{~km} / \\mathrm{s}", 0.05, "correct"),
    ("6630", "6631", 0.01, "correct"),
    ("6630", "6565", 0.005, "wrong"),
    ("0.49", "0.5", 0.05, "correct"),
    ("1.75", "-1.75", 0.05, "wrong"),
    ("3e6", "3,000,000", 0.05, "correct"),
    ("0", "0.0", 0.05, "correct"),
    ("0", "0.01", 0.05, "wrong"),
    ("24.4", "24.4", None, "correct"),
    ("24.4", "24.39", None, "wrong"),
    (".35625", "0.35625", None, "correct"),
    (".0000672", "6.72 \\times 10^{-5}", None, "correct"),
    ("0.15", "\\frac{3}{20}", None, "correct"),
    ("2.5", "2\\frac{1}{2}", None, "correct"),
    ("1.5", "1.05", None, "wrong"),
]:
    spec = {"numeric_tolerance": tol} if tol is not None else {}
    add("decimal" if tol is None else "tolerance", gold, boxed(pred), exp, **spec)
add("tolerance", "1.6", "\\[ s=\\frac{45}{3600} \\frac{\\pi}{180} 7200=\\boxed{1.6} \\mathrm{~cm} \\]", "correct", "Minerva box then unit", numeric_tolerance=0.05)
add("tolerance", "20.39", "$M=-7+5 \\log (3 \\times 10^{5})=\\boxed{20.39}$ \\\\ \\end{aligned} \\]", "correct", numeric_tolerance=0.01)
add("tolerance", "3.83e35", "Therefore, the answer is $\\boxed{3.83e35}$ ergs/s.", "correct", numeric_tolerance=0.01)
add("tolerance", "7e37", "$=\\boxed{7 \\times 10^{37}} \\mathrm{erg} \\cdot \\mathrm{s}^{-1}$", "correct", numeric_tolerance=0.05)
add("tolerance", "7e37", "$=\\boxed{7 \\times 10^{36}} \\mathrm{erg} \\cdot \\mathrm{s}^{-1}$", "wrong", numeric_tolerance=0.05)

# ------------------------------------------------------------------ radicals, pi, expressions
for gold, pred, exp in [
    ("\\sqrt{51}", "\\sqrt{51}", "correct"),
    ("2 \\sqrt{2}", "\\sqrt{8}", "correct"),
    ("2 \\sqrt{2}", "2\\sqrt2", "correct"),
    ("2 \\sqrt{2}", "\\sqrt{2}", "wrong"),
    ("\\frac{\\sqrt{21}}{5}", "\\frac{1}{5}\\sqrt{21}", "correct"),
    ("\\frac{\\sqrt{21}}{5}", "\\sqrt{\\frac{21}{25}}", "correct"),
    ("\\frac{\\sqrt{21}}{5}", "\\frac{\\sqrt{21}}{25}", "wrong"),
    ("\\frac{2}{7} \\sqrt{53}", "\\frac{2\\sqrt{53}}{7}", "correct"),
    ("3\\sqrt{3}", "5.196", "wrong"),
    ("\\sqrt[3]{2}", "2^{1/3}", "correct"),
    ("\\frac{-1+\\sqrt{17}}{2}", "\\frac{\\sqrt{17}-1}{2}", "correct"),
    ("\\frac{-1+\\sqrt{17}}{2}", "\\frac{-1-\\sqrt{17}}{2}", "wrong"),
    ("1+\\sqrt{3}", "\\sqrt{3}+1", "correct"),
    ("\\sqrt{66}", "\\sqrt{66}", "correct"),
    ("\\sqrt{66}", "66", "wrong"),
    ("5\\sqrt{5}", "\\sqrt{125}", "correct"),
]:
    add("radical", gold, boxed(pred), exp)
for gold, pred, exp in [
    ("288 \\pi", "288\\pi", "correct"),
    ("288 \\pi", "\\pi \\cdot 288", "correct"),
    ("288 \\pi", "288", "wrong"),
    ("4 \\pi^{2}-1", "4\\pi^2 - 1", "correct"),
    ("\\frac{\\pi}{2}", "\\frac{1}{2}\\pi", "correct"),
    ("\\frac{\\pi}{2}", "90^\\circ", "wrong"),
    ("\\frac{3\\pi}{4}", "\\frac{3}{4}\\pi", "correct"),
    ("2\\pi", "6.28", "wrong"),
    ("\\pi", "\\pi", "correct"),
    ("\\frac{\\pi}{6}", "\\frac{\\pi}{3}", "wrong"),
]:
    add("pi", gold, boxed(pred), exp)
for gold, pred, exp in [
    ("p - q", "p-q", "correct"),
    ("p - q", "-q+p", "correct"),
    ("p - q", "q - p", "wrong"),
    ("2^{k}", "2^k", "correct"),
    ("2^{k-n}", "\\frac{2^k}{2^n}", "correct"),
    ("2^{k-n}", "2^{n-k}", "wrong"),
    ("6m", "6m", "correct"),
    ("6m", "m \\cdot 6", "correct"),
    ("n(n+1)", "n^2+n", "correct"),
    ("n(n+1)", "n^2+1", "wrong"),
    ("\\frac{n(n-1)}{2}", "\\binom{n}{2}", "correct"),
    ("x^2+2x+1", "(x+1)^2", "correct"),
    ("2^{99}", "2^{99}", "correct"),
    ("2^{99}", "2^{100}", "wrong"),
    ("2^{99}", "633825300114114700748351602688", "correct"),
    ("6 - 5i", "6-5i", "correct"),
    ("6 - 5i", "6+5i", "wrong"),
    ("m n-\\lfloor m / 2\\rfloor", "mn - \\lfloor \\frac{m}{2} \\rfloor", "correct"),
    ("\\frac{a+b}{2}", "\\frac{b+a}{2}", "correct"),
    ("3^{2019}", "3^{2018}", "wrong"),
    ("\\log_2 3", "\\frac{\\ln 3}{\\ln 2}", "correct"),
    ("2,-\\log _{10} 250", "2, -\\log_{10} 250", "correct"),
]:
    add("expression", gold, boxed(pred), exp)

# ------------------------------------------------------------------ equations
for gold, pred, exp in [
    ("y = 2x + 3", "y=2x+3", "correct"),
    ("y = 2x + 3", "2x+3", "correct"),
    ("y = 2x + 3", "y = 3 + 2x", "correct"),
    ("y = 2x + 3", "y = 2x - 3", "wrong"),
    ("f(x)=\\frac{1}{x}", "f(x) = \\frac{1}{x}", "correct"),
    ("f(x)=\\frac{1}{x}", "\\frac{1}{x}", "correct"),
    ("f(x)=\\frac{1}{x}", "f(x) = x", "wrong"),
    ("f(n)=n", "f(n)=n", "correct"),
    ("x = 5", "5", "correct"),
    ("5", "x = 5", "correct"),
    ("5", "x=6", "wrong"),
    ("2x + 3y = 6", "2x+3y=6", "correct"),
    ("k \\geqslant 2", "k \\geq 2", "correct"),
    ("k \\geqslant 2", "k > 2", "wrong"),
]:
    add("equation", gold, boxed(pred), exp)

# ------------------------------------------------------------------ intervals
for gold, pred, exp in [
    ("[-1,-\\frac{1}{2}]", "[-1,-\\frac{1}{2}]", "correct"),
    ("[-1,-\\frac{1}{2}]", "[-1,-0.5]", "correct"),
    ("[-1,-\\frac{1}{2}]", "(-1,-\\frac{1}{2})", "wrong"),
    ("[-1,-\\frac{1}{2}]", "[-1,-\\frac{1}{2})", "wrong"),
    ("(-\\sqrt{3}, \\sqrt{3})", "(-\\sqrt3,\\sqrt3)", "correct"),
    ("(-\\sqrt{3}, \\sqrt{3})", "[-\\sqrt3,\\sqrt3]", "wrong"),
    ("(-\\infty, 2) \\cup (3, \\infty)", "(-\\infty,2)\\cup(3,\\infty)", "correct"),
    ("(-\\infty, 2) \\cup (3, \\infty)", "(3,\\infty)\\cup(-\\infty,2)", "correct"),
    ("(-\\infty, 2) \\cup (3, \\infty)", "(-\\infty,2]\\cup[3,\\infty)", "wrong"),
    ("[2, 5)", "[2,5)", "correct"),
    ("[2, 5)", "2 \\le x < 5", "correct"),
    ("(0, \\infty)", "(0,\\infty)", "correct"),
    ("(0, \\infty)", "[0,\\infty)", "wrong"),
    ("[1, 4]", "[1,4]", "correct"),
]:
    add("interval", gold, boxed(pred), exp)

# ------------------------------------------------------------------ sets, unordered lists
for gold, pred, spec, exp in [
    ("\\{1, 2, 3\\}", "\\{3, 2, 1\\}", {}, "correct"),
    ("\\{1, 2, 3\\}", "\\{1, 2\\}", {}, "wrong"),
    ("1, 2, 3", "3, 1, 2", {}, "correct"),
    ("-2, 1", "1, -2", {}, "correct"),
    ("-2, 1", "1, 2", {}, "wrong"),
    ("\\frac{-1+\\sqrt{17}}{2}, \\frac{-1-\\sqrt{17}}{2}", "\\frac{-1-\\sqrt{17}}{2}, \\frac{-1+\\sqrt{17}}{2}", {}, "correct"),
    ("\\frac{-1+\\sqrt{17}}{2}, \\frac{-1-\\sqrt{17}}{2}", "\\frac{-1 \\pm \\sqrt{17}}{2}", {}, "correct"),
    ("\\frac{-1+\\sqrt{17}}{2}, \\frac{-1-\\sqrt{17}}{2}", "\\frac{-1+\\sqrt{17}}{2}", {}, "wrong"),
    ("1, -3", "x = 1 \\text{ or } x = -3", {}, "correct"),
    ("\\{1,3\\} \\cup \\{2,4\\}", "\\{1,2,3,4\\}", {}, "correct"),
    ("\\emptyset", "\\varnothing", {}, "correct"),
    ("3, 5, 7", "3,5,7,9", {}, "wrong"),
]:
    add("set", gold, boxed(pred), exp, **spec)

# ------------------------------------------------------------------ tuples, ordered lists
for gold, pred, exp in [
    ("(6,31,-1)", "(6, 31, -1)", "correct"),
    ("(6,31,-1)", "(6,-1,31)", "wrong"),
    ("(3, \\frac{\\pi}{2})", "\\left(3, \\frac{\\pi}{2}\\right)", "correct"),
    ("(3, \\frac{\\pi}{2})", "(3, 90^\\circ)", "wrong"),
    ("(1, 2)", "(2, 1)", "wrong"),
    ("(1, 2)", "(1,2)", "correct"),
    ("(-2, 5)", "(-2,5)", "correct"),
    ("(\\frac{1}{2}, \\frac{3}{4})", "(0.5, 0.75)", "correct"),
    ("(2, -1, 3)", "(2,-1,3)", "correct"),
    ("(2, -1, 3)", "\\begin{pmatrix} 2 \\\\ -1 \\\\ 3 \\end{pmatrix}", "correct"),
    ("(1,0),(\\frac{1}{100},-8),(100,8)", "(100,8),(1,0),(\\frac{1}{100},-8)", "correct"),
]:
    add("tuple", gold, boxed(pred), exp)

# ------------------------------------------------------------------ matrices
for gold, pred, exp in [
    ("\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", "correct"),
    ("\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}", "\\begin{bmatrix}1&2\\\\3&4\\end{bmatrix}", "correct"),
    ("\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}", "\\begin{pmatrix}1&3\\\\2&4\\end{pmatrix}", "wrong"),
    ("\\begin{pmatrix} 1/2 \\\\ 0 \\end{pmatrix}", "\\begin{pmatrix} \\frac{1}{2} \\\\ 0 \\end{pmatrix}", "correct"),
    ("\\begin{pmatrix} -1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix} 1 \\\\ -2 \\end{pmatrix}", "wrong"),
    ("\\begin{pmatrix} 0 & 1 \\\\ -1 & 0 \\end{pmatrix}", "\\begin{pmatrix} 0 & 1 \\\\ -1 & 0 \\end{pmatrix}", "correct"),
]:
    add("matrix", gold, boxed(pred), exp)

# ------------------------------------------------------------------ OlympiadBench multiple answers
MA = {"multiple_answers": True}
for gold, pred, exp in [
    ("$69$,$84$", "69, 84", "correct"),
    ("$69$,$84$", "84, 69", "correct"),
    ("$69$,$84$", "69", "wrong"),
    ("$69$,$84$", "69, 84, 99", "wrong"),
    ("$(1,8,19), (2,7,13), (4,5,7)$", "(1,8,19), (2,7,13), (4,5,7)", "correct"),
    ("$(1,8,19), (2,7,13), (4,5,7)$", "(4,5,7),(2,7,13),(1,8,19)", "correct"),
    ("$(1,8,19), (2,7,13), (4,5,7)$", "(1,8,19), (2,7,13)", "wrong"),
    ("$(1,8,19), (2,7,13), (4,5,7)$", "(1,8,19), (2,13,7), (4,5,7)", "wrong"),
    ("$(6,3),(9,3),(9,5),(54,5)$", "(6,3), (9,3), (9,5), (54,5)", "correct"),
    ("10,11,12,13,14,-2,-1,0,1,2", "-2,-1,0,1,2,10,11,12,13,14", "correct"),
    ("10,11,12,13,14,-2,-1,0,1,2", "-2,-1,0,1,2,10,11,12,13", "wrong"),
    ("$100,\\frac{1}{100}$", "\\frac{1}{100}, 100", "correct"),
    ("$2,-1,-18$", "-18, -1, 2", "correct"),
    ("$10^{3},10$", "10, 1000", "correct"),
    ("$64,\\frac{1}{4}$", "0.25, 64", "correct"),
    ("$2,-\\log _{10} 250$", "2, -\\log_{10}250", "correct"),
    ("$2,-\\log _{10} 250$", "2, \\log_{10}250", "wrong"),
    ("$(2,2,2),(3,4,3)$", "(3,4,3),(2,2,2)", "correct"),
]:
    add("multi_answer", gold, boxed(pred), exp, **MA)
add("multi_answer", "$69$,$84$", f"{PREAMBLE}So $n = \\boxed{{69}}$ and $n = \\boxed{{84}}$.", "correct", "two boxes", **MA)
add("multi_answer", "$69$,$84$", f"{PREAMBLE}The answers are $\\boxed{{69}}$, $\\boxed{{84}}$.", "correct", "two boxes", **MA)
add("multi_answer", "$69$,$84$", f"{PREAMBLE}Try $\\boxed{{84}}$. Actually the answer is $\\boxed{{69}}$ and $\\boxed{{84}}$", "correct", "earlier box not joined", **MA)
add("multi_answer", "$2,-1,-18$", f"{PREAMBLE}The possible values are $x = \\boxed{{2, -1, -18}}$.", "correct", **MA)
add("multi_answer", "$(6,3),(9,3),(9,5),(54,5)$", f"{PREAMBLE}\\boxed{{(m,n) \\in \\{{(6,3),(9,3),(9,5),(54,5)\\}}}}", "correct", "set-builder-ish", **MA)

# ------------------------------------------------------------------ plus-minus
for gold, pred, exp in [
    ("2021", "\\pm 2021", "wrong"),
    ("\\pm 2", "\\pm 2", "correct"),
    ("\\pm 2", "2, -2", "correct"),
    ("\\pm 2", "2", "wrong"),
    ("-2, 2", "\\pm 2", "correct"),
    ("3 \\pm \\sqrt{2}", "3+\\sqrt2, 3-\\sqrt2", "correct"),
    ("3 \\pm \\sqrt{2}", "3+\\sqrt2", "wrong"),
    ("5", "\\pm 5", "wrong"),
]:
    add("plus_minus", gold, boxed(pred), exp)

# ------------------------------------------------------------------ text answers and choices
for gold, pred, exp in [
    ("Monday", "\\text{Monday}", "correct"),
    ("Monday", "Monday", "correct"),
    ("Monday", "\\text{monday}", "correct"),
    ("Monday", "\\text{Tuesday}", "wrong"),
    ("\\text{Evelyn}", "\\text{Evelyn}", "correct"),
    ("\\text{Evelyn}", "Evelyn", "correct"),
    ("\\text{Evelyn}", "\\text{Emily}", "wrong"),
    ("(C)", "C", "correct"),
    ("(C)", "\\text{(C)}", "correct"),
    ("(C)", "(D)", "wrong"),
    ("C", "\\textbf{(C)}", "correct"),
    ("\\text{(B)}", "B", "correct"),
    ("\\text{odd}", "\\text{odd}", "correct"),
    ("\\text{odd}", "\\text{even}", "wrong"),
    ("\\text{no}", "\\text{No}", "correct"),
    ("\\text{yes}", "\\text{no}", "wrong"),
]:
    add("text", gold, boxed(pred), exp)
add("text", "(C)", f"{PREAMBLE}The correct option is **(C)**.", "correct", "bold choice")
add("text", "(C)", f"{PREAMBLE}Answer: (C)", "correct", "label choice")
add("text", "(C)", f"{PREAMBLE}Answer: (E)", "wrong", "label choice")

# ------------------------------------------------------------------ formatting gaps
for gold, pred, exp, note in [
    ("73", "**73**", "correct", "bold inside box"),
    ("1000", "1,000", "correct", "thousands separator"),
    ("1000", "1{,}000", "correct", "latex thousands separator"),
    ("1000", "1\\,000", "correct", "thin-space thousands separator"),
    ("12345", "12,345", "correct", ""),
    ("1000", "1,001", "wrong", ""),
    ("30", "30^\\circ", "correct", "degrees"),
    ("30", "30^{\\circ}", "correct", "degrees"),
    ("30", "30°", "correct", "unicode degree"),
    ("30", "30 \\text{ degrees}", "correct", "degrees word"),
    ("30", "60^\\circ", "wrong", ""),
    ("50", "50\\%", "correct", "percent"),
    ("50", "50 \\%", "correct", "percent"),
    ("50\\%", "50", "correct", "percent gold"),
    ("0.5", "50\\%", "correct", "percent vs fraction"),
    ("50", "40\\%", "wrong", "percent"),
    ("5", "5 \\text{ cm}", "correct", "unit"),
    ("5", "5\\mathrm{~cm}", "correct", "unit"),
    ("5", "5 \\text{ inches}", "correct", "unit"),
    ("18", "\\$18", "correct", "currency"),
    ("18", "18 \\text{ dollars}", "correct", "currency"),
    ("18", "\\$18.00", "correct", "currency cents"),
    ("5", "x = 5", "correct", "assignment"),
    ("5", "n=5", "correct", "assignment"),
    ("-4", "a = -4", "correct", "assignment"),
    ("5", "5.", "correct", "trailing period"),
    ("\\frac{3}{4}", "\\!\\frac{3}{4}", "correct", "negative space"),
    ("\\frac{3}{4}", "\\displaystyle\\frac{3}{4}", "correct", "displaystyle"),
    ("12", "\\mathbf{12}", "correct", "mathbf"),
    ("12", "\\text{12}", "correct", "text number"),
    ("12", "12 \\text{ ways}", "correct", "unit word"),
    ("9", "\\left( 9 \\right)", "correct", "left right parens"),
]:
    add("formatting", gold, boxed(pred), exp, note)
add("formatting", "73", f"{PREAMBLE}So the answer is **73**.", "correct", "bold only")
add("formatting", "73", f"{PREAMBLE}**Final answer: 73**", "correct", "bold label")
add("formatting", "1000", "The total is **1,000**.", "correct", "bold thousands")
add("formatting", "42", "# Solution\n\n...\n\n### Final Answer\n\nThe final answer is $42$.", "correct")
add("formatting", "42", f"{PREAMBLE}The answer is: 42", "correct")
add("formatting", "42", f"{PREAMBLE}The answer is 42 because the count doubles.", "correct")
add("formatting", "42", f"{PREAMBLE}Thus the answer is $\\boxed 42$.", "correct", "boxed without braces")
add("formatting", "\\frac{9}{7}", f"{PREAMBLE}Final Answer: $\\dfrac{{9}}{{7}}$", "correct")
add("formatting", "7", f"{PREAMBLE}Answer: $x = 7$.", "correct")
add("formatting", "7", f"{PREAMBLE}\\[x = \\boxed{{7}}\\]", "correct")
add("formatting", "8", f"{PREAMBLE}Hence $AB = \\boxed{{8}}$ units.", "correct")

# ------------------------------------------------------------------ extraction from long responses
LONG_BODY = "".join(
    f"Step {i}: we compute the partial sum $S_{{{i}}} = {i * (i + 1) // 2}$ and note it is consistent.\n" for i in range(1, 120)
)
add("extraction", "204", f"{LONG_BODY}\nEarlier I guessed $\\boxed{{200}}$ but that missed a case.\nRecounting gives $\\boxed{{204}}$.", "correct", "last box wins")
add("extraction", "200", f"{LONG_BODY}\nEarlier I guessed $\\boxed{{200}}$ but that missed a case.\nRecounting gives $\\boxed{{204}}$.", "wrong", "last box wins")
add("extraction", "17", "<think>\nLet me think... maybe \\boxed{15}? Recheck.\nActually 17.\n</think>\n\nThe answer is $\\boxed{17}$.", "correct", "boxed inside think ignored")
add("extraction", "15", "<think>\nLet me think... maybe \\boxed{15}? Recheck.\nActually 17.\n</think>\n\nThe answer is $\\boxed{17}$.", "wrong", "boxed inside think ignored")
add("extraction", "17", "<think>\nSo I get 17. Double-check... fine.\n</think>\n\n**Answer:** 17", "correct")
add("extraction", "12", f"{PREAMBLE}$\\boxed{{\\frac{{24}}{{2}}}}$", "correct", "nested braces")
add("extraction", "\\frac{\\sqrt{3}}{2}", f"{PREAMBLE}$\\boxed{{\\frac{{\\sqrt{{3}}}}{{2}}}}$", "correct", "nested braces 3 deep")
add("extraction", "\\{1,2\\}", f"{PREAMBLE}$\\boxed{{\\{{1,2\\}}}}$", "correct", "escaped braces in box")
add("extraction", "5", f"{PREAMBLE}The value is $\\boxed{{5}}$. We can double-check: $2+3=5$. Indeed, $\\text{{area}} = 25$.", "correct", "text after box")
add("extraction", "25", f"{PREAMBLE}The value is $\\boxed{{5}}$. We can double-check: $2+3=5$. Indeed, $\\text{{area}} = 25$.", "wrong", "text after box")
add("extraction", "3", "\\boxed{1}\n\\boxed{2}\n\nWait, I made an error. Final: \\boxed{3}", "correct")
add("extraction", "8", f"{PREAMBLE}Therefore $n = 8$.\n\nThe final answer is $8$.", "correct")
add("extraction", "8", f"{PREAMBLE}Therefore $n = 8$.", "correct", "last inline math")
add("extraction", "74", PREAMBLE.strip(), "correct", "last inline math of last paragraph is a = ... = 74")
add("extraction", "35", "We need the product. Multiplying, the product is 35.", "correct", "bare number in concluding sentence")
add("extraction", "2", "Final answer: \\boxed{2}", "correct")
add("extraction", "2", "\\fbox{2}", "correct")
add("extraction", "11", "The answer is \\(\\boxed{11}\\).", "correct")
add("extraction", "11", "Thus, the final answer is: $\\boxed{11}$", "correct")
add("extraction", "11", "$$\\boxed{11}$$", "correct")
add("extraction", "-11", "$$\\boxed{-11}$$", "correct")
add("extraction", "11", "$$\\boxed{-11}$$", "wrong")
add("extraction", "6", "The area is \\boxed{6} square units, and the perimeter is 12.", "correct")
add("extraction", "\\frac{1}{4}", "The probability is $\\boxed{\\dfrac{1}{4}}$", "correct")

# ------------------------------------------------------------------ truncated / no answer
add("truncated", "204", f"{LONG_BODY}\nSo far the count is 180 and we still need to add the", "no_answer", "cut mid-sentence, no final answer")
add("truncated", "204", "<think>\nLet's compute. The first case gives 12, the second gives 30, so", "no_answer", "cut inside think")
add("truncated", "42", "<think>\nWe get \\boxed{42} tentatively but let me verify this with another", "correct", "tentative box inside unfinished think")
add("truncated", "42", f"{PREAMBLE}Therefore the answer is $\\boxed{{4", "no_answer", "box cut off")
add("truncated", "42", f"{PREAMBLE}Therefore the answer is $\\boxed{{\\frac{{4", "no_answer", "box cut off inside frac")
add("truncated", "17", "We first find that $x = 3$. Then $y = 17$ comes from substitution, and then we need to", "no_answer", "trailing clause, not a conclusion")
add("no_answer", "17", "I am not sure how to solve this problem.", "no_answer")
add("no_answer", "17", "", "no_answer", "empty response")
add("no_answer", "17", "   \n\n  ", "no_answer", "whitespace response")
add("no_answer", "17", "\\boxed{}", "no_answer", "empty box")
add("no_answer", "5", "Let me think about this problem step by step. First, consider the constraints.", "no_answer")

# ------------------------------------------------------------------ false positives math-verify is known for
for gold, pred, exp, note in [
    ("2021", "\\pm 2021", "wrong", "plus-minus is two values"),
    ("\\frac{1}{2004!}", "\\frac{1}{2006!}", "wrong", "6-decimal rounding"),
    ("10^{-8}", "10^{-9}", "wrong", "6-decimal rounding"),
    ("0.0000001", "0", "wrong", "6-decimal rounding"),
    ("3", "3.0000001", "wrong", "not the integer"),
    ("1", "1.0000004", "wrong", "close to 1 but not 1"),
    ("2", "2.0000004", "wrong", ""),
    ("e^{-20}", "0", "wrong", "tiny"),
]:
    add("false_positive", gold, boxed(pred), exp, note)

# ------------------------------------------------------------------ adversarial inputs
add("adversarial", "5", "x" * 100_000 + "\nThe answer is $\\boxed{5}$.", "correct", "100k chars then answer")
add("adversarial", "5", "The answer is $\\boxed{5}$." + " filler" * 15_000, "correct", "answer then 100k chars of filler")
add("adversarial", "5", "$" * 50_000 + "\\boxed{5}", "correct", "100k-ish dollars")
add("adversarial", "5", "{" * 50_000 + "\\boxed{5}", "correct", "unbalanced braces before box")
add("adversarial", "5", "\\boxed{" + "{" * 20_000 + "5" + "}" * 20_000 + "}", "correct", "deeply nested braces")
add("adversarial", "5", "\\boxed{" * 5_000 + "5", "no_answer", "5000 unclosed boxes")
add("adversarial", "5", "\\boxed{" * 300 + "5" + "}" * 300, "correct", "300 nested boxes")
add("adversarial", "5", "\\frac{" * 3_000 + "1", "no_answer", "unclosed fracs")
add("adversarial", "5", "(" * 20_000 + "5" + ")" * 20_000, "no_answer", "parentheses bomb, no anchor")
add("adversarial", "65536", boxed("2^{2^{2^{2}}}"), "correct", "small tower")
add("adversarial", "5", boxed("2^{2^{2^{2^{2^{2^{2}}}}}}"), "wrong", "exponent tower", allow_timeout=True)
add("adversarial", "5", boxed("9^{9^{9^{9^{9}}}}"), "wrong", "exponent tower", allow_timeout=True)
add("adversarial", "5", boxed("10^{10^{10^{10}}}!"), "wrong", "factorial of a tower", allow_timeout=True)
add("adversarial", "5", boxed("(10^{100})!"), "wrong", "huge factorial", allow_timeout=True)
add("adversarial", "5", "The answer is 9**9**9**9**9.", "wrong", "python power tower", allow_timeout=True)
add("adversarial", "5", boxed("\\sum_{n=1}^{10^{10}} n^{n}"), "wrong", "huge sum", allow_timeout=True)
add("adversarial", "5", boxed("\\left(" * 200 + "5" + "\\right)" * 200), "correct", "200 nested left/right parentheses")
add("adversarial", "123", boxed("１２３"), "correct", "fullwidth digits")
add("adversarial", "-5", boxed("\u22125"), "correct", "unicode minus")
add("adversarial", "\\frac{1}{2}", boxed("\u00bd"), "correct", "vulgar fraction one half")
add("adversarial", "5", boxed("5\u200b"), "correct", "zero-width space")
add("adversarial", "\\text{Monday}", boxed("\\text{M\u043enday}"), "wrong", "Cyrillic o look-alike")
add("adversarial", "5", "\\boxed{5" + "\u0301" * 1000 + "}", "wrong", "combining accents")
add("adversarial", "5", "\\boxed{\\x\\y\\z\\q\\w}", "wrong", "junk commands")
add("adversarial", "5", boxed("\\begin{pmatrix}" + "1&" * 2000 + "1\\end{pmatrix}"), "wrong", "huge matrix")
add("adversarial", "5", "\x00\x01\x02\\boxed{5}\x7f", "correct", "control characters")
add("adversarial", "5", boxed("5" * 5000), "wrong", "5000-digit number")

# ------------------------------------------------------------------ injection strings (must never run)
for payload in [
    "__import__('os').system('touch /tmp/rarft_pwned_1')",
    "(lambda: __import__('os').system('touch /tmp/rarft_pwned_2'))()",
    "().__class__.__bases__[0].__subclasses__()",
    "eval(\"__import__('os').system('touch /tmp/rarft_pwned_3')\")",
    "exec('import os; os.system(\"touch /tmp/rarft_pwned_4\")')",
    "open('/tmp/rarft_pwned_5','w').write('x')",
    "getattr(__builtins__, '__import__')('os').system('touch /tmp/rarft_pwned_6')",
    "1 + __import__('os').system('touch /tmp/rarft_pwned_7')",
]:
    add("injection", "5", f"The answer is \\boxed{{{payload}}}", "wrong", "payload in box")
    add("injection", "5", f"The final answer is {payload}", "wrong", "payload as plain text")


# ================================================================== held-out cases
# Written after the grader was tuned on everything above; their first measurement is recorded
# in docs/benchmarks.md before any change made because of them.
SPLIT_FROM = len(ROWS)

QWEN_END = "\n\nTherefore, the final answer is: $\\boxed{{{x}}}$. I hope it is correct."
R1_END = "</think>\n\nTo solve the problem we proceed as follows.\n\n1. Set up.\n2. Solve.\n\n**Final Answer**\n\\[\n\\boxed{{{x}}}\n\\]"
for gold, pred, exp, spec, note in [
    ("204", "204", "correct", {}, "qwen style"),
    ("204", "240", "wrong", {}, "qwen style"),
    ("\\frac{5}{2}", "\\frac{5}{2}", "correct", {}, ""),
    ("\\frac{5}{2}", "2.5", "correct", {}, ""),
    ("\\frac{5}{2}", "\\frac{2}{5}", "wrong", {}, ""),
    ("3\\sqrt{13}", "\\sqrt{117}", "correct", {}, ""),
    ("3\\sqrt{13}", "13\\sqrt{3}", "wrong", {}, ""),
    ("\\frac{\\pi}{4}", "45^\\circ", "wrong", {}, "radians gold, degrees answer"),
    ("(2,3)", "(2, 3)", "correct", {}, ""),
    ("(2,3)", "(3, 2)", "wrong", {}, ""),
    ("x^2-4x+4", "(x-2)^2", "correct", {}, ""),
    ("x^2-4x+4", "(x+2)^2", "wrong", {}, ""),
    ("\\text{(D)}", "\\textbf{(D)}", "correct", {}, ""),
    ("\\text{(D)}", "D", "correct", {}, ""),
    ("\\text{(D)}", "\\text{(B)}", "wrong", {}, ""),
    ("12\\%", "12\\%", "correct", {}, ""),
    ("12\\%", "0.12", "correct", {}, ""),
    ("12\\%", "21\\%", "wrong", {}, ""),
    ("-\\sqrt{2}", "-\\sqrt{2}", "correct", {}, ""),
    ("-\\sqrt{2}", "\\sqrt{2}", "wrong", {}, ""),
    ("1,2,4,8", "1, 2, 4, 8", "correct", {}, ""),
    ("1,2,4,8", "1, 2, 4", "wrong", {}, ""),
    ("2\\pi", "2 \\pi", "correct", {}, ""),
    ("\\infty", "\\infty", "correct", {}, ""),
    ("\\infty", "-\\infty", "wrong", {}, ""),
    ("[0,1)", "[0, 1)", "correct", {}, ""),
    ("[0,1)", "[0,1]", "wrong", {}, ""),
    ("0.75", "\\frac{3}{4}", "correct", {}, ""),
    ("0.75", "75\\%", "correct", {}, ""),
    ("10", "10.0", "correct", {}, ""),
    ("2.4", "2.38", "correct", {"numeric_tolerance": 0.01}, "Minerva 1%"),
    ("2.4", "2.3", "wrong", {"numeric_tolerance": 0.01}, "Minerva 1%"),
    ("6.2e-3", "6.2 \\times 10^{-3}", "correct", {"numeric_tolerance": 0.01}, ""),
    ("6.2e-3", "0.0062", "correct", {"numeric_tolerance": 0.01}, ""),
    ("6.2e-3", "6.2 \\times 10^{3}", "wrong", {"numeric_tolerance": 0.01}, ""),
    ("1.2e5", "1.2 \\times 10^{5} \\mathrm{~K}", "correct", {"numeric_tolerance": 0.01}, ""),
    ("$\\frac{41}{12}$", "\\frac{41}{12} \\text{ km}", "correct", {"unit": "km"}, "OlympiadBench unit"),
    ("45", "45 \\text{ minutes}", "correct", {"unit": "minute"}, "OlympiadBench unit"),
    ("4.2", "4.25", "correct", {"absolute_tolerance": 0.1, "unit": "%"}, "OlympiadBench error column"),
    ("4.2", "4.4", "wrong", {"absolute_tolerance": 0.1, "unit": "%"}, "OlympiadBench error column"),
    ("$1,3,5$", "1, 3, 5", "correct", {"multiple_answers": True}, ""),
    ("$1,3,5$", "5, 3, 1", "correct", {"multiple_answers": True}, ""),
    ("$1,3,5$", "1, 3", "wrong", {"multiple_answers": True}, ""),
    ("$(0,2),(0,-2),(4,23),(4,-23)$", "(0, \\pm 2), (4, \\pm 23)", "correct", {"multiple_answers": True}, "pm inside tuples"),
    ("$(1,1), (3,2)$", "(3,2),(1,1)", "correct", {"multiple_answers": True}, ""),
    ("$-2,0,2$", "0, \\pm 2", "correct", {"multiple_answers": True}, ""),
    ("$-2,0,2$", "-2, 2", "wrong", {"multiple_answers": True}, ""),
]:
    add("heldout", gold, "We compute step by step." + QWEN_END.format(x=pred), exp, note, **spec)
    add("heldout", gold, "<think>\nLet me reason. I think the value works out.\n" + R1_END.format(x=pred), exp, note + " [r1]", **spec)

add("heldout", "34", "The answer is $\\boxed{34}$.\n\nHowever, let me double check with a different method... I get 34 again.", "correct")
add("heldout", "34", "Step 1: ... the total is 43.\n\n**Answer: 34**", "correct", "bold label after wrong intermediate")
add("heldout", "34", "## Final Answer\nThe final answer is $\\boxed{34}$", "correct")
add("heldout", "34", "So $N \\equiv 34 \\pmod{100}$, and the answer is $\\boxed{034}$.", "correct")
add("heldout", "7", "Thus the remainder is $\\boxed{7}$.\n\n---\n\n**Note**: other approaches give the same remainder.", "correct")
add("heldout", "7", "Thus the remainder is \\(\\boxed{7}\\).", "correct")
add("heldout", "-1", "Therefore, $\\boxed{-1}$ is the minimum value.", "correct")
add("heldout", "1", "Therefore, $\\boxed{-1}$ is the minimum value.", "wrong")
add("heldout", "\\frac{1}{6}", "The probability is $\\frac{1}{6}$.", "correct", "unboxed final sentence")
add("heldout", "\\frac{1}{6}", "The probability is $\\frac{1}{6}$, as computed above, and it matches the simulation we would run on a computer", "no_answer", "sentence goes on")
add("heldout", "4", "<think>\nwait, maybe the answer is \\boxed{3}. hmm, no.\n</think>\nAfter checking, the number of solutions is $\\boxed{4}$.", "correct")
add("heldout", "5", "Answer: 5 apples", "correct")
add("heldout", "5", "The answer is $x=5$.", "correct")
add("heldout", "5", "The answer is $x=-5$.", "wrong")
add("heldout", "\\frac{1}{2}", "The answer is \\boxed{1/2}", "correct")
add("heldout", "\\frac{1}{2}", "The answer is \\boxed{\\dfrac12}", "correct")
add("heldout", "2\\sqrt{3}", "The answer is \\boxed{2\\sqrt{3}}.", "correct")
add("heldout", "2\\sqrt{3}", "The answer is \\boxed{\\sqrt{12}}.", "correct")
add("heldout", "2\\sqrt{3}", "The answer is \\boxed{3\\sqrt{2}}.", "wrong")
add("heldout", "\\text{Monday}", "So the day is **Monday**.", "correct", "bold word")


def _dataset_cases() -> None:
    """Real gold answers from tasks/data: each gold against itself written as a model would
    (expected correct) and against another problem's different gold (expected wrong)."""
    import random

    data = HERE.parents[1] / "tasks" / "data"
    golds: list[tuple[str, str, dict]] = []  # (source, gold, spec)
    for line in (data / "math500" / "test.jsonl").read_text(encoding="utf-8").splitlines():
        golds.append(("math500", json.loads(line)["answer"], {}))
    for line in (data / "olympiadbench" / "test.jsonl").read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        spec = {"multiple_answers": bool(r["is_multiple_answer"])}
        if r.get("unit"):
            spec["unit"] = r["unit"]
        golds.append(("olympiadbench", ", ".join(r["final_answer"]), spec))
    import re as _re

    for line in (data / "minerva_math" / "test.jsonl").read_text(encoding="utf-8").splitlines():
        sol = json.loads(line)["solution"]
        k = sol.rfind("\\boxed{")
        if k < 0:
            continue
        depth, j = 0, k + len("\\boxed")
        for j in range(k + len("\\boxed"), len(sol)):
            if sol[j] == "{":
                depth += 1
            elif sol[j] == "}":
                depth -= 1
                if depth == 0:
                    break
        gold = sol[k + len("\\boxed{") : j]
        if _re.fullmatch(r"[0-9.e+\-]+", gold):
            golds.append(("minerva", gold, {"numeric_tolerance": 0.01}))
    rng = random.Random(20250101)
    picked = rng.sample(golds, 160)
    for i, (src, gold, spec) in enumerate(picked):
        shown = gold.strip().strip("$") if "$," not in gold and "$ ," not in gold else gold.replace("$", "")
        add("dataset_self", gold, f"Solving the {src} problem.\n\nThe final answer is $\\boxed{{{shown}}}$.", "correct", src, **spec)
    for i, (src, gold, spec) in enumerate(picked[:120]):
        # another gold of the same source whose canonical string and value differ
        for _ in range(50):
            o_src, other, _spec = rng.choice(golds)
            if o_src == src and _canon(other) != _canon(gold) and not _same_number(other, gold):
                break
        shown = other.strip().strip("$") if "$," not in other else other.replace("$", "")
        add("dataset_cross", gold, f"Solving the {src} problem.\n\nThe final answer is $\\boxed{{{shown}}}$.", "wrong", src, **spec)


def _canon(s: str) -> str:
    return "".join(s.replace("$", "").replace("\\dfrac", "\\frac").split())


def _same_number(a: str, b: str) -> bool:
    try:
        return abs(float(_canon(a)) - float(_canon(b))) <= 0.02 * max(abs(float(_canon(a))), abs(float(_canon(b))))
    except ValueError:
        return False


# adversarial rows run with a 2 s limit: the grader must decide them well inside it (this also
# bounds the time the math-verify reference verdict may spend on them in the test suite)
for _r in ROWS:
    if _r["category"] == "adversarial":
        _r["spec"]["timeout_s"] = 2.0
for _r in ROWS[SPLIT_FROM:]:
    _r["split"] = "heldout"
_DS_FROM = len(ROWS)
_dataset_cases()
for _r in ROWS[_DS_FROM:]:
    _r["split"] = "dataset"
for _r in ROWS[:SPLIT_FROM]:
    _r["split"] = "dev"


def main() -> None:
    out = HERE / "cases.jsonl"
    with out.open("w", encoding="utf-8") as f:
        for r in ROWS:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    cats: dict[str, int] = {}
    for r in ROWS:
        cats[r["category"]] = cats.get(r["category"], 0) + 1
    print(f"wrote {len(ROWS)} cases to {out}")
    for k, v in sorted(cats.items()):
        print(f"  {k:16} {v}")


if __name__ == "__main__":
    main()
