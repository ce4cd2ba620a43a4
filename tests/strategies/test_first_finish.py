"""First-finish: the first rollout that passes wins, and the others are cancelled (not left running)."""

from __future__ import annotations

import asyncio

import pytest
from _strategy_helpers import ScoreVerifier, rollout

from agentscale import RolloutRequest, Task
from agentscale.strategies import ScaleContext, scale

TASK = Task(id="t", prompt="solve")


async def test_the_first_passing_rollout_wins_and_the_rest_are_cancelled():
    cancelled: list[int] = []

    async def agent(task: Task, request: RolloutRequest):
        i = request.index
        if i == 0:
            return rollout(task, "wrong")  # finishes first but fails the check
        if i == 2:
            await asyncio.sleep(0.05)
            return rollout(task, "right")
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append(i)
            raise
        return rollout(task, "late")

    verifier = ScoreVerifier(lambda s: 1.0 if s == "right" else 0.0)
    graph = scale(agent, strategy="first_finish", n=5, verifier=verifier)
    state = await asyncio.wait_for(graph.ainvoke({"task": TASK}, context=ScaleContext()), timeout=10)
    by_index = {r.metadata["index"]: r for r in state["rollouts"]}
    assert sorted(cancelled) == [1, 3, 4]
    assert [by_index[i].status for i in range(5)] == ["ok", "cancelled", "ok", "cancelled", "cancelled"]
    assert state["selected"].rollout_id == by_index[2].id
    assert state["stop_reason"] == "passed"
    assert set(state["verdicts"]) == {by_index[0].id, by_index[2].id}


async def test_without_a_pass_the_best_finished_rollout_is_selected():
    async def agent(task: Task, request: RolloutRequest):
        i = request.index
        if i == 1:
            raise RuntimeError("boom")
        return rollout(task, "x" * (i + 1))

    graph = scale(agent, strategy="first_finish", n=3, verifier=ScoreVerifier(lambda s: len(s) / 10))
    state = await graph.ainvoke({"task": TASK}, context=ScaleContext())
    assert state["stop_reason"] == "none passed"
    winner = next(r for r in state["rollouts"] if r.id == state["selected"].rollout_id)
    assert winner.output == "xxx"
    assert sorted(r.status for r in state["rollouts"]) == ["error", "ok", "ok"]


async def test_cancelling_the_run_cancels_every_rollout():
    started, cancelled = [], []

    async def agent(task: Task, request: RolloutRequest):
        started.append(request.index)
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append(request.index)
            raise

    graph = scale(agent, strategy="first_finish", n=3)
    run = asyncio.create_task(graph.ainvoke({"task": TASK}, context=ScaleContext()))
    while len(started) < 3:
        await asyncio.sleep(0.01)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):  # external cancellation propagates
        await run
    assert sorted(cancelled) == [0, 1, 2]


async def test_without_a_verifier_the_first_successful_rollout_wins():
    async def agent(task: Task, request: RolloutRequest):
        i = request.index
        if i == 0:
            raise RuntimeError("fails fast")
        await asyncio.sleep(0.01 * i)
        return rollout(task, f"r{i}")

    state = await scale(agent, strategy="first_finish", n=3).ainvoke({"task": TASK}, context=ScaleContext())
    winner = next(r for r in state["rollouts"] if r.id == state["selected"].rollout_id)
    assert winner.output == "r1"
