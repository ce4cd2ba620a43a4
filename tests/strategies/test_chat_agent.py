"""``ChatAgent``: a conversation's messages and tools go to the model as they are, one reply per rollout."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from agentscale import RolloutRequest, Task, scale
from agentscale.agents import ChatAgent, chat_messages, tool_call_key
from agentscale.errors import ConfigError
from agentscale.rollout import RolloutContext
from agentscale.strategies import ScaleContext
from agentscale.testing import FakeModel
from agentscale.types import Candidate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "llm"))

from scripted_server import scripted_server  # noqa: E402

CONVERSATION = [
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
    {"role": "tool", "tool_call_id": "c1", "content": "18C"},
]  # fmt: skip


def test_messages_are_kept_and_the_request_adds_lessons_and_notes():
    task = Task(prompt="Weather in Paris?", metadata={"messages": CONVERSATION})
    plain = chat_messages(task, RolloutRequest(), system="Be brief.")
    assert plain == [{"role": "system", "content": "Be brief."}, *CONVERSATION]
    earlier = Candidate(rollout_id="r", output="It rains", feedback="wrong")
    request = RolloutRequest(lessons=["Quote the tool's answer."], candidates=[earlier])
    told = chat_messages(task, request, system="Be brief.")
    assert told[0]["content"].startswith("Be brief.") and "Quote the tool's answer." in told[0]["content"]
    assert told[1:4] == CONVERSATION and told[-1]["role"] == "user" and "It rains" in told[-1]["content"]
    assert chat_messages(Task(prompt="hi"), RolloutRequest()) == [{"role": "user", "content": "hi"}]
    with pytest.raises(ConfigError, match="non-empty list"):
        chat_messages(Task(prompt="x", metadata={"messages": []}), RolloutRequest())


async def test_one_call_with_the_rollouts_seed_temperature_and_params():
    model = FakeModel(["It is 18C."])
    agent = ChatAgent(model, system="Be brief.", max_tokens=64)
    task = Task(prompt="Weather?", metadata={"messages": CONVERSATION, "params": {"stop": ["\n\n"]}})
    rollout = await agent(task, RolloutContext(request=RolloutRequest(seed=7, temperature=0.3)))
    (call,) = model.calls
    assert (call.seed, call.temperature, call.max_tokens, call.stop) == (7, 0.3, 64, ["\n\n"])
    assert call.prompt[1:] == CONVERSATION
    assert rollout.output == "It is 18C." and rollout.trajectory[-1] == {"role": "assistant", "content": "It is 18C."}
    assert (rollout.provenance.seed, rollout.provenance.temperature) == (7, 0.3)
    assert rollout.metadata["tool_calls"] == [] and rollout.answer is None


async def test_unknown_params_fail_the_rollout_not_the_run():
    graph = scale(ChatAgent(FakeModel(["x"], cycle=True)), "best_of_n", n=2)
    task = Task(prompt="x", metadata={"params": {"frequency_penalty": 1}})
    state = await graph.ainvoke({"task": task}, context=ScaleContext())
    assert {r.status for r in state["rollouts"]} == {"error"} and "frequency_penalty" in state["rollouts"][0].error
    assert state["selected"].status == "none_ran"


def test_tool_call_keys_ignore_ids_and_argument_order():
    a = [{"id": "x", "function": {"name": "f", "arguments": '{"a": 1, "b": 2}'}}]
    b = [{"id": "y", "function": {"name": "f", "arguments": '{"b": 2, "a": 1}'}}]
    assert tool_call_key(a) == tool_call_key(b) == 'f({"a": 1, "b": 2})'


async def test_tool_calls_over_http_come_back_and_vote():
    from agentscale.llm import LLM

    weather = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
    async with scripted_server(tool_calls=[("get_weather", '{"city": "Paris"}')]) as srv:
        async with LLM("hosted_vllm/m", api_base=srv.api_base, timeout=10) as llm:
            task = Task(prompt="Paris?", metadata={"params": {"tools": [weather]}})
            state = await scale(ChatAgent(llm), "majority", n=3).ainvoke({"task": task}, context=ScaleContext())
    assert state["selected"].reason == """majority: 3 of 3 votes for 'get_weather({"city": "paris"})'"""
    chosen = next(r for r in state["rollouts"] if r.id == state["selected"].rollout_id)
    assert chosen.metadata["tool_calls"][0]["function"]["name"] == "get_weather"
    assert chosen.trajectory[-1]["tool_calls"] == chosen.metadata["tool_calls"]
    assert all(r.body["tools"] == [weather] for r in srv.requests)
