"""Equivalence of an extracted answer and a gold answer (rarft's grader).

Order of rules (the first that decides wins; ``decided_by`` names it):

1. ``choice`` / ``text``: multiple-choice letters and word answers ("Monday", "no solution").
2. ``number`` / ``percent`` / ``tolerance``: both sides are plain numbers (integers, decimals,
   a/b, \\frac{a}{b}); compared exactly with ``fractions.Fraction`` (so ``025`` = ``25`` and
   ``27.0`` = ``27``), or with ``spec.numeric_tolerance`` (relative) when the task gives one.
3. ``multi``: multiple-answer golds (and golds/preds that are top-level comma lists when the
   gold is flagged multiple): split both sides, match as multisets, each pair by these rules.
4. ``math_verify``: both sides parsed with latex2sympy (math-verify's LaTeX normalisation and
   parser) and compared with ``math_verify.verify``. A positive verdict on two pure numbers is
   vetoed (``magnitude_veto``) when their relative difference exceeds 1e-4: math-verify rounds
   to 6 decimals, which makes ``1/2004!`` equal ``1/2006!``.
5. ``tolerance_sympy``: with a task tolerance, numeric values of the parsed expressions.
6. ``string``: canonical strings equal (nothing parsed, e.g. unparseable text).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from latex2sympy2_extended.latex2sympy2 import NormalizationConfig, latex2sympy, normalize_latex

from .normalize import (
    Cleaned,
    choice_letter,
    clean,
    clock_seconds,
    decimal_comma,
    decimal_places,
    is_text_answer,
    mixed_number,
    plain_text,
    split_top_level,
    strip_unit_words,
    to_fraction,
)
from .types import GradeSpec

# math-verify's LaTeX normalisation, except `units`: it deletes unit-like letters anywhere
# ("6m" -> "6", "5s" -> "5"), which turns algebra golds into numbers. Units written as
# \text{}/\mathrm{} or after a numeric gold are removed by normalize.clean instead.
_NORM_CONFIG = NormalizationConfig(
    basic_latex=True, units=False, malformed_operators=True, nits=True, boxed="all", equations=False
)
_MAX_PARSE_CHARS = 1500
_REL_VETO = 1e-4
_MAX_MULTI = 64  # pairwise matching of more answers than this falls back to strings


@dataclass
class Decision:
    correct: bool
    decided_by: str
    normalized_pred: str | None = None
    normalized_gold: str | None = None
    reason: str = ""


class GoldError(ValueError):
    """The gold answer cannot be used (empty / unparseable in every way)."""


# ------------------------------------------------------------------ sympy parsing


def _should_treat_as_complex(latex: str) -> bool:
    from math_verify.grader import should_treat_as_complex

    return should_treat_as_complex(latex)


_EQ_SPLIT = re.compile(r"(?<!\\|<|!|>)=")


def latex_to_sympy(latex: str):
    """Parse LaTeX with latex2sympy exactly as math-verify's ``parse_latex_cached`` does.

    Returns None when it cannot be parsed. Never evaluates Python.
    """
    if not latex or len(latex) > _MAX_PARSE_CHARS:
        return None
    try:
        norm = normalize_latex(latex, config=_NORM_CONFIG)
    except Exception:
        return None
    if not norm:
        return None
    from math_verify.parser import parse_latex_cached

    for candidate in _candidates(norm):
        try:
            # math-verify's own (cached) call: latex2sympy(candidate, is_real=..., convert_degrees=False,
            # normalization_config=None). When the project's normalisation gives the string math-verify
            # just parsed for the same response, this is a cache hit instead of a second ANTLR parse.
            return parse_latex_cached(candidate)
        except Exception:
            continue
    return None


def _candidates(norm: str):
    yield norm
    if "," not in norm and ";" not in norm:
        parts = _EQ_SPLIT.split(norm)
        if len(parts) > 2:
            yield parts[-1]


@lru_cache(maxsize=2048)
def _gold_sympy(latex: str):
    return latex_to_sympy(latex)


def _canon_str(s: str) -> str:
    s = s.replace("\\left", "").replace("\\right", "")
    s = re.sub(r"\\(?:text|mathrm|textrm|mbox|mathbf|textbf)\s*\{([^{}]*)\}", r"\1", s)
    s = re.sub(r"[\s{}$]|\\[,;!: ]", "", s)
    return s.lower()


# ------------------------------------------------------------------ numeric helpers


def _frac_equal(p: Fraction, g: Fraction, tol: float | None, abs_tol: float | None = None) -> bool:
    """Exact, or within a relative tolerance of the larger magnitude (so gold 0 needs 0), or
    within an absolute tolerance."""
    if p == g:
        return True
    if abs_tol is not None and abs(p - g) <= Fraction(abs_tol):
        return True
    if tol is None:
        return False
    return abs(p - g) <= Fraction(tol) * max(abs(p), abs(g))


def _numeric_value(expr):
    """Numeric value of a closed sympy expression as a sympy Float (30 digits, unbounded
    exponent, so 1/2006! does not underflow), or None when it is not a number."""
    try:
        from sympy import Basic, nan, zoo

        if not isinstance(expr, Basic) or expr.free_symbols or not getattr(expr, "is_number", False):
            return None
        if getattr(expr, "is_Relational", False):
            return None
        v = expr.evalf(30)
        if not v.is_number or v.has(nan) or v.has(zoo):
            return None
        return v
    except Exception:
        return None


# ------------------------------------------------------------------ main entry


_UNESCAPED_DOLLAR_RE = re.compile(r"(?<!\\)\$+")
_GOLD_CHOICE_RE = re.compile(r"^\s*\(?([A-E])\)?(?:[.)]\s*|\s+)(?=[A-Z(])")
_GOLD_ANSWER_IS_RE = re.compile(r"answer\s+is\s*:?\s*\(?([A-E])\)(?![A-Za-z])|answer\s+is\s*:?\s*\n\s*\(?([A-E])\)?\s")


@lru_cache(maxsize=4096)
def gold_answer_text(gold: str) -> str:
    """The answer a gold string states. A gold is usually just the answer; some are written like a
    response (``\\boxed{1} and \\boxed{2}``, ``$1$ and $2$``, a reference solution ending in a box):
    those are read with the strict box rule, and their math delimiters dropped."""
    if not isinstance(gold, str):
        return gold
    if "\\boxed" in gold or "\\fbox" in gold:
        from .extract import UNPARSED, extract_boxed

        b = extract_boxed(gold)
        if b is not None and b != UNPARSED:
            return b
    t = gold.strip()
    n = len(_UNESCAPED_DOLLAR_RE.findall(t))
    if n > 2 or (n == 2 and not (t.startswith("$") and t.endswith("$"))):
        return _UNESCAPED_DOLLAR_RE.sub(" ", t).strip()  # "$1$ and $2$", "$125$ miles"
    return gold


@lru_cache(maxsize=4096)
def gold_choice(gold: str) -> str | None:
    """The letter of a multiple-choice gold: ``C``, ``(C)``, ``\\text{(C)}``, ``(D) Alina``, ``C Cecile``."""
    if not isinstance(gold, str) or len(gold) > 200:
        return None
    t = gold_answer_text(gold)
    letter = choice_letter(plain_text(clean(t, strip_lhs=False).text))
    if letter:
        return letter
    m = _GOLD_CHOICE_RE.match(t)
    if m and len(t) <= 60:
        return m.group(1)
    m = _GOLD_ANSWER_IS_RE.search(t)
    if m:
        return m.group(1) or m.group(2)
    return None


@lru_cache(maxsize=4096)
def gold_part_count(gold_text: str) -> int:
    """How many answers the gold lists at its top level (1 for a tuple, interval or single value)."""
    try:
        t = clean(gold_text, gold_has_comma=True, strip_lhs=False).text
    except Exception:
        return 1
    if not _is_list(t):
        return 1
    return max(1, len(split_top_level(_unwrap_set(t))))


def numeric_value(expr):
    """Numeric value of a closed sympy expression (30 digits), or None."""
    return _numeric_value(expr)


def rel_close(a, b, tol: float) -> bool:
    return _rel_close_c(a, b, tol)


def prepare_gold(gold: str, spec: GradeSpec) -> Cleaned:
    if not isinstance(gold, str):
        raise GoldError(f"gold is {type(gold).__name__}, not str")
    if not gold.strip():
        raise GoldError("empty gold answer")
    return clean(gold, gold_has_comma=_has_top_comma(gold), strip_lhs=False)


def _strip_spec_unit(pred: str, unit: str | None) -> str:
    """Drop the task's unit (e.g. "km/h", "$cm^2$", "minutes") written after the answer."""
    if not unit or not isinstance(unit, str):
        return pred
    u = unit.strip().strip("$").strip()
    if not u or u in ("%", "\\%"):
        return pred  # percent is handled as a reading of the number
    t = pred.rstrip().rstrip(".").rstrip()
    for form in (f"\\text{{{u}}}", f"\\text{{ {u}}}", f"\\mathrm{{{u}}}", f"\\mathrm{{~{u}}}", u):
        if len(t) > len(form) and t.endswith(form):
            return t[: -len(form)].rstrip().rstrip("~").rstrip("\\ ").rstrip()
    return pred


def _has_top_comma(s: str) -> bool:
    return len(split_top_level(s, ",;")) > 1 or "," in s.strip("$")


class NeedsSympy(Exception):
    """Raised in the cheap stage when only the sympy comparison can decide."""


def equivalent(pred: str, gold: str, spec: GradeSpec, *, stage: str = "all") -> Decision | None:
    """Is ``pred`` (an extracted answer) equivalent to ``gold``?

    ``stage="cheap"`` uses only the string / exact-number rules (microseconds, no sympy) and returns
    None when those cannot decide; ``stage="all"`` goes on to the sympy comparison.
    """
    g = prepare_gold(gold, spec)
    gold_has_eq = "=" in g.text
    gold_is_number = to_fraction(g.text) is not None
    pred = _strip_spec_unit(pred, spec.unit)
    p = clean(pred, gold_has_comma=_has_top_comma(gold), strip_lhs=not gold_has_eq, strip_word_units=gold_is_number)
    try:
        d = _equivalent_single(p, g, spec, allow_multi=True, cheap=stage == "cheap")
    except NeedsSympy:
        return None
    d.normalized_pred = d.normalized_pred or p.text
    d.normalized_gold = d.normalized_gold or g.text
    return d


_WS_AROUND_SYMBOL_RE = re.compile(r"\s*([^\w\s\\])\s*")


def same_text(a: str, b: str) -> bool:
    """Identical up to whitespace next to symbols, \\left/\\right and outer braces.

    Whitespace between two word characters is kept, so ``3 3 6`` is not ``336``."""
    return _identity_key(a) == _identity_key(b)


def _identity_key(s: str) -> str:
    s = s.replace("\\left", "").replace("\\right", "")
    s = " ".join(s.split())
    return _WS_AROUND_SYMBOL_RE.sub(r"\1", s)


# f(x) = ..., y = ..., g(t) = ...: a name for the dependent variable (not \sin(x), not 2x)
_DEPENDENT_LHS_RE = re.compile(r"^\s*(?:[a-zA-Z](?:_\{?\w{1,3}\}?)?(?:\(\s*[a-zA-Z]\s*\))?|\|?[A-Z]{1,3}\|?)\s*=(?!=)\s*")


def _rhs_if_named(t: str) -> tuple[str, str] | None:
    """(lhs, rhs) of ``name = rhs`` with one ``=``; None otherwise."""
    if t.count("=") != 1 or any(op in t for op in ("\\le", "\\ge", "<", ">", "\\ne")):
        return None
    m = _DEPENDENT_LHS_RE.match(t)
    if not m:
        return None
    return t[: m.end()].split("=")[0].strip(), t[m.end() :].strip()


def _equivalent_single(p: Cleaned, g: Cleaned, spec: GradeSpec, allow_multi: bool, cheap: bool = False) -> Decision:
    ptxt, gtxt = p.text, g.text
    if not ptxt:
        return Decision(False, "empty", ptxt, gtxt, "empty prediction after normalisation")

    # 0. identical strings are equal, whatever a parser would make of them (12:00 vs 12:00)
    if same_text(ptxt, gtxt) and p.percent == g.percent:
        return Decision(True, "identical", ptxt, gtxt)

    # 1. choices and word answers
    gl = choice_letter(gtxt)
    if gl is not None:
        pl = choice_letter(plain_text(ptxt)) or choice_letter(ptxt)
        if pl is not None:
            return Decision(pl == gl, "choice", pl, gl)
    if spec.answer_type == "text" or (is_text_answer(gtxt) and not _looks_symbolic(gtxt)):
        pt, gt = plain_text(ptxt), plain_text(gtxt)
        return Decision(pt == gt, "text", pt, gt)

    # 1b. clock times: 20:34 = 20:34:00 = 08:34 P.M.
    gc, pc = clock_seconds(gtxt), clock_seconds(ptxt)
    if gc is not None and pc is not None:
        return Decision(gc == pc, "clock_time", ptxt, gtxt)

    # 2. plain numbers
    gf = to_fraction(gtxt)
    pf = to_fraction(ptxt)
    tol = spec.numeric_tolerance
    atol = spec.absolute_tolerance
    has_tol = tol is not None or atol is not None
    if gf is not None and pf is not None:
        dec = _decimal_expansion(ptxt, gtxt, pf, gf) if not has_tol else None
        if dec is not None:
            return Decision(dec, "decimal_expansion", ptxt, gtxt)
        if not _decimal_vs_exact(ptxt, gtxt, pf, gf, tol if has_tol else None):
            if p.percent == g.percent:
                return Decision(_frac_equal(pf, gf, tol, atol), "tolerance" if has_tol else "number")
            # one side has a percent sign: accept either reading (50% vs 50, 50% vs 0.5)
            scaled = pf / 100 if p.percent else pf
            gscaled = gf / 100 if g.percent else gf
            ok = _frac_equal(pf, gf, tol, atol) or _frac_equal(scaled, gscaled, tol, atol)
            return Decision(ok, "percent")
    # 2b. other readings of a number, each named: 1 1/2, 1,22 (decimal comma), 10 weeks
    reading = _number_reading(ptxt, gtxt, pf, gf)
    if reading is not None:
        name, pv, gv = reading
        return Decision(_frac_equal(pv, gv, tol, atol), name, ptxt, gtxt)

    # 3. multiple answers
    gparts = _expand_pm_list(gtxt) or split_top_level(_unwrap_set(gtxt))
    pparts = _expand_pm_list(ptxt) or split_top_level(_unwrap_set(ptxt))
    if allow_multi and (spec.multiple_answers or spec.answer_type == "multi"):
        # items with one \\pm count as their two values: "0, \\pm 2" lists -2, 0, 2
        if len(gparts) > 1 or len(pparts) > 1:
            return _multiset_match(pparts, gparts, spec, cheap)

    # 3b. plus-minus: a \\pm answer is the list of its two values
    if allow_multi and ("\\pm" in ptxt or "\\mp" in ptxt or "\\pm" in gtxt or "\\mp" in gtxt):
        pm_p = _expand_pm_list(ptxt)
        pm_g = _expand_pm_list(gtxt)
        if pm_p is not None and pm_g is not None and (len(pm_p) > 1 or len(pm_g) > 1):
            d = _multiset_match(pm_p, pm_g, spec, cheap)
            d.decided_by = "plus_minus"
            return d

    # 3c. a list answer (several parts at the top level, "and"/"or"/";" or "," between them): the
    # parts are matched as a multiset, each with these rules (x = 1, y = 2 against 1, 2)
    if allow_multi and len(gparts) > 1 and len(pparts) == len(gparts) and _is_list(gtxt) and _is_list(ptxt):
        d = _multiset_match(pparts, gparts, spec, cheap)
        if d.correct:
            d.decided_by = "answer_list"
            return d

    # 3d. name = value: y = 2x + 3 against f(x) = 2x + 3, or a value against |AB| = 1
    gl_r, pl_r = _rhs_if_named(gtxt), _rhs_if_named(ptxt)
    if gl_r is not None or pl_r is not None:
        g_rhs = gl_r[1] if gl_r else gtxt
        p_rhs = pl_r[1] if pl_r else ptxt
        if (gl_r is None) != (pl_r is None) or gl_r[0] == pl_r[0] or _both_dependent(gl_r[0], pl_r[0]):
            if g_rhs != gtxt or p_rhs != ptxt:
                d = _equivalent_single(clean(p_rhs, strip_lhs=False), clean(g_rhs, strip_lhs=False), spec, False, cheap)
                if d.correct:
                    d.decided_by = "equation_rhs"
                    return d

    if cheap:
        raise NeedsSympy()
    # 4. latex2sympy + math_verify.verify
    return _sympy_decision(p, g, spec)


_FUNC_OF_RE = re.compile(r"^[a-zA-Z]\(([a-zA-Z])\)$")


def _both_dependent(a: str, b: str) -> bool:
    """``y`` and ``f(x)``, or ``f(x)`` and ``g(x)``: two names for the same dependent variable
    (not ``y`` and ``z``, which name two different unknowns)."""
    a, b = a.replace(" ", ""), b.replace(" ", "")
    fa, fb = _FUNC_OF_RE.match(a), _FUNC_OF_RE.match(b)
    if fa and fb:
        return fa.group(1) == fb.group(1)
    return (a == "y" and fb is not None) or (b == "y" and fa is not None)


def _is_list(t: str) -> bool:
    """Several answers written as a list, not one tuple/interval/set: no outer brackets."""
    t = t.strip()
    if not t:
        return False
    if t[0] in "([{" and _closing_bracket(t) == len(t) - 1:
        return False
    if t.startswith("\\{") and t.endswith("\\}"):
        return True  # a set of answers
    return True


def _closing_bracket(t: str) -> int:
    pairs = {"(": ")", "[": "]", "{": "}"}
    opener = t[0]
    depth = 0
    for i, ch in enumerate(t):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                return i if (ch == pairs[opener] or opener in "([" and ch in ")]") else -1
    return -1


def _number_reading(ptxt: str, gtxt: str, pf, gf):
    """(rule, pred value, gold value) when a named reading makes both sides plain numbers."""
    # 1 1/2, 2\\frac58 (a whole number and a proper fraction) against a plain number
    pm, gm = mixed_number(ptxt), mixed_number(gtxt)
    if (pm is not None or gm is not None) and (pm or pf) is not None and (gm or gf) is not None:
        return "mixed_number", pm if pm is not None else pf, gm if gm is not None else gf
    # 1,22 against 1.22: the same digits with a decimal comma
    if ptxt.replace(",", ".") == gtxt.replace(",", ".") and ("," in ptxt) != ("," in gtxt):
        pd = decimal_comma(ptxt) if "," in ptxt else pf
        gd = decimal_comma(gtxt) if "," in gtxt else gf
        if pd is not None and gd is not None:
            return "decimal_comma", pd, gd
    # 10weeks, 10 cm^2 (a number with unit words) against a plain number
    pu, gu = strip_unit_words(ptxt), strip_unit_words(gtxt)
    pv = pf if pf is not None else (to_fraction(pu) if pu is not None else None)
    gv = gf if gf is not None else (to_fraction(gu) if gu is not None else None)
    if pv is not None and gv is not None and (pu is not None or gu is not None):
        return "unit_dropped", pv, gv
    return None


def _decimal_expansion(ptxt: str, gtxt: str, pf: Fraction, gf: Fraction) -> bool | None:
    """A long decimal against an exact value (0.0833333333333333 for 1/12): equal when the
    decimal gives at least 6 significant digits and is the exact value rounded or cut at its last
    digit. None when neither side is such a decimal against a non-decimal exact value."""
    for dec_txt, dec_v, exact_txt, exact_v in ((ptxt, pf, gtxt, gf), (gtxt, gf, ptxt, pf)):
        places = decimal_places(dec_txt)
        if places is None or decimal_places(exact_txt) is not None or dec_v == exact_v:
            continue
        sig, after = places
        if sig < 6 or exact_v.denominator == 1:
            continue
        return abs(dec_v - exact_v) < Fraction(1, 10**after) if after >= 0 else False
    return None


def _decimal_vs_exact(ptxt: str, gtxt: str, pf: Fraction, gf: Fraction, tol) -> bool:
    """A decimal prediction for a gold that is an exact non-decimal fraction (1/3 vs 0.333333):
    left to math-verify's rounding rule rather than decided exactly here."""
    return tol is None and pf != gf and "." in ptxt and "." not in gtxt and gf.denominator != 1


def _unwrap_set(t: str) -> str:
    t = t.strip()
    if t.startswith("\\{") and t.endswith("\\}"):
        inner = t[2:-2]
        if "\\{" not in inner:
            return inner
    return t


_PM_RE = re.compile(r"\\(pm|mp)")


def _expand_pm_list(t: str) -> list[str] | None:
    """Top-level items with each \\pm / \\mp item expanded into its two values.

    None when an item has more than one \\pm (left to math-verify)."""
    out: list[str] = []
    for item in split_top_level(_unwrap_set(t)):
        ms = _PM_RE.findall(item)
        if not ms:
            out.append(item)
            continue
        if len(ms) > 1:
            return None
        plus = _PM_RE.sub(lambda m: "+" if m.group(1) == "pm" else "-", item)
        minus = _PM_RE.sub(lambda m: "-" if m.group(1) == "pm" else "+", item)
        out.extend([plus, minus])
    return out


def _looks_symbolic(gtxt: str) -> bool:
    """Short letter strings like 'mn' or 'ab' are products of variables, not words."""
    t = plain_text(gtxt).replace(" ", "")
    has_text_cmd = "\\text" in gtxt or "\\mathrm" in gtxt
    return (len(t) <= 2) and not has_text_cmd


def _multiset_match(pparts: list[str], gparts: list[str], spec: GradeSpec, cheap: bool = False) -> Decision:
    norm_p = ", ".join(pparts)
    norm_g = ", ".join(gparts)
    if len(pparts) != len(gparts):
        return Decision(False, "multi", norm_p, norm_g, f"{len(pparts)} answers for {len(gparts)}")
    if len(gparts) > _MAX_MULTI:
        same = sorted(map(_canon_str, pparts)) == sorted(map(_canon_str, gparts))
        return Decision(same, "multi", norm_p[:200], norm_g[:200], f"over {_MAX_MULTI} answers: compared canonical strings")
    used = [False] * len(pparts)
    for gp in gparts:
        gc = clean(gp, gold_has_comma=True, strip_lhs=False)
        found = False
        for j, pp in enumerate(pparts):
            if used[j]:
                continue
            pc = clean(pp, gold_has_comma=True, strip_lhs="=" not in gc.text)
            if _equivalent_single(pc, gc, spec, allow_multi=False, cheap=cheap).correct:
                used[j] = True
                found = True
                break
        if not found:
            return Decision(False, "multi", norm_p, norm_g, f"no match for gold item {gp!r}")
    return Decision(True, "multi", norm_p, norm_g)


# (gold objects, response objects) math-verify parsed and refused for the check being graded; set by
# core.grade around the project's sympy phase so the same comparison is not run twice.
_REFUSED: tuple[list, list] | None = None


class refused_by_math_verify:
    """Context manager: within it, a pair math-verify already refused is not verified again."""

    def __init__(self, g_parsed, p_parsed):
        self.pair = ([x for x in g_parsed if not isinstance(x, str)], [x for x in p_parsed if not isinstance(x, str)])

    def __enter__(self):
        global _REFUSED
        _REFUSED = self.pair

    def __exit__(self, *exc):
        global _REFUSED
        _REFUSED = None


def _already_refused(G, P) -> bool:
    """math-verify's plain verify of G against P was False, and the project's extra option
    (set/relation comparison) cannot change that for these two objects."""
    if _REFUSED is None:
        return False
    from sympy import Set
    from sympy.core.relational import Relational
    from sympy.logic.boolalg import BooleanFunction

    if any(isinstance(x, (Set, Relational, BooleanFunction)) for x in (G, P)):
        return False
    try:
        return any(G == g for g in _REFUSED[0]) and any(P == p for p in _REFUSED[1])
    except Exception:
        return False


_PROBES = ((0.3719, 1.2183, 0.5521, 2.0437, 0.7907), (1.6180, 0.4142, 2.7183, 0.9172, 1.4426))


def _numerically_different(G, P) -> bool:
    """True when two scalar expressions take clearly different values (relative 1e-5, looser than
    math-verify's 6-decimal rounding) at two fixed points with positive coordinates. Sound as a
    "no": equal expressions agree everywhere they are defined. Sets, relations, matrices and
    tuples are left to ``verify``; so is any evaluation that is not a finite number."""
    from sympy import Eq, Expr, Symbol

    # "d = expression" against a value: the value is compared with the right-hand side (as
    # math-verify does for an equation whose left side is a plain symbol)
    if isinstance(G, Eq) and isinstance(G.lhs, Symbol) and isinstance(P, Expr) and not P.is_Relational:
        G = G.rhs
    elif isinstance(P, Eq) and isinstance(P.lhs, Symbol) and isinstance(G, Expr) and not G.is_Relational:
        P = P.rhs
    if not isinstance(G, Expr) or not isinstance(P, Expr):
        return False
    if getattr(G, "is_Relational", False) or getattr(P, "is_Relational", False):
        return False
    try:
        syms = sorted(G.free_symbols | P.free_symbols, key=lambda x: x.name)
    except Exception:
        return False
    if len(syms) > len(_PROBES[0]):
        return False
    differ = 0
    for point in _PROBES:
        sub = {x: v for x, v in zip(syms, point)}
        try:
            a = complex(G.evalf(20, subs=sub))
            b = complex(P.evalf(20, subs=sub))
        except Exception:
            return False
        if any(v != v or abs(v) == float("inf") for v in (a, b)):  # nan / inf
            return False
        if abs(a - b) <= 1e-5 * max(1.0, abs(a), abs(b)):
            return False
        differ += 1
    return differ == len(_PROBES)


def _sympy_decision(p: Cleaned, g: Cleaned, spec: GradeSpec) -> Decision:
    from math_verify import verify

    ptxt, gtxt = p.text, g.text
    G = _gold_sympy(gtxt)
    P = latex_to_sympy(ptxt)
    if G is None or P is None:
        same = _canon_str(ptxt) == _canon_str(gtxt)
        which = "gold" if G is None else "prediction"
        return Decision(same, "string", ptxt, gtxt, f"{which} not parseable; compared canonical strings")
    guard = _size_guard(G, P)
    if guard is not None:
        return Decision(guard, "size_guard", _short(P), _short(G), "a side is too large to evaluate; compared structurally")
    if _already_refused(G, P):
        ok = False  # math-verify compared exactly these two objects a moment ago and said no
    elif _numerically_different(G, P):
        ok = False  # different values at two points: no simplification can make them equal
    else:
        ok = bool(verify(G, P, timeout_seconds=None, allow_set_relation_comp=True))
    if not ok:
        G2, P2 = _vector_as_tuple(G, P)
        if G2 is not None:
            ok = bool(verify(G2, P2, timeout_seconds=None))
    if not ok:
        G3, P3 = _imaginary_unit(G, P)
        if G3 is not None and bool(verify(G3, P3, timeout_seconds=None)):
            return Decision(True, "imaginary_unit", str(P3), str(G3), "i read as the imaginary unit")
    if ok:
        gv, pv = _numeric_value(G), _numeric_value(P)
        if gv is not None and pv is not None and not _rel_close_c(gv, pv, _REL_VETO):
            return Decision(False, "magnitude_veto", str(P), str(G), "math-verify's 6-decimal rounding matched, relative difference too large")
        return Decision(True, "sympy", str(P), str(G))
    tol = spec.numeric_tolerance
    atol = spec.absolute_tolerance
    if tol is not None or atol is not None:
        gv, pv = _numeric_value(G), _numeric_value(P)
        if gv is not None and pv is not None:
            pairs = [(gv, pv)]
            if p.percent != g.percent:
                pairs.append((gv / 100 if g.percent else gv, pv / 100 if p.percent else pv))
            ok = any(_close_tol(a, b, tol, atol) for a, b in pairs)
            return Decision(ok, "tolerance_sympy", _short(P), _short(G))
    if p.percent != g.percent:
        gv, pv = _numeric_value(G), _numeric_value(P)
        if gv is not None and pv is not None:
            scaled = pv / 100 if p.percent else pv * 100
            if _rel_close_c(gv, scaled, 1e-9):
                return Decision(True, "percent", str(P), str(G))
    return Decision(False, "sympy", str(P), str(G))


def _imaginary_unit(G, P):
    """When ``i`` is the only symbol on both sides (1+2i against i(2-i)), read it as sqrt(-1)."""
    from sympy import Basic, I, Symbol
    from sympy.core.function import AppliedUndef

    def fix(x):
        if not isinstance(x, Basic) or getattr(x, "is_Relational", False):
            return None
        # latex2sympy reads "i(2-i)" as a call of a function named i
        x = x.replace(lambda e: isinstance(e, AppliedUndef) and e.func.__name__ == "i" and len(e.args) == 1,
                      lambda e: Symbol("i") * e.args[0])
        syms = x.free_symbols
        if not syms or any(s.name != "i" for s in syms):
            return None
        return x.subs({s: I for s in syms})

    try:
        g, p = fix(G), fix(P)
    except Exception:
        return None, None
    if g is None or p is None:
        return None, None
    return g, p


def _short(e) -> str:
    try:
        return str(e)[:200]
    except Exception:
        return "<unprintable>"


def _vector_as_tuple(G, P):
    """A one-row/one-column matrix on one side and a tuple on the other: compare as tuples."""
    from sympy import MatrixBase, Tuple

    def as_tuple(x):
        if isinstance(x, MatrixBase) and (x.rows == 1 or x.cols == 1):
            return Tuple(*list(x))
        return None

    if isinstance(G, Tuple) and as_tuple(P) is not None:
        return G, as_tuple(P)
    if isinstance(P, Tuple) and as_tuple(G) is not None:
        return as_tuple(G), P
    return None, None


_HUGE_DIGITS = 10_000  # a closed number with more digits than this is not evaluated


def _digits(e, depth: int = 0) -> float | None:
    """Rough log10|e| of a closed numeric expression, without evaluating it; None if unknown."""
    import math

    from sympy import Add, Float, Integer, Mul, Pow, Rational, factorial

    if depth > 60:
        return math.inf
    if isinstance(e, Integer):
        n = abs(int(e))
        return 0.0 if n == 0 else n.bit_length() * 0.30103
    if isinstance(e, Rational):
        return abs((_digits(Integer(e.p), depth + 1) or 0.0) - (_digits(Integer(e.q), depth + 1) or 0.0))
    if isinstance(e, Float):
        return 0.0
    if isinstance(e, Pow):
        db = _digits(e.base, depth + 1)
        dx = _digits(e.exp, depth + 1)
        if db is None or dx is None:
            return None
        if dx > 15:
            return math.inf if db > 0 else None
        try:
            xv = abs(float(e.exp))
        except Exception:
            return None
        return db * xv
    if isinstance(e, (Mul, Add)):
        parts = [_digits(a, depth + 1) for a in e.args]
        if any(p is None for p in parts):
            return None
        return sum(parts) if isinstance(e, Mul) else max(parts) + 1
    if isinstance(e, factorial):
        dn = _digits(e.args[0], depth + 1)
        if dn is None:
            return None
        if dn > 7:
            return math.inf
        n = float(e.args[0])
        return n * math.log10(max(n, 2.0))
    return None


def _size_guard(G, P) -> bool | None:
    """Decide without evaluation when one side is an astronomically large closed number.

    Returns None (no decision) unless a side has an estimated > 10,000 digits: then the answer
    is correct only if the two are structurally identical."""
    try:
        dg = _digits(G) if not getattr(G, "free_symbols", True) else None
        dp = _digits(P) if not getattr(P, "free_symbols", True) else None
    except Exception:
        return None
    if (dg is not None and dg > _HUGE_DIGITS) or (dp is not None and dp > _HUGE_DIGITS):
        try:
            return bool(G == P)
        except Exception:
            return False
    return None


def _close_tol(a, b, tol: float | None, atol: float | None) -> bool:
    if atol is not None:
        try:
            if bool(abs(a - b).evalf(30) <= atol):
                return True
        except Exception:
            pass
    return tol is not None and _rel_close_c(a, b, tol)


def _rel_close_c(a, b, tol: float) -> bool:
    """Relative closeness of two sympy numbers (possibly complex); False when undecidable."""
    try:
        if a == b:
            return True
        diff = abs(a - b).evalf(30)
        scale = max(abs(a).evalf(30), abs(b).evalf(30))
        if scale == 0:
            return True
        return bool(diff <= tol * scale)
    except Exception:
        return False
