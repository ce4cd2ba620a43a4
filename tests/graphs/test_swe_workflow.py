"""The ``swe`` workflow's quick parts: tasks from instances, options, and which tests the statement names."""

from __future__ import annotations

import pytest

from agentscale import registry
from agentscale.errors import ConfigError
from agentscale.graphs.swe import SWEOptions, instance_of, named_tests
from agentscale.testing import FakeModel, FakeSandboxProvider
from agentscale.workflows import WorkflowEnv

INSTANCE = {"instance_id": "o__r-1", "repo": "o/r", "base_commit": "abc", "problem_statement": "`TestX::test_y` fails",
            "FAIL_TO_PASS": ["t.py::TestX::test_y"], "PASS_TO_PASS": ["t.py::test_z"], "patch": "GOLD"}  # fmt: skip


def test_a_task_is_an_instance_and_carries_it_without_the_gold_patch():
    workflow = registry.create("workflows", "swe")
    task = workflow.task(INSTANCE)
    assert task.id == "o__r-1" and task.prompt == "`TestX::test_y` fails"
    assert instance_of(task).PASS_TO_PASS == ["t.py::test_z"] and instance_of(task).patch == ""
    with pytest.raises(ConfigError, match="FAIL_TO_PASS"):
        workflow.task({**INSTANCE, "FAIL_TO_PASS": []})
    with pytest.raises(ConfigError, match="JSON object"):
        workflow.task("o__r-1")


def test_build_needs_sandboxes_and_checks_its_options():
    workflow = registry.create("workflows", "swe")
    with pytest.raises(ConfigError, match="sandboxes"):
        workflow.build(WorkflowEnv(model=FakeModel([])))
    with pytest.raises(ConfigError, match="bad swe options"):
        workflow.build(WorkflowEnv(model=FakeModel([]), sandboxes=FakeSandboxProvider(), options={"colour": 1}))
    parts = workflow.build(WorkflowEnv(model=FakeModel([]), sandboxes=FakeSandboxProvider(),
                                       options={"max_steps": 5, "named_tests": False}))  # fmt: skip
    assert parts.selector == "best_score" and parts.verifier.named is False and parts.agent.wants_sandbox
    assert SWEOptions(max_steps=5).agent_config().max_steps == 5


def test_named_tests_are_found_by_id_tail_or_test_name_only():
    collected = ["a/t.py::TestDict::test_get", "a/t.py::TestDict::test_get_in", "a/t.py::test_ordinal[1-1st]",
                 "a/t.py::test_ordinal_x", "a/t.py::TestList::test_get", "b.py::test"]  # fmt: skip
    statement = "`TestDict::test_get` and test_ordinal fail; see also b.py::test. Not test_get_inx."
    # TestList::test_get is not named: the statement names test_get of TestDict only
    want = ["a/t.py::TestDict::test_get", "a/t.py::test_ordinal[1-1st]", "b.py::test"]
    assert named_tests(statement, collected) == want
