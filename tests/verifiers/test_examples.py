"""Reading examples out of docstrings: real HumanEval data and hand-written formats."""

from __future__ import annotations

import ast

import pytest

from agentscale.datasets import load_humaneval
from agentscale.verifiers import extract_examples

# Problems 0-119 only: the rest of HumanEval stays fresh.
HUMANEVAL = load_humaneval(range(120))
NO_EXAMPLES = {"HumanEval/38", "HumanEval/41", "HumanEval/50", "HumanEval/83"}  # their docstrings have none


def test_humaneval_examples_found_in_most_problems():
    found = {t.id: extract_examples(t.prompt, t.metadata["entry_point"]) for t in HUMANEVAL}
    with_examples = [k for k, ex in found.items() if ex.checks]
    print(f"\nHumanEval 0-119: {len(with_examples)} of {len(found)} problems yield >= 1 example")
    assert len(with_examples) >= 112
    assert NO_EXAMPLES.isdisjoint(with_examples)
    for ex in found.values():
        for check in ex.checks:
            ast.parse(check.code, mode="eval" if check.kind != "exec" else "exec")
            if check.expected is not None:
                ast.parse(check.expected, mode="eval")


@pytest.mark.parametrize(
    ("number", "origin", "count"),
    [
        (0, "doctest", 2),
        (46, "arrow", 4),  # fib4(0) -> 0 ... (the recursive definition line is prose, not an example)
        (66, "arrow", 6),  # digitSum("") => 0
        (67, "arrow", 4),  # ->19 - 5 - 6 = 8
        (68, "input-output", 4),  # Example 1: Input: [4,2,3] Output: [2, 1]
        (72, "arrow", 4),  # ➞
        (77, "arrow", 6),  # ==>
        (78, "sentence", 5),  # For num = "AB" the output should be 1.
        (79, "arrow", 2),  # # returns "db1111db"
        (84, "sentence", 3),  # For N = 1000, the sum of digits will be 1 the output should be "1".
        (87, "arrow", 3),  # multi-line call
        (95, "arrow", 5),  # should return True.
        (102, "arrow", 2),  # choose_num(12, 15) = 14
        (108, "doctest", 3),  # >>> count_nums([]) == 0 (no output line)
        (115, "input-output", 3),  # named inputs on separate lines, names differ from the signature
    ],
)
def test_humaneval_formats(number, origin, count):
    task = HUMANEVAL[number]
    ex = extract_examples(task.prompt, task.metadata["entry_point"])
    assert len([c for c in ex.checks if c.origin == origin]) == count, [c.code for c in ex.checks]


def test_unknown_function_name_is_aliased_to_the_entry_point():
    task = HUMANEVAL[81]  # documents numerical_letter_grade with calls to grade_equation
    ex = extract_examples(task.prompt, task.metadata["entry_point"])
    assert len(ex.checks) == 1
    assert ex.checks[0].setup == ("grade_equation = numerical_letter_grade",)
    assert any("grade_equation" in s for s in ex.skipped)


def test_unquoted_arguments_are_skipped_and_reported():
    task = HUMANEVAL[80]  # is_happy(a) => False
    ex = extract_examples(task.prompt, task.metadata["entry_point"])
    assert ex.checks == []
    assert any("not literals" in s for s in ex.skipped)


def _doc(body: str, sig: str = "f(x)") -> str:
    return f'def {sig}:\n    """{body}\n    """\n'


def test_doctest_forms():
    doc = _doc(
        """Doc.
    >>> f(1)
    2
    >>> xs = [1, 2]
    >>> f(xs[0])  # doctest: +NORMALIZE_WHITESPACE
    2
    >>> f(
    ...     3)
    4
    >>> print(f(5))
    6
    >>> f(-1)
    Traceback (most recent call last):
      ...
    ValueError: negative
    >>> f(2) [3]"""
    )
    ex = extract_examples(doc, "f")
    kinds = [(c.kind, c.code, c.expected) for c in ex.checks]
    assert kinds[0] == ("compare", "f(1)", "2")
    assert kinds[1][1].startswith("f(xs[0])") and ex.checks[1].setup == ("xs = [1, 2]",)
    assert kinds[2][1] == "f(\n    3)"
    assert kinds[3] == ("compare", "print(f(5))", "6")
    assert ex.checks[4].kind == "raises" and ex.checks[4].want == "ValueError"
    assert kinds[5] == ("compare", "f(2)", "[3]")


@pytest.mark.parametrize(
    "line",
    [
        "f(1) == 2",
        "f(1) => 2",
        "f(1) ==> 2",
        "f(1) -> 2",
        "f(1) ➞ 2",
        "f(1) → 2",
        "f(1) = 2",
        "f(1) returns 2",
        "f(1) should return 2.",
        "For example: f(1) should return 2",
        "f(1)   # returns 2",
        "f(1) => 2 (because one plus one)",
        "f(1) == 1 + 1",
    ],
)
def test_one_line_forms(line):
    ex = extract_examples(_doc(f"Doc.\n    {line}"), "f")
    assert [(c.code, c.expected) for c in ex.checks] in ([("f(1)", "2")], [("f(1)", "1 + 1")])


def test_prose_booleans_and_strings():
    ex = extract_examples(_doc("Doc.\n    f('a b') => true\n    f(\"\") -> false"), "f")
    assert [(c.code, c.expected) for c in ex.checks] == [("f('a b')", "True"), ('f("")', "False")]


def test_multiline_expected_value():
    ex = extract_examples(_doc("Doc.\n    f(1) == [1,\n              2]"), "f")
    assert [c.expected for c in ex.checks] == ["[1, 2]"]


def test_input_output_blocks():
    doc = _doc(
        """Doc.

    Example 1:
        Input: nums = [2, 7, 11], target = 9
        Output: [0, 1]
        Explanation: because.

    Example 2:
        Input: [3, 3], 6
        Output: [0, 1]
    """,
        "two_sum(nums, target)",
    )
    ex = extract_examples(doc, "two_sum")
    assert [(c.code, c.expected) for c in ex.checks] == [
        ("two_sum(nums=[2, 7, 11], target=9)", "[0, 1]"),
        ("two_sum([3, 3], 6)", "[0, 1]"),
    ]


def test_one_line_input_output():
    doc = _doc("Doc.\n    Input: 'abc' -> Output: 'cba'\n    Sample Input: [1, 2], Output: 3\n")
    ex = extract_examples(doc, "f")
    assert [(c.code, c.expected) for c in ex.checks] == [("f('abc')", "'cba'"), ("f([1, 2])", "3")]


def test_for_sentences():
    doc = _doc('Doc.\n    For s = "abc", c = "b", the result should be (\'ac\', False)', "g(s, c)")
    ex = extract_examples(doc, "g")
    assert [(c.code, c.expected) for c in ex.checks] == [('g(s="abc", c="b")', "('ac', False)")]


def test_prose_that_is_not_an_example():
    doc = _doc(
        """The sequence is defined as f(n) -> f(n-1) + f(n-2).
    It returns the list (sorted) as requested. See len(x) == 3 in the notes.
    Note: f(n) is fast."""
    )
    ex = extract_examples(doc, "f")
    assert ex.checks == []
    assert any("not literals" in s for s in ex.skipped)


def test_no_docstring_or_unparseable_prompt():
    assert extract_examples("def f(x):\n    return x\n", "f").checks == []
    broken = 'def f(x):\n    """\n    >>> f(1)\n    2\n    """\n    return x +\n'  # does not parse
    ex = extract_examples(broken, "f")
    assert [(c.code, c.expected) for c in ex.checks] == [("f(1)", "2")]


def test_calls_of_other_functions_are_ignored_when_the_entry_point_is_used():
    ex = extract_examples(_doc("Doc.\n    f(1) == 2\n    helper(1) == 5"), "f")
    assert [c.code for c in ex.checks] == ["f(1)"]
    assert any("helper" in s for s in ex.skipped)


def test_never_raises_on_hostile_text():
    import random

    rng = random.Random(0)
    tokens = [
        "f(",
        ")",
        "(",
        "[",
        "]",
        "{",
        "}",
        "'",
        '"',
        ">>> ",
        "... ",
        "==",
        "=>",
        "->",
        "➞",
        "=",
        "#",
        "\n",
        "\n\n",
        "Input:",
        "Output:",
        "For x =",
        "the output should be",
        "returns",
        "should return",
        "1",
        "-2.5",
        "'a'",
        "True",
        "none",
        "Traceback (most recent call last)",
        "\\",
        '"""',
        "x",
        " ",
        "\t",
        "é",
        "\x00",
    ]
    for _ in range(400):
        body = "".join(rng.choice(tokens) for _ in range(rng.randint(1, 60)))
        extract_examples(body, "f")  # raw text
        extract_examples(f"def f(x):\n    {body!r}\n", "f")  # as a docstring
    # deep nesting and long repetitive text: every reader must stay bounded
    for text in [
        "f(" * 5000 + "1" + ")" * 5000 + " == 2",
        "f(1) == " * 20000,
        "Input: " * 20000,
        "For x = 1 " * 20000,
    ]:
        extract_examples(text, "f")
    ex = extract_examples("f(1) == 2\n" + "x" * 200_000, "f")
    assert [c.code for c in ex.checks] == ["f(1)"] and any("characters long" in s for s in ex.skipped)


def test_entry_point_defaults_to_the_last_function():
    prompt = (
        'def helper(x):\n    """helper(1) == 5"""\n\n\n'
        'def g(s, c):\n    """For s = "ab", c = "b" the result should be "a"."""\n'
    )
    assert [(c.code, c.expected) for c in extract_examples(prompt).checks] == [('g(s="ab", c="b")', '"a"')]


def test_is_and_if_sentences_and_prose_that_only_looks_like_them():
    doc = _doc(
        """Doc.
    f("a") is 1
    If s = "ee", the output is 2.
    Given s = "o", then the expected result is 1
    f("aaaaa") is 5 times slower than f("a")
    Note: f(n) is fast. f("") is 0.""",
        "f(s)",
    )
    ex = extract_examples(doc, "f")
    assert sorted((c.code, c.expected) for c in ex.checks) == [
        ('f("")', "0"),
        ('f("a")', "1"),
        ('f(s="ee")', "2"),
        ('f(s="o")', "1"),
    ]
