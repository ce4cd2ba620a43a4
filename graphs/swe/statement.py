"""Problem statements written as a user would report a bug: the symptom, never its cause.

The text is built from what the failing tests show after the bug is injected: the call the test
makes, the test's code as a reproducer, and the error it gets (the assertion with expected and
actual values, or the exception). Nothing comes from the mutation itself: not the file, not the
line, not the operator. Output is deterministic for the same failures (memory addresses are
masked; tests run with a fixed hash seed).
"""

from __future__ import annotations

import ast
import builtins
import re
import textwrap
from collections.abc import Collection, Sequence

from agentscale.graphs.swe.testrun import TestResult

__all__ = ["normalise_output", "write_statement"]

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_FUNC_REPR = re.compile(
    r"<(?:bound method|function|built-in function|method|class) ([\w.<>]+)(?: of (?:[^<>]|<[^<>]*>)*)?>(?=\()"
)
_MAX_MESSAGE_LINES = 30
# Calls in a test that are the test's own machinery, not the project's API under test.
_NOT_THE_API = {
    "len", "list", "tuple", "set", "dict", "str", "repr", "int", "float", "bool", "sorted", "reversed", "iter",
    "next", "range", "isinstance", "issubclass", "type", "print", "zip", "map", "filter", "enumerate", "sum",
    "any", "all", "min", "max", "abs", "getattr", "hasattr", "setattr", "frozenset", "bytes", "callable", "raises",
    "warns", "skip", "fail", "approx", "deepcopy", "copy", "partial", "object", "super", "id", "hash", "vars",
    "Exception", "ValueError", "TypeError", "KeyError", "IndexError", "StopIteration", "AttributeError",
}  # fmt: skip
_BUILTINS = frozenset(dir(builtins))


def normalise_output(text: str) -> str:
    """Make test output stable between runs: no memory addresses, and a called ``<function f>(x)`` reads ``f(x)``."""
    text = _ADDRESS.sub("", text)
    text = _FUNC_REPR.sub(lambda m: m.group(1).rsplit(".", 1)[-1], text)
    return text.replace("/work/", "")


def _calls(source: str, api: Collection[str] | None = None) -> list[tuple[int, str]]:
    """``(line, name)`` of every call in the test's source whose name looks like the API under test.

    With ``api`` (the names the package defines), only those count.
    """
    code = textwrap.dedent(source)
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    local = _local_names(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        if not name or name.startswith(("assert", "_", "fail", "test")) or name in _NOT_THE_API:
            continue
        if api is not None and name not in api:
            continue
        if isinstance(func, ast.Name) and (name in local or name in _BUILTINS):
            continue
        if isinstance(func, ast.Attribute) and (
            isinstance(func.value, ast.Constant) or (isinstance(func.value, ast.Name) and func.value.id in local)
        ):
            continue  # a method of a value the test made (''.join, out.append), not a function of the package
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in ("self", "cls"):
            continue  # the test case's own helpers
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "pytest":
            continue
        found.append((node.lineno, name))
    return found


def _local_names(tree: ast.AST) -> set[str]:
    """The test's own variables, parameters and helpers (``f = curry(g)``, ``def test(check=...)``): not the API."""
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            names |= {a.arg for a in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]}
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
    return names


def _api_call(result: TestResult, api: Collection[str] | None = None) -> str | None:
    """The project's function the failing test was calling: the call nearest above the failure."""
    calls = _calls(result.source, api)
    if not calls:
        return None
    # The failing statement is the last one in ``source``; prefer calls on it, then the ones just above.
    return max(calls, key=lambda c: (c[0], -len(c[1])))[1]


_PYTEST_ASSERT = re.compile(r"^AssertionError: assert (.+) == (.+)$")
_PYTEST_WHERE = re.compile(r"^ \+  where (.+?) = (.+)$")


def _got_expected(result: TestResult, api: str | None) -> tuple[str, str, str | None] | None:
    """``(got, expected, call)`` when the failure says them unambiguously, else ``None``."""
    lines = normalise_output(result.message).splitlines()
    if not lines:
        return None
    # pytest: "assert A == B" with "where B = f(x)" naming the side the call produced
    match = _PYTEST_ASSERT.match(lines[0])
    if match:
        left, right = match.groups()
        for line in lines[1:]:
            where = _PYTEST_WHERE.match(line)
            if where and where.group(1) in (left, right) and left != right:
                got = where.group(1)
                return got, right if got == left else left, where.group(2)
        return None
    # unittest: "A != B" from assertEqual(first, second), the call's result first
    if lines[0].startswith("AssertionError: ") and lines[0].count(" != ") == 1 and api:
        # "Lists differ: [] != ['2']", "'a' != 'b'"
        first, second = re.sub(r"^\w+ differ: ", "", lines[0].removeprefix("AssertionError: ")).split(" != ")
        side = _api_side_of_assert_equal(result.source, api)
        if side == 0:
            return first, second, None
        if side == 1:
            return second, first, None
    return None


def _api_side_of_assert_equal(source: str, api: str) -> int | None:
    """Which argument of the failing ``assertEqual`` holds the API call's result (0, 1), if it is clear."""
    try:
        tree = ast.parse(textwrap.dedent(source))
    except SyntaxError:
        return None
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    checks = [c for c in calls if isinstance(c.func, ast.Attribute) and c.func.attr in ("assertEqual", "assertEquals")]
    if not checks or len(checks[-1].args) < 2:
        return None
    produced = {  # names assigned from a call of the API: r = slugify(txt)
        t.id
        for n in ast.walk(tree)
        if isinstance(n, ast.Assign) and _mentions(n.value, api)
        for t in n.targets
        if isinstance(t, ast.Name)
    }
    check = max(checks, key=lambda c: c.lineno)
    sides = [
        i for i, arg in enumerate(check.args[:2])
        if _mentions(arg, api) or (isinstance(arg, ast.Name) and arg.id in produced)
    ]  # fmt: skip
    return sides[0] if len(sides) == 1 else None


def _mentions(node: ast.AST, api: str) -> bool:
    for n in ast.walk(node):
        if isinstance(n, ast.Call):
            f = n.func
            if (isinstance(f, ast.Name) and f.id == api) or (isinstance(f, ast.Attribute) and f.attr == api):
                return True
    return False


def _exception_type(message: str) -> str:
    head = message.split(":", 1)[0].strip()
    return head.rsplit(".", 1)[-1] if re.fullmatch(r"[\w.]+", head) else "an error"


def _short_id(nodeid: str) -> str:
    return nodeid.split("::", 1)[-1]


def _message(result: TestResult) -> str:
    lines = normalise_output(result.message).rstrip().splitlines()
    if len(lines) > _MAX_MESSAGE_LINES:
        lines = lines[:_MAX_MESSAGE_LINES] + [f"... ({len(lines) - _MAX_MESSAGE_LINES} more lines)"]
    return "\n".join(lines)


def write_statement(
    package: str, version: str, failures: Sequence[TestResult], *, api: Collection[str] | None = None
) -> str:
    """A bug report for ``package`` ``version`` from the tests the bug makes fail.

    Args:
        package: the project's name, as users know it.
        version: its version.
        failures: the failing tests' results (with ``message`` and ``source``), in a stable order.
        api: the names the package defines (functions, classes, methods); a call is named as the
            culprit only if it is one of them. ``None``: any call that does not look like the test's own.

    Returns:
        Markdown: a title line, what goes wrong, a reproducer taken from the first failing test,
        the error it gives, and how many other tests show the same problem.
    """
    if not failures:
        raise ValueError("no failing test to describe")
    shown = next((f for f in failures if f.source and f.message), failures[0])
    api = _api_call(shown, api)
    kind = _exception_type(shown.message)
    subject = f"`{api}`" if api else f"`{_short_id(shown.nodeid)}`"
    if api is None:
        title = f"{subject} fails with {kind}"
        what = f"The test {subject} fails with `{kind}`."
    elif kind == "AssertionError":
        title = f"{subject} returns a wrong result"
        what = f"Calling {subject} gives a result that differs from the documented behaviour."
        found = _got_expected(shown, api)
        if found is not None and sum(len(x or "") for x in found) <= 400:
            got, expected, call = found
            what = (
                f"`{call}` returns `{got}`, but I expect `{expected}`."
                if call
                else f"{subject} gives `{got}` where I expect `{expected}`."
            )
    else:
        title = f"{subject} raises {kind}"
        what = f"Calling {subject} raises `{kind}` for input it should handle."
    parts = [
        title,
        "",
        f"I'm on {package} {version}. {what} This is the smallest example I have (it is the project's "
        f"own test `{_short_id(shown.nodeid)}`):",
        "",
        "```python",
        textwrap.dedent(normalise_output(shown.source)).strip() or "# (source not available)",
        "```",
        "",
        "It fails with:",
        "",
        "```",
        _message(shown) or kind,
        "```",
    ]
    others = [_short_id(f.nodeid) for f in failures if f is not shown]
    if others:
        listed = ", ".join(f"`{o}`" for o in others[:5])
        more = f" and {len(others) - 5} more" if len(others) > 5 else ""
        parts += ["", f"Other tests fail the same way: {listed}{more}."]
    parts += ["", "Expected: the call behaves as the test says."]
    return "\n".join(parts) + "\n"
