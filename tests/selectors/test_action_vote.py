"""Voting over normalised tool calls: the tool first, then its arguments; both trajectory shapes."""

from __future__ import annotations

import json

from agentscale import registry
from agentscale.actions import canonical_action, canonical_arguments, last_action
from agentscale.selectors import ActionVote, action_key
from agentscale.strategies import AdaptivePolicy
from agentscale.types import Rollout, Task, Verdict

TASK = Task(id="t", prompt="click the OK button")


def native(name, args, status="ok"):
    call = {"id": "c1", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
    trajectory = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "name": name, "content": "done"},
    ]
    return Rollout(task_id="t", status=status, trajectory=trajectory)


def text(lang, body):
    trajectory = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": f"I act.\n```{lang}\n{body}\n```"},
        {"role": "user", "name": lang, "content": "Observation:\ndone"},
        {"role": "assistant", "content": "Final answer: done"},
    ]
    return Rollout(task_id="t", trajectory=trajectory)


def test_canonical_arguments_ignore_order_spacing_and_number_spelling():
    a = canonical_arguments({"x": 1.0, "text": "  Hello  world \n\n", "opts": {"b": 2, "a": [1.50]}})
    b = canonical_arguments({"opts": {"a": [1.5], "b": 2.0}, "text": "Hello  world", "x": 1})
    assert a == b
    assert canonical_arguments({"text": "Hello"}) != canonical_arguments({"text": "hello"})  # case is meaning
    assert canonical_action("click", {"ref": 3}) == 'click {"ref":3}'


def test_last_action_reads_native_calls_and_text_blocks():
    assert last_action(native("click", {"ref": 3})) == ("click", {"ref": 3})
    assert last_action(text("click", '{"ref": 3}')) == ("click", {"ref": 3})
    assert last_action(text("py", "print(1)")) == ("python", {"input": "print(1)"})
    assert last_action(Rollout(task_id="t", trajectory=[{"role": "assistant", "content": "no action"}])) is None
    assert action_key(native("click", {"ref": 3})) == 'click {"ref":3}'


async def test_tool_is_voted_first_then_arguments():
    rollouts = [
        native("type", {"text": "hi"}),
        native("click", {"ref": 1}),
        native("click", {"ref": 2}),
        native("type", {"text": "hi"}),
        native("click", {"ref": 2.0}),
    ]
    selection = await ActionVote().select(TASK, rollouts, {})
    assert selection.rollout_id == rollouts[2].id  # click wins 3-2; among clicks ref 2 wins 2-1
    assert "3 of 5 chose 'click'" in selection.reason
    assert selection.scores[rollouts[0].id] == 0.4 and selection.scores[rollouts[1].id] == 0.2


async def test_ties_go_to_the_higher_verifier_score_and_failed_rollouts_do_not_vote():
    rollouts = [native("a", {}), native("b", {}), native("b", {}, status="error"), native("b", {}, status="error")]
    verdicts = {rollouts[1].id: Verdict(rollout_id=rollouts[1].id, score=0.9, passed=True)}
    selection = await ActionVote().select(TASK, rollouts, verdicts)
    assert selection.rollout_id == rollouts[1].id


async def test_no_actions_falls_back_to_scores():
    rollouts = [Rollout(task_id="t", output="x"), Rollout(task_id="t", output="y")]
    verdicts = {rollouts[1].id: Verdict(rollout_id=rollouts[1].id, score=1.0, passed=True)}
    selection = await ActionVote().select(TASK, rollouts, verdicts)
    assert selection.rollout_id == rollouts[1].id and selection.reason.startswith("no actions to vote on")
    assert (await ActionVote().select(TASK, [], {})).rollout_id is None


def test_registered_by_name_and_usable_as_adaptive_key():
    assert isinstance(registry.create("selectors", "action_vote"), ActionVote)
    assert AdaptivePolicy(key=action_key).key(text("click", '{"ref": 1}')) == 'click {"ref":1}'
