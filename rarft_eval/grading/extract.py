"""Answer extraction from a full model response.

Pure string work: nothing here parses or evaluates mathematics, and every scan is linear in
the length of the text it looks at (no nested quantifiers over unbounded input), so a
100k-character response costs a few milliseconds.

Rules, tried in this order (the first that finds something wins; the verdict names it):

1. ``boxed``: the last complete ``\\boxed{...}`` / ``\\fbox{...}`` (nested braces; also ``\\boxed 5``).
   Boxes directly before it, separated only by commas / "and" / "or" / ``$`` / spacing, are joined
   to it (``\\boxed{2}, \\boxed{3}`` -> ``2, 3``); when the gold has several parts, a short phrase
   between the boxes is allowed too (``\\boxed{(3, 3)} \\text{ for part (a) and } \\boxed{(1, 1)}``).
   A last box that is never closed (a response cut off inside it) gives no answer: rule ``unparsed``.
2. ``final_answer_phrase``: the last "final answer is ...", "the answer is ...", "Answer \\( 9 \\)";
   a math span right after the phrase, else the sentence reduced to its answer (``The largest
   $n$ is 34.`` -> ``34``).
3. ``answer_label``: the last "Answer: ..." (also ``**Answer:**``, ``Final Answer:``), reduced the same way.
4. ``bold``: the last markdown bold ``**...**`` that holds a number or math.
5. ``last_math``: the last inline/display math (``$..$``, ``\\(..\\)``, ``\\[..\\]``) of the final
   paragraph.
6. ``last_number``: the last number of the final paragraph, only when that paragraph ends the
   response like a conclusion (see ``_conclusion_number``).
7. ``whole_response``: a short one-line response that is only an answer (``\\$10``, ``E``).

For a multiple-choice gold, ``extract_choice`` runs first (rule ``choice_letter``): a boxed letter,
"the answer is (C)", "I think it's B", a response that starts with "D." or is only a letter.

Reasoning (``<think>...</think>``) is removed first; when the text after the reasoning holds
no answer, the reasoning is searched too and the rule gets the suffix ``_in_reasoning``.
"""

from __future__ import annotations

import re

# Only the tail of very long responses is searched by the fallback rules: final answers live
# at the end. The boxed rule scans backwards with str.rfind, which is linear anyway.
TAIL_CHARS = 4000
MAX_ANSWER_CHARS = 2000

_BOX_CMDS = ("\\boxed", "\\fbox")
# what may separate two boxes that form one answer: "\\boxed{2}, \\boxed{3}", "$x = \\boxed{1}$ and $x = \\boxed{2}$",
# "\\boxed{(2, 2)} \\quad\\text{and}\\quad \\boxed{(6, 2)}" (checked after _gap_words removed the markup)
_JOIN_GAP_RE = re.compile(r"^(?:(?:and|or|&)\s*)?(?:[a-zA-Z](?:_\{?\w{1,3}\}?)?\s*=\s*)?$")
_GAP_MARKUP_RE = re.compile(r"\\(?:q?quad|[,;:! ]|\(|\)|\[|\]|displaystyle)|\$|[,;&~]|\\text\s*\{|[{}]")
_MAX_GAP = 80


def _gap_words(gap: str) -> str:
    return " ".join(_GAP_MARKUP_RE.sub(" ", gap).split())


def _joinable(gap: str, loose: bool) -> bool:
    if len(gap) > _MAX_GAP:
        return False
    words = _gap_words(gap)
    if _JOIN_GAP_RE.match(words):
        return True
    # the gold has several parts: a short phrase between the boxes ("for part (a) and") is allowed,
    # not a sentence end
    return loose and "." not in gap and len(words.split()) <= 6 and not (set(words.lower().split()) & _REVISION_WORDS)


# words that say the earlier box was withdrawn, not a first part of the answer
_REVISION_WORDS = frozenset("but wait actually realized realize instead not no wrong however correct think thought mistake".split())


_BRACE_TOKEN_RE = re.compile(r"\\.|[{}]", re.DOTALL)


def _brace_map(text: str, start: int) -> dict[int, int]:
    """Closing index of every balanced '{' in text[start:], in one linear pass.

    Escaped characters (``\\{``, ``\\}``, ``\\\\``) are skipped as units. Unclosed braces are
    simply absent from the map, so a response full of unclosed ``\\boxed{`` costs O(n),
    not O(n^2).
    """
    stack: list[int] = []
    closing: dict[int, int] = {}
    for m in _BRACE_TOKEN_RE.finditer(text, start):
        tok = m.group(0)
        if tok == "{":
            stack.append(m.start())
        elif tok == "}":
            if stack:
                closing[stack.pop()] = m.start()
    return closing


def _box_at(text: str, start: int, cmd: str, closing: dict[int, int]) -> tuple[str, int] | None:
    """Content of the box command starting at ``start`` and the index just past it."""
    i = start + len(cmd)
    n = len(text)
    # \boxed must not be a prefix of another command (e.g. \boxedx)
    if i < n and text[i].isalpha():
        return None
    while i < n and text[i] == " ":
        i += 1
    if i < n and text[i] == "{":
        end = closing.get(i, -1)
        if end < 0:
            return None
        return text[i + 1 : end], end + 1
    if start + len(cmd) < n and text[start + len(cmd)] == " ":
        # "\boxed 5" form: content runs to the next space / $ / end
        j = i
        while j < n and text[j] not in " \n$":
            j += 1
        if j > i:
            return text[i:j], j
    return None


UNPARSED = "unparsed"


def _find_boxes_backwards(text: str):
    """Yield (start, end, content) of box commands from the last to the first.

    A box whose brace never closes yields (start, -1, None)."""
    first = min((k for k in (text.find(c) for c in _BOX_CMDS) if k >= 0), default=-1)
    if first < 0:
        return
    closing = _brace_map(text, first)
    pos = len(text)
    while pos > 0:
        best = -1
        best_cmd = ""
        for cmd in _BOX_CMDS:
            k = text.rfind(cmd, 0, pos)
            if k > best:
                best, best_cmd = k, cmd
        if best < 0:
            return
        got = _box_at(text, best, best_cmd, closing)
        if got is not None:
            yield best, got[1], got[0]
        elif _opens_unclosed(text, best + len(best_cmd), closing):
            yield best, -1, None
        pos = best


def _opens_unclosed(text: str, i: int, closing: dict[int, int]) -> bool:
    while i < len(text) and text[i] == " ":
        i += 1
    return i < len(text) and text[i] == "{" and i not in closing


def extract_boxed(text: str, *, loose_join: bool = False) -> str | None:
    """Content of the last complete box, joined with the boxes directly before it.

    Returns ``UNPARSED`` when the last box command is never closed (the response was cut off
    inside it). ``loose_join`` also joins boxes separated by a short phrase (several-part golds).
    """
    boxes = []
    for start, end, content in _find_boxes_backwards(text):
        if content is None:  # an unclosed box
            if not boxes:
                return UNPARSED
            break
        if boxes:
            gap = text[end : boxes[-1][0]]
            if not _joinable(gap, loose_join):
                break
        if not content.strip():
            if boxes:
                break
            continue
        boxes.append((start, end, content))
        if len(boxes) >= 12:
            break
    if not boxes:
        return None
    parts = [b[2].strip() for b in reversed(boxes)]
    return ", ".join(parts)


_THINK_OPEN = "<think>"
_THINK_CLOSE = "</think>"


def split_reasoning(response: str) -> tuple[str, str]:
    """(final part, reasoning part). A response cut off inside <think> has no final part."""
    k = response.rfind(_THINK_CLOSE)
    if k >= 0:
        return response[k + len(_THINK_CLOSE) :], response[:k]
    if _THINK_OPEN in response:
        return "", response
    return response, ""


# ---------------------------------------------------------------- phrase rules
# Bounded quantifiers only: these run on at most TAIL_CHARS characters.
_FINAL_PHRASE_RE = re.compile(
    r"(?:final\s+answer|the\s+answer|answer\s+is|result\s+is|correct\s+(?:option|choice)(?:\s+is)?)"
    r"(?:\s+(?:to\s+[^\n:]{0,60}?|is|will\s+be|would\s+be|should\s+be))?\s*(?:is\b|:|=)?\s*"
    r"|\banswer\s+(?=\\\(|\\\[|\$)",  # "Answer \( 9 \)", "Answer $$ 9 $$"
    re.IGNORECASE,
)
_ANSWER_LABEL_RE = re.compile(
    r"(?:^|\n)[ \t>#*_]*(?:final\s+)?answer[ \t*_]*[:：][ \t*_]*", re.IGNORECASE
)


def _take_answer_span(tail: str) -> str | None:
    """The answer following a phrase: a math span, a box, or the sentence reduced to its answer."""
    s = tail.lstrip(" \t*_:\"'")
    if not s:
        return None
    for open_, close in (("$$", "$$"), ("$", "$"), ("\\[", "\\]"), ("\\(", "\\)")):
        if s.startswith(open_):
            end = s.find(close, len(open_))
            if end > len(open_):
                return s[len(open_) : end]
            return None
    if s.startswith("\\boxed") or s.startswith("\\fbox"):
        b = extract_boxed(s)
        return None if b == UNPARSED else b
    line = s.split("\n", 1)[0]
    # cut at a sentence end: ". " or final "." (not a decimal point)
    m = re.search(r"\.(?:\s|$)|(?<=[a-zA-Z0-9)\]}$])\s*(?:I hope|because|since|which|as\s)", line)
    if m:
        line = line[: m.start()]
    line = line.strip().strip("*_ \"'").rstrip(".").strip()
    if not line or len(line) > 300:
        return None
    return _reduce_sentence(line)


_PROSE_WORD_RE = re.compile(r"(?<![\\a-zA-Z])[a-zA-Z]{3,}")
_INLINE_MATH_RE = re.compile(r"\$\$([^$]{1,500})\$\$|(?<![\\$])\$([^$\n]{1,300})\$|\\\((.{1,300}?)\\\)")
_IS_SPLIT_RE = re.compile(r"\s(?:is|are|equals|was|will be|be)\s|=")


def _prose_words(t: str) -> int:
    return len(_PROSE_WORD_RE.findall(_INLINE_MATH_RE.sub(" ", t)))


def _reduce_sentence(line: str) -> str | None:
    """``The largest $n$ is 34`` -> ``34``; ``12 apples`` and ``x = 5`` stay as they are."""
    if _prose_words(line) < 2:
        return line
    # the part after the last "is" / "=" when that part is itself an answer
    parts = _IS_SPLIT_RE.split(line)
    if len(parts) > 1:
        rest = parts[-1].strip().strip(",;:").strip()
        if rest and _prose_words(rest) < 2 and _has_content(rest):
            return rest
    spans = [next(g for g in m.groups() if g is not None) for m in _INLINE_MATH_RE.finditer(line)]
    if spans:
        return spans[-1]
    nums = _TOKEN_NUMBER_RE.findall(line)
    if nums:
        return nums[-1]
    return None


# a number standing as a word of the sentence (not the 5 of "pwned_5" or "x5")
_TOKEN_NUMBER_RE = re.compile(r"(?<![\w/\\.])-?\d+(?:,\d{3})*(?:\.\d+)?(?![\w/])")


def _last_phrase(text: str, regex: re.Pattern[str]) -> str | None:
    """Answer after the last of the (at most 5 last) phrase matches that yields one."""
    matches = list(regex.finditer(text))
    for m in reversed(matches[-5:]):
        got = _take_answer_span(text[m.end() : m.end() + MAX_ANSWER_CHARS])
        if got and _has_content(got):
            return got
    return None


def _has_content(s: str) -> bool:
    return any(ch.isalnum() for ch in s)


_BOLD_RE = re.compile(r"\*\*([^*\n]{1,200})\*\*")
_HAS_NUM_OR_MATH = re.compile(r"\d|\\[a-zA-Z]+|\$|^\(?[A-E]\)?$")


_BOLD_HEADING_RE = re.compile(r"^(?:final\s+)?(?:answer|solution|step|note|proof|case|conclusion|summary)s?$", re.I)
_BOLD_WORDS_RE = re.compile(r"^[A-Za-z]+(?: [A-Za-z]+){0,2}$")


def _last_bold(text: str) -> str | None:
    last = None
    final_para_start = len(text) - len(_last_paragraph(text))
    for m in _BOLD_RE.finditer(text):
        inner = m.group(1).strip()
        if _HAS_NUM_OR_MATH.search(inner):
            last = inner
        elif m.start() >= final_para_start and _BOLD_WORDS_RE.match(inner) and not _BOLD_HEADING_RE.match(inner):
            last = inner  # a word answer in the concluding paragraph: "the day is **Monday**"
    if last is None:
        return None
    # "**Answer: 42**" -> "42"; "**x = $5$**" handled by normalisation later
    inner = re.sub(r"^(?:final\s+)?answer\s*[:：]?\s*", "", last, flags=re.IGNORECASE)
    inner = inner.strip().rstrip(".").strip()
    if inner.startswith("$") and inner.endswith("$") and len(inner) > 1:
        inner = inner.strip("$")
    return inner or None


_MATH_SPAN_RE = re.compile(
    r"\$\$([^$]{1,1500})\$\$|(?<![\\$])\$([^$\n]{1,500})\$|\\\[(.{1,1500}?)\\\]|\\\((.{1,500}?)\\\)",
    re.DOTALL,
)


def _last_paragraph(text: str) -> str:
    t = text.rstrip()
    k = t.rfind("\n\n")
    para = t[k + 2 :] if k >= 0 else t
    return para[-1500:]


def _last_math(text: str) -> str | None:
    para = _last_paragraph(text)
    last = None
    last_end = 0
    for m in _MATH_SPAN_RE.finditer(para):
        inner = next(g for g in m.groups() if g is not None)
        if _has_content(inner):
            last = inner
            last_end = m.end()
    if last is None:
        return None
    # the math must close the response ("... is $8$." / "... $8$ units."), not sit in a
    # sentence that goes on (a truncated response ends mid-sentence)
    after = para[last_end:].strip()
    if len(after) > 40 or (after and not re.search(r"[.!]\**$", after)):
        return None
    last = last.strip()
    # an equation chain "a = b = 42": keep the last side (one equation stays whole: x = 5,
    # \\cos(x) = 1/2; the comparison decides what its left side means)
    eqs = _top_level_equals(last)
    if len(eqs) >= 2 and "," not in last and "\\le" not in last and "<" not in last and ">" not in last:
        last = last[eqs[-1] + 1 :].strip()
    return last or None


def _top_level_equals(t: str) -> list[int]:
    """Positions of the ``=`` signs outside braces (``\\sum_{k=0}`` has none at the top level)."""
    depth = 0
    out = []
    for i, ch in enumerate(t):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == "=" and depth == 0:
            out.append(i)
    return out


_NUMBER_RE = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?")
_CONCLUSION_RE = re.compile(
    r"\b(?:so|thus|therefore|hence|total|answer|result|get|gives|equals|is)\b|=", re.IGNORECASE
)


def _conclusion_number(text: str) -> str | None:
    """The last number of the last sentence, if that sentence reads as a conclusion.

    A response truncated mid-computation ends with an arbitrary intermediate number; we only
    take a bare number when the final sentence has a concluding word ("so", "therefore",
    "is", "=") and the response ends with the number or with a full stop after it.
    """
    para = _last_paragraph(text).rstrip()
    if not para:
        return None
    stripped = para.rstrip(" .!*_)")
    m = None
    for m in _NUMBER_RE.finditer(stripped):
        pass
    if m is None or m.end() != len(stripped):
        return None
    before = stripped[: m.start()].rstrip()
    if before and before[-1] in "{^_\\/(":
        return None  # inside a LaTeX construct cut off by truncation (e.g. "\\boxed{4")
    sentence_start = max(stripped.rfind(". ", 0, m.start()), stripped.rfind("\n", 0, m.start()))
    sentence = stripped[sentence_start + 1 : m.start()]
    if not _CONCLUSION_RE.search(sentence):
        return None
    return m.group(0)


_WHOLE_MAX = 60


def _whole_response(text: str) -> str | None:
    """A short one-line response that is only math: ``\\$10``, ``E``, ``x \\in [0, 1]`` (no word of prose)."""
    t = text.strip()
    if not t or len(t) > _WHOLE_MAX or "\n" in t or _prose_words(t) > 0 or "\\boxed" in t or "\\fbox" in t:
        return None
    return t if _has_content(t) else None


# ---------------------------------------------------------------- multiple choice
_CHOICE_PATTERNS = [
    # "the answer is (C)", "Answer: B", "the answer is for sure D", "correct option is **(C)**"
    re.compile(r"(?:answer|option|choice)\s*(?:is|:|=)?\s*(?:(?:for\s+sure|definitely|probably|clearly|option|choice|letter)\s+)?"
               r"[*_]*\(?((?-i:[A-E]))\)?[*_]*(?![A-Za-z0-9])", re.IGNORECASE),
    # "... therefore I think it's B", "so I choose (D)." at the very end
    re.compile(r"(?:it's|it\s+is|is|choose|pick|select)\s+[*_]*\(?((?-i:[A-E]))\)?[*_]*\s*[.!]?\s*$", re.IGNORECASE),
]
_CHOICE_START_RE = re.compile(r"^\s*[*_]*\(?([A-E])\)?[*_]*(?:[.):]\s|\s*$)")


def extract_choice(text: str) -> str | None:
    """The letter of a multiple-choice answer, or None."""
    from .normalize import choice_letter, plain_text

    if not isinstance(text, str) or not text.strip():
        return None
    final, reasoning = split_reasoning(text)
    t = (final if final.strip() else reasoning)[-TAIL_CHARS:]
    b = extract_boxed(t)
    if b and b != UNPARSED:
        letter = choice_letter(plain_text(b)) or choice_letter(b)
        if letter:
            return letter
    for pat in _CHOICE_PATTERNS:
        found = None
        for m in pat.finditer(t):
            found = m.group(1)
        if found:
            return found.upper()
    m = _CHOICE_START_RE.match(t)
    if m:
        return m.group(1).upper()
    return None


def _extract_from(text: str, loose_join: bool = False) -> tuple[str | None, str | None]:
    boxed = extract_boxed(text, loose_join=loose_join)
    if boxed == UNPARSED:
        return None, UNPARSED
    if boxed is not None:
        return boxed, "boxed"
    tail = text[-TAIL_CHARS:]
    got = _last_phrase(tail, _FINAL_PHRASE_RE)
    if got:
        return got, "final_answer_phrase"
    got = _last_phrase(tail, _ANSWER_LABEL_RE)
    if got:
        return got, "answer_label"
    got = _last_bold(tail)
    if got:
        return got, "bold"
    got = _last_math(tail)
    if got:
        return got, "last_math"
    got = _conclusion_number(tail)
    if got:
        return got, "last_number"
    got = _whole_response(tail)
    if got:
        return got, "whole_response"
    return None, None


def extract_answer(response: str, *, gold_parts: int = 1, choice: bool = False) -> tuple[str | None, str | None]:
    """(answer text, rule that found it); (None, None) when the response holds no answer and
    (None, "unparsed") when its last box is cut off.

    ``gold_parts`` > 1 (the gold lists several answers) lets a short phrase join several boxes;
    ``choice`` (the gold is a choice letter) reads a letter first.
    """
    if not isinstance(response, str) or not response:
        return None, None
    if choice:
        letter = extract_choice(response)
        if letter:
            return letter, "choice_letter"
    final, reasoning = split_reasoning(response)
    loose = gold_parts > 1
    rule = None
    if final.strip():
        ans, rule = _extract_from(final, loose)
        if ans is not None:
            return _clip(ans), rule
        if rule == UNPARSED:
            return None, UNPARSED
    if reasoning:
        ans, r2 = _extract_from(reasoning, loose)
        if ans is not None:
            return _clip(ans), f"{r2}_in_reasoning"
        if r2 == UNPARSED and not final.strip():
            return None, UNPARSED
    return None, None


def _clip(ans: str) -> str:
    return ans.strip()
