"""String normalisation of an extracted answer (or a gold answer) before comparison.

Pure string work with linear-time regexes. Nothing is evaluated here. The LaTeX-level
normalisation that math-verify itself applies (``normalize_latex``) runs later, in
``equivalence``; this module only handles what the case file showed math-verify misses or
what must be decided before any parsing (text answers, plain numbers, percentages, units).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from fractions import Fraction

# Unicode math symbols models emit, mapped to LaTeX (applied after NFKC).
_UNICODE_MAP = {
    "\u2212": "-",  # minus sign
    "\u2013": "-",  # en dash
    "\u2014": "-",  # em dash
    "\u00d7": "\\times ",
    "\u00f7": "\\div ",
    "\u00b7": "\\cdot ",
    "\u22c5": "\\cdot ",
    "\u221a": "\\sqrt",
    "\u03c0": "\\pi ",
    "\u221e": "\\infty ",
    "\u2264": "\\le ",
    "\u2265": "\\ge ",
    "\u2260": "\\ne ",
    "\u00b1": "\\pm ",
    "\u2213": "\\mp ",
    "\u00b0": "^\\circ",
    "\u2218": "^\\circ",
    "\u222a": "\\cup ",
    "\u2229": "\\cap ",
    "\u2208": "\\in ",
    "\u2205": "\\emptyset ",
    "\u200b": "",  # zero width space
    "\u200c": "",
    "\u200d": "",
    "\ufeff": "",
    "\u00a0": " ",
    "\u2044": "/",  # fraction slash (NFKC of vulgar fractions)
    "\u2215": "/",  # division slash
}
_UNICODE_RE = re.compile("|".join(re.escape(k) for k in _UNICODE_MAP))


def unicode_to_latex(s: str) -> str:
    s = unicodedata.normalize("NFKC", s)
    if s.isascii():
        return s
    return _UNICODE_RE.sub(lambda m: _UNICODE_MAP[m.group(0)], s)


_WRAPPERS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"), ("**", "**"), ("__", "__"), ("`", "`"))
_WRAP_CMD_RE = re.compile(r"^\\(?:text|textbf|mathbf|mathrm|textrm|mbox|boxed|fbox|displaystyle|mathit|textit|operatorname)\s*\{")


def _strip_wrappers(s: str) -> str:
    for _ in range(6):
        before = s
        s = s.strip()
        for o, c in _WRAPPERS:
            if len(s) >= len(o) + len(c) and s.startswith(o) and s.endswith(c):
                inner = s[len(o) : len(s) - len(c)]
                if o == "$" and "$" in inner:
                    continue
                s = inner
        if s.startswith("\\displaystyle"):
            s = s[len("\\displaystyle") :]
        m = _WRAP_CMD_RE.match(s)
        if m and _closing(s, m.end() - 1) == len(s) - 1:
            s = s[m.end() : -1]
        s = s.strip().rstrip(".;").strip()
        if s == before:
            break
    return s


def _closing(s: str, open_idx: int) -> int:
    depth = 0
    i = open_idx
    while i < len(s):
        c = s[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


_DEG_RE = re.compile(r"\s*(?:\^\s*\{?\s*\\circ\s*\}?|\\degree|\^\s*\{\s*\\text\{\s*o\s*\}\s*\}|\s+degrees?)\s*$")
_PERCENT_RE = re.compile(r"\s*(?:\\%|%|\\text\{\s*\\?%\s*\}|\s*\\?(?:text\{\s*)?(?:percentage|percent|pct)\.?\}?)\s*$")
_SPACING_RE = re.compile(r"\\[!;:]|\\(?:q)?quad|\\displaystyle|\\(?:left|right)(?=[.])\.?")
_UNIT_TOKEN = r"\\(?:text|mathrm|textrm|mbox|operatorname|textnormal|textbf|textit|mathit)\s*\{[^{}]*\}"
_TRAILING_TEXT_RE = re.compile(
    rf"\s*(?:{_UNIT_TOKEN})(?:\s*(?:{_UNIT_TOKEN}|~|/|\\cdot|\^\s*\{{?\s*-?\d+\s*\}}?|\\,|\\AA|\\mu))*\s*$"
)
_NUM_RE = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$")
_THOUSANDS_RE = re.compile(r"^[+-]?\d{1,3}(?:(?:,|\{,\}|\\,|\\ )\d{3})+(?:\.\d+)?$")
# "1 000", "11 111 111 100": groups of three digits separated by single spaces
_SPACE_THOUSANDS_RE = re.compile(r"^[+-]?\d{1,3}(?: \d{3})+(?:\.\d+)?$")
# ",\!" (MATH's thousands separator) and "{,}" before the spacing commands are blanked
_COMMA_BANG_RE = re.compile(r"(?<=\d)(?:,\\!\s*|\{,\}\s*|,\\,)(?=\d)")
# currency after the number ("1,000.99$", "1,000.99€", "5 dollars") and before it ("€5", "USD 5")
_CURRENCY_SUFFIX_RE = re.compile(r"(?<=\d)\s*(?:\\\$|\$|€|£|\\euro|\\text\{\s*(?:\\\$|€|dollars?|euros?|USD)\s*\}|USD|EUR|dollars?|euros?)\s*$")
_FRAC_NUM_RE = re.compile(
    r"^([+-]?)\s*(?:\\frac\s*\{\s*([+-]?\d+)\s*\}\s*\{\s*([+-]?\d+)\s*\}|\\frac\s*(\d)(\d)|([+-]?\d+)\s*/\s*([+-]?\d+))$"
)
# 4.5e33, 4.5E-3, 4.5\times10^{33}, 4.5\cdot 10^{-3}, 10^{5} (spaces already removed)
_SCI_RE = re.compile(
    r"^([+-]?\d+(?:\.\d*)?)[eE]([+-]?\d+)$"
    r"|^(?:([+-]?\d+(?:\.\d*)?)(?:\\times|\\cdot|\*|x))?10\^\{?([+-]?\d+)\}?$"
)
_UNIT_WORD = r"[a-zA-Z]+\.?(?:\^\{?\d\}?)?(?:/[a-zA-Z]+(?:\^\{?\d\}?)?)?"
# words separated by whitespace (so a run of letters splits one way only: no backtracking blow-up)
_PLAIN_WORD_UNIT_RE = re.compile(rf"^([+-]?\d[\d,]*(?:\.\d+)?)\s*({_UNIT_WORD}(?:\s+{_UNIT_WORD}){{0,2}})\s*$")
# two-letter (and one-letter) unit words; longer words count as units unless they are math names
_SHORT_UNITS = frozenset("cm mm km kg mg ml ft in yd mi hr lb oz sq cc mL kB MB GB m g s h l L".split())
_MATH_WORDS = frozenset("sin cos tan cot sec csc log ln exp sqrt pi arcsin arccos arctan sinh cosh tanh mod gcd lcm".split())


def is_unit_words(words: str) -> bool:
    """``cm^2``, ``weeks``, ``km/h``, ``square units``: plain unit words, not a variable like ``m``."""
    first = re.split(r"[\s^/.]", words.strip(), maxsplit=1)[0]
    if not first or first.lower() in _MATH_WORDS:
        return False
    if len(first) >= 3:
        return True
    return first in _SHORT_UNITS and len(first) >= 2


def strip_unit_words(s: str) -> str | None:
    """The number of ``<number> <unit words>`` ("10weeks", "10 cm^2", "50 km/h"), else None."""
    t = s.strip()
    if len(t) > 80:
        return None
    m = _PLAIN_WORD_UNIT_RE.match(t)
    if m and is_unit_words(m.group(2)):
        return m.group(1)
    return None
_CURRENCY_RE = re.compile(r"^(?:\\\$|\$|€|£|\\euro|USD|\\text\{\s*\\?\$\s*\})\s*")
_LHS_RE = re.compile(r"^\s*(?:[a-zA-Z](?:_\{?\w+\}?)?|\\[a-zA-Z]+(?:_\{?\w+\}?)?)\s*=\s*")


@dataclass
class Cleaned:
    text: str  # normalised LaTeX-ish text
    percent: bool = False
    had_unit: bool = False


def clean(s: str, *, gold_has_comma: bool = False, strip_lhs: bool = True, strip_word_units: bool = False) -> Cleaned:
    """Normalise an answer string.

    ``gold_has_comma`` disables thousands-separator removal (the comma separates answers);
    ``strip_lhs`` removes a leading ``x =``; ``strip_word_units`` removes plain trailing words
    after a number (``12 inches``), only sensible when the gold is a plain number (else ``6m``
    would lose its variable).
    """
    s = unicode_to_latex(s)
    s = _COMMA_BANG_RE.sub(",", s)
    s = s.replace("\\textnormal", "\\text")
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").replace("\\cfrac", "\\frac")
    s = s.replace("\\varnothing", "\\emptyset").replace("\\geqslant", "\\geq").replace("\\leqslant", "\\leq")
    s = _SPACING_RE.sub(" ", s)
    s = _LEFT_RIGHT_RE.sub("", s)
    s = _strip_wrappers(s)
    s = _unwrap_redundant(s)
    percent = False
    had_unit = False
    s = _CURRENCY_RE.sub("", s)
    if s.endswith("\\") and not s.endswith("\\\\"):
        s = s[:-1].rstrip()  # a stray trailing backslash ("185\\")
    if len(s) <= 60 and ":" in s:
        secs = clock_seconds(s)
        if secs is not None and re.search(r"[aApP]\.?\s*[mM]", s):
            s = f"{secs // 3600:02d}:{secs // 60 % 60:02d}" + (f":{secs % 60:02d}" if secs % 60 else "")
    if len(s) <= 300:
        s = _CURRENCY_SUFFIX_RE.sub("", s)  # unit regexes only on short answers (bounded cost)
        m = _DEG_RE.search(s)
        if m and m.start() > 0:
            s = s[: m.start()]
            had_unit = True
        m = _PERCENT_RE.search(s)
        if m and m.start() > 0:
            s = s[: m.start()]
            percent = True
        # trailing \text{ cm}, \mathrm{~km} / \mathrm{s} units after a non-empty math part
        m = _TRAILING_TEXT_RE.search(s)
        if m and m.start() > 0 and not _is_text_only(s):
            s = s[: m.start()]
            had_unit = True
        if strip_word_units:
            num = strip_unit_words(s)
            if num is not None:
                s = num
                had_unit = True
    if strip_lhs:
        m = _LHS_RE.match(s)
        if m and "=" not in s[m.end() :] and "," not in s[m.end() :]:
            s = s[m.end() :]
        else:
            m = _IN_SET_RE.match(s)
            if m:
                s = s[m.end() :]
    s = s.strip().rstrip(".").strip()
    if not gold_has_comma and _THOUSANDS_RE.match(s):
        s = re.sub(r"\{,\}|\\,|\\ |,", "", s)
    elif _SPACE_THOUSANDS_RE.match(s):
        s = s.replace(" ", "")
    s = _strip_wrappers(s)
    s = _unwrap_redundant(s)
    return Cleaned(s, percent, had_unit)


_LEFT_RIGHT_RE = re.compile(r"\\(?:left|right|bigl|bigr|Bigl|Bigr|big|Big)(?=[()\[\]|.]|\\[{}])")
# "(m,n) \in", "x \in" before the answer set
_IN_SET_RE = re.compile(r"^\s*(?:\(\s*[a-zA-Z](?:\s*,\s*[a-zA-Z]){0,5}\s*\)|[a-zA-Z])\s*\\in\s*")


def _unwrap_redundant(s: str) -> str:
    """Remove redundant outer {...} and (...) layers in linear time (``{{{5}}}`` -> ``5``).

    Parentheses are removed only when what remains has no top-level comma (so tuples and
    intervals keep theirs).
    """
    for open_, close in (("{", "}"), ("(", ")")):
        k = len(s) - len(s.lstrip(open_))
        m = len(s) - len(s.rstrip(close))
        r = min(k, m)
        if r == 0:
            continue
        # try r layers, then r-1 (e.g. "(1)(2)" has none to remove): two linear attempts
        for layers in (r, r - 1):
            if layers <= 0:
                break
            inner = s[layers : len(s) - layers]
            if _balanced(inner, open_, close) and (open_ == "{" or not _top_level_comma(inner)):
                s = inner.strip()
                break
    return s


def _balanced(s: str, open_: str, close: str) -> bool:
    depth = 0
    prev = ""
    for ch in s:
        if prev == "\\":
            prev = ""
            continue
        if ch == open_:
            depth += 1
        elif ch == close:
            depth -= 1
            if depth < 0:
                return False
        prev = ch
    return depth == 0


def _top_level_comma(s: str) -> bool:
    depth = 0
    for ch in s:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            return True
    return False


def _is_text_only(s: str) -> bool:
    return s.lstrip().startswith("\\text")


def to_fraction(s: str) -> Fraction | None:
    """Exact value of a plain number: integer, decimal, a/b, \\frac{a}{b}. None otherwise."""
    t = _OP_SPACES_RE.sub(r"\1", s.strip())
    if len(t) > 60 or any(ch.isspace() for ch in t):
        return None
    if _NUM_RE.match(t):
        try:
            return Fraction(t)
        except (ValueError, ZeroDivisionError):
            return None
    m = _SCI_RE.match(t)
    if m:
        if m.group(2) is not None:
            mant, exp = m.group(1), m.group(2)
        else:
            mant, exp = m.group(3), m.group(4)
        try:
            e = int(exp)
            if abs(e) > 400:
                return None
            return Fraction(mant or "1") * (Fraction(10) ** e)
        except (ValueError, ZeroDivisionError):
            return None
    m = _FRAC_NUM_RE.match(t)
    if m:
        sign, a, b, c, d, e, f = m.groups()
        num, den = (a, b) if a is not None else ((c, d) if c is not None else (e, f))
        try:
            v = Fraction(int(num), int(den))
        except (ValueError, ZeroDivisionError):
            return None
        return -v if sign == "-" else v
    return None


_OP_SPACES_RE = re.compile(r"\s*([/+\-^{}])\s*|(?<=\\times)\s+|(?<=\\cdot)\s+|\s+(?=\\times|\\cdot)")
_CHOICE_RE = re.compile(r"^\(?\s*([A-Ea-e])\s*\)?$")
_TEXT_ANSWER_RE = re.compile(r"^[A-Za-z][A-Za-z' \-]*[A-Za-z]$")
_TEXT_ONLY_RE = re.compile(r"^\\(?:text|textbf|mathrm|textrm|mbox)\s*\{[^{}]*\}$")
_TEXT_CMD_RE = re.compile(r"\\(?:text|textbf|mathrm|textrm|mbox|mathbf)\s*\{([^{}]*)\}")


def choice_letter(s: str) -> str | None:
    m = _CHOICE_RE.match(s.strip())
    return m.group(1).upper() if m else None


def plain_text(s: str) -> str:
    """Text with \\text{} unwrapped, lower-cased, single-spaced."""
    s = _TEXT_CMD_RE.sub(r"\1", s)
    s = s.replace("\\ ", " ").replace("~", " ")
    return " ".join(s.lower().split())


def is_text_answer(s: str) -> bool:
    """A word answer such as 'Monday', 'Evelyn', 'no solution', or anything in \\text{}.

    Raw letter strings count only when every word has 2+ letters and one has 3+, so that
    'p - q', 'mn' or 'a b' stay algebra.
    """
    raw = s.strip()
    if _TEXT_ONLY_RE.match(raw):
        inner = plain_text(raw)
        return bool(inner) and any(ch.isalpha() for ch in inner) and not any(ch.isdigit() for ch in inner)
    t = plain_text(raw)
    if "\\" in t or not _TEXT_ANSWER_RE.match(t):
        return False
    words = re.split(r"[ '\-]+", t)
    return all(len(w) >= 2 for w in words) and any(len(w) >= 3 for w in words) and " - " not in t


def split_top_level(s: str, seps: str = ",;") -> list[str]:
    """Split on separators not inside (), [], {}; also on the words 'and' / 'or'."""
    parts: list[str] = []
    depth = 0
    cur: list[str] = []
    i = 0
    n = len(s)
    while i < n:
        c = s[i]
        if c == "\\" and i + 1 < n and s[i + 1] in "{}":
            cur.append(s[i : i + 2])
            i += 2
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        if depth <= 0 and c in seps:
            parts.append("".join(cur))
            cur = []
            depth = 0
            i += 1
            continue
        cur.append(c)
        i += 1
    parts.append("".join(cur))
    out: list[str] = []
    for p in parts:
        for q in re.split(r"\s*\\?(?:\\text\{\s*(?:and|or)\s*\}|\band\b|\bor\b)\s*", p):
            q = q.strip().strip("$").strip()
            if q:
                out.append(q)
    return out


# ------------------------------------------------------------------ more readings of a number
# Each returns an exact value or None; each is used only where the case corpus showed it.

_MIXED_RE = re.compile(
    r"^([+-]?)(\d+)\s*(?:\\frac\s*\{\s*(\d+)\s*\}\s*\{\s*(\d+)\s*\}|\\frac\s*(\d)\s*(\d)|\s(\d+)\s*/\s*(\d+))$"
)


def mixed_number(s: str) -> Fraction | None:
    """``1 1/2``, ``2\\frac58``, ``918\\frac{1}{2}``: a whole number and a proper fraction."""
    m = _MIXED_RE.match(s.strip())
    if not m:
        return None
    sign, whole = m.group(1), int(m.group(2))
    num, den = next((int(a), int(b)) for a, b in ((m.group(3), m.group(4)), (m.group(5), m.group(6)), (m.group(7), m.group(8))) if a)
    if den == 0 or not 0 < num < den:
        return None
    v = whole + Fraction(num, den)
    return -v if sign == "-" else v


_DECIMAL_COMMA_RE = re.compile(r"^[+-]?\d+,\d+$")


def decimal_comma(s: str) -> Fraction | None:
    """``1,22`` read with a European decimal comma (only ever compared with the same digits
    written with a decimal point)."""
    t = s.strip()
    if not _DECIMAL_COMMA_RE.match(t):
        return None
    return Fraction(t.replace(",", "."))


_CLOCK_RE = re.compile(
    r"^(\d{1,2}):(\d{2})(?::(\d{2}))?\s*(?:\\text\s*\{\s*)?(?:([aApP])\.?\s*[mM]\.?)?\s*\}?$"
)


def clock_seconds(s: str) -> int | None:
    """Seconds after midnight of a clock time: ``20:34``, ``20:34:00``, ``08:34 \\text{P.M.}``."""
    m = _CLOCK_RE.match(s.strip())
    if not m:
        return None
    h, mi, sec, ampm = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0), m.group(4)
    if mi >= 60 or sec >= 60:
        return None
    if ampm:
        if not 1 <= h <= 12:
            return None
        h = h % 12 + (12 if ampm in "pP" else 0)
    elif h > 24:
        return None
    return (h % 24) * 3600 + mi * 60 + sec


_DECIMAL_SIG_RE = re.compile(r"^[+-]?(\d*)\.(\d+)(?:(?:[eE]|\\times\s*10\s*\^|\\cdot\s*10\s*\^)\s*\{?\s*([+-]?\d+)\s*\}?)?$")


def decimal_places(s: str) -> tuple[int, int] | None:
    """(significant digits, places after the decimal point of the value) of a decimal such as
    ``0.0833333333333333`` or ``2.314814814815 \\times 10^{-3}``; None if not a decimal."""
    m = _DECIMAL_SIG_RE.match(s.strip().replace(" ", ""))
    if not m:
        return None
    whole, frac, exp = m.group(1), m.group(2), int(m.group(3) or 0)
    digits = (whole + frac).lstrip("0")
    return len(digits), len(frac) - exp
