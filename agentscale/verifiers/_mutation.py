"""Type-aware mutation of a call's literal arguments, and calls built from a signature."""

from __future__ import annotations

import ast
import math
import random
from collections.abc import Iterator, Sequence
from itertools import chain

from agentscale.types import Task
from agentscale.verifiers._literals import MAX_CALL_CHARS, call_node, literal, literal_source, render
from agentscale.verifiers._program import code_prompt

__all__ = ["mutate_calls", "typed_calls"]

_MAX_INT = 10**6
"""Mutated integers stay within this magnitude, so a correct but slow program still finishes."""
_MAX_GROW = 3
"""Mutations add at most this many elements or characters."""


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
        if len(items) >= 3:  # the same elements, neighbours parted: programs that only compare adjacent ones differ
            yield items[::2] + items[1::2]
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
        node = call_node(call, {entry})
        if node is None or node.keywords and any(k.arg is None for k in node.keywords):
            continue
        sources = [ast.unparse(a) for a in node.args]
        kw = [(k.arg or "", ast.unparse(k.value)) for k in node.keywords]
        values = [literal(a) for a in node.args] + [literal(k.value) for k in node.keywords]
        for position, (ok, value) in enumerate(values):
            if ok:
                streams.append(_position_stream(entry, sources, kw, position, value, rng))
        if not node.keywords and len(values) >= 2:
            streams.append(_tie_stream(entry, sources, values))
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

    for variant in chain(_variants(value, rng), _edge_values(value)):
        source = literal_source(variant)
        if position < len(args):
            yield render(entry, args[:position] + [source] + args[position + 1 :], kw)
        else:
            k = position - len(args)
            yield render(entry, args, kw[:k] + [(kw[k][0], source)] + kw[k + 1 :])


def _same_size(value: object) -> object:
    """A value as large as ``value`` but different (strings case-swapped, or reversed when caseless)."""
    if isinstance(value, str):
        swapped = value.swapcase()
        return swapped if swapped != value else value[::-1]
    if isinstance(value, list | tuple):
        return type(value)(_same_size(v) for v in value)
    return value


def _tie_stream(entry: str, args: list[str], values: list[tuple[bool, object]]) -> Iterator[str]:
    """Calls where one argument is made equal to another of the same type, then equal in size but
    different: ties between arguments ("if they are equal, return the first") are where programs
    that agree on every example often part."""
    for i, (ok_i, a) in enumerate(values):
        for j, (ok_j, b) in enumerate(values):
            if i == j or not (ok_i and ok_j) or type(a) is not type(b) or isinstance(a, bool):
                continue
            for variant in (a, _same_size(a)):
                if variant != b:
                    yield render(entry, args[:j] + [literal_source(variant)] + args[j + 1 :], [])


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


def typed_calls(task: Task, entry: str) -> list[str]:
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
                ok, value = literal(default) if default is not None else _typed_value(param.annotation)
                if not ok:
                    ok, value = _guess(param.arg)
                args.append(literal_source(value) if ok else None)
            if not params:
                return []
            if all(a is not None for a in args):
                return [render(entry, [a for a in args if a is not None])]
            fills = (3, "abc", [1, 2, 3])
            return [render(entry, [a if a is not None else literal_source(v) for a in args]) for v in fills]
    return []
