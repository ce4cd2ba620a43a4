"""Majority voting through scale(): the most common answer wins, failed rollouts do not vote."""

from __future__ import annotations

import pytest
from _strategy_helpers import MajoritySelector, rollout

from agentscale import RolloutRequest, Task
from agentscale.agents import LLMAgent
from agentscale.strategies import ScaleContext, scale
from agentscale.testing import FakeModel

TASK = Task(id="t", prompt="What is 6 * 7?")


async def test_the_majority_answer_is_selected():
    answers = ["42", "41", "42", "error", "7", "42", "41"]

    async def agent(task: Task, request: RolloutRequest):
        answer = answers[request.index]
        if answer == "error":
            raise RuntimeError("crashed")
        return rollout(task, answer)

    graph = scale(agent, strategy="majority", n=7, selector=MajoritySelector())
    state = await graph.ainvoke({"task": TASK}, context=ScaleContext())
    winner = next(r for r in state["rollouts"] if r.id == state["selected"].rollout_id)
    assert winner.output == "42"
    assert state["selected"].scores == {"42": 3.0, "41": 2.0, "7": 1.0}


async def test_the_llm_agent_extracts_answers_to_vote_on():
    model = FakeModel(["so it is 42", "maybe 41", "I get 42"], cycle=True)
    agent = LLMAgent(model, extract=lambda text: text.split()[-1])
    graph = scale(agent, strategy="majority", n=3, selector=MajoritySelector())
    state = await graph.ainvoke({"task": TASK}, context=ScaleContext(max_concurrency=1))
    assert sorted(r.answer for r in state["rollouts"]) == ["41", "42", "42"]
    winner = next(r for r in state["rollouts"] if r.id == state["selected"].rollout_id)
    assert winner.answer == "42"


async def test_the_selector_can_come_from_the_context():
    async def agent(task: Task, request: RolloutRequest):
        return rollout(task, "b" if request.index else "a")

    graph = scale(agent, strategy="best_of_n", n=3)
    state = await graph.ainvoke({"task": TASK}, context=ScaleContext(selector=MajoritySelector()))
    assert state["selected"].reason == "majority"


async def test_majority_defaults_to_the_registered_majority_vote():
    answers = ["The answer is 42.", "41", "42", "forty-two", "42.0"]

    async def agent(task: Task, request: RolloutRequest):
        return rollout(task, answers[request.index])

    graph = scale(agent, strategy="majority", n=5)
    state = await graph.ainvoke({"task": TASK}, context=ScaleContext())
    winner = next(r for r in state["rollouts"] if r.id == state["selected"].rollout_id)
    assert winner.output in {"The answer is 42.", "42", "forty-two", "42.0"}  # normalised answers agree on 42
    assert state["selected"].reason.startswith("majority: 4 of")  # "forty-two" counts too


def test_selectors_can_be_named():
    from agentscale import ConfigError

    async def agent(task):
        return "x"

    scale(agent, selector="best_score")
    with pytest.raises(ConfigError, match="unknown selector"):
        scale(agent, selector="no_such_selector")
