"""The SWE agent's tools: look around, read, edit and run inside the rollout's sandbox.

Every tool works on ``run.sandbox``, a sandbox holding the checkout that ``prepare_repo`` made
(paths are relative to the repository root; absolute paths and ``..`` are refused). Nothing runs
on the host. What goes wrong is an observation the model reads (``ToolError``), never the end of
the rollout:

- ``list_files(path)``: the files under a folder, two levels deep, capped;
- ``search(pattern, path)``: ``grep -rn`` (basic regex), capped, with the number of matches;
- ``view(path, start, end)``: a numbered line range of a file (at most ``VIEW_LINES`` lines);
- ``edit(path, search, replace)``: replace one exact, unique occurrence of ``search``; a search
  text that is not there, or is there more than once, fails loudly (how many times, which lines);
- ``run(command)``: bash in the checkout (tests, scripts), with a timeout and the repository's
  ``PYTHONPATH``.

``swe_tools()`` gives them all; the agent adds ``SubmitTool`` (``submit``, the loop's final tool).
"""

from __future__ import annotations

import ast
import difflib
import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agentscale.errors import ConfigError, ToolError
from agentscale.graphs.swe.localize import is_test_path
from agentscale.graphs.tools import describe_exec
from agentscale.rollout import RolloutContext

__all__ = [
    "ENV_FILE",
    "EditTool",
    "ListFilesTool",
    "RunTool",
    "SearchTool",
    "SubmitTool",
    "ViewTool",
    "swe_tools",
    "syntax_error",
]

ENV_FILE = ".swe/env.sh"
"""Written by the agent after ``prepare_repo``: ``run`` sources it (the repository's ``PYTHONPATH``)."""

VIEW_LINES = 200
"""The most lines one ``view`` shows."""

VIEW_MIN_LINES = 30
"""The fewest lines one ``view`` shows (where the file has them)."""

_LIST_ENTRIES = 300
_SEARCH_MATCHES = 100
_PRUNE = r"\( -name .git -o -name .swe -o -name __pycache__ -o -name '*.egg-info' \) -prune -o"


def _sandbox(run: RolloutContext):
    if run.sandbox is None:
        raise ConfigError(
            "the SWE tools work only in a sandbox: run the agent with sandboxes (ScaleContext(sandboxes=pool))"
        )
    return run.sandbox


def _relpath(path: Any, *, default: str | None = None) -> str:
    text = str(path if path not in (None, "") else (default or "")).strip()
    if not text:
        raise ToolError("give a path relative to the repository root, e.g. 'src/module.py'")
    for prefix in ("/work/", "./"):
        text = text.removeprefix(prefix)
    if text in ("/work", "."):
        return "."
    parts = text.split("/")
    if text.startswith("/") or ".." in parts:
        raise ToolError(f"path {path!r} must be relative to the repository root and stay inside it")
    return text


def _schema(**props: tuple[str, str]) -> dict[str, Any]:
    """A JSON schema of string/integer properties: ``name=(type, description)``; names ending in ``_`` are optional."""
    properties, required = {}, []
    for name, (kind, description) in props.items():
        key = name.rstrip("_")
        properties[key] = {"type": kind, "description": description}
        if not name.endswith("_"):
            required.append(key)
    return {"type": "object", "properties": properties, "required": required}


async def _read_text(run: RolloutContext, path: str) -> str:
    sandbox = _sandbox(run)
    try:
        found = await sandbox.read_files([path])
    except ConfigError as exc:  # a path the sandbox refuses is the model's mistake, not a setup error
        raise ToolError(str(exc)) from exc
    if path not in found:
        raise ToolError(f"{path}: no such file (use list_files or search to find the right path)")
    data = found[path]
    if b"\x00" in data[:8192]:
        raise ToolError(f"{path} is a binary file")
    return data.decode("utf-8", errors="replace")


@dataclass
class ListFilesTool:
    """``list_files(path)``: files and folders under ``path``, two levels deep."""

    name: str = "list_files"
    description: str = "List the files and folders under a folder of the repository (two levels deep)."
    parameters: Mapping[str, Any] = field(
        default_factory=lambda: _schema(path_=("string", "a folder relative to the repository root (default '.')"))
    )
    example: Mapping[str, Any] = field(default_factory=lambda: {"path": "."})
    needs_sandbox: bool = True

    async def __call__(self, arguments: Mapping[str, Any], run: RolloutContext) -> str:
        """List ``arguments["path"]`` (default ``.``)."""
        path = _relpath(arguments.get("path"), default=".")
        q = shlex.quote(path)
        script = (
            f"test -d {q} || {{ echo 'not a folder: '{q}; exit 2; }}; "
            f"find {q} -maxdepth 2 {_PRUNE} -print | sort | head -n {_LIST_ENTRIES + 1}"
        )
        result = await _sandbox(run).run(script, timeout=30)
        if result.exit_code == 2:
            raise ToolError(f"{path}: no such folder (list_files '.' shows the top level)")
        lines = [x for x in result.stdout.splitlines() if x.strip() and x.strip() != path]
        if len(lines) > _LIST_ENTRIES:
            lines = [*lines[:_LIST_ENTRIES], f"[... more than {_LIST_ENTRIES} entries: list a subfolder]"]
        return "\n".join(lines) or f"{path} is empty"


@dataclass
class SearchTool:
    """``search(pattern, path)``: ``grep -rn`` for a basic regular expression, capped."""

    name: str = "search"
    description: str = (
        "Search the repository's files for a pattern (grep basic regex, e.g. 'def slugify'); "
        "shows file:line:text of each match."
    )
    parameters: Mapping[str, Any] = field(
        default_factory=lambda: _schema(
            pattern=("string", "the text or basic regex to find"),
            path_=("string", "a file or folder to search (default: the whole repository)"),
        )
    )
    example: Mapping[str, Any] = field(default_factory=lambda: {"pattern": "def main", "path": "."})
    needs_sandbox: bool = True

    async def __call__(self, arguments: Mapping[str, Any], run: RolloutContext) -> str:
        """Search for ``arguments["pattern"]`` under ``arguments["path"]``."""
        pattern = str(arguments.get("pattern") or "")
        if not pattern.strip():
            raise ToolError("the search pattern is empty: give the text to find")
        path = _relpath(arguments.get("path"), default=".")
        argv = ["grep", "-rnI", "--exclude-dir=.git", "--exclude-dir=.swe", "--exclude-dir=__pycache__",
                "-e", pattern, "--", path]  # fmt: skip
        result = await _sandbox(run).run(argv, timeout=30)
        if result.exit_code == 1:
            return f"no matches for {pattern!r} in {path}"
        if result.exit_code > 1:
            raise ToolError(f"search failed: {(result.stderr or result.stdout).strip()[:500]}")
        lines = [x[:300] for x in result.stdout.splitlines() if x]
        head = f"{len(lines)} matches" + (
            f" (showing the first {_SEARCH_MATCHES})" if len(lines) > _SEARCH_MATCHES else ""
        )
        return "\n".join([head + ":", *lines[:_SEARCH_MATCHES]])


@dataclass
class ViewTool:
    """``view(path, start, end)``: numbered lines ``start``..``end`` of a file (1-based, inclusive),
    at least ``VIEW_MIN_LINES`` of them (a shorter range is widened downwards) and at most
    ``VIEW_LINES``."""

    name: str = "view"
    description: str = f"Show a file's lines with their numbers (at most {VIEW_LINES} lines per call)."
    parameters: Mapping[str, Any] = field(
        default_factory=lambda: _schema(
            path=("string", "the file, relative to the repository root"),
            start_=("integer", "first line (default 1)"),
            end_=("integer", f"last line (default start + {VIEW_LINES - 1})"),
        )
    )
    example: Mapping[str, Any] = field(default_factory=lambda: {"path": "setup.py", "start": 1, "end": 40})
    needs_sandbox: bool = True

    async def __call__(self, arguments: Mapping[str, Any], run: RolloutContext) -> str:
        """Show the requested lines of ``arguments["path"]``."""
        path = _relpath(arguments.get("path"))
        lines = (await _read_text(run, path)).splitlines()
        start = max(int(arguments.get("start") or 1), 1)
        end = int(arguments.get("end") or start + VIEW_LINES - 1)
        if end < start:
            raise ToolError(f"end ({end}) is before start ({start})")
        if start > len(lines):
            raise ToolError(f"{path} has {len(lines)} lines; start ({start}) is past its end")
        # a few lines show nothing of the function around them: small models ask for 230-232
        end = min(max(end, start + VIEW_MIN_LINES - 1), start + VIEW_LINES - 1, len(lines))
        width = len(str(end))
        shown = [f"{i:>{width}}| {lines[i - 1]}" for i in range(start, end + 1)]
        more = f"\n[lines {end + 1}-{len(lines)} not shown]" if end < len(lines) else ""
        return f"{path} (lines {start}-{end} of {len(lines)}):\n" + "\n".join(shown) + more


def syntax_error(text: str, path: str) -> str | None:
    """Why ``text`` is not valid Python (``"line N: message"``), or ``None``. Parsing runs no code."""
    try:
        ast.parse(text, filename=path)
    except SyntaxError as exc:
        return f"line {exc.lineno}: {exc.msg}"
    except (ValueError, RecursionError, MemoryError) as exc:  # NUL bytes, absurd nesting
        return f"{type(exc).__name__}: {exc}"
    return None


def _lines_of(text: str, needle: str) -> list[int]:
    found, at = [], text.find(needle)
    while at != -1:
        found.append(text.count("\n", 0, at) + 1)
        at = text.find(needle, at + 1)
    return found


def unique_edits(text: str, search: str, replace: str, *, limit: int = 3) -> list[tuple[int, str, str]]:
    """For each of the first ``limit`` places ``search`` occurs: ``(line, search', replace')``, the
    same edit widened to whole lines, with lines above it (below it at the top of the file) until
    ``search'`` occurs only there.

    In a file where ``def a():`` and ``def b():`` each hold the line ``x = 1``, the edit ``x = 1`` ->
    ``x = 2`` at the second place becomes the two lines ``def b():`` / ``x = 1`` -> ``def b():`` /
    ``x = 2``: the line above tells the places apart.
    """
    lines = text.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    found, at = [], text.find(search) if search else -1
    while at != -1 and len(found) < limit:
        first = text.count("\n", 0, at)
        last = max(text.count("\n", 0, at + len(search.rstrip("\n"))), first)
        lo, hi = first, last
        for _ in range(12):
            block = text[starts[lo] : starts[hi + 1]]
            if text.count(block) == 1:
                offset = at - starts[lo]
                found.append((first + 1, block, block[:offset] + replace + block[offset + len(search) :]))
                break
            if lo > 0:
                lo -= 1
            elif hi + 1 < len(lines):
                hi += 1
            else:
                break
        at = text.find(search, at + 1)
    return found


def _closest(text: str, search: str) -> str:
    """Where the file has lines most like the first line of ``search``, to help the model retry."""
    first = next((x.strip() for x in search.splitlines() if x.strip()), "")
    if not first:
        return ""
    lines = text.splitlines()
    stripped = [x.strip() for x in lines]
    near = difflib.get_close_matches(first, stripped, n=3, cutoff=0.6)
    hits = [f"  line {stripped.index(x) + 1}: {lines[stripped.index(x)].rstrip()}" for x in near]
    return ("\nThe closest lines in the file:\n" + "\n".join(hits)) if hits else ""


@dataclass
class EditTool:
    """``edit(path, search, replace)``: replace the one exact occurrence of ``search`` with ``replace``.

    Existing test files are not edited (``protect_tests``): the tests are the reference. The
    search text must occur exactly once (whitespace included). When it does not occur, or
    occurs several times, nothing is changed and the observation says so: how many times, at which
    lines, and the file's closest lines. An empty ``search`` creates a file that does not exist yet.
    """

    name: str = "edit"
    description: str = (
        "Edit a file: replace an exact piece of its text (copied from view, indentation included, "
        "occurring exactly once) with new text. An empty search text creates a new file."
    )
    parameters: Mapping[str, Any] = field(
        default_factory=lambda: _schema(
            path=("string", "the file, relative to the repository root"),
            search=("string", "the exact text to replace (must occur exactly once)"),
            replace=("string", "the new text"),
        )
    )
    example: Mapping[str, Any] = field(
        default_factory=lambda: {"path": "pkg/mod.py", "search": "    return a - b\n", "replace": "    return a + b\n"}
    )
    needs_sandbox: bool = True
    protect_tests: bool = True

    async def __call__(self, arguments: Mapping[str, Any], run: RolloutContext) -> str:
        """Apply the edit, or explain why it cannot be applied (``ToolError``)."""
        path = _relpath(arguments.get("path"))
        search, replace = str(arguments.get("search", "")), str(arguments.get("replace", ""))
        sandbox = _sandbox(run)
        if search == "":
            exists = await sandbox.run(["test", "-e", path], timeout=30)
            if exists.ok:
                raise ToolError(f"{path} exists: give the text to replace (an empty search only creates new files)")
            await write_text(run, path, replace)
            return f"Created {path} ({len(replace.splitlines())} lines)."
        if self.protect_tests and is_test_path(path):  # a 1.5B "fixed" a task by editing the failing test
            raise ToolError(
                f"edit not applied: {path} is a test file, and the tests say what the code must do. "
                "Change the library code instead (a new test file can still be created)."
            )
        text = await _read_text(run, path)
        where = _lines_of(text, search)
        if not where and search == self.example.get("search"):  # small models copy the tool list's example
            raise ToolError(
                "edit not applied: that search text is the example from the tool list, not this file's text. "
                f"Copy the lines to change from the code of {path} (view it), then give their fixed version."
            )
        if not where:
            hint = " (the search text has tabs; the file may use spaces)" if "\t" in search and "\t" not in text else ""
            raise ToolError(
                f"edit not applied: the search text was not found in {path}{hint}. Copy it exactly from "
                f"view's output (without the line numbers), indentation included.{_closest(text, search)}"
            )
        if len(where) > 1:
            lines = ", ".join(str(n) for n in where[:10])
            ready = "".join(  # a small model retried the same ambiguous edit 4 times: give it edits to copy
                f"\nFor the one at line {n}: " + json.dumps({"path": path, "search": s, "replace": r})
                for n, s, r in unique_edits(text, search, replace)
            )
            raise ToolError(
                f"edit not applied: the search text occurs {len(where)} times in {path} (at lines {lines}). "
                "Include more of the surrounding lines so that it occurs exactly once."
                + (f" The same edit with the lines above it, for each place:{ready}" if ready else "")
            )
        new = text.replace(search, replace, 1)
        if path.endswith(".py") and syntax_error(text, path) is None and (error := syntax_error(new, path)):
            raise ToolError(f"edit not applied: {path} would not parse after it ({error}); nothing changed. "
                            "Check the indentation and brackets of the replacement.")  # fmt: skip
        await write_text(run, path, new)
        first = where[0]
        new_lines = new.splitlines()
        lo, hi = max(first - 3, 1), min(first + len(replace.splitlines()) + 2, len(new_lines))
        snippet = "\n".join(f"{i:>{len(str(hi))}}| {new_lines[i - 1]}" for i in range(lo, hi + 1))
        return f"Edited {path} at line {first}. The lines around the edit now read:\n{snippet}"


_STAGED = ".swe/staged-edit"
_OVER = 'mkdir -p -- "$(dirname -- "$1")" && cat -- "$2" > "$1" && rm -f -- "$2"'


async def write_text(run: RolloutContext, path: str, text: str) -> None:
    """Write ``text`` into the checkout's ``path`` over the old contents, so the file keeps its mode
    (a file written anew is 0644: the 1.5B's resolved patch also turned ``more.py`` from 755 to 644)."""
    try:
        result = await _sandbox(run).run(["sh", "-c", _OVER, "sh", path, _STAGED], files={_STAGED: text}, timeout=30)
    except ConfigError as exc:
        raise ToolError(f"cannot write {path}: {exc}") from exc
    if not result.ok:
        raise ToolError(f"cannot write {path}: {result.stderr.strip()[:500]}")


@dataclass
class RunTool:
    """``run(command)``: a bash command in the repository root (the repository's environment set)."""

    command_timeout: float = 60.0
    name: str = "run"
    description: str = (
        "Run a bash command in the repository root, e.g. `python -m pytest -x -q tests/test_x.py` "
        "or `python -c '...'`; shows its output and exit code. No network."
    )
    parameters: Mapping[str, Any] = field(default_factory=lambda: _schema(command=("string", "the bash command")))
    example: Mapping[str, Any] = field(default_factory=lambda: {"command": "python -m pytest -x -q"})
    needs_sandbox: bool = True
    aliases: tuple[str, ...] = ("bash", "sh", "shell")

    async def __call__(self, arguments: Mapping[str, Any], run: RolloutContext) -> str:
        """Run ``arguments["command"]`` with ``ENV_FILE`` sourced; a timeout is reported, not raised."""
        command = str(arguments.get("command") or "").strip()
        if not command:
            raise ToolError("the command is empty")
        script = f"if [ -f {ENV_FILE} ]; then . ./{ENV_FILE}; fi\n{command}"
        result = await _sandbox(run).run(["bash", "-c", script], timeout=self.command_timeout)
        return describe_exec(result, timeout=self.command_timeout)

    @property
    def timeout(self) -> float:
        """The loop's limit for one call: the sandbox's own timeout, plus time to kill and report."""
        return self.command_timeout + 15.0


@dataclass
class SubmitTool:
    """``submit(answer)``: ends the rollout (the loop's final tool); the patch is the checkout's diff."""

    name: str = "submit"
    description: str = "Submit your fix and stop: your changes to the files are the patch. Say what you changed."
    parameters: Mapping[str, Any] = field(
        default_factory=lambda: _schema(answer=("string", "one line on what you changed"))
    )
    example: Mapping[str, Any] = field(default_factory=lambda: {"answer": "fixed the comparison in merge_sorted"})

    async def __call__(self, arguments: Mapping[str, Any], run: RolloutContext) -> str:
        """Return the message (the loop ends the rollout before calling it)."""
        return str(arguments.get("answer", ""))


def swe_tools(*, command_timeout: float = 60.0) -> list[Any]:
    """The SWE agent's tools: ``list_files``, ``search``, ``view``, ``edit``, ``rewrite``, ``run``.

    Args:
        command_timeout: seconds one ``run`` command may take (its process tree is killed after).
    """
    from agentscale.graphs.swe.rewrite import RewriteTool  # it reads files with this module's helpers

    tools = [ListFilesTool(), SearchTool(), ViewTool(), EditTool(), RewriteTool()]
    return [*tools, RunTool(command_timeout=command_timeout)]
