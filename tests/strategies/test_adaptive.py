"""Adaptive sampling stops early when the vote is settled, and not when it is close."""

from __future__ import annotations

import pytest
from _strategy_helpers import MajoritySelector, ScoreVerifier, rollout

from agentscale import ConfigError, RolloutRequest, Task
from agentscale.strategies import AdaptivePolicy, ScaleContext, scale, vote_confidence

TASK = Task(id="t", prompt="2 + 2?")


def _agent(answer_for):
    calls = []

    async def agent(task: Task, request: RolloutRequest):
        i = request.index
        calls.append(i)
        return rollout(task, answer_for(i))

    return agent, calls


async def _run(answer_for, policy, verifier=None):
    agent, calls = _agent(answer_for)
    graph = scale(agent, strategy="adaptive", policy=policy, selector=MajoritySelector(), verifier=verifier)
    votes = []
    state = None
    async for mode, chunk in graph.astream(
        {"task": TASK}, context=ScaleContext(), stream_mode=["custom", "values"]
    ):
        if mode == "custom" and chunk["event"] == "vote":
            votes.append(chunk)
        elif mode == "values":
            state = chunk
    return state, calls, votes


async def test_a_unanimous_first_wave_stops_early():
    state, calls, votes = await _run(lambda i: "4", AdaptivePolicy(wave=4, max_samples=16))
    assert sorted(calls) == [0, 1, 2, 3]
    assert state["stop_reason"] == "confident"
    assert votes[-1]["settled"] and votes[-1]["leader"] == "4" and votes[-1]["confidence"] > 0.95


async def test_a_close_vote_samples_up_to_the_limit():
    state, calls, votes = await _run(lambda i: "4" if i % 2 else "5", AdaptivePolicy(wave=4, max_samples=12))
    assert sorted(calls) == list(range(12))
    assert state["stop_reason"] == "max samples"
    assert [v["settled"] for v in votes] == [False, False, True]
    assert state["round"] == 2


async def test_stops_once_the_leader_cannot_be_overtaken():
    # waves of 2: 2-0, 3-1, 5-1; the confidence bar is out of reach, but after 6 samples a lead of
    # 4 with 2 samples left cannot be overtaken.
    answers = ["4", "4", "4", "5", "4", "4", "9", "9"]
    policy = AdaptivePolicy(wave=2, max_samples=8, confidence=0.999)
    state, calls, votes = await _run(lambda i: answers[i], policy)
    assert state["stop_reason"] == "settled"
    assert len(calls) == 6  # 5-1 with 2 left
    winner = next(r for r in state["rollouts"] if r.id == state["selected"].rollout_id)
    assert winner.output == "4"


async def test_stop_on_pass_ends_at_the_first_verified_wave():
    verifier = ScoreVerifier(lambda s: 1.0 if s == "right" else 0.0)
    answers = ["wrong", "wrong", "wrong", "right", "wrong", "right"]
    state, calls, _ = await _run(
        lambda i: answers[i], AdaptivePolicy(wave=2, max_samples=6, stop_on_pass=True), verifier=verifier
    )
    assert sorted(calls) == [0, 1, 2, 3]
    assert state["stop_reason"] == "passed"


def test_vote_confidence():
    assert vote_confidence(0, 0) == 0.5
    assert vote_confidence(4, 0) == pytest.approx(31 / 32)
    assert vote_confidence(3, 3) == pytest.approx(0.5)
    assert vote_confidence(6, 2) > vote_confidence(3, 1) > 0.5


def test_policy_validation():
    async def agent(task):
        return "x"

    with pytest.raises(ConfigError):
        AdaptivePolicy(confidence=0.5)
    with pytest.raises(ConfigError, match="disagrees"):
        scale(
            agent, strategy="adaptive", n=5, policy=AdaptivePolicy(max_samples=8), selector=MajoritySelector()
        )


async def test_many_waves_fit_in_the_graphs_step_limit():
    # 40 waves of one sample each: 80+ supersteps, beyond LangGraph's default limit of 25
    state, calls, _ = await _run(lambda i: str(i % 2), AdaptivePolicy(wave=1, max_samples=40))
    assert len(calls) == 40 and state["stop_reason"] == "max samples"
