"""Planned sampling: ``scale()`` asks the planner after each wave and stops where it says."""

from __future__ import annotations

from _strategy_helpers import ScoreVerifier, rollout

from agentscale import Budget, RolloutRequest, Task
from agentscale.planner import PlanPolicy
from agentscale.strategies import Planned, ScaleContext, scale

TASK = Task(id="t", prompt="What is 6 * 7?")


def answers(*script: str):
    """Sample ``i`` answers ``script[i % len(script)]``."""

    async def agent(task: Task, request: RolloutRequest):
        return rollout(task, f"The answer is {script[request.index % len(script)]}")

    return agent


async def _run(agent, strategy, **ctx):
    plans, state = [], None
    async for mode, chunk in scale(agent, strategy, verifier=ctx.pop("verifier", None)).astream(
        {"task": TASK}, context=ScaleContext(**ctx), stream_mode=["custom", "values"]
    ):
        if mode == "custom" and chunk["event"] == "plan":
            plans.append(chunk)
        elif mode == "values":
            state = chunk
    return state, plans


async def test_a_unanimous_vote_stops_early_and_a_split_one_gets_more():
    settled, plans = await _run(answers("42"), Planned(n=16, wave=4))
    assert len(settled["rollouts"]) == 4 and settled["stop_reason"] == "settled"
    assert [p["next"] for p in plans] == [4, 0]
    split, _ = await _run(answers("42", "41"), Planned(n=16, wave=4))
    assert len(split["rollouts"]) > 4
    winner = next(r for r in split["rollouts"] if r.id == split["selected"].rollout_id)
    assert winner.output.endswith(("42", "41"))


async def test_a_verified_pass_stops_it_and_the_best_score_is_chosen():
    async def agent(task: Task, request: RolloutRequest):
        return rollout(task, "good" if request.index == 5 else "bad")

    verifier = ScoreVerifier(lambda s: 1.0 if s == "good" else 0.3)
    state, plans = await _run(agent, Planned(n=16, wave=2), verifier=verifier)
    assert state["stop_reason"] == "passed" and len(state["rollouts"]) == 6
    assert plans[-1]["reason"] == "passed" and plans[-1]["success"] == 1.0
    winner = next(r for r in state["rollouts"] if r.id == state["selected"].rollout_id)
    assert winner.output == "good"


async def test_a_pass_in_the_last_wave_room_allows_is_reported_as_passed():
    async def agent(task: Task, request: RolloutRequest):
        return rollout(task, "good" if request.index == 5 else "bad")

    verifier = ScoreVerifier(lambda s: 1.0 if s == "good" else 0.3)
    state, plans = await _run(agent, Planned(n=6, wave=2), verifier=verifier)
    assert len(state["rollouts"]) == 6 and state["stop_reason"] == "passed"


async def test_a_hopeless_task_stops_when_its_curve_is_flat_or_at_n():
    verifier = ScoreVerifier(lambda s: 0.0)
    flat, _ = await _run(answers("x"), Planned(n=40, wave=4, policy=PlanPolicy(min_gain=0.1)), verifier=verifier)
    assert flat["stop_reason"] == "flat" and len(flat["rollouts"]) < 40
    capped, _ = await _run(answers("x"), Planned(n=6, wave=4, policy=PlanPolicy(min_gain=0.0)), verifier=verifier)
    assert capped["stop_reason"] == "max rollouts" and len(capped["rollouts"]) == 6


async def test_the_token_budget_sizes_the_waves():
    verifier = ScoreVerifier(lambda s: 0.0)
    budget = Budget(max_tokens=100)  # 20 tokens a rollout
    state, plans = await _run(answers("x"), Planned(n=40, wave=4), verifier=verifier, budget=budget)
    assert len(state["rollouts"]) == 5 and budget.spent.total_tokens == 100
    assert [p["next"] for p in plans] == [4, 1, 0] and state["stop_reason"] == "budget"
