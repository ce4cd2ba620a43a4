"""Literals and calls on the host: parsed with ``ast``, evaluated only by ``ast.literal_eval``, never run.

The sandbox's harness evaluates the call sources built here; the host only reads them.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Sequence

__all__ = ["MAX_CALL_CHARS", "argument_ok", "call_node", "literal", "literal_source", "plain_call", "render"]

MAX_CALL_CHARS = 1000
"""Longest call kept (source characters): bounds the work of parsing and of running it."""


def literal_source(value: object) -> str:
    """Source text that evaluates to ``value`` (inside the sandbox's harness).

    ``repr`` for most literals; non-finite floats become ``float('inf')`` etc., empty sets
    ``set()``.

    Args:
        value: a literal value (numbers, strings, bytes, bools, ``None``, containers of them).

    Returns:
        Python source.
    """
    if isinstance(value, float) and not math.isfinite(value):
        return f"float({str(value)!r})"
    if isinstance(value, list):
        return "[" + ", ".join(literal_source(v) for v in value) + "]"
    if isinstance(value, tuple):
        inner = ", ".join(literal_source(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, set | frozenset):
        if not value:
            return "set()"
        return "{" + ", ".join(sorted(literal_source(v) for v in value)) + "}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal_source(k)}: {literal_source(v)}" for k, v in value.items()) + "}"
    return repr(value)


def literal(node: ast.expr) -> tuple[bool, object]:
    """``(True, value)`` for a plain literal (``ast.literal_eval``), else ``(False, None)``."""
    try:
        return True, ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


def call_node(source: str, names: set[str]) -> ast.Call | None:
    if len(source) > MAX_CALL_CHARS:
        return None
    try:
        node = ast.parse(source.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in names:
        return node
    return None


def render(entry: str, args: Sequence[str], keywords: Sequence[tuple[str, str]] = ()) -> str:
    return f"{entry}(" + ", ".join([*args, *(f"{k}={v}" for k, v in keywords)]) + ")"


def argument_ok(arg: ast.expr, helpers: frozenset[str], depth: int = 0) -> bool:
    """A plain literal, or a call of one of the prompt's own functions on such arguments."""
    if literal(arg)[0]:
        return True
    if depth < 2 and isinstance(arg, ast.Call) and isinstance(arg.func, ast.Name) and arg.func.id in helpers:
        return not arg.keywords and all(
            not isinstance(a, ast.Starred) and argument_ok(a, helpers, depth + 1) for a in arg.args
        )
    return False


def plain_call(node: ast.Call, entry: str, helpers: frozenset[str] = frozenset()) -> str | None:
    """The call's source when every argument is a plain literal (or a helper's call), else ``None``."""
    if any(k.arg is None for k in node.keywords):
        return None
    for arg in [*node.args, *(k.value for k in node.keywords)]:
        if isinstance(arg, ast.Starred) or not argument_ok(arg, helpers):
            return None
    keywords = [(k.arg or "", ast.unparse(k.value)) for k in node.keywords]
    return render(entry, [ast.unparse(a) for a in node.args], keywords)
