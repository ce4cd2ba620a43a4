"""Injected bugs: each operator makes the one small edit it says, in function bodies only."""

from __future__ import annotations

import ast

import pytest

from agentscale.graphs.swe import find_mutations
from agentscale.graphs.swe.generate import _ordered

SOURCE = '''"""Module docstring with 1 < 2 in it."""
LIMIT = 10


def window(xs, n=3):
    """Docstring: n < 0 is refused."""
    if n < 0 or not xs:
        return []
    out = []
    for i in range(len(xs) - n + 1):
        if xs[i] is None:
            continue
        out.append(max(xs[i : i + n]))
    total = 0
    total += len(out)
    return out if total == len(out) else None


class Box:
    def area(self, w, h):
        if w == 0:
            return 0
        while w > h and True:
            break
        return w * h / 2
'''


def _by_kind(kind):
    return [m for m in find_mutations("m.py", SOURCE) if m.kind == kind]


def _changed_line(m):
    old, new = SOURCE.splitlines(), m.apply(SOURCE).splitlines()
    diff = [(a, b) for a, b in zip(old, new, strict=False) if a != b]
    return diff


@pytest.mark.parametrize(
    ("kind", "before", "after"),
    [
        ("flip_comparison", "    if n < 0 or not xs:", "    if n >= 0 or not xs:"),
        ("boundary", "    if n < 0 or not xs:", "    if n <= 0 or not xs:"),
        ("flip_comparison", "        if xs[i] is None:", "        if xs[i] is not None:"),
        ("arithmetic", "    for i in range(len(xs) - n + 1):", "    for i in range(len(xs) + n + 1):"),
        ("swap_operands", "    for i in range(len(xs) - n + 1):", "    for i in range(n - len(xs) + 1):"),
        ("bool_op", "    if n < 0 or not xs:", "    if n < 0 and not xs:"),
        ("remove_not", "    if n < 0 or not xs:", "    if n < 0 or xs:"),
        ("negate_condition", "        if w == 0:", "        if not (w == 0):"),
        ("constant", "    if n < 0 or not xs:", "    if n < 1 or not xs:"),
        ("constant", "        while w > h and True:", "        while w > h and False:"),
        ("min_max", "        out.append(max(xs[i : i + n]))", "        out.append(min(xs[i : i + n]))"),
        ("break_continue", "            continue", "            break"),
        ("aug_assign", "    total += len(out)", "    total -= len(out)"),
        ("drop_return_value", "        return w * h / 2", "        return None"),
    ],
)
def test_each_operator_makes_its_one_edit(kind, before, after):
    found = [m for m in _by_kind(kind) if _changed_line(m) == [(before, after)]]
    assert len(found) == 1, [(_changed_line(m), m.description) for m in _by_kind(kind)]
    m = found[0]
    ast.parse(m.apply(SOURCE))
    assert m.line == SOURCE.splitlines().index(before) + 1
    assert m.function in ("window", "Box.area")


def test_an_early_return_branch_is_dropped_whole():
    (m,) = [m for m in _by_kind("drop_branch") if m.function == "Box.area"]
    mutated = m.apply(SOURCE)
    assert "        pass\n        while w > h" in mutated and "return 0" not in mutated


def test_only_function_bodies_are_mutated():
    for m in find_mutations("m.py", SOURCE):
        assert m.function in ("window", "Box.area")
        assert m.line >= 5 and m.line != 6  # never the module docstring, LIMIT, or the function's docstring
    defaults = [m for m in find_mutations("m.py", SOURCE) if m.line == 5]
    assert {m.description for m in defaults} == {"3 -> 4", "3 -> 2"}  # a default value is part of the function


def test_every_mutant_parses_and_differs():
    found = find_mutations("m.py", SOURCE)
    assert len({m.apply(SOURCE) for m in found}) == len(found)
    for m in found:
        assert m.apply(SOURCE) != SOURCE
        ast.parse(m.apply(SOURCE))


def test_edits_keep_formatting_and_non_ascii_columns():
    src = 'def f(s):\n    return "é" if s == "ü" else s[0:1]\n'
    for m in find_mutations("m.py", src):
        mutated = m.apply(src)
        assert mutated.count("\n") == src.count("\n")
        assert '"é"' in mutated or m.kind == "drop_return_value"
    flips = [m.apply(src) for m in find_mutations("m.py", src) if m.kind == "flip_comparison"]
    assert flips == ['def f(s):\n    return "é" if s != "ü" else s[0:1]\n']


def test_unparseable_module_has_no_candidates():
    assert find_mutations("m.py", "def f(:\n") == []


def test_candidate_order_is_seeded_and_alternates_kinds():
    found = find_mutations("m.py", SOURCE)
    first = _ordered(list(found), "0:pkg:1.0")
    assert first == _ordered(list(reversed(found)), "0:pkg:1.0")  # the input order does not matter
    assert first != _ordered(list(found), "1:pkg:1.0")
    kinds = {m.kind for m in found}
    assert {m.kind for m in first[: len(kinds)]} == kinds  # one of each kind before any repeats
