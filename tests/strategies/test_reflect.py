"""Reflection: revisions happen only below the threshold, at most K rounds, with feedback in the prompt."""

from __future__ import annotations

import pytest
from _strategy_helpers import ScoreVerifier, rollout

from agentscale import ConfigError, RolloutRequest, Task
from agentscale.agents import LLMAgent
from agentscale.prompts import render_request
from agentscale.strategies import ReflectPolicy, ScaleContext, scale
from agentscale.testing import FakeModel, FunctionModel

TASK = Task(id="t", prompt="Write a long word.")


def _agent(prompts: list[str]):
    """First attempts answer 'a'; each revision adds one letter to its parent's answer."""

    async def agent(task: Task, request: RolloutRequest):
        prompts.append(render_request(task, request))
        if request.strategy != "reflect":
            return rollout(task, "a")
        (previous,) = request.candidates  # the attempt to revise, with its score and feedback
        assert previous.rollout_id == request.parents[0] and previous.feedback.startswith("score was")
        return rollout(task, previous.output + "a")

    return agent


async def test_no_reflection_when_the_first_answers_are_good_enough():
    prompts: list[str] = []
    graph = scale(
        _agent(prompts),
        strategy="reflect",
        n=2,
        verifier=ScoreVerifier(lambda s: 1.0),
        policy=ReflectPolicy(threshold=0.8, max_rounds=3),
    )
    state = await graph.ainvoke({"task": TASK}, context=ScaleContext())
    assert len(prompts) == 2
    assert state["stop_reason"] == "threshold reached"
    assert state["round"] == 0


async def test_reflection_revises_below_threshold_until_it_is_reached():
    prompts: list[str] = []
    verifier = ScoreVerifier(lambda s: len(s) / 3, pass_at=1.0)  # 'aaa' scores 1
    graph = scale(
        _agent(prompts),
        strategy="reflect",
        n=2,
        verifier=verifier,
        policy=ReflectPolicy(threshold=1.0, max_rounds=5),
    )
    state = await graph.ainvoke({"task": TASK}, context=ScaleContext())
    assert state["stop_reason"] == "threshold reached"
    assert state["round"] == 2  # a -> aa -> aaa
    assert len(state["rollouts"]) == 6
    winner = next(r for r in state["rollouts"] if r.id == state["selected"].rollout_id)
    assert winner.output == "aaa" and winner.provenance.strategy == "reflect"
    parent = next(r for r in state["rollouts"] if r.id == winner.provenance.parents[0])
    assert parent.output == "aa" and parent.provenance.generation == 1
    revision_prompts = [p for p in prompts if "Your previous attempt" in p]
    assert len(revision_prompts) == 4
    # the verifier's feedback is in every revision prompt
    assert all("score was" in p and p.startswith(TASK.prompt) for p in revision_prompts)


async def test_reflection_stops_after_max_rounds_and_skips_good_candidates():
    prompts: list[str] = []

    async def agent(task: Task, request: RolloutRequest):
        prompts.append(render_request(task, request))
        if request.strategy == "sample":
            return rollout(task, "good" if request.index == 0 else "bad")
        return rollout(task, "still bad")

    verifier = ScoreVerifier(lambda s: 0.7 if s == "good" else 0.1)
    graph = scale(
        agent, strategy="reflect", n=3, verifier=verifier, policy=ReflectPolicy(threshold=0.5, max_rounds=2)
    )
    state = await graph.ainvoke({"task": TASK}, context=ScaleContext())
    # 'good' is above the threshold, so the run stops before any revision
    assert state["stop_reason"] == "threshold reached" and len(prompts) == 3

    prompts.clear()
    graph = scale(
        agent,
        strategy="reflect",
        n=3,
        verifier=verifier,
        policy=ReflectPolicy(threshold=0.9, max_rounds=2, width=2),
    )
    state = await graph.ainvoke({"task": TASK}, context=ScaleContext())
    assert state["stop_reason"] == "max rounds" and state["round"] == 2
    assert len(prompts) == 3 + 2 + 2  # width 2 per round, 2 rounds
    revised = {r.provenance.parents[0] for r in state["rollouts"] if r.provenance.generation == 1}
    first = {r.id: r.output for r in state["rollouts"] if r.provenance.generation == 0}
    assert sorted(first[p] for p in revised) == ["bad", "good"]  # the best two below 0.9


async def test_critique_from_the_context_model_goes_into_the_revision():
    critic = FunctionModel(lambda call: "You forgot the edge case n=0.")
    solver = FakeModel(["def f(n): return 1", "def f(n): return 0 if n == 0 else 1"])
    verifier = ScoreVerifier(lambda s: 1.0 if "n == 0" in s else 0.0)
    graph = scale(
        LLMAgent(solver),
        strategy="reflect",
        n=1,
        verifier=verifier,
        policy=ReflectPolicy(max_rounds=1, critique=True),
    )
    state = await graph.ainvoke({"task": TASK}, context=ScaleContext(model=critic))
    assert len(critic.calls) == 1
    revision_prompt = solver.calls[1].prompt[-1]["content"]
    assert "You forgot the edge case n=0." in revision_prompt and "def f(n): return 1" in revision_prompt
    winner = next(r for r in state["rollouts"] if r.id == state["selected"].rollout_id)
    assert "n == 0" in winner.output


def test_policy_validation():
    with pytest.raises(ConfigError):
        ReflectPolicy(threshold=1.5)

    async def agent(task):
        return "x"

    with pytest.raises(ConfigError, match="ReflectPolicy"):
        scale(agent, strategy="reflect", policy=object())
