"""Model text is never executed: injection strings through every grading path."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from rarft_eval.grading import GradeSpec, grade
from rarft_eval.grading.safety import UnsafeExpression, install_guards, is_safe_expr_text


def _payloads(marker: Path) -> list[str]:
    m = str(marker)
    return [
        f"__import__('os').system('touch {m}')",
        f"(lambda: __import__('os').system('touch {m}'))()",
        f"eval(\"__import__('os').system('touch {m}')\")",
        f"exec('import os; os.system(\"touch {m}\")')",
        f"open('{m}', 'w').write('x')",
        f"getattr(__builtins__, '__import__')('os').system('touch {m}')",
        f"().__class__.__bases__[0].__subclasses__()",
        f"1 + __import__('os').system('touch {m}')",
        f"Symbol('x').__class__.__init__.__globals__['os'].system('touch {m}')",
    ]


def _wrappings(p: str) -> list[str]:
    return [
        p,
        f"The answer is \\boxed{{{p}}}",
        f"The final answer is {p}",
        f"Answer: {p}",
        f"**{p}**",
        f"So we get ${p}$.",
        f"Multiplying, the result is {p} = 6",
    ]


def test_payload_is_live_without_the_guard(tmp_path):
    """Positive control: the payload really creates the file when evaluated by sympy's parse_expr."""
    from sympy.parsing.sympy_parser import parse_expr

    marker = tmp_path / f"control_{uuid.uuid4().hex}"
    try:
        parse_expr(f"__import__('os').system('touch {marker}')")
    except Exception:
        pass
    assert marker.exists()


def test_guard_refuses_non_arithmetic_text():
    import math_verify.parser as mvp

    install_guards()
    with pytest.raises(UnsafeExpression):
        mvp.parse_expr_cached("__import__('os').system('true')")
    assert str(mvp.parse_expr_cached("1/2 + 3")) == "1/2 + 3" or mvp.parse_expr_cached("1/2 + 3") is not None
    assert is_safe_expr_text("2*(3+4)/5 ^ 2")
    for bad in ["x", "a.b", "__", "lambda", "'1'", "1;2", "f(1)", "1e5j"]:
        assert not is_safe_expr_text(bad), bad


@pytest.mark.parametrize("grader_name", ["rarft", "math-verify"])
def test_in_process_grade_never_executes(tmp_path, grader_name):
    marker = tmp_path / f"pwned_{uuid.uuid4().hex}"
    for payload in _payloads(marker):
        for response in _wrappings(payload):
            v = grade(response, "5", GradeSpec(grader=grader_name))
            assert v.correct is False
            assert not marker.exists(), (payload, response)
    # the payload as the *gold* answer is not executed either
    for payload in _payloads(marker):
        v = grade("\\boxed{5}", payload)
        assert v.correct is False
        assert not marker.exists()


def test_pool_never_executes(tmp_path, grader):
    marker = tmp_path / f"pwned_{uuid.uuid4().hex}"
    items = [(r, "5", GradeSpec()) for p in _payloads(marker) for r in _wrappings(p)]
    vs = grader.grade_many(items)
    assert len(vs) == len(items)
    assert not any(v.correct for v in vs)
    assert not marker.exists()
    ids = grader.cluster_answers(_payloads(marker) + ["5"], GradeSpec())
    assert ids[-1] is not None
    assert not marker.exists()


def test_no_eval_in_grading_sources():
    """Our own modules never call eval/exec/sympify/parse_expr."""
    src = Path(__file__).resolve().parents[2] / "rarft_eval" / "grading"
    for f in src.glob("*.py"):
        text = f.read_text(encoding="utf-8")
        for bad in ("eval(", "exec(", "sympify(", "parse_expr(", "S("):
            hits = [ln for ln in text.splitlines() if bad in ln and not ln.lstrip().startswith(("#", '"', "'"))
                    and "safe_expr" not in ln and "_eval" not in ln]
            assert not hits, (f.name, bad, hits)


def test_only_arithmetic_text_reaches_sympy_parser(tmp_path, monkeypatch):
    """Spy on sympy's string parser (every sympify/parse_expr of a str goes through
    stringify_expr) while grading payloads and ordinary cases with both graders: what reaches
    it is arithmetic (math-verify's expression regex, latex2sympy number tokens) or sympy's own
    constant unit-prefix names, never model text."""
    import json
    import re

    import sympy.parsing.sympy_parser as sp

    from .conftest import load_cases

    seen: list[str] = []
    original = sp.stringify_expr

    def spy(s, *a, **k):
        seen.append(s)
        return original(s, *a, **k)

    monkeypatch.setattr(sp, "stringify_expr", spy)
    marker = tmp_path / f"pwned_{uuid.uuid4().hex}"
    for payload in _payloads(marker):
        for response in _wrappings(payload):
            grade(response, "5")
            grade(response, "x + 1")
    for c in load_cases()[::8]:
        if c["category"] != "adversarial":
            grade(c["response"], c["gold"], GradeSpec(**c["spec"]))
    assert seen, "the spy saw nothing: the test would not detect anything"
    arithmetic = re.compile(r"^[0-9.,\s+\-*/^()]*$")
    sympy_names = re.compile(r"^[A-Za-z]{1,6}$")  # sympy.physics.units prefixes ('kilo', 'mu', ...)
    odd = [s for s in seen if not arithmetic.match(s) and not sympy_names.match(s)]
    assert not odd, odd[:5]
    assert not marker.exists()
    json.dumps(seen)  # plain strings
