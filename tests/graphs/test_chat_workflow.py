"""The ``chat`` workflow: found by name, tasks from text and records, its parts for a run."""

from __future__ import annotations

import pytest

from agentscale import registry
from agentscale.agents import ChatAgent
from agentscale.errors import ConfigError
from agentscale.graphs.chat import ChatWorkflow
from agentscale.protocols import Workflow
from agentscale.testing import FakeModel
from agentscale.verifiers import AnswerChecker, LLMJudge
from agentscale.workflows import WorkflowEnv


def test_found_by_name_and_is_a_workflow():
    workflow = registry.create("workflows", "chat")
    assert isinstance(workflow, ChatWorkflow) and isinstance(workflow, Workflow)
    assert (workflow.profile, workflow.needs_sandbox, workflow.conversational) == ("chat", False, True)


def test_tasks_from_text_and_records():
    assert ChatWorkflow().task("What is 2+2?").prompt == "What is 2+2?"
    task = ChatWorkflow().task({"id": 7, "question": "2+2?", "answer": 4})
    assert (task.id, task.prompt, task.expected) == ("7", "2+2?", "4")
    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
               {"role": "user", "content": [{"type": "text", "text": "and now?"}]}]  # fmt: skip
    task = ChatWorkflow().task({"messages": history})
    assert task.prompt == "and now?" and task.metadata["messages"] == history
    for bad, words in (("  ", "empty"), ({"foo": 1}, "needs 'prompt'"), ({"messages": []}, "non-empty"), (3, "str")):
        with pytest.raises(ConfigError, match=words):
            ChatWorkflow().task(bad)


def test_parts_and_options():
    model = FakeModel([])
    parts = ChatWorkflow().build(WorkflowEnv(model=model, options={"max_tokens": 64, "system": "Hi."}))
    assert isinstance(parts.agent, ChatAgent) and (parts.agent.max_tokens, parts.agent.system) == (64, "Hi.")
    assert parts.verifier is None and isinstance(parts.scorer, AnswerChecker)
    judged = ChatWorkflow().build(WorkflowEnv(model=model, options={"judge": True}))
    assert isinstance(judged.verifier, LLMJudge)
    with pytest.raises(ConfigError, match="bad chat options: nope"):
        ChatWorkflow().build(WorkflowEnv(model=model, options={"nope": 1}))
