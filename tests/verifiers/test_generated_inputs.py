"""Inputs beyond the docstring: example calls in many docstring styles, type-aware mutation, and
model-written calls parsed (never run) on the host."""

from __future__ import annotations

import ast

import pytest

from agentscale.datasets import load_humaneval
from agentscale.types import Task
from agentscale.verifiers.generated_inputs import (
    MAX_CALL_CHARS,
    GeneratedInput,
    ModelInputs,
    ModelTest,
    example_calls,
    generate_inputs,
    literal_source,
    mutate_calls,
    parse_model_calls,
)


def code_task(prompt: str, entry: str) -> Task:
    return Task(id="t", prompt=prompt, metadata={"entry_point": entry})


STYLES = {
    "doctest": '''def add(a: int, b: int) -> int:
    """Add two numbers.
    >>> add(2, 3)
    5
    >>> add(-1, 1)
    0
    """
''',
    "equals": '''def add(a, b):
    """Add two numbers.

    add(2, 3) == 5
    add(-1, 1) == 0
    """
''',
    "fat-arrow": '''def add(a, b):
    """Add two numbers, e.g.
    add(2, 3) => 5
    add(-1, 1) => 0
    """
''',
    "arrow": '''def add(a, b):
    """Examples: add(2, 3) -> 5, add(-1, 1) -> 0."""
''',
    "prose": '''def add(a, b):
    """Add two numbers.

    For a = 2, b = 3 the output should be 5.
    For a = -1, b = 1 the output should be 0.
    """
''',
}


@pytest.mark.parametrize("style", sorted(STYLES))
def test_example_calls_in_every_docstring_style(style):
    assert example_calls(code_task(STYLES[style], "add")) in (
        ["add(2, 3)", "add(-1, 1)"],
        ["add(a=2, b=3)", "add(a=-1, b=1)"],
    )


def test_example_calls_of_an_alias_are_renamed():
    prompt = '''def grade(scores):
    """Grades.
    Example: grade_equation([4.0, 3]) ==> ['A+', 'B']
    """
'''
    assert example_calls(code_task(prompt, "grade")) == ["grade([4.0, 3])"]


def test_mutations_are_type_aware_and_change_one_argument():
    calls = mutate_calls(["f(5, 'ab', [3, 1, 2], 1.5, True)"], "f", limit=200)
    args = [ast.literal_eval(ast.parse(c, mode="eval").body.args[0]) for c in calls]
    assert {6, 4, -5, 0, 10} <= set(args)  # nudged, sign-flipped, edge, doubled
    texts = [ast.literal_eval(ast.parse(c, mode="eval").body.args[1]) for c in calls]
    assert {"", "ba", "a", "b", "AB", "abb"} <= set(texts)
    lists = [ast.literal_eval(ast.parse(c, mode="eval").body.args[2]) for c in calls]
    assert [] in lists and [2, 1, 3] in lists and [1, 2, 3] in lists  # emptied, reversed, sorted
    assert any(len(x) > 3 for x in lists)  # extended
    assert any(isinstance(x, list) and len(x) == 3 and x != [3, 1, 2] and sorted(x) != [1, 2, 3] for x in lists)
    floats = [ast.literal_eval(ast.parse(c, mode="eval").body.args[3]) for c in calls]
    assert -1.5 in floats and 2.0 in floats
    assert False in [ast.literal_eval(ast.parse(c, mode="eval").body.args[4]) for c in calls]
    for call in calls:  # exactly one argument differs from the original
        node = ast.parse(call, mode="eval").body
        values = [ast.literal_eval(a) for a in node.args]
        original = [5, "ab", [3, 1, 2], 1.5, True]
        assert sum(v != o or type(v) is not type(o) for v, o in zip(values, original, strict=True)) == 1, call
    assert "f(5, 'ab', [3, 1, 2], 1.5, True)" not in calls
    assert len(calls) == len(set(calls))


def test_mutations_part_neighbours_and_tie_arguments():
    # a list's elements with neighbours parted (programs that compare only adjacent elements differ)
    calls = mutate_calls(["f([1, 2, 3, 4, 5])"], "f")
    lists = [ast.literal_eval(ast.parse(c, mode="eval").body.args[0]) for c in calls]
    assert [1, 3, 5, 2, 4] in lists
    # two arguments of one type made equal, then equal in size but different ("if equal, the first")
    calls = mutate_calls(["g(['hi', 'admin'], ['hI', 'Hi'])", "h(12, 15)"], "g", limit=200)
    assert "g(['hi', 'admin'], ['hi', 'admin'])" in calls and "g(['hi', 'admin'], ['HI', 'ADMIN'])" in calls
    assert "g(['hI', 'Hi'], ['hI', 'Hi'])" in calls
    assert "h(12, 12)" in mutate_calls(["h(12, 15)"], "h", limit=200)


def test_mutations_are_bounded_and_reproducible():
    long_list = "f(" + repr(list(range(200))) + ")"
    calls = mutate_calls([long_list, "f([1])"], "f", limit=10, seed=3)
    assert len(calls) == 10
    assert all(len(c) <= MAX_CALL_CHARS for c in calls)
    assert calls == mutate_calls([long_list, "f([1])"], "f", limit=10, seed=3)
    big = mutate_calls(["f(999999)"], "f", limit=50)
    assert all(abs(ast.literal_eval(ast.parse(c, mode="eval").body.args[0])) <= 10**6 for c in big)
    # round robin: a small limit still reaches the second call's argument
    assert any(c.startswith("f([") and len(c) < 20 for c in calls)


def test_mutations_keep_arguments_that_are_not_plain_literals():
    calls = mutate_calls(["f(float('inf'), 2)"], "f", limit=50)
    assert calls and all(c.startswith("f(float('inf'), ") for c in calls)


def test_literal_source_round_trips():
    for value in [1, -2.5, "a'b\"c", [1, (2,), {3: "x"}], (), set(), {1, 2}, None, True, b"\x00"]:
        assert ast.literal_eval(literal_source(value)) == value if value != set() else literal_source(value) == "set()"
    assert literal_source(float("inf")) == "float('inf')"
    assert literal_source([float("-inf")]) == "[float('-inf')]"


def test_generated_inputs_from_type_hints_when_there_is_no_example():
    prompt = '''from typing import List


def total(xs: List[int], scale: float = 1.0) -> float:
    """The sum of xs times scale, in words only: no example here."""
'''
    inputs = generate_inputs(code_task(prompt, "total"), limit=8)
    assert inputs[0] == GeneratedInput("total([3, 3], 1.0)", "signature")
    assert all(i.origin == "mutation" and i.call.startswith("total(") for i in inputs[1:])
    assert any("[]" in i.call for i in inputs)


def test_generated_inputs_from_parameter_names_then_plain_types():
    named = generate_inputs(code_task('def f(s, nums):\n    """Words only."""\n', "f"), limit=3)
    assert named[0] == GeneratedInput("f('abc', [1, 2, 3])", "signature")
    blind = generate_inputs(code_task('def f(thing, other):\n    """Words only."""\n', "f"), limit=3)
    assert [i.call for i in blind] == ["f(3, 3)", "f('abc', 'abc')", "f([1, 2, 3], [1, 2, 3])"]
    assert generate_inputs(code_task('def f():\n    """Nothing to pass."""\n', "f")) == []


def test_generated_inputs_on_humaneval_put_examples_first_and_respect_the_limit():
    task = load_humaneval([0])[0]
    inputs = generate_inputs(task, limit=12)
    assert len(inputs) == 12
    assert [i.origin for i in inputs[:2]] == ["example", "example"]
    assert {i.origin for i in inputs[2:]} == {"mutation"}
    assert len({i.call for i in inputs}) == 12


HOSTILE = """Here are some tests:
```python
assert f(1) == 2
assert f(__import__('os').system('touch /tmp/pwned')) == 0
assert f(open('/etc/passwd').read()) == ''
f([i for i in range(10**9)])
f('a' * 10**9)
f(*[1, 2])
f(x)
f(1, key=[1, 2])
print(f("ok"))
assert 3 == f(2)
assert f(2) == len('abc')
assert g(1) == 1
assert f(-1) == -2  # negative
```"""


def test_model_text_is_parsed_not_run():
    calls, tests = parse_model_calls(HOSTILE, "f")
    assert calls == ["f(1)", "f(1, key=[1, 2])", "f('ok')", "f(2)", "f(-1)"]
    assert tests == [ModelTest("f(1)", "2"), ModelTest("f(2)", "3"), ModelTest("f(-1)", "-2")]


def test_model_calls_may_use_the_prompts_own_functions():
    text = (
        "assert decode(encode('abc')) == 'abc'\n"
        "assert decode(encode(open('/etc/passwd').read())) == ''\n"
        "assert decode(print('x')) == ''\n"
    )
    calls, tests = parse_model_calls(text, "decode", helpers=["encode", "decode"])
    assert calls == ["decode(encode('abc'))"] and tests == [ModelTest("decode(encode('abc'))", "'abc'")]
    assert parse_model_calls(text, "decode") == ([], [])  # without helpers, nothing


def test_model_calls_are_bounded():
    text = "\n".join(f"assert f({i}) == {i}" for i in range(100)) + "\nf(" + "[" * 5000 + "]" * 5000 + ")"
    calls, tests = parse_model_calls(text, "f", limit=7)
    assert len(calls) == 7 and len(tests) == 7


async def test_model_inputs_asks_once_and_never_raises():
    from agentscale.errors import ModelAPIError
    from agentscale.testing import FakeModel, FunctionModel

    task = load_humaneval([0])[0]
    model = FakeModel(["```python\nassert has_close_elements([1.0, 1.05], 0.1) == True\n```"])
    written = await ModelInputs(model).write(task, max_tokens=123)
    assert written.calls == ["has_close_elements([1.0, 1.05], 0.1)"]
    assert written.tests == [ModelTest("has_close_elements([1.0, 1.05], 0.1)", "True")]
    assert len(model.calls) == 1 and model.calls[0].max_tokens == 123
    assert "has_close_elements" in model.calls[0].prompt[-1]["content"]

    def fail(call):
        raise ModelAPIError("down", model="m", api_base=None)

    broken = await ModelInputs(FunctionModel(fail)).write(task)
    assert broken.calls == [] and "failed" in broken.note
