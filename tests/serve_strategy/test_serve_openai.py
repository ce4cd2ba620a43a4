"""``StrategyServer`` driven by the official ``openai`` client, over a real HTTP upstream (the scripted
server of ``tests/llm``): plain chat, streaming, a conversation with a tool call and its result,
usage of every inner call, per-request strategies, and OpenAI-shaped errors."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import httpx
import openai
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "llm"))

from scripted_server import scripted_server  # noqa: E402

from agentscale.llm import LLM  # noqa: E402
from agentscale.serve_strategy import StrategyServer  # noqa: E402

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture
async def upstream():
    async with scripted_server() as srv:
        yield srv


@pytest.fixture
async def served(upstream):
    """(server, openai client) with the defaults majority of 3."""
    async with LLM("hosted_vllm/test-model", api_base=upstream.api_base, timeout=10, max_retries=0) as llm:
        async with StrategyServer(llm, strategy="majority", n=3) as server:
            url = await server.start()
            client = openai.AsyncOpenAI(base_url=url, api_key="unused", max_retries=0, timeout=30)
            try:
                yield server, client
            finally:
                await client.close()


async def test_plain_chat_runs_the_strategy_and_counts_every_call(served, upstream):
    _, client = served
    reply = await client.chat.completions.create(
        model="test-model", messages=[{"role": "user", "content": "Say hi"}], max_tokens=16
    )
    assert reply.choices[0].message.content == "hello world" and reply.choices[0].finish_reason == "stop"
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (3 * 7, 3 * 2)  # three rollouts
    info = reply.model_extra["agentscale"]
    assert (info["strategy"], info["n"], info["rollouts"], info["calls"]) == ("majority", 3, 3, 3)
    assert info["reason"] == "majority: 3 of 3 votes for 'hello world'"
    bodies = [r.body for r in upstream.requests]
    assert sorted(b["seed"] for b in bodies) == [0, 1, 2] and {b["max_tokens"] for b in bodies} == {16}


async def test_strategy_and_n_per_request(served, upstream):
    _, client = served
    messages = [{"role": "user", "content": "hi"}]
    reply = await client.chat.completions.create(model="best_of_n-2/test-model", messages=messages)
    assert reply.model == "best_of_n-2/test-model" and reply.model_extra["agentscale"]["n"] == 2
    assert len(upstream.requests) == 2
    reply = await client.chat.completions.create(
        model="test-model", messages=messages, extra_body={"agentscale": {"strategy": "best_of_n", "n": 4}}
    )
    assert reply.model_extra["agentscale"]["strategy"] == "best_of_n" and len(upstream.requests) == 6


async def test_a_selectors_calls_are_in_the_usage(served, upstream):
    _, client = served
    reply = await client.chat.completions.create(
        model="best_of_n-2/test-model",
        messages=[{"role": "user", "content": "hi"}],
        extra_body={"agentscale": {"selector": "listwise"}},
    )
    calls = len(upstream.requests)
    assert calls >= 3  # two rollouts and the listwise selector's prompt(s)
    assert reply.usage.prompt_tokens == 7 * calls and reply.model_extra["agentscale"]["calls"] == calls


async def test_streaming_sends_the_chosen_answer_in_openai_chunks(served):
    _, client = served
    stream = await client.chat.completions.create(
        model="majority-2/test-model",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "hello world"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == 2 * 9


async def test_a_conversation_with_a_tool_call_and_its_result(served, upstream):
    _, client = served
    upstream.tool_calls = [("get_weather", '{"city": "Paris"}')]
    messages = [
        {"role": "system", "content": "Use tools."},
        {"role": "user", "content": "Weather in Paris?"},
    ]
    reply = await client.chat.completions.create(model="majority-3/test-model", messages=messages, tools=[WEATHER])
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}
    assert reply.model_extra["agentscale"]["reason"].startswith("majority: 3 of 3 votes")  # voted over the calls
    assert upstream.requests[0].body["tools"] == [WEATHER]

    result = {"role": "tool", "tool_call_id": call.id, "content": "18C"}
    messages += [choice.message.model_dump(exclude_none=True), result]
    reply = await client.chat.completions.create(model="majority-3/test-model", messages=messages, tools=[WEATHER])
    assert reply.choices[0].message.content == "result: 18C"
    sent = upstream.requests[-1].body["messages"]  # the whole conversation reached the upstream, not flattened
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "tool"]
    assert sent[2]["tool_calls"][0]["function"]["name"] == "get_weather" and sent[3]["tool_call_id"] == call.id


async def test_tool_calls_stream_too(served, upstream):
    _, client = served
    upstream.tool_calls = [("get_weather", '{"city": "Oslo"}')]
    stream = await client.chat.completions.create(
        model="test-model", messages=[{"role": "user", "content": "Oslo?"}], tools=[WEATHER], stream=True
    )
    chunks = [c async for c in stream]
    calls = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert [tc.function.name for tc in calls] == ["get_weather"]
    assert json.loads(calls[0].function.arguments) == {"city": "Oslo"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


async def test_models_are_listed(served):
    _, client = served
    ids = [m.id async for m in client.models.list()]
    assert ids[0] == "test-model" and "majority/test-model" in ids and "best_of_n/test-model" in ids


def error_of(exc: openai.APIStatusError) -> dict:
    body = exc.response.json()
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


USER = [{"role": "user", "content": "x"}]


@pytest.mark.parametrize(
    ("request_", "status", "param", "words"),
    [
        ({"model": "test-model", "messages": []}, 400, "messages", "non-empty array"),
        ({"model": "test-model", "messages": [{"role": "robot", "content": "x"}]}, 400, "messages[0].role", "one of"),
        ({"model": "test-model", "messages": USER, "n": 2}, 400, "n", "n at 1"),
        ({"model": "nope-2/test-model", "messages": USER}, 404, "model", "unknown strategy"),
        ({"model": "gpt-9", "messages": USER}, 404, "model", "does not exist"),
        ({"model": "test-model", "messages": [{"role": "tool", "content": "x"}]}, 400, "messages[0].tool_call_id",
         "needs"),
        ({"model": "test-model", "messages": USER, "max_tokens": 0}, 400, "max_tokens", "positive"),
        ({"model": "test-model", "messages": USER, "agentscale": {"n": 99}}, 400, "agentscale.n", "from 1 to 16"),
    ],
)  # fmt: skip
async def test_malformed_requests_get_openai_shaped_errors(served, upstream, request_, status, param, words):
    _, client = served
    body = dict(request_)
    with pytest.raises(openai.APIStatusError) as caught:
        await client.chat.completions.create(
            model=body.pop("model"), messages=body.pop("messages"), extra_body=body or None
        )
    assert caught.value.status_code == status
    error = error_of(caught.value)
    assert error["param"] == param and words in error["message"]
    assert error["type"] == "invalid_request_error" and upstream.requests == []


async def test_bad_json_and_unknown_paths_are_openai_errors_too(served):
    _, client = served
    base = str(client.base_url).rstrip("/")
    async with httpx.AsyncClient() as http:
        headers = {"content-type": "application/json"}
        bad = await http.post(f"{base}/chat/completions", content=b"{not json", headers=headers)
        missing = await http.get(f"{base}/nope")
    assert bad.status_code == 400 and "could not parse the JSON body" in bad.json()["error"]["message"]
    assert missing.status_code == 404 and set(missing.json()["error"]) == {"message", "type", "param", "code"}


async def test_an_upstream_that_fails_every_rollout_is_a_502(served, upstream):
    _, client = served
    upstream.default = 400
    with pytest.raises(openai.APIStatusError) as caught:
        await client.chat.completions.create(model="test-model", messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == 502
    error = error_of(caught.value)
    assert error["code"] == "upstream_failed" and "no rollout of the upstream model succeeded" in error["message"]


async def test_a_client_that_hangs_up_cancels_the_upstream_requests(served, upstream):
    _, client = served
    upstream.default, upstream.slow_seconds = "slow", 30
    request = asyncio.create_task(
        client.chat.completions.create(model="test-model", messages=[{"role": "user", "content": "x"}])
    )
    while upstream.active < 3:
        await asyncio.sleep(0.02)
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request
    await asyncio.wait_for(_until(lambda: len(upstream.disconnects) == 3), 10)


async def _until(condition) -> None:
    while not condition():
        await asyncio.sleep(0.02)


async def test_a_failure_while_streaming_is_an_error_event(served, upstream):
    _, client = served
    upstream.default = 400
    stream = await client.chat.completions.create(
        model="test-model", messages=[{"role": "user", "content": "x"}], stream=True
    )
    with pytest.raises(openai.APIError, match="no rollout of the upstream model succeeded"):
        async for _ in stream:
            pass
