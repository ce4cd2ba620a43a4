"""Recursive Tournament Voting under a scripted judge: it reaches the known best, byes and ties
behave as documented, position bias cancels, and every judge call is counted and charged."""

from __future__ import annotations

import json
import math
import re

import pytest

from agentscale import Budget, ConfigError, Rollout, Task, Usage, Verdict, registry
from agentscale.selectors import RecursiveTournament
from agentscale.strategies import BestOfN, ScaleContext, scale
from agentscale.summaries import Summarizer
from agentscale.testing import FunctionModel
from agentscale.testing._models import ModelCall

TASK = Task(id="t", prompt="Write the best program.")


def _attempts(call: ModelCall) -> list[int]:
    """The quality of each attempt shown, in the order shown."""
    return [int(q) for q in re.findall(r"quality=(\d+)", call.prompt[-1]["content"])]


def judge(*, noisy: bool = False) -> FunctionModel:
    """Votes for the best attempt shown; with ``noisy``, every third vote goes to whichever is shown first."""
    count = [0]

    def reply(call: ModelCall) -> str:
        qualities = _attempts(call)
        count[0] += 1
        if noisy and count[0] % 3 == 0:
            return json.dumps({"reason": "first looks fine", "choice": 1})
        best = max(range(len(qualities)), key=lambda i: qualities[i])
        return json.dumps({"reason": "it is better", "choice": best + 1})

    return FunctionModel(reply)


def candidates(qualities: list[int]) -> list[Rollout]:
    return [Rollout(id=f"r{i}", task_id="t", output=f"def f(): pass  # quality={q}") for i, q in enumerate(qualities)]


@pytest.mark.parametrize("group_size", [2, 3, 4])
@pytest.mark.parametrize("n", [2, 3, 5, 8, 9, 16])
async def test_reaches_the_known_best(group_size, n):
    qualities = [(7 * i + 3) % 23 for i in range(n)]  # distinct, best somewhere in the middle
    rollouts = candidates(qualities)
    rtv = RecursiveTournament(judge(noisy=True), group_size=group_size, votes=8, seed=n)
    selection = await rtv.select(TASK, rollouts, {})
    assert selection.rollout_id == rollouts[qualities.index(max(qualities))].id
    result = await rtv.narrow(TASK, rollouts, {})
    assert len(result.rounds) == math.ceil(math.log(n, group_size) - 1e-9)
    groups = [g for r in result.rounds for g in r if g.decided_by != "bye"]
    assert all(len(g.members) <= group_size for g in groups)
    assert all(g.decided_by == "votes" for g in groups)  # two thirds of the votes (or more) go to the better one
    assert result.votes_asked == 8 * len(groups) == result.votes_read


async def test_groups_of_two_take_log2_rounds_with_byes_for_leftovers():
    rtv = RecursiveTournament(judge(), group_size=2, votes=2)
    result = await rtv.narrow(TASK, candidates(list(range(5))), {})
    assert [len(r) for r in result.rounds] == [3, 2, 1]  # 5 -> 3 (one bye) -> 2 (one bye) -> 1
    byes = [g for r in result.rounds for g in r if g.decided_by == "bye"]
    assert len(byes) == 2 and all(len(g.members) == 1 and g.calls == 0 for g in byes)


async def test_narrow_stops_at_keep_without_overshooting():
    rtv = RecursiveTournament(judge(), group_size=2, votes=2)
    six = candidates([5, 1, 4, 0, 3, 2])
    result = await rtv.narrow(TASK, six, {}, keep=4)
    assert len(result.winners) == 4 and len(result.rounds) == 1
    played = [g for g in result.rounds[0] if g.decided_by != "bye"]
    assert len(played) == 2  # two matches drop two; the other two advance on byes
    rtv4 = RecursiveTournament(judge(), group_size=4, votes=2)
    result = await rtv4.narrow(TASK, candidates(list(range(8))), {}, keep=4)
    assert len(result.winners) == 4
    assert sorted(result.winners) == sorted(f"r{i}" for i in range(8) if f"r{i}" in result.winners)
    with pytest.raises(ConfigError):
        await rtv.narrow(TASK, six, {}, keep=0)


async def test_candidates_that_read_the_same_enter_as_one():
    model = judge()
    rollouts = candidates([4, 4, 9, 4, 9, 9, 4, 4])
    selection = await RecursiveTournament(model, votes=8).select(TASK, rollouts, {})
    assert selection.rollout_id == "r2"  # the earliest of the best
    assert len(model.calls) == 2 and "6 duplicate(s) entered as one" in selection.reason
    same = candidates([5] * 8)
    assert (await RecursiveTournament(model).select(TASK, same, {})).rollout_id == "r0"
    assert len(model.calls) == 2  # nothing to vote on
    assert (await RecursiveTournament(model).narrow(TASK, same, {}, keep=4)).winners == ["r0"]


async def test_position_bias_cancels_and_ties_go_to_the_verifier_score():
    always_first = FunctionModel(lambda call: '{"reason": "first", "choice": 1}')
    rollouts = [Rollout(id=f"r{i}", task_id="t", output=f"quality=0 variant {i}") for i in range(2)]
    verdicts = {r: Verdict(rollout_id=r, score=s, passed=False) for r, s in (("r0", 0.2), ("r1", 0.9))}
    rtv = RecursiveTournament(always_first, group_size=2, votes=8)
    result = await rtv.narrow(TASK, rollouts, verdicts)
    (group,) = result.rounds[0]
    assert group.votes == {"r0": 4, "r1": 4}  # each shown first in half the votes
    assert group.decided_by == "tie" and group.winner == "r1"
    assert result.calls == 2  # one request per rotation, n=4 samples each
    assert [c.n for c in always_first.calls] == [4, 4]
    # without verdicts the earlier candidate wins the tie
    assert (await rtv.narrow(TASK, rollouts, {})).winners == ["r0"]


async def test_an_unreadable_or_failing_judge_falls_back_to_the_score():
    from agentscale.errors import ModelAPIError

    rollouts = candidates([3, 1])
    verdicts = {r: Verdict(rollout_id=r, score=s, passed=False) for r, s in (("r0", 0.1), ("r1", 0.7))}
    mumbles = FunctionModel(lambda call: "I cannot decide.")
    selection = await RecursiveTournament(mumbles, votes=4).select(TASK, rollouts, verdicts)
    assert selection.rollout_id == "r1" and "1 fallback" in selection.reason

    def broken(call):
        raise ModelAPIError("server gone", model="m", api_base="x")

    selection = await RecursiveTournament(FunctionModel(broken), votes=4).select(TASK, rollouts, verdicts)
    assert selection.rollout_id == "r1" and "fallback" in selection.reason


async def test_judge_calls_are_counted_and_charged_to_the_budget():
    model = judge()

    async def agent(task, request):
        usage = Usage(prompt_tokens=5, completion_tokens=5, calls=1)
        return Rollout(task_id=task.id, output=f"quality={request.index}", usage=usage)

    graph = scale(agent, BestOfN(n=8, selector=RecursiveTournament(model, votes=8)))
    budget = Budget(max_tokens=10**9)
    state = await graph.ainvoke({"task": TASK}, context=ScaleContext(budget=budget))
    chosen = next(r for r in state["rollouts"] if r.id == state["selected"].rollout_id)
    assert chosen.output == "quality=7"
    assert len(model.calls) == 7 * 2  # 7 groups of 2, two rotations each
    assert "14 judge call(s), 56 of 56 votes readable" in state["selected"].reason
    judged = sum(c.n for c in model.calls)
    assert judged == 56
    rollout_tokens = sum(r.usage.total_tokens for r in state["rollouts"])
    assert budget.spent.total_tokens > rollout_tokens  # the judge's calls were charged too
    assert budget.spent.calls == 8 + 14


async def test_the_judge_sees_summaries_of_agent_trajectories():
    summaries_written = []

    def reply(call: ModelCall) -> str:
        system = call.prompt[0]["content"]
        if "summarise" in system:
            summaries_written.append(call)
            quality = re.search(r"quality=(\d+)", call.prompt[-1]["content"])[1]
            summary = {"hypotheses": [f"tried plan {quality}"], "progress": f"reached quality={quality}"}
            return json.dumps({**summary, "failure_modes": []})
        qualities = _attempts(call)
        return json.dumps({"reason": "", "choice": max(range(len(qualities)), key=lambda i: qualities[i]) + 1})

    model = FunctionModel(reply)
    rollouts, log = [], "log line\n" * 500
    for i, q in enumerate([2, 9, 4]):
        trajectory = [
            {"role": "user", "content": "fix it"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "bash", "arguments": '{"cmd": "pytest"}'}}
            ]},  # fmt: skip
            {"role": "tool", "tool_call_id": "c1", "name": "bash", "content": f"FAILED (quality={q}) " + log},
        ]
        rollouts.append(Rollout(id=f"r{i}", task_id="t", output=f"patch {i}", trajectory=trajectory))
    rtv = RecursiveTournament(model, votes=2)
    selection = await rtv.select(TASK, rollouts, {})
    assert selection.rollout_id == "r1"
    assert len(summaries_written) == 3  # once per rollout, not once per vote
    votes = [c for c in model.calls if c not in summaries_written]
    shown = votes[0].prompt[-1]["content"]
    assert "Tried: tried plan" in shown and "log line\nlog line\nlog line" not in shown  # the summary, not the raw log


async def test_by_name_and_bad_settings():
    model = judge()
    assert registry.create("selectors", "rtv", model=model).group_size == 2
    for bad in ({"group_size": 1}, {"votes": 0}, {"group_size": 2.5}):
        with pytest.raises(ConfigError):
            RecursiveTournament(model, **bad)
    with pytest.raises(ConfigError):
        RecursiveTournament(object())
    assert (await RecursiveTournament(model).select(TASK, [], {})).rollout_id is None
    one = candidates([1])
    assert (await RecursiveTournament(model).select(TASK, one, {})).rollout_id == "r0" and not model.calls
    assert RecursiveTournament(model, summarizer=Summarizer(None))._summarizer.model is None
