"""``ScaledRunner``: a workflow's parts scaled into a ``TaskRecord`` (control flow, on a scripted model)."""

from __future__ import annotations

import dataclasses

import pytest

from agentscale.errors import ConfigError
from agentscale.evaluation import RunSettings, ScaledRunner
from agentscale.graphs.chat import ChatWorkflow
from agentscale.strategies import Diversity
from agentscale.testing import FakeModel, FunctionModel
from agentscale.workflows import WorkflowEnv


def runner(model, **settings):
    parts = ChatWorkflow().build(WorkflowEnv(model=model, options=settings.pop("options", {})))
    return ScaledRunner(parts, RunSettings(workflow="chat", model="fake", **settings), model=model)


async def test_a_vote_is_recorded_with_its_rollouts_choice_and_score():
    model = FakeModel(["The answer is 4", "The answer is 5", "The answer is 4"])
    task = ChatWorkflow().task({"id": "t1", "prompt": "2+2?", "expected": "4"})
    events = []
    record = await runner(model, strategy="majority", n=3).run(task, on_event=events.append)
    assert (record.task_id, record.status, record.answer) == ("t1", "chosen", "The answer is 4")
    assert record.reason == "majority: 2 of 3 votes for '4'" and record.n == 3
    assert [r.seed for r in record.rollouts] == [0, 1, 2] and all(r.status == "ok" for r in record.rollouts)
    assert record.chosen.index in (0, 2) and record.score.passed  # the expected answer scores, after the vote
    assert record.usage.calls == 3 and record.usage.total_tokens == sum(r.usage.total_tokens for r in record.rollouts)
    assert {e["event"] for e in events} >= {"rollout_started", "rollout_finished", "agent", "budget", "selected"}
    assert record.rollouts[0].trajectory[-1] == {"role": "assistant", "content": record.rollouts[0].output}


async def test_no_expected_answer_means_no_score_and_a_failed_model_means_none_ran():
    record = await runner(FakeModel(["hi"], cycle=True), n=2).run(ChatWorkflow().task("hello"))
    assert record.status == "chosen" and record.score is None

    def broken(call):
        raise RuntimeError("the model is down")

    record = await runner(FunctionModel(broken), n=2).run(ChatWorkflow().task("hello"))
    assert record.status == "none_ran" and record.answer is None and "the model is down" in record.error
    assert not record.finished


async def test_a_named_llm_selector_gets_the_runs_model_and_its_calls_are_counted():
    model = FakeModel(["A", "B", '{"best": 2, "reason": "B is right"}'])
    record = await runner(model, n=2, selector="listwise", strategy_options={}).run(ChatWorkflow().task("pick"))
    assert record.selector == "listwise" and record.usage.calls == 3  # two rollouts and the selector


async def test_a_token_budget_stops_the_run_cleanly():
    record = await runner(FakeModel(["one two three"], cycle=True), n=8, max_tokens=10, max_concurrency=1).run(
        ChatWorkflow().task("count")
    )
    assert record.usage.total_tokens >= 10 and sum(r.status == "ok" for r in record.rollouts) < 8


def test_bad_settings_fail_when_the_runner_is_made():
    with pytest.raises(ConfigError, match="unknown strategy 'nope'"):
        runner(FakeModel([]), strategy="nope")
    with pytest.raises(ConfigError, match="unknown selector 'nope'"):
        runner(FakeModel([]), selector="nope")
    with pytest.raises(ConfigError, match="takes no option 'wave'"):
        runner(FakeModel([]), strategy_options={"wave": 2})
    with pytest.raises(ConfigError, match="bad chat options"):
        runner(FakeModel([]), options={"temperature": 9})


async def test_the_workflows_measured_temperatures_reach_the_strategy_unless_the_run_sets_its_own():
    model = FakeModel(["4"], cycle=True)
    parts = ChatWorkflow().build(WorkflowEnv(model=model))
    parts = dataclasses.replace(parts, diversity=Diversity(temperatures=(0.2, 1.0), seed=7))
    task = ChatWorkflow().task("2+2?")
    record = await ScaledRunner(parts, RunSettings(workflow="chat", model="fake", n=4), model=model).run(task)
    assert [(r.temperature, r.seed) for r in record.rollouts] == [(0.2, 7), (1.0, 8), (0.2, 9), (1.0, 10)]
    assert sorted(c.temperature for c in model.calls) == [0.2, 0.2, 1.0, 1.0]  # what the model was asked

    own = {"diversity": Diversity(temperatures=(0.5,))}
    settings = RunSettings(workflow="chat", model="fake", n=2, strategy_options=own)
    record = await ScaledRunner(parts, settings, model=model).run(task)
    assert [(r.temperature, r.seed) for r in record.rollouts] == [(0.5, 0), (0.5, 1)]


def test_the_humaneval_workflow_declares_its_formats_temperatures():
    from agentscale.graphs.humaneval import HumanEvalWorkflow

    env = dict(model=FakeModel([]), sandboxes=object())
    fence = HumanEvalWorkflow().build(WorkflowEnv(**env, options={"format": "fence"}))
    chat = HumanEvalWorkflow().build(WorkflowEnv(**env, options={"format": "chat"}))
    assert fence.diversity.temperatures == (0.2, 0.6, 0.8, 1.0) and chat.diversity.temperatures == (0.8,)
