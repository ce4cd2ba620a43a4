"""VisibleTestsVerifier and ModelTestsVerifier with real processes."""

from __future__ import annotations

import sys

import pytest
from conftest import PYTHON

from agentscale.datasets import load_humaneval
from agentscale.types import Rollout, Task
from agentscale.verifiers import ModelTestsVerifier, VisibleTestsVerifier, model_written_tests, split_tests

PROMPT = 'def add(a, b):\n    """Add."""\n'
GOOD = Rollout(task_id="t", output="```python\ndef add(a, b):\n    return a + b\n```")
OFF_BY_ONE = Rollout(task_id="t", output="```python\ndef add(a, b):\n    return a + b + (a == 2)\n```")


def task(*tests: str) -> Task:
    return Task(id="t", prompt=PROMPT, tests=list(tests), metadata={"entry_point": "add"})


async def test_assert_style_tests_one_check_per_assert(local_sandboxes):
    tests = "assert add(1, 2) == 3\nassert add(2, 2) == 4\nassert add(0, 0) == 0\n"
    verifier = VisibleTestsVerifier(local_sandboxes, python=PYTHON)
    good = await verifier.verify(task(tests), GOOD)
    bad = await verifier.verify(task(tests), OFF_BY_ONE)
    assert good.passed and good.evidence["total"] == 3
    assert not bad.passed and bad.score == pytest.approx(2 / 3)
    assert "FAIL assert add(2, 2) == 4: expected 4, got 5" in bad.feedback


async def test_humaneval_check_candidate_style(local_sandboxes):
    he = load_humaneval([0])[0]
    t = he.model_copy(update={"tests": [he.metadata["hidden_test"]]})
    split = split_tests(he.metadata["hidden_test"], "has_close_elements")
    assert len(split.checks) == 7 and all(
        c.setup[-1] == "candidate = has_close_elements" for c in split.checks
    )
    verdict = await VisibleTestsVerifier(local_sandboxes, python=PYTHON).verify(
        t, Rollout(task_id=t.id, output=he.prompt + he.metadata["canonical_solution"])
    )
    assert verdict.passed and verdict.evidence["total"] == 7


async def test_plain_test_functions(local_sandboxes):
    tests = "def test_small():\n    assert add(1, 1) == 2\n\ndef test_two():\n    assert add(2, 3) == 5\n"
    verdict = await VisibleTestsVerifier(local_sandboxes, python=PYTHON).verify(task(tests), OFF_BY_ONE)
    assert [c["status"] for c in verdict.evidence["checks"]] == ["pass", "fail"]
    assert [c["name"] for c in verdict.evidence["checks"]] == ["test_small()", "test_two()"]


async def test_pytest_file_with_parametrize_runs_under_pytest(local_sandboxes):
    tests = (
        "import pytest\n\n"
        "@pytest.mark.parametrize('a,b,c', [(1, 1, 2), (2, 3, 5), (2, 2, 4)])\n"
        "def test_add(a, b, c):\n    assert add(a, b) == c\n"
    )
    verifier = VisibleTestsVerifier(local_sandboxes, python=sys.executable)  # the venv has pytest
    verdict = await verifier.verify(task(tests), OFF_BY_ONE)
    assert verdict.evidence["total"] == 3
    assert [c["status"] for c in verdict.evidence["checks"]] == ["pass", "fail", "fail"]
    assert verdict.evidence["checks"][0]["origin"] == "pytest"


async def test_pytest_missing_in_the_sandbox_is_reported(local_sandboxes, tmp_path):
    fake_python = tmp_path / "python"
    fake_python.write_text("#!/bin/sh\necho 'No module named pytest' >&2\nexit 1\n")
    fake_python.chmod(0o755)
    tests = "import pytest\n\n@pytest.fixture\ndef x():\n    return 1\n\ndef test_x(x):\n    assert x\n"
    verdict = await VisibleTestsVerifier(local_sandboxes, python=str(fake_python)).verify(task(tests), GOOD)
    assert not verdict.passed and "pytest is not installed" in verdict.feedback


async def test_shell_command_tests(local_sandboxes):
    ok = "$ python3 -c 'import solution; assert solution.add(1, 2) == 3'"
    verdict = await VisibleTestsVerifier(local_sandboxes, python=PYTHON).verify(task(ok), GOOD)
    assert verdict.passed
    bad = "python3 -c 'import solution; assert solution.add(2, 2) == 4'"
    verdict = await VisibleTestsVerifier(local_sandboxes, python=PYTHON).verify(task(bad), OFF_BY_ONE)
    assert not verdict.passed and "exit code 1" in verdict.feedback


async def test_tests_that_do_not_parse_say_so(local_sandboxes):
    verdict = await VisibleTestsVerifier(local_sandboxes, python=PYTHON).verify(
        task("assert add(1, 2) ==\n"), GOOD
    )
    assert not verdict.passed
    assert "does not parse" in verdict.feedback


def test_model_written_tests_are_found():
    t = task()
    appended = Rollout(
        task_id="t", output="```python\ndef add(a, b):\n    return a + b\n\nassert add(1, 2) == 3\n```"
    )
    assert model_written_tests(t, appended) == ["assert add(1, 2) == 3"]
    separate = Rollout(
        task_id="t",
        output="```python\ndef add(a, b):\n    return a + b\n```\nTests:\n```python\ndef test_add():\n"
        "    assert add(1, 1) == 2\n```",
    )
    assert model_written_tests(t, separate) == ["def test_add():\n    assert add(1, 1) == 2"]
    given = Rollout(task_id="t", output="x", metadata={"tests": ["assert True"]})
    assert model_written_tests(t, given) == ["assert True"]
    assert model_written_tests(t, GOOD) == []


async def test_model_tests_verifier(local_sandboxes):
    verifier = ModelTestsVerifier(local_sandboxes, python=PYTHON)
    own = Rollout(
        task_id="t",
        output="```python\ndef add(a, b):\n    return a + b\n\nassert add(1, 2) == 3\n"
        "assert add(1, 1) == 3\n```",
    )
    verdict = await verifier.verify(task(), own)
    assert verdict.score == 0.5 and not verdict.passed
    none = await verifier.verify(task(), GOOD)
    assert none.evidence["no_checks"] and not none.passed
