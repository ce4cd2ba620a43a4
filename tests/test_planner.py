"""The compute planner: success curves, who gets the next rollouts, who is saturated, and bad input."""

from __future__ import annotations

import doctest

import pytest

from agentscale import Budget, ConfigError, Rollout, Usage, Verdict, planner
from agentscale.planner import PlanPolicy, TaskProgress, plan_allocation, success_curve


def test_the_module_examples_hold():
    assert doctest.testmod(planner).failed == 0


def test_a_split_vote_gets_more_rollouts_than_a_settled_one_which_stops():
    split = TaskProgress("split", votes={"4": 3, "5": 3})
    leaning = TaskProgress("leaning", votes={"4": 4, "5": 2})
    settled = TaskProgress("settled", votes={"4": 6})
    plan = plan_allocation([settled, leaning, split], budget=6, policy=PlanPolicy(per_task=4, min_gain=0.005))
    assert plan.rollouts == {"settled": 0, "leaning": 2, "split": 4}
    assert plan.saturated == ["settled"] and plan.reasons == {"settled": "settled"}
    assert plan.order() == ["split", "leaning"]
    assert plan.success["settled"] > 0.99 and plan.success["split"] == pytest.approx(0.5)
    # more votes only pay when they could change the leader: 4-2 is settled at the default min_gain
    assert plan_allocation([leaning], budget=6).reasons == {"leaning": "settled"}


def test_a_passed_task_stops_and_its_rollouts_go_to_the_unsolved():
    solved = TaskProgress("solved", scores=(0.3, 1.0), passed=1)
    close = TaskProgress("close", scores=(0.8, 0.7))  # most checks pass: a pass looks near
    hopeless = TaskProgress("hopeless", scores=(0.0,) * 6)
    plan = plan_allocation([solved, close, hopeless], budget=6)
    assert plan.reasons == {"solved": "passed"} and plan.rollouts["solved"] == 0
    assert plan.rollouts["close"] > plan.rollouts["hopeless"]
    assert plan.total == 6 and plan.cost == 6


def test_a_flat_curve_and_the_rollout_cap_saturate():
    policy = PlanPolicy(min_gain=0.06, max_per_task=10)
    long_failing = TaskProgress("long", scores=(0.0,) * 9)  # a next pass is now 0.5 / 10 likely
    capped = TaskProgress("capped", scores=(0.2,) * 10)
    fresh = TaskProgress("fresh")
    plan = plan_allocation([long_failing, capped, fresh], budget=100, policy=policy)
    assert plan.reasons == {"long": "flat", "capped": "max rollouts"}
    assert plan.rollouts == {"long": 0, "capped": 0, "fresh": 3}  # then its expected curve is flat too
    assert success_curve(long_failing, 1, policy)[1] == pytest.approx(0.05)


def test_costs_and_budgets():
    cheap = TaskProgress("cheap", scores=(0.0,), cost=100)
    dear = TaskProgress("dear", scores=(0.0,), cost=1000)
    plan = plan_allocation([cheap, dear], budget=1000, policy=PlanPolicy(per_task=3))
    assert plan.rollouts == {"cheap": 3, "dear": 0} and plan.cost == 300  # the same gain for a tenth
    unknown = TaskProgress("unknown")  # no measured cost: the batch's mean (550)
    plan = plan_allocation([cheap, dear, unknown], budget=700, policy=PlanPolicy(per_task=1))
    assert plan.rollouts == {"cheap": 1, "dear": 0, "unknown": 1} and plan.cost == 100 + 550
    # a Budget: remaining tokens, or remaining rollouts at one unit each
    tokens = Budget(max_tokens=1000)
    tokens.charge(Usage(prompt_tokens=700))
    assert plan_allocation([cheap, dear], tokens, policy=PlanPolicy(per_task=5)).cost <= 300
    rollouts = Budget(max_rollouts=3)
    assert plan_allocation([cheap, dear], rollouts).total == 3
    with pytest.raises(ConfigError, match="no token or rollout limit"):
        plan_allocation([cheap], Budget())
    with pytest.raises(ConfigError, match="needs PlanPolicy"):
        plan_allocation([cheap], None)
    assert plan_allocation([cheap], None, policy=PlanPolicy(wave=2)).total == 2
    assert plan_allocation([cheap, dear], 0).total == 0


def test_curves_are_monotone_and_partial_credit_lifts_them():
    for progress in (
        TaskProgress("a"),
        TaskProgress("b", scores=(0.0, 0.5)),
        TaskProgress("c", votes={"x": 2, "y": 1, "z": 1}),
        TaskProgress("d", votes={"x": 1}),
    ):
        curve = success_curve(progress, 12)
        assert len(curve) == 13 and all(0.0 <= x <= 1.0 for x in curve)
        assert all(b >= a - 1e-12 for a, b in zip(curve, curve[1:], strict=False))
    flat = success_curve(TaskProgress("f", scores=(0.0, 0.0)), 4)
    partial = success_curve(TaskProgress("p", scores=(0.6, 0.6)), 4)
    none = success_curve(TaskProgress("p", scores=(0.6, 0.6)), 4, PlanPolicy(partial_credit=0.0))
    assert partial[4] > flat[4] == pytest.approx(none[4])


def test_progress_from_a_run():
    rollouts = [
        Rollout(id="a", task_id="t", output="The answer is 4", usage=Usage(prompt_tokens=90, completion_tokens=10)),
        Rollout(id="b", task_id="t", output="The answer is 5", usage=Usage(prompt_tokens=280, completion_tokens=20)),
        Rollout(id="c", task_id="t", status="error", error="boom", usage=Usage(prompt_tokens=100)),
        Rollout(id="d", task_id="t", status="budget"),
    ]
    verdicts = {r: Verdict(rollout_id=r, score=s, passed=s == 1.0) for r, s in (("a", 1.0), ("b", 0.5))}
    progress = TaskProgress.from_rollouts("t", rollouts, verdicts, key=lambda r: r.output[-1])
    assert progress.scores == (1.0, 0.5, 0.0) and progress.passed == 1 and progress.done == 3
    assert progress.votes == {"4": 1, "5": 1} and progress.cost == pytest.approx(500 / 3)
    assert progress.mode == "verified"
    voted = TaskProgress.from_rollouts("t", rollouts[:2], {}, key=lambda r: r.output[-1])
    assert voted.mode == "voted" and voted.scores == ()


@pytest.mark.parametrize(
    "make",
    [
        lambda: TaskProgress("t", scores=(1.5,)),
        lambda: TaskProgress("t", scores=(0.5,), passed=2),
        lambda: TaskProgress("t", votes={"x": -1}),
        lambda: TaskProgress("t", cost=0),
        lambda: PlanPolicy(prior=(0, 1)),
        lambda: PlanPolicy(min_gain=1.0),
        lambda: PlanPolicy(wave=-1),
        lambda: PlanPolicy(lookahead=0),
        lambda: plan_allocation([TaskProgress("t"), TaskProgress("t")], 5),
        lambda: plan_allocation([TaskProgress("t")], -1),
        lambda: plan_allocation([TaskProgress("t")], "lots"),
        lambda: success_curve(TaskProgress("t"), -1),
    ],
)
def test_bad_input_is_a_config_error(make):
    with pytest.raises(ConfigError):
        make()
