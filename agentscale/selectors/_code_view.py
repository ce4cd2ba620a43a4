"""Code as a judge should see it: the task's signature and docstring once, each candidate's own
code without the prompt repeated, and a token estimate to check that it fits."""

from __future__ import annotations

import ast

from agentscale.types import Rollout, Task
from agentscale.verifiers._program import code_prompt, entry_point, program_for

__all__ = ["candidate_code", "estimate_tokens", "is_code_task"]

CHARS_PER_TOKEN = 3.0
"""Conservative: code and prose tokenise at about 3.5-4 characters per token, so the estimate is high."""


def estimate_tokens(text: str) -> int:
    """An upper estimate of ``text``'s token count."""
    return int(len(text) / CHARS_PER_TOKEN) + 1


def is_code_task(task: Task) -> bool:
    """A task that names the function under test (``metadata["entry_point"]``)."""
    return entry_point(task) is not None


def _strip_docstring(node: ast.AST) -> None:
    body = getattr(node, "body", None)
    if (
        isinstance(body, list)
        and body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        node.body = body[1:] or [ast.Pass()]  # type: ignore[attr-defined]


def candidate_code(task: Task, rollout: Rollout, *, max_chars: int = 3000) -> str:
    """The candidate's code minus what the prompt already shows.

    The program is assembled as the verifiers do (``program_for``: fenced program, bare function
    or body), then the prompt's own top-level statements (imports, helpers) are removed and the
    docstrings of the candidate's functions are dropped, so a judge reads only what differs.

    Args:
        task: the coding task.
        rollout: the candidate.
        max_chars: cut in the middle beyond this.

    Returns:
        Source text; ``"(no code)"`` when the output holds none.
    """
    program, _ = program_for(task, rollout)
    if program is None:
        return "(no code)"
    text = program
    try:
        tree = ast.parse(program)
        prompt_nodes = {ast.dump(n) for n in ast.parse(code_prompt(task)).body}
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        tree = None
    if tree is not None:
        entry = entry_point(task)
        kept = []
        for node in tree.body:
            is_entry = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == entry
            if ast.dump(node) in prompt_nodes and not is_entry:
                continue
            for sub in ast.walk(node):
                if isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    _strip_docstring(sub)
            kept.append(node)
        text = ast.unparse(ast.Module(body=kept, type_ignores=[]))
    text = text.strip()
    if len(text) > max_chars:
        half = max_chars // 2
        text = text[:half] + "\n# [... cut ...]\n" + text[-half:]
    return text
