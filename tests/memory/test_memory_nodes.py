"""recall and remember as LangGraph nodes in the user's own graph, driven by a scripted model (control flow only)."""

from __future__ import annotations

import json
import operator
from dataclasses import dataclass
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from agentscale.errors import ConfigError, MemoryBankError
from agentscale.memory import InMemoryMemoryStore, MemoryBank, MemoryContext, recall, remember
from agentscale.prompts import LESSONS_HEADER, render_request
from agentscale.strategies import Recall, Remember
from agentscale.testing import FunctionModel
from agentscale.types import Rollout, RolloutRequest, Task, Verdict


class State(TypedDict, total=False):
    task: Task
    rollouts: Annotated[list[Rollout], operator.add]
    verdicts: dict[str, Verdict]
    lessons: list[str]
    memories: list[str]
    remembered: list[str]


LESSON = json.dumps([{"title": "Reverse with slicing", "description": "string reversal",
                      "content": "Use s[::-1] to reverse a string in Python."}])  # fmt: skip


def _model() -> FunctionModel:
    def reply(call):
        text = call.prompt if isinstance(call.prompt, str) else call.prompt[-1]["content"]
        return LESSON if "Reply with JSON" in text else "def solve(s): return s[::-1]"

    return FunctionModel(reply)


async def _agent(state: State, runtime: Runtime[MemoryContext]) -> dict[str, Any]:
    task = state["task"]
    prompt = render_request(task, RolloutRequest(lessons=state.get("lessons") or []))
    completion = await runtime.context.model.generate(prompt)
    rollout = Rollout(task_id=task.id, output=completion.text)
    return {
        "rollouts": [rollout],
        "verdicts": {rollout.id: Verdict(rollout_id=rollout.id, score=1.0, passed=True)},
    }


def _graph():
    g = StateGraph(State, context_schema=MemoryContext)
    g.add_node("recall", recall)
    g.add_node("agent", _agent)
    g.add_node("remember", remember)
    g.add_edge(START, "recall")
    g.add_edge("recall", "agent")
    g.add_edge("agent", "remember")
    g.add_edge("remember", END)
    return g.compile()


async def test_lessons_of_one_task_reach_the_next_tasks_prompt(tmp_path):
    model = _model()
    graph = _graph()
    async with await MemoryBank.open(tmp_path / "bank.db", embedder=None) as bank:
        context = MemoryContext(memory=bank, model=model, memory_k=2)
        first = await graph.ainvoke(
            {"task": Task(id="t1", prompt="Reverse the string 'abc'")}, context=context
        )
        assert first["memories"] == []
        assert len(first["remembered"]) == 1
        stored = await bank.store.get(first["remembered"][0])
        assert stored.provenance[0].task_id == "t1" and stored.provenance[0].outcome == "success"

        second = await graph.ainvoke(
            {"task": Task(id="t2", prompt="Reverse the string 'hello'")}, context=context
        )
        assert second["memories"] == [stored.id]
        assert second["lessons"] == [stored.render()]
        agent_prompt = model.calls[-2].prompt  # the call before the distillation is the agent's
        assert "Use s[::-1] to reverse a string in Python." in agent_prompt
        assert agent_prompt.endswith("Reverse the string 'hello'")
        assert second["task"].prompt == "Reverse the string 'hello'"  # the task itself is never modified
        item = await bank.store.get(stored.id)
        assert (item.uses, item.successes) == (1, 1)  # credited with task 2's success
        # the distillation saw the task without the injected lessons
        assert "Lessons learned" not in model.calls[-1].prompt[-1]["content"]


async def test_context_may_be_a_mapping():
    bank = MemoryBank(InMemoryMemoryStore())
    graph = StateGraph(State)
    graph.add_node("recall", recall)
    graph.add_edge(START, "recall")
    out = await graph.compile().ainvoke({"task": Task(prompt="x")}, context={"memory": bank})
    assert out["memories"] == []


async def test_store_failure_in_recall_degrades_to_no_memories(tmp_path, caplog):
    bank = await MemoryBank.open(tmp_path / "bank.db", embedder=None)
    await bank.aclose()  # every store call now raises MemoryBankError
    graph = StateGraph(State, context_schema=MemoryContext)
    graph.add_node("recall", recall)
    graph.add_node("remember", remember)
    graph.add_edge(START, "recall")
    graph.add_edge("recall", "remember")
    task = Task(prompt="x")
    out = await graph.compile().ainvoke({"task": task}, context=MemoryContext(memory=bank, model=_model()))
    assert out["memories"] == [] and out["remembered"] == [] and out["task"].prompt == "x"
    assert "running without lessons" in caplog.text


async def test_missing_bank_is_a_config_error():
    @dataclass
    class Empty:
        pass

    graph = StateGraph(State, context_schema=Empty)
    graph.add_node("recall", recall)
    graph.add_edge(START, "recall")
    with pytest.raises(ConfigError, match="runtime.context.memory"):
        await graph.compile().ainvoke({"task": Task(prompt="x")}, context=Empty())


def test_the_memory_nodes_are_cores():
    # one integration: the nodes agentscale.memory offers are the ones every scale() graph runs
    assert isinstance(recall, Recall) and isinstance(remember, Remember)
    assert render_request(Task(prompt="solve it"), RolloutRequest(lessons=["do a"])) == (
        f"{LESSONS_HEADER}\n1. do a\n\n---\n\nsolve it"
    )


def test_memory_bank_error_is_not_builtin_memory_error():
    assert not issubclass(MemoryBankError, MemoryError)
