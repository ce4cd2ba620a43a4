"""The ``humaneval`` workflow as the command line finds it: by name, tasks from text or records,
its parts for a run, and its hidden-tests scorer on a real sandbox."""

from __future__ import annotations

import os

import pytest

from agentscale import registry
from agentscale.errors import ConfigError, SandboxUnavailable
from agentscale.graphs.humaneval import HiddenTestsScorer, HumanEvalAgent, HumanEvalWorkflow
from agentscale.protocols import Workflow
from agentscale.testing import FakeModel, FakeSandboxProvider
from agentscale.types import Rollout
from agentscale.verifiers import DocstringExamplesVerifier
from agentscale.workflows import WorkflowEnv


def test_found_by_name_and_is_a_workflow():
    workflow = registry.create("workflows", "humaneval")
    assert isinstance(workflow, HumanEvalWorkflow) and isinstance(workflow, Workflow)
    assert (workflow.profile, workflow.needs_sandbox) == ("completion", True)


@pytest.mark.parametrize("source", ["12", "HumanEval/12", " 12 ", {"task_id": "HumanEval/12"}, {"id": "12"}])
def test_tasks_from_numbers_and_records(source):
    task = HumanEvalWorkflow().task(source)
    assert task.id == "HumanEval/12" and task.metadata["entry_point"] == "longest"


def test_a_record_with_its_own_code():
    task = HumanEvalWorkflow().task(
        {"task_id": "mine/1", "prompt": "def inc(x):\n    \"\"\"inc(1) == 2\"\"\"\n", "entry_point": "inc",
         "test": "def check(f):\n    assert f(1) == 2\n"}
    )
    assert (task.id, task.metadata["entry_point"]) == ("mine/1", "inc")
    assert "assert f(1) == 2" in task.metadata["hidden_test"]


@pytest.mark.parametrize("source", ["twelve", "HumanEval/999", {}, {"entry_point": "f"}, 12])
def test_bad_tasks_are_one_clear_error(source):
    with pytest.raises(ConfigError):
        HumanEvalWorkflow().task(source)


def test_build_gives_agent_verifier_and_scorer():
    pool = FakeSandboxProvider()
    parts = HumanEvalWorkflow().build(WorkflowEnv(model=FakeModel(["    return 1\n"]), sandboxes=pool,
                                                  options={"max_tokens": 64}))
    assert isinstance(parts.agent, HumanEvalAgent) and parts.agent.config.max_tokens == 64
    assert isinstance(parts.verifier, DocstringExamplesVerifier) and isinstance(parts.scorer, HiddenTestsScorer)


def test_build_needs_sandboxes_and_known_options():
    workflow = HumanEvalWorkflow()
    with pytest.raises(ConfigError, match="sandboxes"):
        workflow.build(WorkflowEnv(model=FakeModel(["x"])))
    with pytest.raises(ConfigError, match="max_tokenz"):
        workflow.build(WorkflowEnv(model=FakeModel(["x"]), sandboxes=FakeSandboxProvider(), options={"max_tokenz": 1}))


@pytest.mark.slow
@pytest.mark.bwrap
async def test_scorer_runs_the_hidden_tests_in_a_sandbox():
    from agentscale.sandboxes import open_pool

    workflow = HumanEvalWorkflow()
    task = workflow.task("12")
    try:
        async with open_pool("bwrap", size=1) as pool:
            scorer = workflow.build(WorkflowEnv(model=FakeModel(["x"]), sandboxes=pool)).scorer
            good = Rollout(task_id=task.id, output=task.prompt + task.metadata["canonical_solution"])
            wrong = Rollout(task_id=task.id, output=task.prompt + "    return strings[0] if strings else None\n")
            assert (await scorer.verify(task, good)).passed
            assert not (await scorer.verify(task, wrong)).passed
    except SandboxUnavailable as exc:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"bwrap unavailable under CI: {exc}")
        pytest.skip(f"bwrap unavailable: {exc}")
