"""Split test code into isolated ``Check``s.

Assert-style test code (MBPP's bare ``assert``s, HumanEval's ``def check(candidate): assert ...``)
becomes one check per assert; pytest-style ``def test_x():`` functions become one check each.
Test code that needs pytest itself (fixtures, parametrize, classes) is flagged so the caller
runs it with pytest instead.
"""

from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass, field

from agentscale.verifiers._checks import Check

__all__ = ["SplitTests", "split_tests", "strip_top_level_tests"]

_MAX_NAME = 80


@dataclass
class SplitTests:
    """What ``split_tests`` made of one test source.

    Attributes:
        checks: isolated checks for the harness.
        needs_pytest: the source uses pytest features (fixtures, parametrize, test classes); run
            it with pytest instead of splitting it.
        error: why the source could not be split (it does not parse); the source then becomes one check.
    """

    checks: list[Check] = field(default_factory=list)
    needs_pytest: bool = False
    error: str | None = None


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_NAME else text[: _MAX_NAME - 3] + "..."


def _seg(source: str, node: ast.AST) -> str:
    return textwrap.dedent(ast.get_source_segment(source, node, padded=True) or ast.unparse(node))


def _is_check_call(node: ast.stmt, name: str) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Call)
        and isinstance(node.value.func, ast.Name)
        and node.value.func.id == name
    )


def _needs_pytest(tree: ast.Module) -> bool:
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            return True
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test"):
            args = node.args
            if node.decorator_list or args.args or args.posonlyargs or args.kwonlyargs or args.vararg:
                return True
            if isinstance(node, ast.AsyncFunctionDef):
                return True
        if isinstance(node, ast.FunctionDef) and any(
            isinstance(d, ast.Attribute) and d.attr == "fixture" or isinstance(d, ast.Call)
            for d in node.decorator_list
        ):
            return True
    return False


def _explode_check_function(
    source: str, func: ast.FunctionDef, prelude: list[str], candidate: str
) -> list[Check]:
    """HumanEval's ``def check(candidate):`` body -> one check per assert, earlier statements as setup."""
    param = func.args.args[0].arg if func.args.args else "candidate"
    setup = [*prelude, f"{param} = {candidate}"]
    checks = []
    for stmt in func.body:
        code = _seg(source, stmt)
        if isinstance(stmt, ast.Assert) or _contains_assert(stmt):
            checks.append(Check(_clip(code), "exec", code, setup=tuple(setup), origin="assert"))
        elif not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)):
            setup.append(code)
    return checks


def _contains_assert(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Assert) for n in ast.walk(node))


def split_tests(source: str, entry_point: str | None = None) -> SplitTests:
    """Split a test source into checks the harness runs one at a time.

    Args:
        source: Python test code (asserts, ``check(candidate)``, ``test_*`` functions).
        entry_point: the function under test, bound to ``candidate`` for ``check(candidate)`` style.

    Returns:
        The checks; ``needs_pytest`` when only pytest can run the source.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        check = Check("test code", "exec", source, origin="assert")
        return SplitTests([check], error=f"the test code does not parse: {exc.msg} (line {exc.lineno})")
    if _needs_pytest(tree):
        return SplitTests(needs_pytest=True)
    prelude: list[str] = []
    checks: list[Check] = []
    check_funcs: list[ast.FunctionDef] = []
    candidate = entry_point
    for node in tree.body:
        code = _seg(source, node)
        if isinstance(node, ast.Assert) or (
            isinstance(node, ast.For | ast.While | ast.With) and _contains_assert(node)
        ):
            checks.append(Check(_clip(code), "exec", code, setup=tuple(prelude), origin="assert"))
        elif isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
            prelude.append(code)
            checks.append(Check(f"{node.name}()", "exec", f"{node.name}()", origin="test-function"))
        elif isinstance(node, ast.FunctionDef) and node.name == "check" and len(node.args.args) == 1:
            check_funcs.append(node)
        elif _is_check_call(node, "check"):
            # `check(f)` at the end of HumanEval tests: tells us the candidate, not a statement to repeat
            args = node.value.args
            if candidate is None and args:
                candidate = ast.unparse(args[0])
        elif isinstance(node, ast.If) and "__main__" in ast.unparse(node.test):
            continue
        else:
            prelude.append(code)
    # test functions are defined by the prelude, which must include every def
    checks = [
        c
        if c.origin != "test-function"
        else Check(c.name, c.kind, c.code, setup=tuple(prelude), origin=c.origin)
        for c in checks
    ]
    for func in check_funcs:
        checks += _explode_check_function(source, func, prelude, candidate or "candidate")
    return SplitTests(checks)


def strip_top_level_tests(code: str) -> tuple[str, str]:
    """Separate a program from the demo and self-test code a model appended to it.

    Top-level ``assert`` statements and bare calls (``print(f(1))``, ``f(2)``) are removed, so a
    wrong self-test or a stray ``input()`` cannot stop the program from loading.

    Args:
        code: the candidate's code.

    Returns:
        ``(program, tests)``: the code without those statements, and the removed asserts (as source).
    """
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return code, ""
    lines = code.splitlines()
    drop: list[tuple[int, int]] = []
    asserts: list[str] = []
    for node in tree.body:
        is_call = isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
        if isinstance(node, ast.Assert) or is_call:
            drop.append((node.lineno, node.end_lineno or node.lineno))
            if isinstance(node, ast.Assert):
                asserts.append("\n".join(lines[node.lineno - 1 : node.end_lineno]))
    if not drop:
        return code, ""
    kept = [ln for i, ln in enumerate(lines, 1) if not any(a <= i <= b for a, b in drop)]
    return "\n".join(kept).rstrip() + "\n", "\n".join(asserts)
