"""Getting a runnable program out of a model's output.

Models wrap code in Markdown fences (tagged ``python``, ``py``, untagged, sometimes unterminated
because generation hit its token limit), surround it with prose, or answer a HumanEval-style
prompt with just the function body. ``extract_code`` finds the code; ``complete_program``
joins it with the prompt so the result defines the entry point with the prompt's imports and
helpers.

Example:
    >>> extract_code("Here you go:\\n```python\\ndef f():\\n    return 1\\n```\\nDone.")
    'def f():\\n    return 1'
"""

from __future__ import annotations

import ast
import re
import textwrap
from typing import Literal

__all__ = ["code_blocks", "complete_program", "defines", "extract_code", "parses"]

_FENCE_RE = re.compile(
    r"^[ \t]*(```+|~~~+)[ \t]*([\w+#.-]*)[^\n]*\n(.*?)(?:^[ \t]*\1[ \t]*$|\Z)", re.M | re.S
)
_PYTHON_TAGS = {"", "python", "py", "python3", "py3", "pycon", "ipython"}
_MAX_PARSES = 300
_CODE_START_RE = re.compile(
    r"^(?:def |async def |class |import |from \S+ import |@|if __name__|[A-Za-z_]\w*\s*=)"
)


def code_blocks(text: str, *, language: str = "python") -> list[str]:
    """Every fenced code block in ``text`` in the given language (untagged blocks count), in order.

    An unterminated last fence (output cut at the token limit) counts as a block to the end.

    Args:
        text: model output in Markdown.
        language: ``"python"`` accepts the usual Python tags; any other value matches that tag only.

    Returns:
        The blocks' contents, dedented, without the fences.
    """
    tags = _PYTHON_TAGS if language == "python" else {language.lower(), ""}
    blocks = []
    for match in _FENCE_RE.finditer(text):
        if match[2].lower() in tags:
            body = textwrap.dedent(match[3]).strip("\n")
            if language == "python" and match[2].lower() == "pycon" or body.lstrip().startswith(">>> "):
                body = _strip_prompts(body)
            if body.strip():
                blocks.append(body)
    return blocks


def _strip_prompts(body: str) -> str:
    lines = [ln[4:] for ln in body.splitlines() if ln.startswith((">>> ", "... "))]
    return "\n".join(lines)


def parses(code: str) -> bool:
    """Whether ``code`` is Python that parses (it is not run)."""
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return True


def defines(code: str, name: str) -> bool:
    """Whether ``code`` defines a top-level function or class ``name`` (textually if it does not parse).

    Args:
        code: Python source.
        name: the function or class name.

    Returns:
        ``True`` when a ``def name(``/``class name`` appears at the top level.
    """
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return re.search(rf"^(?:async\s+)?(?:def|class)\s+{re.escape(name)}\b", code, re.M) is not None
    return any(
        isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.name == name
        for node in tree.body
    )


def _bare_code(text: str) -> str:
    """The longest run of lines that parses, starting at the first line that looks like code."""
    if parses(text):
        return text.strip("\n")
    lines = text.splitlines()
    starts = [i for i, ln in enumerate(lines) if _CODE_START_RE.match(ln)] or [0]
    best = ""
    attempts = _MAX_PARSES  # prose that never parses must not cost lines**2 parses
    for start in starts[:20]:
        for end in range(len(lines), start, -1):
            chunk = "\n".join(lines[start:end]).strip("\n")
            if len(chunk) <= len(best) or attempts <= 0:
                break
            attempts -= 1
            if parses(chunk):
                best = chunk
                break
    return best or text.strip("\n")


def extract_code(
    text: str,
    *,
    entry_point: str | None = None,
    pick: Literal["last", "longest", "first", "all"] = "last",
    language: str = "python",
) -> str:
    """The code in a model's output.

    Fenced blocks win over bare text. Among several blocks, those defining ``entry_point`` are
    preferred (the last of them), because models often add a usage example after the solution;
    otherwise ``pick`` decides. Without fences the longest parseable run of lines is taken, so
    prose before or after bare code is dropped.

    Args:
        text: the model's output.
        entry_point: the function the code must define, when known.
        pick: which block to take when none defines ``entry_point``: ``"last"``, ``"longest"``,
            ``"first"``, or ``"all"`` (joined in order).
        language: the fence language to accept.

    Returns:
        The code (possibly empty when ``text`` is empty).
    """
    blocks = code_blocks(text, language=language)
    if not blocks:
        return _bare_code(text) if text.strip() else ""
    if entry_point is not None:
        defining = [b for b in blocks if defines(b, entry_point)]
        if defining:
            return defining[-1]
    if pick == "all":
        return "\n\n".join(blocks)
    if pick == "longest":
        return max(blocks, key=len)
    if pick == "first":
        return blocks[0]
    return blocks[-1]


def _prompt_without(prompt: str, entry_point: str) -> str:
    """The prompt minus the entry point's definition: its imports, helpers and constants."""
    try:
        tree = ast.parse(prompt)
    except (SyntaxError, ValueError):
        return ""
    lines = prompt.splitlines()
    keep: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == entry_point:
            continue
        start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        keep.append("\n".join(lines[start - 1 : node.end_lineno]))
    return "\n\n".join(keep)


def complete_program(prompt: str, code: str, entry_point: str | None = None) -> str:
    """Join a HumanEval-style prompt (signature + docstring) with the code a model wrote.

    - When the code already contains the whole prompt, it is used as is.
    - When the code defines ``entry_point`` itself, the prompt's other top-level statements
      (imports, helper functions) go first and the code after it, so its definitions win.
    - Otherwise the code is taken as the function body: indented if it was written at column 0
      and appended to the prompt.

    Args:
        prompt: the task prompt, ending with the function's signature and docstring.
        code: what the model wrote (already extracted with ``extract_code``).
        entry_point: the function under test; without it, code with any top-level ``def`` counts
            as complete.

    Returns:
        A program (it may still fail to parse; running it will say so).
    """
    code = code.strip("\n")
    if prompt.strip() and prompt.strip() in code:
        return code + "\n"
    is_whole = defines(code, entry_point) if entry_point else re.search(r"^(?:async\s+)?def\s", code, re.M)
    if is_whole:
        preamble = _prompt_without(prompt, entry_point) if entry_point else ""
        return (preamble + "\n\n\n" if preamble else "") + code + "\n"
    body = code if code[:1] in (" ", "\t") else textwrap.indent(code, "    ")
    if not body.strip():
        body = "    pass"
    return prompt.rstrip("\n") + "\n" + body + "\n"
