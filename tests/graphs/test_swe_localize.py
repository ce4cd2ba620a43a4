"""Localization before the SWE agent's first step: names read from issues, definitions found in a
real checkout (in an ``unsafe-local`` sandbox: the commands are the test's own), and the note the
agent's first message carries."""

from __future__ import annotations

import subprocess
import warnings

import pytest

from agentscale.graphs.swe import RepoSource, SWEConfig, SWEInstance, swe_agent, swe_task
from agentscale.graphs.swe.localize import definition_block, issue_names, localize
from agentscale.rollout import RolloutContext
from agentscale.testing import FakeModel

LIB = '''"""Text helpers."""
import functools


def _helper(x):
    return x


@functools.lru_cache
def titlecase(text,
              sep=" "):
    """Title case, e.g. ``reset(titlecase("a b"))``."""
    words = text.split(sep)
    return sep.join(_helper(w).capitalize() for w in words)


class Counter:
    def tally(self, items):
        return len(items) - 1

    def reset(self):
        pass
'''
TEST = "from textkit import titlecase\n\n\ndef titlecase_expected():\n    pass\n\n\ndef test_titlecase():\n    pass\n"


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("`merge_sorted` returns a wrong result", ["merge_sorted"]),
        ("Calling `toolz.assoc_in(d, keys, v)` raises KeyError", ["assoc_in"]),
        ("inflection.pluralize('cow') => 'cows', not 'kine'", ["pluralize"]),
        ("```python\nself.assertEqual(mi.numeric_range(1, 5).index(2), 1)\n```", ["numeric_range"]),
        ("@pytest.mark.parametrize('a', [1])\ndef test_x(a):\n    assert len(frob(a)) == 2", ["frob"]),
        ("test_is_valid(check_valid=_is_partial_args, incomplete=True)", ["check_valid", "_is_partial_args"]),
        ("The page crashes when I click save.", []),
    ],
)
def test_issue_names_reads_the_names_an_issue_mentions_in_its_many_phrasings(statement, expected):
    assert issue_names(statement) == expected


def test_a_definition_block_spans_decorators_signature_and_body_but_no_further():
    lines = LIB.splitlines()
    assert definition_block(lines, lines.index("def titlecase(text,") + 1) == (9, 14)
    method = lines.index("    def tally(self, items):") + 1
    assert definition_block(lines, method) == (method, method + 1)  # the method, not its class's next one
    assert definition_block(lines, lines.index("class Counter:") + 1, max_lines=3) == (17, 19)


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    path = tmp_path_factory.mktemp("textkit")
    (path / "textkit.py").write_text(LIB)
    (path / "tests").mkdir()
    (path / "tests" / "test_textkit.py").write_text(TEST)
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
           "HOME": str(path), "PATH": "/usr/bin:/bin"}  # fmt: skip
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "base"]):
        subprocess.run(cmd, cwd=path, check=True, env=env)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, check=True, capture_output=True, text=True)
    return path, commit.stdout.strip()


@pytest.fixture
async def sandbox(repo):
    from agentscale.sandboxes import SandboxLimits, open_sandbox

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # unsafe-local warns that it does not isolate
        async with open_sandbox("unsafe-local", limits=SandboxLimits(timeout=30)) as box:
            files = {"textkit.py": LIB.encode(), "tests/test_textkit.py": TEST.encode()}
            await box.run(["true"], files=files, timeout=30)
            yield box


async def test_localize_shows_the_library_definitions_numbered_like_view(sandbox):
    note = await localize(sandbox, "`titlecase` drops words; also `Counter.tally` is off by one")
    assert "textkit.py (lines 9-14 of 22):" in note
    assert " 9| @functools.lru_cache" in note
    assert "14|     return sep.join(_helper(w).capitalize() for w in words)" in note
    assert "18|     def tally(self, items):" in note and "19|         return len(items) - 1" in note
    assert "tests/" not in note and "titlecase_expected" not in note  # the tests' definitions are left out
    assert "def reset" not in note and "Counter:" not in note
    # what the named function calls in its file comes after the named ones: the bug is often there
    assert note.index("18|     def tally") < note.index("textkit.py (lines 5-6 of 22):\n5| def _helper(x):")


async def test_helpers_are_capped_and_never_repeat_a_named_definition(sandbox):
    note = await localize(sandbox, "`titlecase` and `_helper` misbehave")
    assert note.count("def _helper(x):") == 1
    assert "def _helper" not in await localize(sandbox, "`titlecase` misbehaves", max_helpers=0)


async def test_localize_gives_the_command_that_runs_the_test_the_issue_names(sandbox):
    note = await localize(sandbox, "`titlecase` fails the project's own test `TestText::test_titlecase[a-b]`")
    assert note.endswith(
        "The test the issue names is in tests/test_textkit.py: "
        "run it with `python -m pytest -q tests/test_textkit.py -k test_titlecase`."
    )
    assert (await localize(sandbox, "`test_titlecase` fails")).startswith("The test the issue names")
    assert "The test the issue names" not in await localize(sandbox, "`test_missing` and `titlecase` fail")


async def test_localize_adds_nothing_when_the_issue_names_nothing_the_repository_defines(sandbox):
    assert await localize(sandbox, "`frobnicate` crashes") == ""
    assert await localize(sandbox, "the app crashes on save") == ""


def _task(commit, statement):
    inst = SWEInstance(instance_id="me__textkit-1", repo="me/textkit", base_commit=commit,
                       problem_statement=statement, FAIL_TO_PASS=["tests/test_textkit.py::test_titlecase"])  # fmt: skip
    return swe_task(inst)


@pytest.mark.parametrize("on", [True, False])
async def test_the_agents_first_message_carries_the_note_unless_turned_off(repo, sandbox, on):
    path, commit = repo
    model = FakeModel(['```submit\n"nothing"\n```'] * 3)
    agent = swe_agent(model, RepoSource({"me/textkit": str(path)}), SWEConfig(actions="text", localize=on))
    rollout = await agent(_task(commit, "`titlecase('a b')` gives 'A b'"), RolloutContext(sandbox=sandbox))
    first = next(m["content"] for m in rollout.trajectory if m["role"] == "user")
    assert first.startswith("`titlecase('a b')` gives 'A b'")
    assert ("13|     words = text.split(sep)" in first) is on
    assert rollout.task_id == "me__textkit-1"
