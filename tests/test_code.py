"""Extracting code from model output and completing HumanEval-style prompts."""

from __future__ import annotations

import ast

from agentscale.code import code_blocks, complete_program, defines, extract_code

PROMPT = '''from typing import List


def helper(x):
    return x * 2


def add(a: int, b: int) -> int:
    """Add two numbers.
    >>> add(1, 2)
    3
    """
'''


def test_fenced_python_block_without_prose():
    text = "Sure! Here it is:\n```python\ndef add(a, b):\n    return a + b\n```\nThis adds them."
    assert extract_code(text) == "def add(a, b):\n    return a + b"


def test_untagged_py_and_other_languages():
    text = "```bash\npip install x\n```\n```\nx = 1\n```\n```py\ny = 2\n```"
    assert code_blocks(text) == ["x = 1", "y = 2"]
    assert code_blocks(text, language="bash") == ["pip install x", "x = 1"]


def test_prefers_block_defining_entry_point_over_usage_example():
    text = (
        "```python\ndef add(a, b):\n    return a + b\n```\n"
        "Usage:\n```python\nprint(add(1, 2))\n```"
    )
    assert extract_code(text, entry_point="add").startswith("def add")
    assert extract_code(text) == "print(add(1, 2))"  # last block without an entry point
    assert extract_code(text, pick="longest").startswith("def add")
    assert extract_code(text, pick="all").count("\n") >= 2


def test_unterminated_fence_from_token_limit():
    text = "```python\ndef add(a, b):\n    return a + b\n"
    assert extract_code(text, entry_point="add") == "def add(a, b):\n    return a + b"


def test_pycon_prompts_are_stripped():
    text = "```pycon\n>>> x = 1\n>>> print(x)\n1\n```"
    assert extract_code(text) == "x = 1\nprint(x)"


def test_bare_code_with_prose_around_it():
    text = "Here is my solution.\n\ndef add(a, b):\n    return a + b\n\nIt returns the sum."
    code = extract_code(text)
    assert code == "def add(a, b):\n    return a + b"
    ast.parse(code)


def test_empty_output():
    assert extract_code("") == ""


def test_defines():
    assert defines("def f():\n    pass", "f")
    assert not defines("def g():\n    pass", "f")
    assert defines("def f(:\n  broken", "f")  # textual when it does not parse


def test_complete_program_with_body_only():
    program = complete_program(PROMPT, "    return a + b", "add")
    ns: dict = {}
    exec(program, ns)
    assert ns["add"](2, 3) == 5


def test_complete_program_with_body_at_column_zero():
    program = complete_program(PROMPT, "total = a + b\nreturn total", "add")
    ns: dict = {}
    exec(program, ns)
    assert ns["add"](2, 3) == 5


def test_complete_program_with_whole_function_keeps_helpers_and_imports():
    program = complete_program(PROMPT, "def add(a, b):\n    return helper(a) + b - a", "add")
    ns: dict = {}
    exec(program, ns)
    assert ns["add"](2, 3) == 5
    assert "List" in ns
    assert program.count("def add") == 1


def test_complete_program_when_output_repeats_prompt():
    program = complete_program(PROMPT, PROMPT + "    return a + b\n", "add")
    assert program.count("def add") == 1


def test_complete_program_empty_body_still_parses():
    ast.parse(complete_program(PROMPT, "", "add"))
