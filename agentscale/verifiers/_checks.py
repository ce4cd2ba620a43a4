"""A ``Check``: one isolated thing to run against a candidate program, and safe literal parsing."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Check", "is_safe_literal", "parse_literal_prefix"]


@dataclass(frozen=True)
class Check:
    """One example or test, run on its own inside the harness.

    Attributes:
        name: a short label for feedback (usually the call as written).
        kind: ``"compare"`` evaluates ``code`` and compares it with ``expected`` (a literal's
            source) or, failing that, doctest-style with ``want`` (expected printed output);
            ``"raises"`` expects ``code`` to raise the exception named ``want``;
            ``"exec"`` runs statements and passes when nothing is raised (asserts, test functions);
            ``"observe"`` evaluates ``code`` and reports what it returned (a digest of its
            canonical form, for comparing behaviours) or raised, passing whenever it returns.
        code: an expression (``compare``/``raises``) or statements (``exec``).
        expected: source of a literal the value must equal (floats compared with tolerance).
        want: doctest's expected output text, or the exception name for ``raises``.
        setup: statements run first, in a fresh namespace copied from the program's.
        origin: where it came from (``"doctest"``, ``"arrow"``, ``"sentence"``, ``"input-output"``,
            ``"assert"``, ``"test-function"``, ``"generated"``).
    """

    name: str
    kind: Literal["compare", "raises", "exec", "observe"]
    code: str
    expected: str | None = None
    want: str | None = None
    setup: tuple[str, ...] = field(default_factory=tuple)
    origin: str = ""

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "code": self.code,
            "expected": self.expected,
            "want": self.want,
            "setup": list(self.setup),
        }


_SAFE_CALLS = {
    "float",
    "set",
    "frozenset",
    "tuple",
    "list",
    "dict",
    "complex",
    "int",
    "str",
    "bytes",
    "range",
}
_SAFE_BINOPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow)


def is_safe_literal(node: ast.AST) -> bool:
    """Whether ``node`` is a literal (or arithmetic on literals) that is safe and cheap to evaluate.

    Allows constants, containers, unary signs, ``not``, arithmetic with small exponents, and
    calls like ``float('inf')`` or ``set()`` on literals. Names other than ``True``/``False``/
    ``None`` are refused, so prose such as ``f(n)`` or ``f(n-1) + f(n-2)`` is not a literal.

    Args:
        node: a parsed expression.

    Returns:
        ``True`` for safe literals.
    """
    if isinstance(node, ast.Expression):
        return is_safe_literal(node.body)
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return all(is_safe_literal(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is not None and is_safe_literal(k) for k in node.keys) and all(
            is_safe_literal(v) for v in node.values
        )
    if isinstance(node, ast.UnaryOp):
        return isinstance(node.op, ast.USub | ast.UAdd | ast.Not) and is_safe_literal(node.operand)
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, ast.Pow):
            exp = node.right
            if not (isinstance(exp, ast.Constant) and isinstance(exp.value, int) and abs(exp.value) <= 64):
                return False
        return (
            isinstance(node.op, _SAFE_BINOPS) and is_safe_literal(node.left) and is_safe_literal(node.right)
        )
    if isinstance(node, ast.Call):
        return (
            isinstance(node.func, ast.Name)
            and node.func.id in _SAFE_CALLS
            and not node.keywords
            and all(is_safe_literal(a) for a in node.args)
        )
    return False


_MAX_TEXT = 3000
"""Expected values longer than this are not read (bounds the parsing work on hostile text)."""
_PROSE_CONSTANTS = {"true": "True", "false": "False", "none": "None"}


def _parse_expr(text: str) -> ast.Expression | None:
    try:
        return ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError):
        return None


def _cut_points(text: str, limit: int) -> list[int]:
    """The first ``limit`` places to cut ``text`` (before whitespace or punctuation), and its end."""
    points = []
    for i, ch in enumerate(text):
        if ch in " \t\n,;" and i > 0 and (not points or points[-1] != i - 1):
            points.append(i)
            if len(points) >= limit:
                break
    return [*points, len(text)]


def _literal_or_none(chunk: str) -> str | None:
    if chunk.lower() in _PROSE_CONSTANTS:  # "=> true" in prose means True
        return _PROSE_CONSTANTS[chunk.lower()]
    tree = _parse_expr(chunk)
    return chunk if tree is not None and is_safe_literal(tree) else None


def parse_literal_prefix(text: str, *, max_cuts: int = 60) -> str | None:
    """The longest prefix of ``text`` that is a safe literal, cut at whitespace or punctuation.

    Tolerates what follows an example's expected value in prose: a trailing period, a comment,
    an explanation (``True (because ...)``), or a derivation (``19 - 5 - 6 = 8`` gives ``8``).
    Only the first ``max_cuts`` cut points (and the whole text) are tried, so the work is bounded.

    Args:
        text: the text after an example's arrow or "should return".
        max_cuts: how many cut points to try.

    Returns:
        The literal's source, or ``None`` when no prefix is one.
    """
    text = text.strip()[:_MAX_TEXT]
    if not text:
        return None
    best = None
    for cut in _cut_points(text, max_cuts):
        chunk = text[:cut].strip().rstrip(",;").strip()
        variants = [chunk]
        if chunk.endswith(".") and not chunk[:-1].rstrip().endswith("."):
            variants.insert(0, chunk[:-1].rstrip())  # a sentence's full stop, not "1."
        for variant in variants:
            if variant and (value := _literal_or_none(variant)) is not None:
                best = value  # later cuts are longer: the longest literal wins
                break
    if best is None and "=" in text:
        # "19 - 5 - 6 = 8": the value after the last lone "=" is the answer
        tail = text.split("\n", 1)[0].rsplit("=", 1)[-1]
        if tail.strip() and not tail.lstrip().startswith("="):
            best = _literal_or_none(tail.strip().rstrip("."))
    return best
