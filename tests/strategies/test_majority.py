"""Majority voting through scale(): the most common answer wins, failed rollouts do not vote."""

from __future__ import annotations

from _strategy_helpers import MajoritySelector, index_of, rollout

from agentscale import Task
from agentscale.agents import LLMAgent
from agentscale.strategies import ScaleContext, scale
from agentscale.testing import FakeModel

TASK = Task(id="t", prompt="What is 6 * 7?")


async def test_the_majority_answer_is_selected():
    answers = ["42", "41", "42", "error", "7", "42", "41"]

    async def agent(task: Task):
        answer = answers[index_of(task)]
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
    async def agent(task: Task):
        return rollout(task, "b" if index_of(task) else "a")

    graph = scale(agent, strategy="best_of_n", n=3)
    state = await graph.ainvoke({"task": TASK}, context=ScaleContext(selector=MajoritySelector()))
    assert state["selected"].reason == "majority"
