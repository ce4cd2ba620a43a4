"""The SWE agent's control flow with a scripted model, on a real git checkout in a real sandbox process.

The sandbox is ``unsafe-local`` (a temp dir and a process group on this host): the commands here
are the test's own, not a model's, and it keeps these tests in the quick suite. The same agent
in a Docker sandbox with the real model is ``test_swe_agent_real.py``.
"""

from __future__ import annotations

import json
import subprocess
import warnings

import pytest

from agentscale.graphs.swe import RepoSource, SWEConfig, SWEInstance, swe_agent, swe_task
from agentscale.rollout import RolloutContext
from agentscale.testing import FakeModel, FunctionModel, tool_call

BUGGY = "def add(a, b):\n    return a - b\n\n\ndef sub(a, b):\n    return a - b\n"
TEST = "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """A git repository with one buggy function and its test; returns (path, base commit)."""
    path = tmp_path_factory.mktemp("calc")
    (path / "calc.py").write_text(BUGGY)
    (path / "test_calc.py").write_text(TEST)
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
           "HOME": str(path), "PATH": "/usr/bin:/bin"}  # fmt: skip
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "base"]):
        subprocess.run(cmd, cwd=path, check=True, env=env)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, check=True, capture_output=True, text=True)
    return path, commit.stdout.strip()


@pytest.fixture
def task(repo):
    _, commit = repo
    inst = SWEInstance(instance_id="me__calc-1", repo="me/calc", base_commit=commit,
                       problem_statement="add(2, 3) returns -1", FAIL_TO_PASS=["test_calc.py::test_add"])  # fmt: skip
    return swe_task(inst)


@pytest.fixture
def repos(repo):
    return RepoSource({"me/calc": str(repo[0])})


@pytest.fixture
async def sandbox():
    from agentscale.sandboxes import SandboxLimits, open_sandbox

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # unsafe-local warns that it does not isolate
        async with open_sandbox("unsafe-local", limits=SandboxLimits(timeout=30)) as box:
            yield box


def _observations(rollout):
    return [m["content"] for m in rollout.trajectory if m["role"] in ("user", "tool")][1:]


def _block(tool, body):
    body = body if isinstance(body, str) else json.dumps(body)
    return f"```{tool}\n{body}\n```"


async def test_text_actions_fix_the_bug_and_the_output_is_the_diff(task, repos, sandbox):
    model = FakeModel([
        _block("search", {"pattern": "def add"}),
        _block("view", {"path": "calc.py", "start": 1, "end": 2}),
        _block("edit", {"path": "calc.py", "search": "def add(a, b):\n    return a - b",
                        "replace": "def add(a, b):\n    return a + b"}),
        _block("run", "python3 -c 'from calc import add; print(add(2, 3))'"),
        _block("submit", "fixed add"),
    ])  # fmt: skip
    agent = swe_agent(model, repos, SWEConfig(actions="text"))
    rollout = await agent(task, RolloutContext(sandbox=sandbox))
    obs = _observations(rollout)
    assert rollout.status == "ok" and rollout.metadata["submitted"] is True
    assert "calc.py:1:def add(a, b):" in obs[0]
    assert "1| def add(a, b):" in obs[1] and "2|     return a - b" in obs[1]
    assert "Edited calc.py at line 1" in obs[2]
    assert obs[3].strip().endswith("5")
    assert rollout.output.startswith("diff --git a/calc.py b/calc.py")
    assert "-    return a - b\n+    return a + b" in rollout.output
    assert rollout.metadata["message"] == "fixed add"


async def test_edits_that_do_not_apply_fail_loudly_and_change_nothing(task, repos, sandbox):
    model = FakeModel([
        _block("edit", {"path": "calc.py", "search": "return a * b", "replace": "return a + b"}),
        _block("edit", {"path": "calc.py", "search": "return a - b", "replace": "return a + b"}),
        _block("edit", {"path": "nope.py", "search": "x", "replace": "y"}),
        _block("edit", {"path": "../etc/passwd", "search": "x", "replace": "y"}),
        _block("submit", "fixed it"),
        _block("submit", "gave up"),
    ])  # fmt: skip
    rollout = await swe_agent(model, repos, SWEConfig(actions="text"))(task, RolloutContext(sandbox=sandbox))
    missing, ambiguous, no_file, outside, refused = _observations(rollout)[:5]
    assert "search text was not found in calc.py" in missing and "line 2:     return a - b" in missing
    assert "occurs 2 times in calc.py (at lines 2, 6)" in ambiguous
    # each place comes with the same edit widened until it is unique, ready to copy
    assert 'For the one at line 6: {"path": "calc.py", "search": "def sub(a, b):\\n    return a - b\\n"' in ambiguous
    assert "nope.py: no such file" in no_file
    assert "relative to the repository root" in outside
    # a submit before any edit went through is sent back once, then taken
    assert refused.startswith("Error: no file is changed yet")
    assert rollout.status == "ok" and rollout.output == ""  # nothing changed: an empty patch
    assert rollout.metadata["submitted"] and rollout.metadata["message"] == "gave up"


def test_an_ambiguous_edit_is_widened_to_each_place_it_could_mean():
    from agentscale.graphs.swe.tools import unique_edits

    text = "class A:\n    def f(self):\n        return 1\n\nclass B:\n    def f(self):\n        return 1\n"
    places = unique_edits(text, "return 1", "return 2")
    assert [line for line, _, _ in places] == [3, 7]
    for line, search, replace in places:
        assert text.count(search) == 1  # unique, and the edit does what was asked at that place only
        fixed = text.replace(search, replace)
        assert fixed.splitlines()[line - 1] == "        return 2" and fixed.count("return 2") == 1
    assert places[1][1] == "class B:\n    def f(self):\n        return 1\n"
    # a repeat at the top of the file widens downwards; text that never becomes unique gives no edit
    top = "x = 1\ny = 2\nx = 1\ny = 3\n"
    assert unique_edits(top, "x = 1", "x = 0")[0] == (1, "x = 1\ny = 2\n", "x = 0\ny = 2\n")
    assert unique_edits("a\n" * 30, "a", "b") == []
    assert len(unique_edits("v = 0\n" * 10 + "".join(f"w{i}\n" for i in range(10)), "v = 0", "v", limit=2)) <= 2


async def test_the_agent_can_copy_the_widened_edit(task, repos, sandbox):
    def script(call):
        last = call.prompt[-1]["content"]
        if "For the one at line 2: " in last:  # copy the suggested edit, as a small model would
            return _block("edit", last.split("For the one at line 2: ")[1].splitlines()[0])
        if "Edited calc.py" in last:
            return _block("submit", "fixed add")
        return _block("edit", {"path": "calc.py", "search": "return a - b", "replace": "return a + b"})

    agent = swe_agent(FunctionModel(script), repos, SWEConfig(actions="text"))
    rollout = await agent(task, RolloutContext(sandbox=sandbox))
    assert rollout.metadata["submitted"] and "-    return a - b\n+    return a + b" in rollout.output
    assert rollout.output.count("+    return a + b") == 1  # add fixed, sub untouched


async def test_edits_keep_the_files_mode(sandbox):
    # the 1.5B's one resolved patch also turned more.py from 755 to 644: files were written anew
    from agentscale.graphs.swe.rewrite import RewriteTool
    from agentscale.graphs.swe.tools import EditTool

    run = RolloutContext(sandbox=sandbox)
    await sandbox.run(["sh", "-c", "chmod 755 tool.py"], files={"tool.py": "def f():\n    return 1\n"}, timeout=30)
    assert "Edited tool.py" in await EditTool()({"path": "tool.py", "search": "return 1", "replace": "return 2"}, run)
    assert "Rewrote f" in await RewriteTool()({"code": "def f():\n    return 3\n"}, run)
    mode = await sandbox.run(["stat", "-c", "%a", "tool.py"], timeout=30)
    assert mode.stdout.strip() == "755"
    assert (await sandbox.read_files(["tool.py"]))["tool.py"].decode() == "def f():\n    return 3\n"
    created = await EditTool()({"path": "pkg/new.py", "search": "", "replace": "X = 1\n"}, run)
    assert created.startswith("Created pkg/new.py")
    assert (await sandbox.run(["cat", "pkg/new.py"], timeout=30)).stdout == "X = 1\n"
    assert (await sandbox.run(["ls", "-A", ".swe"], timeout=30)).stdout.strip() == ""  # nothing left staged


async def test_an_edit_that_copies_the_tool_lists_example_is_told_so(sandbox):
    # the 1.5B model sent the example's search text five times in one trajectory
    from agentscale.graphs.swe.tools import EditTool, ToolError

    edit, run = EditTool(), RolloutContext(sandbox=sandbox)
    await sandbox.run(["true"], files={"mod.py": "def mul(a, b):\n    return a + b\n"}, timeout=30)
    with pytest.raises(ToolError, match="is the example from the tool list, not this file's text"):
        await edit({**edit.example, "path": "mod.py"}, run)
    with pytest.raises(ToolError, match="search text was not found in mod.py"):  # any other miss: the usual error
        await edit({"path": "mod.py", "search": "return a - b", "replace": "return a * b"}, run)
    assert "Edited mod.py at line 2" in await edit({"path": "mod.py", "search": "a + b", "replace": "a * b"}, run)


async def test_native_tool_calls_work_too(task, repos, sandbox):
    def script(call):
        step = sum(1 for m in call.prompt if m["role"] == "assistant")
        return [
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    tool_call(
                        "edit",
                        {
                            "path": "calc.py",
                            "search": "def add(a, b):\n    return a - b",
                            "replace": "def add(a, b):\n    return a + b",
                        },
                    )
                ],
            },  # fmt: skip
            {"role": "assistant", "content": "", "tool_calls": [tool_call("submit", {"answer": "done"})]},
        ][step]

    rollout = await swe_agent(FunctionModel(script), repos, SWEConfig(actions="tools"))(
        task, RolloutContext(sandbox=sandbox)
    )
    assert [m["role"] for m in rollout.trajectory][2:] == ["assistant", "tool", "assistant", "tool"]
    assert "+    return a + b" in rollout.output and rollout.metadata["submitted"] is True


async def test_a_command_that_hangs_is_stopped_and_the_loop_goes_on(task, repos, sandbox):
    model = FakeModel([_block("run", "sleep 30"), _block("run", "echo still here"), _block("submit", "x")])
    config = SWEConfig(actions="text", command_timeout=0.5, final_refusals=0)  # no edit: take the submit
    rollout = await swe_agent(model, repos, config)(task, RolloutContext(sandbox=sandbox))
    hung, after = _observations(rollout)[:2]
    assert "timed out after 0.5 s" in hung
    assert "still here" in after and rollout.metadata["submitted"] is True


async def test_a_runaway_agent_stops_at_the_step_limit_and_keeps_its_diff(task, repos, sandbox):
    edit = _block("edit", {"path": "calc.py", "search": "def sub(a, b):", "replace": "def sub(a, b):  # x"})
    model = FakeModel([edit, *[_block("list_files", {"path": "."})] * 50])
    rollout = await swe_agent(model, repos, SWEConfig(actions="text", max_steps=4, repeat_limit=None))(
        task, RolloutContext(sandbox=sandbox)
    )
    assert rollout.status == "ok" and rollout.metadata["stop"] == "steps" and rollout.metadata["submitted"] is False
    assert rollout.metadata["steps"] == 4 and len(model.calls) == 4
    assert "+def sub(a, b):  # x" in rollout.output  # the work so far is the patch (SWE-agent's autosubmit)


async def test_a_repository_that_cannot_be_found_is_an_error_rollout(task, sandbox):
    agent = swe_agent(FakeModel([]), RepoSource({}))
    rollout = await agent(task, RolloutContext(sandbox=sandbox))
    assert rollout.status == "error" and "repository 'me/calc' not found" in rollout.error


async def test_a_base_commit_that_does_not_exist_is_an_error_rollout(task, repos, sandbox):
    bad = task.model_copy(
        update={"metadata": {**task.metadata, "swe": {**task.metadata["swe"], "base_commit": "f" * 40}}}
    )
    rollout = await swe_agent(FakeModel([]), repos)(bad, RolloutContext(sandbox=sandbox))
    assert rollout.status == "error" and "f" * 12 in rollout.error


def test_the_task_shows_the_issue_and_hides_the_gold_patch(repo):
    inst = SWEInstance(instance_id="me__calc-2", repo="me/calc", base_commit=repo[1], patch="GOLD",
                       problem_statement="add is wrong", FAIL_TO_PASS=["test_calc.py::test_add"])  # fmt: skip
    task = swe_task(inst)
    assert task.prompt == "add is wrong" and "GOLD" not in json.dumps(task.model_dump())


async def test_view_shows_at_least_a_window_of_lines(sandbox):
    from agentscale.graphs.swe.tools import VIEW_MIN_LINES, ViewTool

    await sandbox.run(["true"], files={"long.py": "".join(f"x{i} = {i}\n" for i in range(1, 101))}, timeout=30)
    run = RolloutContext(sandbox=sandbox)
    shown = await ViewTool()({"path": "long.py", "start": 40, "end": 42}, run)  # small models ask for 3 lines
    assert shown.startswith(f"long.py (lines 40-{40 + VIEW_MIN_LINES - 1} of 100):")
    assert f"{40 + VIEW_MIN_LINES - 1}| x69 = 69" in shown and "x70 = 70" not in shown
    tail = await ViewTool()({"path": "long.py", "start": 95, "end": 96}, run)
    assert tail.startswith("long.py (lines 95-100 of 100):") and "not shown" not in tail
