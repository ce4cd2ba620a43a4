"""Inputs for a function beyond its docstring's examples, made without the hidden tests.

Two sources, both ending as calls of the entry point with literal arguments (``f(1, [2, 3])``):

- **mutation** of the examples' arguments, type-aware: numbers nudged, sign-flipped and set to
  small edge values; strings emptied, reversed, shortened, re-cased; lists emptied, reversed,
  extended, shortened, sorted, an element mutated; plus the edge values of every type the
  examples show (``0``, ``""``, ``[]``...). One argument changes per call, as AlphaCode does.
- **the model** (``ModelInputs``): asked for asserts on the function, it writes calls and the
  values it expects. Its text is only *parsed* on the host (``ast.parse``, then
  ``ast.literal_eval`` of each argument): a call whose arguments are not plain literals is
  dropped, and nothing the model wrote is ever executed outside a sandbox.

Both are bounded: at most ``limit`` calls, each at most ``MAX_CALL_CHARS`` long, and mutations
never grow a value by more than a few elements, so a correct but slow program is not mistaken for
a hanging one. Which inputs are worth keeping (some candidate returns a value on them) is decided
by running them, in ``agentscale.verifiers.behaviour``.
"""

from __future__ import annotations

import ast
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from agentscale.errors import BudgetExhausted, ModelError
from agentscale.protocols import Model
from agentscale.types import Task, Usage
from agentscale.verifiers._checks import is_safe_literal
from agentscale.verifiers._examples import extract_examples
from agentscale.verifiers._program import code_prompt, entry_point

__all__ = [
    "MAX_CALL_CHARS",
    "GeneratedInput",
    "ModelInputs",
    "ModelTest",
    "ModelWritten",
    "example_calls",
    "generate_inputs",
    "literal_source",
    "mutate_calls",
    "parse_model_calls",
]

MAX_CALL_CHARS = 1000
"""Longest call kept (source characters): bounds the work of parsing and of running it."""
_MAX_INT = 10**6
"""Mutated integers stay within this magnitude, so a correct but slow program still finishes."""
_MAX_GROW = 3
"""Mutations add at most this many elements or characters."""


@dataclass(frozen=True)
class GeneratedInput:
    """One call of the entry point with literal arguments.

    Attributes:
        call: its source, e.g. ``"f(1, [2, 3])"``.
        origin: ``"example"`` (from the docstring), ``"model"``, ``"signature"`` (built from the
            parameters' types or names when there is no example) or ``"mutation"``.
    """

    call: str
    origin: str


@dataclass(frozen=True)
class ModelTest:
    """An assert the model wrote: ``call`` should return ``expected`` (a literal's source)."""

    call: str
    expected: str


@dataclass
class ModelWritten:
    """What ``ModelInputs.write`` got from the model.

    Attributes:
        calls: parsed calls (arguments are literals), deduplicated, in the order written.
        tests: parsed asserts ``call == expected``.
        usage: what the request cost.
        note: why nothing came back, when nothing did (model failure, budget, unreadable reply).
        text: the raw reply.
    """

    calls: list[str] = field(default_factory=list)
    tests: list[ModelTest] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    note: str = ""
    text: str = ""


# --- literals on the host: parsed, never executed -----------------------------------------------


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


def _literal(node: ast.expr) -> tuple[bool, object]:
    """``(True, value)`` for a plain literal (``ast.literal_eval``), else ``(False, None)``."""
    try:
        return True, ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


def _call_node(source: str, names: set[str]) -> ast.Call | None:
    if len(source) > MAX_CALL_CHARS:
        return None
    try:
        node = ast.parse(source.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in names:
        return node
    return None


def _render(entry: str, args: Sequence[str], keywords: Sequence[tuple[str, str]] = ()) -> str:
    return f"{entry}(" + ", ".join([*args, *(f"{k}={v}" for k, v in keywords)]) + ")"


def example_calls(task: Task) -> list[str]:
    """The calls of the entry point in the task's docstring examples (arguments that are literals).

    Args:
        task: a coding task with ``metadata["entry_point"]`` (and the code prompt).

    Returns:
        Call sources with the entry point's name, deduplicated, in docstring order.
    """
    entry = entry_point(task)
    if not entry:
        return []
    examples = extract_examples(code_prompt(task), entry)
    calls: list[str] = []
    for check in examples.checks:
        if check.kind not in ("compare", "raises"):
            continue
        # the examples may call the function by another name (set up as an alias of it)
        aliases = {entry} | {s.split("=")[0].strip() for s in check.setup if s.endswith(f"= {entry}")}
        node = _call_node(check.code, aliases)
        helpers = frozenset(_helpers(task)) - {entry}
        arguments = [*node.args, *(k.value for k in node.keywords)] if node is not None else []
        if node is None or not all(is_safe_literal(a) or _argument_ok(a, helpers) for a in arguments):
            continue
        if any(k.arg is None for k in node.keywords):
            continue
        call = _render(
            entry, [ast.unparse(a) for a in node.args], [(k.arg or "", ast.unparse(k.value)) for k in node.keywords]
        )
        if call not in calls:
            calls.append(call)
    return calls


# --- mutation ------------------------------------------------------------------------------------


def _clamp(n: int) -> int:
    return max(-_MAX_INT, min(_MAX_INT, n))


def _int_variants(x: int) -> Iterator[int]:
    yield from (x + 1, x - 1, -x, 0, 1, _clamp(x * 2), x // 2, -1)


def _float_variants(x: float) -> Iterator[float]:
    if not math.isfinite(x):
        yield from (0.0, 1.0)
        return
    yield from (x + 0.5, -x, 0.0, x * 2 if abs(x) < _MAX_INT else x, round(x), x - 1.25, 1.0)


def _str_variants(s: str) -> Iterator[str]:
    yield ""
    yield s[::-1]
    if s:
        yield s[:-1]
        yield s[1:]
        yield s + s[-1]
        yield s[0]
        yield s.swapcase()
        yield " " + s
        yield s + s[:_MAX_GROW]
    yield s + "a"
    if s.strip().lstrip("-").isdigit():  # a number written as a string
        n = int(s.strip())
        yield from (str(n + 1), str(-n), "0")


def _list_variants(xs: list | tuple, rng: random.Random) -> Iterator[list | tuple]:
    kind = type(xs)
    items = list(xs)
    if kind is list:
        yield []
        yield items[::-1]
        if items:
            yield items[:-1]
            yield items[1:]
            yield items + items[-1:]
            yield items[:1]
            yield items + items[:_MAX_GROW]
            try:
                yield sorted(items)
            except TypeError:
                pass
    for i in rng.sample(range(len(items)), min(len(items), 3)):  # one element mutated, in place
        for variant in _variants(items[i], rng):
            yield kind(items[:i] + [variant] + items[i + 1 :])
            break
    if kind is tuple and items:
        yield kind(items[::-1])


def _dict_variants(d: dict, rng: random.Random) -> Iterator[dict]:
    yield {}
    keys = list(d)
    if keys:
        yield {k: v for k, v in d.items() if k != keys[-1]}
        key = rng.choice(keys)
        for variant in _variants(d[key], rng):
            yield {**d, key: variant}
            break


def _variants(value: object, rng: random.Random) -> Iterator[object]:
    """Type-aware mutations of one value, most telling first."""
    if isinstance(value, bool):
        yield not value
    elif isinstance(value, int):
        yield from _int_variants(value)
    elif isinstance(value, float):
        yield from _float_variants(value)
    elif isinstance(value, str):
        yield from _str_variants(value)
    elif isinstance(value, list | tuple):
        yield from _list_variants(value, rng)
    elif isinstance(value, dict):
        yield from _dict_variants(value, rng)


_EDGES: dict[type, tuple[object, ...]] = {
    bool: (True, False),
    int: (0, 1, -1, 2, 10),
    float: (0.0, 1.0, -1.5, 0.5),
    str: ("", "a", " ", "ab", "Aa1"),
    list: ([],),
    tuple: ((),),
    dict: ({},),
}


def _edge_values(value: object) -> Iterator[object]:
    """The edge values of ``value``'s type (and, for a list, one-element lists of its elements)."""
    yield from _EDGES.get(type(value), ())
    if isinstance(value, list) and value:
        yield value[:1]
        yield [value[0], value[0]]


def mutate_calls(calls: Sequence[str], entry: str, *, limit: int = 24, seed: int = 0) -> list[str]:
    """New calls made by mutating one literal argument of the given calls at a time.

    Mutations are interleaved across calls and argument positions (round robin), so a small
    ``limit`` still covers every argument; duplicates and the given calls are left out.

    Args:
        calls: calls of ``entry`` with literal arguments (e.g. ``example_calls(task)``).
        entry: the entry point's name.
        limit: most calls returned.
        seed: makes the order of element mutations reproducible.

    Returns:
        Call sources, each at most ``MAX_CALL_CHARS`` long.
    """
    rng = random.Random(seed)
    streams: list[Iterator[str]] = []
    for call in calls:
        node = _call_node(call, {entry})
        if node is None or node.keywords and any(k.arg is None for k in node.keywords):
            continue
        sources = [ast.unparse(a) for a in node.args]
        kw = [(k.arg or "", ast.unparse(k.value)) for k in node.keywords]
        values = [_literal(a) for a in node.args] + [_literal(k.value) for k in node.keywords]
        for position, (ok, value) in enumerate(values):
            if ok:
                streams.append(_position_stream(entry, sources, kw, position, value, rng))
    seen = set(calls)
    out: list[str] = []
    while streams and len(out) < limit:
        for stream in list(streams):
            call = next(stream, None)
            if call is None:
                streams.remove(stream)
            elif call not in seen and len(call) <= MAX_CALL_CHARS:
                seen.add(call)
                out.append(call)
                if len(out) >= limit:
                    break
    return out


def _position_stream(
    entry: str, args: list[str], kw: list[tuple[str, str]], position: int, value: object, rng: random.Random
) -> Iterator[str]:
    from itertools import chain

    for variant in chain(_variants(value, rng), _edge_values(value)):
        source = literal_source(variant)
        if position < len(args):
            yield _render(entry, args[:position] + [source] + args[position + 1 :], kw)
        else:
            k = position - len(args)
            yield _render(entry, args, kw[:k] + [(kw[k][0], source)] + kw[k + 1 :])


# --- calls and asserts the model wrote -----------------------------------------------------------


def _argument_ok(arg: ast.expr, helpers: frozenset[str], depth: int = 0) -> bool:
    """A plain literal, or a call of one of the prompt's own functions on such arguments."""
    if _literal(arg)[0]:
        return True
    if depth < 2 and isinstance(arg, ast.Call) and isinstance(arg.func, ast.Name) and arg.func.id in helpers:
        return not arg.keywords and all(
            not isinstance(a, ast.Starred) and _argument_ok(a, helpers, depth + 1) for a in arg.args
        )
    return False


def _plain_call(node: ast.Call, entry: str, helpers: frozenset[str] = frozenset()) -> str | None:
    """The call's source when every argument is a plain literal (or a helper's call), else ``None``."""
    if any(k.arg is None for k in node.keywords):
        return None
    for arg in [*node.args, *(k.value for k in node.keywords)]:
        if isinstance(arg, ast.Starred) or not _argument_ok(arg, helpers):
            return None
    keywords = [(k.arg or "", ast.unparse(k.value)) for k in node.keywords]
    return _render(entry, [ast.unparse(a) for a in node.args], keywords)


def _statements(text: str) -> Iterator[ast.AST]:
    """Top-level statements of each line or fenced block of ``text`` that parses on its own."""
    for line in text.replace("```python", "\n").replace("```", "\n").splitlines():
        line = line.strip().removeprefix(">>>").strip()
        if not line or len(line) > MAX_CALL_CHARS * 2:
            continue
        try:
            tree = ast.parse(line)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        yield from tree.body


def parse_model_calls(
    text: str, entry: str, *, limit: int = 20, helpers: Sequence[str] = ()
) -> tuple[list[str], list[ModelTest]]:
    """Calls of ``entry`` and asserts on it, read from a model's reply without running any of it.

    Reads each line on its own: ``assert entry(args) == expected`` gives a test (and its call),
    a bare ``entry(args)`` or ``print(entry(args))`` gives a call. Arguments and expected values
    must be plain literals (``ast.literal_eval``), or calls of the prompt's own functions
    (``helpers``, e.g. ``decode(encode("abc"))``) on such literals: names, attribute access,
    comprehensions and calls of anything else are dropped, so a hostile reply yields nothing
    runnable, and what is kept runs only in the sandbox.

    Args:
        text: the model's reply.
        entry: the entry point's name.
        limit: most calls (and most tests) returned.
        helpers: other functions the prompt defines, allowed inside arguments.

    Returns:
        ``(calls, tests)``, each deduplicated in the order written.
    """
    calls: list[str] = []
    tests: list[ModelTest] = []
    allowed = frozenset(helpers) - {entry}
    for stmt in _statements(text):
        call, expected = None, None
        if isinstance(stmt, ast.Assert) and isinstance(stmt.test, ast.Compare):
            test = stmt.test
            if len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq | ast.Is):
                left, right = test.left, test.comparators[0]
                if not (isinstance(left, ast.Call) and isinstance(left.func, ast.Name) and left.func.id == entry):
                    left, right = right, left  # `assert 3 == f(x)`
                if isinstance(left, ast.Call) and isinstance(left.func, ast.Name) and left.func.id == entry:
                    call = _plain_call(left, entry, allowed)
                    if call is not None and _literal(right)[0]:
                        expected = literal_source(_literal(right)[1])
        elif isinstance(stmt, ast.Expr):
            node = stmt.value
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                node = node.args[0] if len(node.args) == 1 else None
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == entry:
                call = _plain_call(node, entry, allowed)
        if call is None or len(call) > MAX_CALL_CHARS:
            continue
        if call not in calls and len(calls) < limit:
            calls.append(call)
        if expected is not None and len(tests) < limit and all(t.call != call for t in tests):
            tests.append(ModelTest(call, expected))
    return calls, tests


_ASK = """Here is a Python function to test:

```python
{code}
```

Write {count} different test cases for `{entry}` as Python asserts, one per line, in the form
`assert {entry}(<arguments>) == <expected result>`, using only literal arguments. Cover typical
inputs and edge cases (empty, zero, negative, single element, duplicates, large). Reply with the
asserts only, in one python code block."""


@dataclass
class ModelInputs:
    """Asks a model for test asserts on the entry point: calls for behaviour clustering, and
    expected values for dual agreement (CodeT).

    Failures never raise: a model error, a spent budget or an unreadable reply give an empty
    ``ModelWritten`` whose ``note`` says why.

    Attributes:
        model: writes the asserts (the model that wrote the candidates is fine).
        count: how many asserts to ask for.
        max_tokens: cap on the reply.
        temperature: sampling temperature (0: the most likely asserts).
    """

    model: Model
    count: int = 10
    max_tokens: int = 400
    temperature: float = 0.0

    def prompt(self, task: Task) -> list[dict[str, str]]:
        """The request: the function's signature and docstring, and what to write."""
        entry = entry_point(task) or "f"
        return [
            {"role": "system", "content": "You write precise unit tests for Python functions."},
            {"role": "user", "content": _ASK.format(code=code_prompt(task).strip(), count=self.count, entry=entry)},
        ]

    async def write(self, task: Task, *, max_tokens: int | None = None) -> ModelWritten:
        """Ask once; parse the reply with ``parse_model_calls``.

        Args:
            task: the coding task (needs ``metadata["entry_point"]``).
            max_tokens: a tighter cap for this call (e.g. what a token budget leaves).

        Returns:
            The calls and tests read, and the usage.
        """
        entry = entry_point(task)
        if not entry:
            return ModelWritten(note="the task names no entry point")
        try:
            completion = await self.model.generate(
                self.prompt(task),
                temperature=self.temperature,
                max_tokens=min(self.max_tokens, max_tokens or self.max_tokens),
                seed=0,
            )
        except (ModelError, BudgetExhausted) as exc:
            return ModelWritten(note=f"the model failed ({type(exc).__name__}: {exc})")
        calls, tests = parse_model_calls(completion.text, entry, limit=2 * self.count, helpers=_helpers(task))
        note = "" if calls else "the reply holds no readable call"
        return ModelWritten(calls=calls, tests=tests, usage=completion.usage, note=note, text=completion.text)


def _helpers(task: Task) -> list[str]:
    """The names of the functions the task's prompt defines (its helpers, e.g. an encoder)."""
    try:
        tree = ast.parse(code_prompt(task))
    except (SyntaxError, ValueError):
        return []
    return [n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


def generate_inputs(
    task: Task,
    *,
    limit: int = 24,
    seed: int = 0,
    written: ModelWritten | None = None,
) -> list[GeneratedInput]:
    """The docstring's example calls, the model's calls, then mutations, up to ``limit`` in all.

    Args:
        task: the coding task (``metadata["entry_point"]``; the code prompt holds the docstring).
        limit: most inputs returned (the examples count towards it).
        seed: for the mutations.
        written: calls the model wrote (``ModelInputs.write``), if any.

    Returns:
        Deduplicated inputs; empty when the task names no entry point or the docstring shows no
        call with literal arguments and the model wrote none.
    """
    entry = entry_point(task)
    if not entry:
        return []
    examples = example_calls(task)
    model_calls = list(written.calls) if written is not None else []
    # no example at all: mutate calls the model wrote, or ones built from the signature
    typed = [] if examples or model_calls else _typed_call(task, entry)
    seeds = examples or model_calls[:3] or typed
    out: list[GeneratedInput] = []
    seen: set[str] = set()
    firsts = (
        [(c, "example") for c in examples] + [(c, "model") for c in model_calls] + [(c, "signature") for c in typed]
    )
    for call, origin in firsts:
        if call not in seen and len(out) < limit:
            seen.add(call)
            out.append(GeneratedInput(call, origin))
    for call in mutate_calls(seeds, entry, limit=max(0, limit - len(out)) + len(seen), seed=seed):
        if call not in seen and len(out) < limit:
            seen.add(call)
            out.append(GeneratedInput(call, "mutation"))
    return out


_TYPED: dict[str, object] = {
    "int": 3,
    "float": 1.5,
    "str": "abc",
    "bool": True,
    "list": [1, 2, 3],
    "tuple": (1, 2),
    "dict": {"a": 1},
    "set": [1, 2],
}


def _typed_value(node: ast.expr | None) -> tuple[bool, object]:
    """A plain value of an annotation's type (``List[int]`` gives ``[3, 3]``), if it names one."""
    if node is None:
        return False, None
    if isinstance(node, ast.Constant) and isinstance(node.value, str):  # "List[int]" as a string
        try:
            node = ast.parse(node.value, mode="eval").body
        except SyntaxError:
            return False, None
    if isinstance(node, ast.Attribute):  # typing.List
        node = ast.Name(node.attr)
    if isinstance(node, ast.Name):
        name = node.id.lower()
        return (name in _TYPED), _TYPED.get(name)
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name | ast.Attribute):
        outer = (node.value.id if isinstance(node.value, ast.Name) else node.value.attr).lower()
        inner = list(node.slice.elts) if isinstance(node.slice, ast.Tuple) else [node.slice]
        values = [_typed_value(e) for e in inner]
        if outer in ("optional", "union") and values and values[0][0]:
            return values[0]
        if not all(ok for ok, _ in values):
            return False, None
        items = [v for _, v in values]
        if outer in ("list", "sequence", "iterable", "set"):
            return True, [items[0], items[0]]
        if outer == "tuple":
            return True, tuple(v for v in items if v is not Ellipsis)
        if outer in ("dict", "mapping") and len(items) == 2:
            return True, {items[0]: items[1]} if isinstance(items[0], int | str) else {}
    return False, None


_NAME_HINTS: tuple[tuple[tuple[str, ...], object], ...] = (
    (("s", "string", "text", "word", "sentence", "txt", "name", "char", "c", "ch", "str"), "abc"),
    (("lst", "arr", "array", "list", "nums", "numbers", "values", "items", "xs", "l"), [1, 2, 3]),
    (("n", "k", "x", "y", "num", "number", "a", "b", "m", "i", "j", "base", "count"), 3),
)


def _guess(name: str) -> tuple[bool, object]:
    """A value for an unannotated parameter, from its name (``s`` a string, ``nums`` a list...)."""
    lowered = name.lower()
    for names, value in _NAME_HINTS:
        if lowered in names:
            return True, value
    if lowered.endswith("s") and len(lowered) > 2:  # a plural: a list
        return True, [1, 2, 3]
    return False, None


def _typed_call(task: Task, entry: str) -> list[str]:
    """Calls of ``entry`` built from its signature: literal defaults, else annotated types, else
    guesses from the parameters' names; with no clue at all, one call per plain type (an int,
    a string, a list for every parameter). Calls of the wrong type cost little: an input that
    every program rejects is dropped when they run.

    Returns:
        Call sources (possibly none, for a function without parameters or not found).
    """
    try:
        tree = ast.parse(code_prompt(task))
    except (SyntaxError, ValueError):
        return []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == entry:
            params = [*node.args.posonlyargs, *node.args.args]
            defaults = [None] * (len(params) - len(node.args.defaults)) + list(node.args.defaults)
            args = []
            for param, default in zip(params, defaults, strict=True):
                ok, value = _literal(default) if default is not None else _typed_value(param.annotation)
                if not ok:
                    ok, value = _guess(param.arg)
                args.append(literal_source(value) if ok else None)
            if not params:
                return []
            if all(a is not None for a in args):
                return [_render(entry, [a for a in args if a is not None])]
            fills = (3, "abc", [1, 2, 3])
            return [_render(entry, [a if a is not None else literal_source(v) for a in args]) for v in fills]
    return []
