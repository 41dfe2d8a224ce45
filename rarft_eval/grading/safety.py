"""Guards that keep model text away from anything that evaluates Python.

The only place in math-verify 0.9 / latex2sympy2_extended 1.11 where text reaches Python's
``eval`` is ``math_verify.parser.parse_expr_cached`` (sympy ``parse_expr``), reached from
``ExprExtractionConfig`` matches. math-verify's regex only lets digits, whitespace, ``.`` and
the operators ``+ - * × / ^ ( ) ÷`` through, so no name, attribute, quote or call can be
formed. ``install_guards`` wraps that function with an explicit character whitelist so the
property no longer depends on a regex deep inside a dependency: anything else is refused
before ``parse_expr`` sees it. rarft's own path never calls ``parse_expr``/``sympify`` on text:
it uses latex2sympy's ANTLR grammar, whose number tokens (digits, ``,`` and ``.``) are the only
strings handed to ``sympy.Number``.
"""

from __future__ import annotations

import re

# What math-verify's expression regex can produce; ** comes from its own ^ -> ** rewrite.
_EXPR_WHITELIST = re.compile(r"^[0-9.\s+\-*/^()\u00d7\u00f7]*$")
_FORBIDDEN = ("__", "lambda", "import", "exec", "eval", "open", "'", '"', "getattr", ";", ":")

_installed = False


class UnsafeExpression(ValueError):
    pass


def is_safe_expr_text(text: str) -> bool:
    if not isinstance(text, str):
        return False
    if len(text) > 2000:
        return False
    if any(tok in text for tok in _FORBIDDEN):
        return False
    return bool(_EXPR_WHITELIST.match(text))


def install_guards() -> None:
    """Wrap math-verify's only ``parse_expr`` call site with the whitelist (idempotent)."""
    global _installed
    if _installed:
        return
    import math_verify.parser as mvp

    original = mvp.parse_expr_cached
    if getattr(original, "_rarft_guarded", False):
        _installed = True
        return

    def guarded(expr: str):
        if not is_safe_expr_text(expr):
            raise UnsafeExpression("refused: text outside the arithmetic whitelist")
        return original(expr)

    guarded._rarft_guarded = True  # type: ignore[attr-defined]
    mvp.parse_expr_cached = guarded
    _installed = True
