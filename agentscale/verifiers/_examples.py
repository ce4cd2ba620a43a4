"""Turn the examples in a docstring into ``Check``s.

Real docstrings write examples in many ways; this reads the ones seen in HumanEval-style data:

- doctests: ``>>> f(1)`` then the expected output (``...`` continuations, multi-line output,
  ``Traceback`` for an expected exception, and ``>>> f(1) == 2`` with no output line);
- an arrow or sign after a call: ``f(x) == y``, ``f(x) => y``, ``f(x) ==> y``, ``f(x) -> y``,
  ``f(x) ➞ y``, ``f(x) = y``, ``f(x)  # returns y``;
- words after a call: ``f(x) returns y``, ``f(x) should return y``, ``f(x) should be y``, and
  ``f(x) is y`` when the literal ``y`` ends the line (so ``f(5) is 2 times slower`` is prose);
- a sentence naming the arguments: ``For lst = [1, 2] the output should be 3``, ``If s = "ab",
  the output is 2``, ``Given n = 3, the expected result is 6``;
- ``Example 1: Input: [4,2,3]  Output: [2, 1]`` blocks (positional or ``name = value`` inputs).

Calls must have literal arguments and the expected value must be a literal (see
``is_safe_literal``): prose such as ``fib(n) -> fib(n-1) + fib(n-2)`` is not an example. What
looks like an example but cannot be read is skipped and listed in ``Examples.skipped``.
"""

from __future__ import annotations

import ast
import builtins
import re
import textwrap
from dataclasses import dataclass, field

from agentscale.verifiers._checks import Check, is_safe_literal, parse_literal_prefix

__all__ = ["Examples", "extract_examples", "find_docstring"]

_MAX_NAME = 80


@dataclass
class Examples:
    """What ``extract_examples`` found.

    Attributes:
        checks: one check per example, in docstring order.
        skipped: example-like passages that could not be read, each with why.
        docstring: the text examples were read from.
    """

    checks: list[Check] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    docstring: str = ""


def _first_string(body: list[ast.stmt]) -> str | None:
    # HumanEval/115 puts `import math` before the docstring: take the first string statement
    for stmt in body:
        if (
            isinstance(stmt, ast.Expr)
            and isinstance(stmt.value, ast.Constant)
            and isinstance(stmt.value.value, str)
        ):
            return textwrap.dedent(stmt.value.value).strip("\n")
    return None


def find_docstring(prompt: str, entry_point: str | None = None) -> tuple[str, list[str], set[str]]:
    """The entry point's docstring, its parameter names, and the prompt's top-level function names.

    Args:
        prompt: source ending with the function's signature and docstring (or any text).
        entry_point: the function whose docstring to read; the last function when ``None``.

    Returns:
        ``(docstring, params, function_names)``; the whole prompt and no parameters when it does
        not parse or the function is not in it.
    """
    try:
        tree = ast.parse(prompt)
    except (SyntaxError, ValueError):
        tree = None
    if tree is not None:
        funcs = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
        names = {f.name for f in funcs}
        target = (
            next((f for f in funcs if f.name == entry_point), None) if entry_point else (funcs or [None])[-1]
        )
        if target is not None:
            args = target.args
            params = [a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]]
            return _first_string(target.body) or "", params, names
        return prompt, [], names
    names = set(re.findall(r"^\s*(?:async\s+)?def\s+(\w+)", prompt, re.M))
    params: list[str] = []
    if entry_point and (m := re.search(rf"def\s+{re.escape(entry_point)}\s*\(([^)]*)\)", prompt)):
        params = [p.split(":")[0].split("=")[0].strip().lstrip("*") for p in m[1].split(",") if p.strip()]
    return prompt, params, names


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_NAME else text[: _MAX_NAME - 3] + "..."


# --- doctests ---------------------------------------------------------------------------------


def _doctests(doc: str, examples: Examples, names: set[str]) -> str:
    """Read ``>>>`` examples; returns the docstring with their lines blanked for the other readers."""
    lines = doc.splitlines()
    out_lines = list(lines)
    setup: list[str] = []
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        if not stripped.startswith(">>>"):
            i += 1
            continue
        start = i
        source = [stripped[3:].removeprefix(" ")]
        i += 1
        while i < len(lines) and lines[i].strip().startswith("..."):
            source.append(lines[i].strip()[3:].removeprefix(" "))
            i += 1
        want: list[str] = []
        while i < len(lines) and lines[i].strip() and not lines[i].strip().startswith(">>>"):
            line = lines[i].strip()
            # read from raw text (the prompt did not parse): the docstring's closing quotes end it
            closing = line.endswith(('"""', "'''"))
            line = line.removesuffix('"""').removesuffix("'''").rstrip()
            if line:
                want.append(line)
            i += 1
            if closing:
                break
        for j in range(start, i):
            out_lines[j] = ""
        _doctest_check("\n".join(source), "\n".join(want), setup, examples, names)
    return "\n".join(out_lines)


def _doctest_check(source: str, want: str, setup: list[str], examples: Examples, names: set[str]) -> None:
    code = re.sub(r"#\s*doctest:.*$", "", source, flags=re.M).strip()
    try:
        tree = ast.parse(code)
    except SyntaxError:
        # `>>> f([1, 0]) [0, 1]` (HumanEval/116): a call followed by its expected value
        if not want and (split := _call_then_value(code)) is not None:
            examples.checks.append(_compare(split[0], split[1], "doctest", setup))
        else:
            examples.skipped.append(f"doctest does not parse: {_clip(code)}")
        return
    is_expr = len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr)
    if want.startswith("Traceback (most recent call last)"):
        exc = want.splitlines()[-1].split(":")[0].strip().rsplit(".", 1)[-1]
        examples.checks.append(
            Check(_clip(code), "raises", code, want=exc, setup=tuple(setup), origin="doctest")
        )
        return
    if not is_expr:
        setup.append(code)  # `>>> x = [1, 2]`: state for the examples after it
        return
    expr = tree.body[0].value
    if not want:
        # `>>> f(1) == 2` with no output line (HumanEval/108): the comparison is the example
        if isinstance(expr, ast.Compare) and len(expr.ops) == 1 and isinstance(expr.ops[0], ast.Eq):
            right = ast.get_source_segment(code, expr.comparators[0]) or ""
            left = ast.get_source_segment(code, expr.left) or ""
            if _literal_ok(right):
                examples.checks.append(_compare(left, right, "doctest", setup))
            else:
                examples.checks.append(
                    Check(_clip(code), "exec", f"assert {code}", setup=tuple(setup), origin="doctest")
                )
        elif (split := _subscript_split(code, expr)) is not None:
            examples.checks.append(_compare(split[0], split[1], "doctest", setup))
        else:
            setup.append(code)
        return
    expected = want if _literal_ok(want) else None
    examples.checks.append(
        Check(
            _clip(code), "compare", code, expected=expected, want=want, setup=tuple(setup), origin="doctest"
        )
    )


def _subscript_split(code: str, expr: ast.expr) -> tuple[str, str] | None:
    # `f(x) [0, 1]` parses as a subscript of the call; with a space before `[` it was meant as output
    if isinstance(expr, ast.Subscript) and isinstance(expr.value, ast.Call):
        return _call_then_value(code)
    return None


def _call_then_value(code: str) -> tuple[str, str] | None:
    m = re.match(r"[A-Za-z_]\w*\(", code)
    if m is None:
        return None
    end = _balanced_end(code, m.end() - 1)
    if end is None or end >= len(code) or code[end] not in " \t":
        return None
    rest = code[end:].strip()
    return (code[:end], rest) if _literal_ok(rest) else None


def _literal_ok(text: str) -> bool:
    try:
        return is_safe_literal(ast.parse(text.strip(), mode="eval"))
    except (SyntaxError, ValueError):
        return False


def _compare(call: str, expected: str, origin: str, setup: list[str] | tuple[str, ...] = ()) -> Check:
    return Check(_clip(call), "compare", call, expected=expected, setup=tuple(setup), origin=origin)


# --- calls in prose ---------------------------------------------------------------------------

_CLOSE = {"(": ")", "[": "]", "{": "}"}
_CALL_RE = re.compile(r"(?<![\w.])([A-Za-z_]\w*)\(")
_OP_RE = re.compile(
    r"[ \t]*(?:#[ \t]*)?(?:==>|=>|==|-->|->|→|➞|⇒|=(?!=)|"
    r"(?:(?:should|will|must)\s+)?(?:returns?|be|give|gives|output|outputs|yields?)\b|evaluates\s+to\b|is\b)"
    r"[ \t:]*",
    re.IGNORECASE,
)


_MAX_GROUP = 2000
"""Longest bracket group (a call or a value) an example may span."""
_MAX_VALUE = 300
"""How much text after an example's arrow is read for its expected value (beyond a bracket group)."""
_SCAN_BUDGET = 300_000
"""Characters the call reader may scan in one docstring: hostile nesting must not make it quadratic."""


def _balanced_end(text: str, start: int) -> int | None:
    """Index just past the bracket group opening at ``text[start]``, skipping string literals."""
    stack: list[str] = []
    i = start
    limit = min(len(text), start + _MAX_GROUP)
    while i < limit:
        ch = text[i]
        if ch in "'\"":
            j = i + 1
            while j < len(text) and text[j] != ch:
                if text[j] == "\n":
                    return None
                j += 2 if text[j] == "\\" else 1
            i = j + 1
            continue
        if ch in _CLOSE:
            stack.append(_CLOSE[ch])
        elif ch in ")]}":
            if not stack or stack.pop() != ch:
                return None
            if not stack:
                return i + 1
        i += 1
    return None


def _value_text(text: str, start: int) -> str:
    """The expected value's text: a bracket group (possibly multi-line) or the rest of the line."""
    while start < len(text) and text[start] in " \t":
        start += 1
    if start < len(text) and text[start] in _CLOSE and (end := _balanced_end(text, start)) is not None:
        line_end = text.find("\n", end, end + _MAX_VALUE)
        return text[start : min(len(text), end + _MAX_VALUE) if line_end == -1 else line_end]
    line_end = text.find("\n", start, start + _MAX_VALUE)
    return text[start : min(len(text), start + _MAX_VALUE) if line_end == -1 else line_end]


def _literal_ends_line(text: str, start: int) -> bool:
    """Whether the rest of the line from ``start`` is one literal (and at most a full stop)."""
    end = text.find("\n", start)
    rest = text[start : len(text) if end == -1 else end].strip().rstrip(".,;").strip()
    return bool(rest) and parse_literal_prefix(rest) == rest


def _call_examples(text: str, entry_point: str | None, names: set[str], examples: Examples) -> None:
    known = set(names) | ({entry_point} if entry_point else set())
    found: list[tuple[str, str, str]] = []  # (function name, call source, expected source)
    scanned_to = 0
    budget = _SCAN_BUDGET
    for match in _CALL_RE.finditer(text):
        name = match[1]
        if match.start() < scanned_to:
            continue  # a call nested in one already read (its argument), not an example of its own
        if budget <= 0:
            examples.skipped.append("the docstring is too long or deeply nested: stopped reading calls")
            break
        if (
            name in vars(builtins)
            or name in {"print", "assert", "return"}
            or text[: match.start()].endswith("def ")
        ):
            continue
        end = _balanced_end(text, match.end() - 1)
        budget -= (end or min(len(text), match.end() + _MAX_GROUP)) - match.start()
        if end is None:
            continue
        scanned_to = end
        op = _OP_RE.match(text, end)
        if op is None:
            continue
        call = text[match.start() : end]
        if op[0].strip(" \t:#").lower() == "is" and not _literal_ends_line(text, op.end()):
            continue  # "f(1) is 1" is an example; "f(5) is 2 times slower" or "f(n) is fast" is prose
        try:
            call_tree = ast.parse(" ".join(call.split()), mode="eval").body
        except SyntaxError:
            examples.skipped.append(f"call does not parse: {_clip(call)}")
            continue
        args_ok = isinstance(call_tree, ast.Call) and all(
            is_safe_literal(a) for a in [*call_tree.args, *(k.value for k in call_tree.keywords)]
        )
        if not args_ok:
            # prose such as `f(n) -> f(n-1) + f(n-2)`, or `is_happy(abc) => True` (unquoted string)
            examples.skipped.append(f"arguments are not literals: {_clip(call)}")
            continue
        value = _value_text(text, op.end())
        budget -= len(value) * 20  # parsing the value tries several prefixes
        expected = parse_literal_prefix(value)
        if expected is None:
            examples.skipped.append(f"no literal expected value: {_clip(call + ' ' + op[0] + value)}")
            continue
        found.append((name, call, " ".join(expected.split()) if "\n" in expected else expected))
    calls_known = [f for f in found if f[0] in known]
    unknown = {f[0] for f in found if f[0] not in known}
    setup: tuple[str, ...] = ()
    if not calls_known and len(unknown) == 1 and entry_point:
        # HumanEval/81 documents numerical_letter_grade with calls to "grade_equation": same function
        alias = unknown.pop()
        setup = (f"{alias} = {entry_point}",)
        calls_known = found
        examples.skipped.append(f"examples call {alias!r}, taken to mean {entry_point!r}")
    for name in unknown:
        examples.skipped.append(f"examples of an unknown function {name!r} ignored")
    for _, call, expected in calls_known:
        examples.checks.append(_compare(" ".join(call.split()), expected, "arrow", setup))


# --- sentences and Input/Output blocks ---------------------------------------------------------

_FOR_RE = re.compile(
    r"\b(?:For|If|When|Given)\s+(?P<assigns>[A-Za-z_]\w*\s*=[^\n]*?)\s*,?\s+(?:then\s+)?the\s+(?:expected\s+)?"
    r"(?:output|result|answer|return(?:ed)?\s+value)\s+(?:is|(?:should|will|must|would)\s+be)\s*:?\s*(?P<value>[^\n]*)",
    re.IGNORECASE,
)
_INPUT_RE = re.compile(r"\bInput\s*:", re.IGNORECASE)
_OUTPUT_RE = re.compile(r"\bOutput\s*:", re.IGNORECASE)
_IO_END_RE = re.compile(
    r"\n[ \t]*\n|\n[ \t]*(?:Sample\s+)?(?:Explanation|Example|Note|Constraints?|Input)\b", re.IGNORECASE
)
_WINDOW = 2000
"""How far an Input/Output example may stretch; bounds the work per "Input:" found."""
_MAX_LINE = 2000
"""Longer lines are not read as sentence examples (keeps the sentence reader linear)."""
_MAX_DOC = 100_000
"""Docstrings are read up to this many characters."""
_ASSIGN_RE = re.compile(r"(?:^|(?<=[,\n;]))\s*([A-Za-z_]\w*)\s*(?:=(?!=)|:)\s*")


def _named_values(text: str) -> list[tuple[str, str]] | None:
    """``a = 1, b = [2, 3]`` or ``a : 1`` lines -> ``[("a", "1"), ("b", "[2, 3]")]``; ``None`` if not that."""
    marks = list(_ASSIGN_RE.finditer(text))
    if not marks or marks[0].start() != 0 or text[: marks[0].start()].strip():
        return None
    pairs = []
    for k, mark in enumerate(marks):
        end = marks[k + 1].start() if k + 1 < len(marks) else len(text)
        value = parse_literal_prefix(text[mark.end() : end].strip().rstrip(","))
        if value is None:
            return None
        pairs.append((mark[1], value))
    return pairs


def _call_from(entry_point: str, params: list[str], pairs: list[tuple[str, str]]) -> str | None:
    names = [n for n, _ in pairs]
    if params and set(names) <= set(params) and len(set(names)) == len(names) and len(names) == len(params):
        return f"{entry_point}(" + ", ".join(f"{n}={v}" for n, v in pairs) + ")"
    if len(pairs) == len(params):  # names differ from the signature (`bucket_capacity` for `capacity`)
        return f"{entry_point}(" + ", ".join(v for _, v in pairs) + ")"
    return None


def _positional(entry_point: str, params: list[str], text: str) -> str | None:
    text = " ".join(text.split())
    if not text:
        return None
    try:
        call = ast.parse(f"{entry_point}({text})", mode="eval").body
    except SyntaxError:
        return None
    if isinstance(call, ast.Call) and not call.keywords and all(is_safe_literal(a) for a in call.args):
        if not params or len(call.args) == len(params):
            return f"{entry_point}({text})"
    return None


def _sentence_examples(text: str, entry_point: str, params: list[str], examples: Examples) -> None:
    for line in text.splitlines():
        if len(line) > _MAX_LINE or "=" not in line:
            continue
        for m in _FOR_RE.finditer(line):
            pairs = _named_values(m["assigns"])
            call = _call_from(entry_point, params, pairs) if pairs else None
            expected = parse_literal_prefix(m["value"])
            if call is None or expected is None:
                examples.skipped.append(f"sentence not understood: {_clip(m[0])}")
                continue
            examples.checks.append(_compare(call, expected, "sentence"))


def _io_blocks(text: str):
    """``(whole, input, output)`` for each "Input: ... Output: ..." example, each read in a bounded window."""
    for m in _INPUT_RE.finditer(text):
        window = text[m.end() : m.end() + _WINDOW]
        out = _OUTPUT_RE.search(window)
        if out is None or _INPUT_RE.search(window, 0, out.start()):
            continue  # no output of its own before the next input
        rest = text[m.end() + out.end() : m.end() + out.end() + _WINDOW]
        end = _IO_END_RE.search(rest)
        output = rest[: end.start()] if end else rest
        yield text[m.start() : m.end() + out.end() + len(output)], window[: out.start()], output


def _io_examples(text: str, entry_point: str, params: list[str], examples: Examples) -> None:
    for whole, raw, output in _io_blocks(text):
        # "Input: 'abc' -> Output: 'cba'" and "Input: [1, 2], Output: 3" on one line
        raw_input = re.sub(r"[\s,;]*(?:->|=>|→|➞)?[\s,;]*$", "", raw.strip())
        pairs = _named_values(raw_input)
        call = (
            _call_from(entry_point, params, pairs) if pairs else _positional(entry_point, params, raw_input)
        )
        expected = parse_literal_prefix(output)
        if call is None or expected is None:
            examples.skipped.append(f"Input/Output example not understood: {_clip(whole)}")
            continue
        examples.checks.append(_compare(call, " ".join(expected.split()), "input-output"))


def extract_examples(prompt: str, entry_point: str | None = None) -> Examples:
    """Read the examples in a function's docstring as checks.

    Args:
        prompt: the code prompt (signature and docstring), or a bare docstring.
        entry_point: the function under test; examples must call it (or, when they all call one
            unknown name, that name is taken to mean it). Default: the prompt's last function.

    Returns:
        The checks found, in order, and what was skipped. No checks at all is a valid result:
        callers must treat it as "nothing to verify", not as a pass.
    """
    if entry_point is None and (defs := re.findall(r"^(?:async\s+)?def\s+(\w+)", prompt, re.M)):
        entry_point = defs[-1]
    doc, params, names = find_docstring(prompt, entry_point)
    examples = Examples(docstring=doc)
    if not doc.strip():
        return examples
    if len(doc) > _MAX_DOC:
        examples.skipped.append(f"the docstring is {len(doc)} characters long: read the first {_MAX_DOC}")
        doc = doc[:_MAX_DOC]
    rest = _doctests(doc, examples, names | ({entry_point} if entry_point else set()))
    _call_examples(rest, entry_point, names, examples)
    if entry_point:
        _sentence_examples(rest, entry_point, params, examples)
        _io_examples(rest, entry_point, params, examples)
    seen: set[tuple[str, str | None, str | None]] = set()
    unique = []
    for check in examples.checks:
        key = (check.code, check.expected, check.want)
        if key not in seen:
            seen.add(key)
            unique.append(check)
    examples.checks = unique
    return examples
