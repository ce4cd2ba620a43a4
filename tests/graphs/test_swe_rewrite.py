"""Whole-definition edits (``rewrite``), the syntax guard on ``edit``, and the SWE agent reading a
fixed function written out in a reply as a ``rewrite``; real files in an ``unsafe-local`` sandbox
(the commands are the test's own), a scripted model for the agent."""

from __future__ import annotations

import json
import subprocess
import warnings

import pytest

from agentscale.errors import ToolError
from agentscale.graphs.swe import RepoSource, SWEConfig, SWEInstance, swe_agent, swe_task
from agentscale.graphs.swe.rewrite import RewriteTool, python_definition_action, replace_definition
from agentscale.graphs.swe.tools import EditTool
from agentscale.rollout import RolloutContext
from agentscale.testing import FakeModel

LIB = '''import functools


@functools.lru_cache
def area(width, height):
    """The area of a rectangle.

    >>> area(2, 3)
    6
    """
    return width + height


class Shape:
    def scale(self, k):
        return k - 1

    def name(self):
        return "shape"
'''
TEST = "from geo import area\n\n\ndef area_case():\n    pass\n\n\ndef test_area():\n    assert area(2, 3) == 6\n"


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        ("The fix:\n```python\ndef area(w, h):\n    return w * h\n```", "def area(w, h):\n    return w * h"),
        (
            "Final answer: done\n```\n    def scale(self, k):\n        return k\n```",
            "def scale(self, k):\n    return k",
        ),
        ("```python\nprint(area(2, 3))\n```\n```py\nclass Shape:\n    pass\n```", "class Shape:\n    pass"),
    ],
)
def test_a_reply_with_a_fixed_definition_is_read_as_a_rewrite(reply, code):
    action = python_definition_action(reply)
    assert action is not None and action.tool == "rewrite" and action.arguments == {"code": code}


@pytest.mark.parametrize(
    "reply",
    [
        "I will look at area next.",
        "```python\nprint(area(2, 3))\n```",
        "```python\ndef test_area():\n    assert area(2, 3) == 6\n```",
        "```python\ndef area(w, h:\n    return w * h\n```",  # does not parse
        '```edit\n{"path": "geo.py", "search": "a", "replace": "b"}\n```',
    ],
)
def test_replies_without_a_usable_definition_are_not_rewrites(reply):
    assert python_definition_action(reply) is None


def test_replace_definition_keeps_decorators_indent_and_the_old_docstring():
    new, first, last = replace_definition(
        LIB, 5, "@functools.lru_cache\ndef area(width, height):\n    return width * height"
    )
    assert '    """The area of a rectangle.\n\n    >>> area(2, 3)\n    6\n    """\n    return width * height\n' in new
    assert new.splitlines()[first - 1] == "@functools.lru_cache" and new.splitlines()[last - 1].endswith("* height")
    assert "class Shape:" in new and new.count("def area") == 1
    method, _, _ = replace_definition(LIB, 15, "def scale(self, k):\n    return k * 2")
    assert "    def scale(self, k):\n        return k * 2\n\n    def name(self):" in method
    with_doc, _, _ = replace_definition(LIB, 5, 'def area(width, height):\n    """Width times height."""\n    return 0')
    assert "Width times height." in with_doc and "rectangle" not in with_doc


@pytest.mark.parametrize(
    "doc",
    [
        '"""The area of a rectangle."""',
        '"""The area of a rectangle.\n    ...\n    """',
        '"""\n    >>> area(2, 3)\n    """',
    ],
)
def test_an_abridged_docstring_keeps_the_old_one(doc):
    # the 1.5B copied a docstring's first line and so deleted its examples in every rewrite
    new, _, _ = replace_definition(LIB, 5, f"def area(width, height):\n    {doc}\n    return width * height")
    assert '    """The area of a rectangle.\n\n    >>> area(2, 3)\n    6\n    """\n    return width * height\n' in new
    assert new.count('"""') == LIB.count('"""') and "..." not in new


@pytest.fixture
async def sandbox():
    from agentscale.sandboxes import SandboxLimits, open_sandbox

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # unsafe-local warns that it does not isolate
        async with open_sandbox("unsafe-local", limits=SandboxLimits(timeout=30)) as box:
            await box.run(
                ["true"], files={"geo.py": LIB, "tests/test_geo.py": TEST, "other.py": "def name():\n    pass\n"}
            )
            yield box


async def _file(sandbox, path):
    return (await sandbox.read_files([path]))[path].decode()


async def test_rewrite_replaces_the_library_function_and_shows_it(sandbox):
    run = RolloutContext(sandbox=sandbox)
    said = await RewriteTool()({"code": "def area(width, height):\n    return width * height\n"}, run)
    assert said.startswith("Rewrote area in geo.py (now lines 5-11):") and "11|     return width * height" in said
    text = await _file(sandbox, "geo.py")
    assert "return width * height" in text and "width + height" not in text and "@functools.lru_cache" in text
    assert "assert area(2, 3) == 6" in await _file(sandbox, "tests/test_geo.py")  # tests are never the target


async def test_rewrite_refuses_what_it_cannot_place_and_changes_nothing(sandbox):
    run, tool = RolloutContext(sandbox=sandbox), RewriteTool()
    with pytest.raises(ToolError, match="no function or class 'volume'"):
        await tool({"code": "def volume(a):\n    return a"}, run)
    with pytest.raises(ToolError, match=r"not valid Python \(line 1"):
        await tool({"code": "def area(w, h:\n    return 0"}, run)
    await sandbox.run(["true"], files={"more.py": "def area(a, b):\n    pass\n"})
    with pytest.raises(
        ToolError,
        match=r"defined in several files \(geo.py, more.py\): start the code with a line `# file: <one of them>`",
    ):
        await tool({"code": "def area(w, h):\n    return w * h"}, run)
    with pytest.raises(ToolError, match="defines no function or class"):
        await tool({"code": "x = 1"}, run)
    assert await _file(sandbox, "geo.py") == LIB
    said = await tool({"code": "# file: geo.py\ndef area(w, h):\n    return w * h"}, run)
    assert "Rewrote area in geo.py" in said and "    return w * h" in await _file(sandbox, "geo.py")
    # `self` makes it the method, not other.py's module function of the same name
    said = await tool({"code": "def name(self):\n    return 'square'"}, run)
    assert "Rewrote name in geo.py" in said and "        return 'square'" in await _file(sandbox, "geo.py")
    assert await _file(sandbox, "other.py") == "def name():\n    pass\n"


async def test_an_edit_that_would_break_the_syntax_is_refused(sandbox):
    run, edit = RolloutContext(sandbox=sandbox), EditTool()
    with pytest.raises(ToolError, match=r"geo.py would not parse after it \(line 11: .*\); nothing changed"):
        await edit(
            {"path": "geo.py", "search": "    return width + height", "replace": "    return (width + height"}, run
        )
    assert await _file(sandbox, "geo.py") == LIB
    assert "Edited geo.py" in await edit(
        {"path": "geo.py", "search": "width + height", "replace": "width * height"}, run
    )


async def test_existing_test_files_are_not_edited_but_new_ones_can_be_made(sandbox):
    run, edit = RolloutContext(sandbox=sandbox), EditTool()
    with pytest.raises(ToolError, match="tests/test_geo.py is a test file"):
        await edit({"path": "tests/test_geo.py", "search": "== 6", "replace": "== 5"}, run)
    assert await _file(sandbox, "tests/test_geo.py") == TEST
    assert "Created tests/test_repro.py" in await edit(
        {"path": "tests/test_repro.py", "search": "", "replace": "x = 1\n"}, run
    )
    said = await EditTool(protect_tests=False)({"path": "tests/test_geo.py", "search": "== 6", "replace": "== 7"}, run)
    assert "Edited tests/test_geo.py" in said


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    path = tmp_path_factory.mktemp("geo")
    (path / "geo.py").write_text(LIB)
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
           "HOME": str(path), "PATH": "/usr/bin:/bin"}  # fmt: skip
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "base"]):
        subprocess.run(cmd, cwd=path, check=True, env=env)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, check=True, capture_output=True, text=True)
    return path, commit.stdout.strip()


async def test_the_agent_applies_a_fixed_function_given_as_a_final_answer(repo, sandbox):
    path, commit = repo
    inst = SWEInstance(instance_id="me__geo-1", repo="me/geo", base_commit=commit,
                       problem_statement="`area(2, 3)` returns 5", FAIL_TO_PASS=["t.py::test_area"])  # fmt: skip
    model = FakeModel([
        "Final answer: area adds instead of multiplying. The fix:\n```python\ndef area(width, height):\n"
        "    return width * height\n```",
        "```submit\n" + json.dumps({"answer": "area multiplies"}) + "\n```",
    ])  # fmt: skip
    rollout = await swe_agent(model, RepoSource({"me/geo": str(path)}), SWEConfig(actions="text"))(
        swe_task(inst), RolloutContext(sandbox=sandbox)
    )
    rewrote = [m for m in rollout.trajectory if m.get("name") == "rewrite"]
    assert len(rewrote) == 1 and "Rewrote area in geo.py" in rewrote[0]["content"]
    assert rollout.metadata["submitted"] and rollout.metadata["message"] == "area multiplies"  # the submit counted
    assert "-    return width + height\n+    return width * height" in rollout.output
    assert '"""The area of a rectangle.' not in rollout.output  # the old docstring stayed: not in the diff
