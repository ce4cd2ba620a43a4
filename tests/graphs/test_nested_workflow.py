"""A workflow from graphs/ scaled inside the user's own StateGraph, with the user's own context type
and memory on: the rules for nesting (context, reducers, streaming) hold."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from langgraph.graph import END, START, StateGraph

from agentscale.datasets import load_humaneval
from agentscale.graphs.humaneval import humaneval_agent
from agentscale.memory import InMemoryMemoryStore, MemoryBank, MemoryItem
from agentscale.state import ScaleState
from agentscale.strategies import ScaleContext, scale
from agentscale.testing import FunctionModel
from agentscale.types import Rollout, Task, Verdict

TASK = load_humaneval([2])[0]  # truncate_number(number: float) -> float
LESSON = "Use number % 1.0 to get the decimal part of a float."
DISTILLED = json.dumps([{"title": "Decimal part", "description": "floats", "content": "Use % 1.0."}])


@dataclass
class AppContext:
    """The user's own run-time context: nothing agentscale knows about."""

    user: str


class AppState(ScaleState, total=False):
    """The user's state: ScaleState's keys (with their reducers) plus their own."""

    problem: int
    report: str


class MarkerVerifier:
    async def verify(self, task: Task, rollout: Rollout) -> Verdict:
        ok = "% 1.0" in rollout.output
        return Verdict(rollout_id=rollout.id, score=float(ok), passed=ok, feedback="checked")


def _app(solver: Any):
    async def load(state: AppState, runtime) -> dict[str, Any]:
        assert runtime.context.user == "ada"  # the user's nodes get the user's context
        return {"task": load_humaneval([state["problem"]])[0]}

    async def report(state: AppState) -> dict[str, Any]:
        chosen = state["selected"]
        return {"report": f"{chosen.status}: {chosen.rollout_id}"}

    builder = StateGraph(AppState, context_schema=AppContext)
    builder.add_node("load", load)
    builder.add_node("solve", solver)
    builder.add_node("report", report)
    builder.add_edge(START, "load")
    builder.add_edge("load", "solve")
    builder.add_edge("solve", "report")
    builder.add_edge("report", END)
    return builder.compile()


async def test_a_scaled_workflow_inside_the_users_graph_recalls_and_remembers():
    bank = MemoryBank(InMemoryMemoryStore())
    await bank.add([MemoryItem(title="Decimal part", description="floats", content=LESSON, query=TASK.prompt)])
    agent_model = FunctionModel(lambda call: "    return number % 1.0\n" if call.seed else "    return 0.0\n")
    lessons_model = FunctionModel(lambda call: DISTILLED)
    solver = scale(
        humaneval_agent(agent_model),
        "best_of_n",
        n=2,
        verifier=MarkerVerifier(),
        context=ScaleContext(memory=bank, model=lessons_model),  # used where the runtime context is not one
    )
    app = _app(solver)
    chunks = []
    async for namespace, mode, chunk in app.astream(
        {"problem": 2}, context=AppContext(user="ada"), stream_mode=["custom", "values"], subgraphs=True
    ):
        chunks.append((namespace, mode, chunk))
    state = [c for ns, mode, c in chunks if mode == "values" and ns == ()][-1]

    # the lesson reached every rollout's prompt, in the user's turn above the code
    assert len(agent_model.calls) == 2
    for call in agent_model.calls:
        user_turn, code = call.prompt.split("<|im_start|>assistant\n", 1)
        assert LESSON in user_turn and code == ""  # the chat format: the code closes the user's turn
        assert user_turn.index(LESSON) < user_turn.index(TASK.prompt.rstrip())
    # the bank learned from the task afterwards, with the scale graph's own model
    assert len(state["memories"]) == 1 and len(state["remembered"]) == 1
    assert len(lessons_model.calls) == 1
    # ScaleState's reducers: the subgraph's rollouts reached the user's state once each
    assert len(state["rollouts"]) == 2 and len({r.id for r in state["rollouts"]}) == 2
    assert state["report"] == f"chosen: {state['selected'].rollout_id}"
    assert state["task"].id == TASK.id
    # nested progress streams out with subgraphs=True, under the node's namespace
    events = [(ns, c["event"]) for ns, mode, c in chunks if mode == "custom"]
    assert events and all(ns and ns[0].startswith("solve:") for ns, _ in events)
    assert {"memory", "rollout_started", "rollout_finished", "verdict", "selected"} <= {e for _, e in events}


async def test_without_its_own_context_a_nested_scale_graph_says_what_to_do():
    solver = scale(humaneval_agent(FunctionModel(lambda call: "    return 0.0\n")), n=1)
    with pytest.raises(Exception, match=r"scale\(\.\.\., context=ScaleContext"):
        await _app(solver).ainvoke({"problem": 2}, context=AppContext(user="ada"))


def test_scale_nodes_in_a_state_without_scale_states_reducers_are_refused_when_added():
    from typing import TypedDict

    from agentscale.strategies import PrepareRequests, fan_out

    class PlainState(TypedDict, total=False):  # copies ScaleState's keys, not their reducers
        task: Task
        requests: list
        rollouts: list[Rollout]
        verdicts: dict[str, Verdict]

    # the nodes and the router declare ScaleState: LangGraph refuses the clash when they are added
    builder = StateGraph(PlainState, context_schema=ScaleContext)
    with pytest.raises(ValueError, match="Channel 'rollouts' already exists with a different type"):
        builder.add_node("prepare", PrepareRequests(2))
    builder = StateGraph(PlainState, context_schema=ScaleContext).add_node("plan", lambda state: {})
    with pytest.raises(ValueError, match="Channel 'rollouts' already exists with a different type"):
        builder.add_conditional_edges("plan", fan_out, ["rollout", END])
