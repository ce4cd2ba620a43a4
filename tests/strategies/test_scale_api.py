"""What scale() accepts and refuses at build time, what a graph accepts as input, and what its selection says."""

from __future__ import annotations

import logging

import pytest
from _strategy_helpers import ScoreVerifier, rollout

from agentscale import (
    AllRolloutsFailed,
    BestOfN,
    ConfigError,
    Reflect,
    RolloutRequest,
    Selection,
    SelectionError,
    Task,
)
from agentscale.strategies import ReflectPolicy, ScaleContext, scale

TASK = Task(id="t", prompt="What is 6 * 7?")


async def _agent(task: Task, request: RolloutRequest):
    return rollout(task, "x" * (request.index + 1))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 2.5}, "n must be an int >= 1, got 2.5"),
        ({"n": True}, "n must be an int >= 1, got True"),
        ({"n": 0}, "n must be >= 1"),
        ({"selector": 42}, "selector must be a registered name or an object with async select"),
        ({"selector": "best_of_everything"}, "unknown selector 'best_of_everything'"),
        ({"verifier": object()}, "verifier must be a registered name or an object with async verify"),
        ({"verifier": "no_such_check"}, "unknown verifier 'no_such_check'"),
        ({"diversity": 3}, "Diversity"),
        ({"polcy": ReflectPolicy()}, "strategy 'best_of_n' takes no option 'polcy'"),
        ({"timeout": -1}, "timeout must be a number > 0"),
        ({"context": {"budget": 1}}, "context must be a ScaleContext"),
    ],
)
def test_bad_options_fail_when_the_graph_is_built(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        graph = scale(_agent, **kwargs)
        # an option a strategy accepts but cannot use must not get this far silently
        pytest.fail(f"built {graph}")


def test_a_bad_context_fails_when_it_is_made():
    with pytest.raises(ConfigError, match="selector must be"):
        ScaleContext(selector=42)
    with pytest.raises(ConfigError, match="verifier must be"):
        ScaleContext(verifier="answer")  # names are for scale(); a context holds objects
    with pytest.raises(ConfigError, match="max_concurrency must be an int"):
        ScaleContext(max_concurrency=2.5)
    with pytest.raises(ConfigError, match="executor needs an async run"):
        ScaleContext(executor=object())


def test_strategies_as_objects_and_names():
    assert scale(_agent, BestOfN(n=2)).name == "scale_best_of_n"
    assert scale(_agent, "reflect", n=2, policy=ReflectPolicy(max_rounds=1)).name == "scale_reflect"
    with pytest.raises(ConfigError, match="n go to a strategy given by name"):
        scale(_agent, Reflect(n=2), n=3)
    with pytest.raises(ConfigError, match="object with build"):
        scale(_agent, object())
    with pytest.raises(ConfigError, match="unknown strategy 'best_of_everything'; choose one of: best_of_n"):
        scale(_agent, "best_of_everything")


async def test_verifiers_and_selectors_by_registry_name():
    async def agent(task: Task, request: RolloutRequest):
        return rollout(task, "42" if request.index else "41")

    task = TASK.model_copy(update={"expected": "42"})
    state = await scale(agent, n=3, verifier="answer", selector="majority").ainvoke(
        {"task": task}, context=ScaleContext()
    )
    assert set(state["verdicts"]) == {r.id for r in state["rollouts"]}
    assert state["selected"].reason.startswith("majority: 2 of 3 votes")


@pytest.mark.parametrize("given", ["What is 6 * 7?", {"prompt": "What is 6 * 7?", "id": "q1"}])
async def test_a_task_given_as_text_or_a_dict_is_made_a_task(given):
    state = await scale(_agent, n=2).ainvoke({"task": given}, context=ScaleContext())
    assert isinstance(state["task"], Task) and state["task"].prompt == "What is 6 * 7?"
    assert {r.task_id for r in state["rollouts"]} == {state["task"].id}


async def test_a_task_of_the_wrong_type_is_one_clear_error():
    with pytest.raises(ConfigError, match="'task' must be a Task, a str or a dict, got int"):
        await scale(_agent, n=2).ainvoke({"task": 42}, context=ScaleContext())
    with pytest.raises(ConfigError, match="not a valid Task"):
        await scale(_agent, n=2).ainvoke({"task": {"promt": "typo"}}, context=ScaleContext())


async def test_the_selection_tells_chosen_from_nothing_passed_from_nothing_ran():
    passing = await scale(_agent, n=3, verifier=ScoreVerifier(lambda s: len(s) / 2)).ainvoke(
        {"task": TASK}, context=ScaleContext()
    )
    assert passing["selected"].status == "chosen" and passing["selected"].require(passed=True)

    failing = await scale(_agent, n=3, verifier=ScoreVerifier(lambda s: 0.25)).ainvoke(
        {"task": TASK}, context=ScaleContext()
    )
    selection = failing["selected"]
    assert selection.status == "none_passed" and selection.rollout_id is not None  # the best of what failed
    assert selection.require() == selection.rollout_id
    with pytest.raises(SelectionError, match="no rollout passed verification"):
        selection.require(passed=True)

    async def broken(task):
        raise ValueError("nope")

    crashed = await scale(broken, n=2).ainvoke({"task": TASK}, context=ScaleContext())
    selection = crashed["selected"]
    assert selection.status == "none_ran" and selection.rollout_id is None
    assert selection.errors == ["ValueError: nope"] * 2
    with pytest.raises(AllRolloutsFailed) as info:
        selection.require()
    assert [str(e) for e in info.value.exceptions] == ["ValueError: nope"] * 2
    with pytest.raises(SelectionError, match="nothing was selected"):
        Selection(rollout_id=None, reason="the judge abstained").require()


async def test_a_verifier_that_raises_is_logged_and_named_in_the_reason(caplog):
    calls = 0

    class Flaky:
        async def verify(self, task, rollout):
            nonlocal calls
            calls += 1
            if calls > 1:
                raise OSError("sandbox gone")
            return await ScoreVerifier(lambda s: 0.5).verify(task, rollout)

    with caplog.at_level(logging.WARNING):
        graph = scale(_agent, n=3, verifier=Flaky())
        state = await graph.ainvoke({"task": TASK}, context=ScaleContext(max_concurrency=1))
    failed = [v for v in state["verdicts"].values() if "verifier_error" in v.evidence]
    assert len(failed) == 2 and all(v.evidence["verifier_error"] == "OSError: sandbox gone" for v in failed)
    assert caplog.text.count("sandbox gone") == 2
    reason = "highest verifier score; verifier failed on 2 of 3 rollouts (OSError: sandbox gone)"
    assert state["selected"].reason == reason
    assert state["selected"].status == "none_passed"


async def test_first_finish_emits_its_selection():
    events = []
    graph = scale(_agent, "first_finish", n=2)
    async for chunk in graph.astream({"task": TASK}, context=ScaleContext(), stream_mode="custom"):
        events.append(chunk)
    (selected,) = [e for e in events if e["event"] == "selected"]
    assert selected["reason"] == "first rollout to pass" and selected["status"] == "chosen"
