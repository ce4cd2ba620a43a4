"""Whole-definition edits: ``rewrite(code)`` replaces a function or class with a new version.

Small models fix code by writing the corrected function out in a ```python block (often with
"Final answer:"), not by copying the exact lines an ``edit`` needs: in the 1.5B's trajectories most
rollouts ended with an empty patch after edits whose search text was not in the file. ``rewrite``
takes that block as it is: each top-level ``def``/``class`` in it replaces the definition of the
same name in the checkout's library code (tests left out; a first line ``# file: pkg/mod.py``
picks the file when the name is defined in several), re-indented to where the old one sat (a
method stays a method), the old docstring kept when the new one has none or only repeats some
of its lines. An edit that would leave the file unparsable is refused with the syntax error, and
nothing changes.
``python_definition_action`` is the SWE agent's ``plain_action``: a reply that calls no tool
but shows such a block becomes a ``rewrite``.

Example:
    >>> python_definition_action("Fixed:\\n```python\\ndef add(a, b):\\n    return a + b\\n```").arguments["code"]
    'def add(a, b):\\n    return a + b'
"""

from __future__ import annotations

import ast
import re
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agentscale.errors import ToolError
from agentscale.graphs.actions import Action
from agentscale.graphs.swe.localize import Definition, definition_block, find_definitions, is_test_path
from agentscale.graphs.swe.tools import _read_text, _relpath, _sandbox, syntax_error, write_text
from agentscale.rollout import RolloutContext

__all__ = ["RewriteTool", "python_definition_action", "replace_definition"]

_FENCED = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)```", re.DOTALL)
_FILE_COMMENT = re.compile(r"#\s*(?:file:|in|path:)?\s*([\w./-]+\.py)\s*(?:\n|$)")
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _top_definitions(code: str) -> list[ast.AST]:
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    return [node for node in tree.body if isinstance(node, _DEFS) and not node.name.lower().startswith("test")]


def python_definition_action(reply: str) -> Action | None:
    """The ``rewrite`` a reply that called no tool asks for: its last ```python block (or plain
    fenced block) that parses and defines a function or class (not a test); ``None`` otherwise."""
    for block in reversed(_FENCED.findall(reply)):
        code = textwrap.dedent(block).strip("\n")
        if _top_definitions(code):
            return Action("rewrite", {"code": code})
    return None


def _docstring_lines(node: ast.AST) -> tuple[int, int] | None:
    body = getattr(node, "body", [])
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
        if isinstance(body[0].value.value, str):
            return body[0].lineno, body[0].end_lineno or body[0].lineno
    return None


def _abridged(new: ast.AST, old: ast.AST) -> bool:
    """Whether ``new``'s docstring only repeats lines of ``old``'s (some left out, or ``...``)."""
    new_doc, old_doc = ast.get_docstring(new), ast.get_docstring(old)  # type: ignore[arg-type]
    if not new_doc or not old_doc or new_doc == old_doc:
        return False
    old_lines = {" ".join(x.split()) for x in old_doc.splitlines()}
    said = [" ".join(x.split()) for x in new_doc.splitlines() if x.strip() not in ("", "...", "\u2026")]
    return all(x in old_lines for x in said)


def replace_definition(text: str, line: int, code: str) -> tuple[str, int, int]:
    """``text`` with the definition starting at 1-based ``line`` (decorators included) replaced by
    ``code`` (one definition, at any indent): re-indented to the old one's indent, the old
    decorators kept when ``code`` has none, the old docstring kept when ``code`` has none or only
    an abridged copy of it (some of its lines, or ``...``).
    Returns the new text and the new definition's 1-based first and last lines.

    Example:
        >>> new, first, last = replace_definition("class A:\\n    def f(self):\\n        return 1\\n", 2,
        ...                                       "def f(self):\\n    return 2")
        >>> new, first, last
        ('class A:\\n    def f(self):\\n        return 2\\n', 2, 3)
    """
    lines = text.splitlines()
    start, end = definition_block(lines, line, max_lines=len(lines) + 1)
    old_head = lines[line - 1]
    indent = old_head[: len(old_head) - len(old_head.lstrip())]
    new_lines = textwrap.dedent(code).strip("\n").splitlines()
    if not (new_lines and new_lines[0].lstrip().startswith("@")):
        start = line  # a new version written without its decorators keeps the old ones
    new_node, old_nodes = (
        _top_definitions("\n".join(new_lines)),
        _top_definitions(textwrap.dedent("\n".join(lines[start - 1 : end]))),
    )
    new_doc = _docstring_lines(new_node[0]) if new_node else None
    if new_doc and old_nodes and len(new_node[0].body) > 1 and _abridged(new_node[0], old_nodes[0]):
        # a small model copies the docstring's first line and drops its examples: the old one stays
        del new_lines[new_doc[0] - 1 : new_doc[1]]
        new_node = _top_definitions("\n".join(new_lines))
    if new_node and old_nodes and _docstring_lines(new_node[0]) is None and (kept := _docstring_lines(old_nodes[0])):
        first_body = new_node[0].body[0].lineno  # the docstring goes above the new body
        body_line = new_lines[first_body - 1]
        body_indent = body_line[: len(body_line) - len(body_line.lstrip())]
        old_block = textwrap.dedent("\n".join(lines[start - 1 : end])).splitlines()
        doc = textwrap.dedent("\n".join(old_block[kept[0] - 1 : kept[1]])).splitlines()
        new_lines[first_body - 1 : first_body - 1] = [body_indent + x if x else x for x in doc]
    placed = [indent + x if x.strip() else "" for x in new_lines]
    result = lines[: start - 1] + placed + lines[end:]
    return "\n".join(result) + ("\n" if text.endswith("\n") else ""), start, start + len(placed) - 1


@dataclass
class RewriteTool:
    """``rewrite(code)``: replace whole functions or classes with new versions (module docs); a first
    line ``# file: path.py`` picks the file when several define the name."""

    name: str = "rewrite"
    description: str = (
        "Replace a whole function (or class) with a new version: the block is its complete new code, from its "
        "def line to its last line; the function of the same name in the repository is replaced. When several "
        "files define it, start the block with a comment naming the file: # file: pkg/mod.py"
    )
    parameters: Mapping[str, Any] = field(
        default_factory=lambda: {
            "type": "object",
            "properties": {"code": {"type": "string", "description": "the complete new function or class"}},
            "required": ["code"],
        }
    )
    example: Mapping[str, Any] = field(
        default_factory=lambda: {"code": "def area(width, height):\n    return width * height\n"}
    )
    needs_sandbox: bool = True

    async def __call__(self, arguments: Mapping[str, Any], run: RolloutContext) -> str:
        """Replace each definition in ``arguments["code"]``, or explain why not (``ToolError``)."""
        code = textwrap.dedent(str(arguments.get("code") or "")).strip("\n")
        path = None
        if named := _FILE_COMMENT.match(code):
            path, code = _relpath(named.group(1)), code[named.end() :].strip("\n")
        if (error := syntax_error(code, "<code>")) is not None:
            raise ToolError(f"rewrite not applied: the code is not valid Python ({error})")
        nodes = _top_definitions(code)
        if not nodes:
            raise ToolError("rewrite not applied: the code defines no function or class (give it from its def line)")
        found = await find_definitions(_sandbox(run), [n.name for n in nodes])
        code_lines, done = code.splitlines(), []
        for node in nodes:
            candidates = [d for d in found if d.name == node.name and not is_test_path(d.path)]
            if path is not None:
                candidates = [d for d in candidates if d.path == path]
            target = _one(node.name, candidates, path, method=_is_method(node))
            text = await _read_text(run, target.path)
            lines = text.splitlines()
            if target.line > len(lines) or not lines[target.line - 1].lstrip().startswith(("def ", "async ", "class ")):
                raise ToolError(f"rewrite not applied: {target.path} changed; search for {node.name} again")
            first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            one = "\n".join(code_lines[first - 1 : node.end_lineno])
            new, start, end = replace_definition(text, target.line, one)
            if (error := syntax_error(new, target.path)) is not None:
                raise ToolError(f"rewrite not applied: {target.path} would not parse ({error}); nothing changed")
            await write_text(run, target.path, new)
            shown = new.splitlines()
            width = len(str(end))
            snippet = "\n".join(f"{i:>{width}}| {shown[i - 1]}" for i in range(start, end + 1))
            done.append(f"Rewrote {node.name} in {target.path} (now lines {start}-{end}):\n{snippet}")
            found = await find_definitions(_sandbox(run), [n.name for n in nodes])  # lines moved
        return "\n\n".join(done)


def _is_method(node: ast.AST) -> bool:
    args = getattr(node, "args", None)
    return bool(args and args.args and args.args[0].arg in ("self", "cls"))


def _one(name: str, candidates: list[Definition], path: str | None, *, method: bool) -> Definition:
    if not candidates:
        where = f" in {path}" if path else " in the library code (tests are left out)"
        raise ToolError(f"rewrite not applied: no function or class {name!r}{where}; use edit to add new code")
    # `def f(self, ...)` is a method: a class's, not a module function of the same name
    if method and any(d.indent > 0 for d in candidates):
        candidates = [d for d in candidates if d.indent > 0]
    outer = min(d.indent for d in candidates)
    candidates = [d for d in candidates if d.indent == outer]
    if len({d.path for d in candidates}) > 1:
        paths = ", ".join(sorted({d.path for d in candidates}))
        raise ToolError(
            f"rewrite not applied: {name!r} is defined in several files ({paths}): "
            "start the code with a line `# file: <one of them>`"
        )
    if len(candidates) > 1:
        lines = ", ".join(str(d.line) for d in candidates)
        raise ToolError(f"rewrite not applied: {name!r} is defined {len(candidates)} times in {candidates[0].path} "
                        f"(lines {lines}); use edit")  # fmt: skip
    return candidates[0]
