"""Localization before the first step: the definitions of the names an issue mentions.

A small model spends its first steps, often its whole budget, finding the code an issue is about
(searches that match the tests, views of the wrong file). Agentless-style localization does that
search once, before the loop: the functions and classes the issue names (``merge_sorted``,
``toolz.assoc_in(...)``, ``slugify``) are looked up in the checkout's library code (tests left
out) and their source is added below the issue, numbered like ``view`` shows it, so the first
step can already be a look at the right code or an edit. It is a lead, not an answer: the bug may
sit in a helper the named function calls, which the model can still search for.

Example:
    >>> issue_names("`merge_sorted` returns a wrong result\\n\\n```python\\nassert list(merge_sorted([1], [2]))```")
    ['merge_sorted']
"""

from __future__ import annotations

import builtins
import keyword
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from agentscale.errors import AgentScaleError

__all__ = [
    "Definition",
    "definition_block",
    "find_definitions",
    "is_test_path",
    "issue_names",
    "issue_tests",
    "localize",
]

_TICKED = re.compile(r"`([A-Za-z_][\w.]*)(?:\([^`]*\))?`")
_CALLED = re.compile(r"(?<![\w.])((?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*)\(")
_SNAKE = re.compile(r"(?<![\w.])(_?[a-z][a-z0-9]*(?:_[a-z0-9]+)+)\b")
_TEST_NAMED = re.compile(r"`(?:\w+::)*(test_?\w*)(?:\[[^\]`]*\])?`")
_STRINGS = re.compile(r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'')
_FOREIGN = ("pytest.", "self.", "unittest.", "mock.", "os.", "sys.")  # calls that are not the project's
_DEFINED = re.compile(r"^\s*(?:async\s+)?(?:def|class)\s+([A-Za-z_]\w*)")
_COMMON = frozenset(dir(builtins)) | frozenset(keyword.kwlist) | {"self", "cls", "assert", "pytest", "mock"}


def _usable(name: str) -> bool:
    low = name.lower()
    return (
        len(name) >= 3 and name not in _COMMON and not low.startswith(("test", "assert")) and not low.endswith("test")
    )


def issue_names(statement: str, *, limit: int = 10) -> list[str]:
    """The function and class names an issue mentions, most telling first: names in backticks
    (``merge_sorted``, ``toolz.merge_sorted(...)``: the last part), then names it calls in its
    text and code (not ``self.``, ``pytest.`` and the like), then other snake_case names
    (``check=is_partial_args``); builtins, keywords, test and assert names and names under three
    characters left out. Names the repository does not define are dropped later."""
    found: list[str] = []
    for pattern in (_TICKED, _CALLED, _SNAKE):
        for match in pattern.finditer(statement):
            if match.group(1).startswith(_FOREIGN):
                continue
            name = match.group(1).rsplit(".", 1)[-1]
            if _usable(name) and name not in found:
                found.append(name)
    return found[:limit]


def is_test_path(path: str) -> bool:
    """Whether ``path`` is a test file: under a ``test``/``tests``/``testing`` folder, named
    ``test*`` or ``*_test.py``, or ``conftest.py``."""
    parts = PurePosixPath(path).parts
    name = parts[-1] if parts else ""
    return (
        any(p in ("test", "tests", "testing") for p in parts[:-1])
        or name.startswith("test")
        or name.endswith("_test.py")
        or name == "conftest.py"
    )


@dataclass(frozen=True)
class Definition:
    """Where a name is defined: ``path`` (relative to the checkout), 1-based ``line``, its indent."""

    name: str
    path: str
    line: int
    indent: int


def definition_block(lines: list[str], line: int, *, max_lines: int = 60) -> tuple[int, int]:
    """The 1-based inclusive line range of the definition starting at ``line``: its decorators,
    then every line until one that is indented no deeper than the ``def`` (blank lines do not
    count), at most ``max_lines`` lines.

    Example:
        >>> definition_block(["@wraps", "def f(x):", "    return x", "", "def g(): pass"], 2)
        (1, 3)
    """
    head = lines[line - 1]
    indent = len(head) - len(head.lstrip())
    start = line
    while start > 1 and lines[start - 2].strip().startswith("@"):
        start -= 1
    end = line
    for number in range(line + 1, len(lines) + 1):
        text = lines[number - 1]
        if text.strip() and len(text) - len(text.lstrip()) <= indent and not text.lstrip().startswith((")", "]")):
            break
        end = number
    while end > line and not lines[end - 1].strip():
        end -= 1
    return start, min(end, start + max_lines - 1)


def issue_tests(statement: str) -> list[str]:
    """The test functions an issue names in backticks (``test_x``, ``TestY::test_x``, ``test_x[a-b]``).

    Example:
        >>> issue_tests("it is the project's own test `TestCustomMapping::test_assoc_in`; also `test_merge[1-2]`")
        ['test_assoc_in', 'test_merge']
    """
    return list(dict.fromkeys(m.group(1) for m in _TEST_NAMED.finditer(statement)))


async def find_definitions(sandbox: Any, names: list[str]) -> list[Definition]:
    """Every ``def``/``class`` of ``names`` in the checkout's Python files (tests included), by one ``grep``."""
    pattern = r"^\s*(async\s+)?(def|class)\s+(" + "|".join(names) + r")\b"
    argv = ["grep", "-rnIE", "--include=*.py", "--exclude-dir=.git", "--exclude-dir=.swe",
            "--exclude-dir=__pycache__", "-e", pattern, "--", "."]  # fmt: skip
    result = await sandbox.run(argv, timeout=30)
    found: list[Definition] = []
    for row in result.stdout.splitlines():
        path, _, rest = row.partition(":")
        number, _, text = rest.partition(":")
        match = _DEFINED.match(text)
        path = path.removeprefix("./")
        if match and number.isdigit():
            found.append(Definition(match.group(1), path, int(number), len(text) - len(text.lstrip())))
    return found


def _helpers(lines: list[str], span: tuple[int, int], shown: set[tuple[str, int]], path: str) -> list[Definition]:
    """The functions a definition calls that its own file defines (``merge_sorted`` calls
    ``_merge_sorted_binary``: often where the bug is), in the order it calls them."""
    defined: dict[str, Definition] = {}
    for number, text in enumerate(lines, 1):
        if (match := _DEFINED.match(text)) and match.group(1) not in defined:
            defined[match.group(1)] = Definition(match.group(1), path, number, len(text) - len(text.lstrip()))
    body = "\n".join(lines[span[0] : span[1]])  # after the def line: not the function itself
    body = _STRINGS.sub("", body)  # a docstring's examples are not calls
    called = [m.group(1).rsplit(".", 1)[-1] for m in _CALLED.finditer(body)]
    found = [defined[name] for name in dict.fromkeys(called) if name in defined and _usable(name)]
    return [d for d in found if (d.path, d.line) not in shown]


def _render(definition: Definition, lines: list[str], span: tuple[int, int]) -> str:
    start, end = span
    width = len(str(end))
    shown = "\n".join(f"{i:>{width}}| {lines[i - 1]}" for i in range(start, end + 1))
    return f"{definition.path} (lines {start}-{end} of {len(lines)}):\n{shown}"


async def localize(
    sandbox: Any, statement: str, *, max_definitions: int = 2, max_helpers: int = 2, max_lines: int = 60
) -> str:
    """The note added below the issue: the source of the first ``max_definitions`` names of
    ``issue_names(statement)`` that the checkout defines outside its tests (the outermost
    definition of each name), then up to ``max_helpers`` functions of the same files that they
    call, numbered as ``view`` shows them; and the command that runs the test the issue names
    (``issue_tests``), where the tests define it. ``""`` when nothing is found or the sandbox
    fails (localization is a help, never a reason for a rollout to fail)."""
    names, tests = issue_names(statement), issue_tests(statement)
    if not names and not tests:
        return ""
    try:
        everywhere = await find_definitions(sandbox, names + tests)
        found = [d for d in everywhere if not is_test_path(d.path)]
        named_tests = [d for d in everywhere if d.name in tests and is_test_path(d.path)]
        chosen: list[Definition] = []
        for name in names:
            candidates = sorted((d for d in found if d.name == name), key=lambda d: (d.indent, len(d.path), d.path))
            if candidates:
                chosen.append(candidates[0])
            if len(chosen) == max_definitions:
                break
        files = await sandbox.read_files(sorted({d.path for d in chosen})) if chosen else {}
    except AgentScaleError:
        return ""
    blocks, helpers, shown = [], [], {(d.path, d.line) for d in chosen}
    texts = {path: data.decode("utf-8", errors="replace").splitlines() for path, data in files.items()}
    for definition in chosen:
        lines = texts.get(definition.path, [])
        if definition.line > len(lines):
            continue
        span = definition_block(lines, definition.line, max_lines=max_lines)
        blocks.append(_render(definition, lines, span))
        for helper in _helpers(lines, span, shown, definition.path):
            shown.add((helper.path, helper.line))
            helpers.append(helper)
    for helper in helpers[:max_helpers]:
        lines = texts[helper.path]
        blocks.append(_render(helper, lines, definition_block(lines, helper.line, max_lines=max_lines)))
    parts = []
    if blocks:
        parts.append(
            "Where the code the issue names is defined (found by searching the repository; the bug may be "
            "here or in what it calls):\n\n" + "\n\n".join(blocks)
        )
    if named_tests:
        test = named_tests[0]
        parts.append(
            f"The test the issue names is in {test.path}: run it with `python -m pytest -q {test.path} -k {test.name}`."
        )
    return "\n\n".join(parts)
