"""What reaches the server and what comes back: every stop and parameter, usage of every choice,
native tool calls, structured output, and the stream parser (against the scripted HTTP server)."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel

from agentscale import Budget, ConfigError, ModelAPIError
from agentscale.llm import tool_result

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:Items? .*ReadOnly:UserWarning"),
]

STOPS = ["\n```", "\ndef ", "\nclass ", "\nif ", "\nprint(", "\n#", "\nassert "]
ADD = {
    "type": "function",
    "function": {
        "name": "add",
        "description": "Add two integers.",
        "parameters": {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "required": ["a", "b"],
        },
    },
}


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("profile", ["chat", "completion"])
async def test_every_stop_sequence_reaches_the_server(server, make_llm, stream, profile):
    await make_llm(stream=stream, profile=profile).generate("hi", stop=STOPS)
    assert server.requests[0].body["stop"] == STOPS
    await make_llm(stream=stream, profile=profile).generate("hi", stop="\n\n")
    assert server.requests[1].body["stop"] == ["\n\n"]


async def test_bad_stop_sequences_are_config_errors(make_llm):
    for bad in ([""], [3], ["ok", None]):
        with pytest.raises(ConfigError, match="stop"):
            await make_llm().generate("hi", stop=bad)


@pytest.mark.parametrize("stream", [True, False])
async def test_usage_covers_every_choice_when_the_server_reports_it_per_choice(server, make_llm, stream):
    server.usage_per_choice = True  # llama-server's way: one usage per streamed choice
    budget = Budget()
    out = await make_llm(stream=stream, budget=budget).generate("hi", n=3)
    assert len(out.texts) == 3 and len(server.requests) == 1
    assert server.requests[0].body["stream"] is True  # n > 1 is streamed: usage per choice
    assert (out.usage.prompt_tokens, out.usage.completion_tokens, out.usage.calls) == (7, 6, 1)
    assert budget.spent.completion_tokens == 6 and budget.spent.calls == 1  # charged once, in full


async def test_usage_of_a_whole_request_is_not_counted_twice(server, make_llm):
    out = await make_llm().generate("hi", n=3)  # vLLM's way: one usage for the request
    assert (out.usage.prompt_tokens, out.usage.completion_tokens) == (7, 6)


@pytest.mark.parametrize("stream", [True, False])
async def test_a_tool_call_its_result_and_the_answer(server, make_llm, stream):
    server.tool_calls = [("add", '{"a": 2, "b": 3}')]
    llm = make_llm(stream=stream)
    messages = [{"role": "user", "content": "What is 2 + 3?"}]
    out = await llm.generate(messages, tools=[ADD], tool_choice="auto")
    body = server.requests[0].body
    assert body["tools"] == [ADD] and body["tool_choice"] == "auto"
    assert out.finish_reasons == ["tool_calls"]
    [[call]] = out.tool_calls
    assert call == {
        "id": "call_0_0",
        "type": "function",
        "function": {"name": "add", "arguments": '{"a": 2, "b": 3}'},  # streamed in two pieces
    }
    messages.append(out.message(0))
    messages.append(tool_result(call, 2 + 3))
    final = await llm.generate(messages, tools=[ADD])
    assert final.text == "result: 5" and final.tool_calls == []
    sent = server.requests[1].body["messages"]
    assert sent[1] == {"role": "assistant", "content": None, "tool_calls": [call]}
    assert sent[2] == {"role": "tool", "tool_call_id": "call_0_0", "name": "add", "content": "5"}


async def test_several_streamed_tool_calls_in_several_choices(server, make_llm):
    server.tool_calls = [("add", '{"a": 1, "b": 2}'), ("add", '{"a": 30, "b": 40}')]
    out = await make_llm().generate("sums?", n=2, tools=[ADD], tool_choice="required")
    assert server.requests[0].body["tool_choice"] == "required"
    assert [[c["id"] for c in calls] for calls in out.tool_calls] == [
        ["call_0_0", "call_0_1"],
        ["call_1_0", "call_1_1"],
    ]
    assert [json.loads(c["function"]["arguments"]) for c in out.tool_calls[1]] == [
        {"a": 1, "b": 2},
        {"a": 30, "b": 40},
    ]
    assert out.texts == ["", ""] and out.message(1)["content"] is None


class Verdict(BaseModel):
    score: int
    reason: str


@pytest.mark.parametrize("schema", [Verdict, Verdict.model_json_schema()])
async def test_json_schema_goes_as_a_response_format(server, make_llm, schema):
    await make_llm().generate("judge", json_schema=schema)
    sent = server.requests[0].body["response_format"]
    assert sent["type"] == "json_schema" and sent["json_schema"]["name"] == "Verdict"
    assert sent["json_schema"]["schema"] == Verdict.model_json_schema() and sent["json_schema"]["strict"]
    await make_llm().generate("judge", response_format={"type": "json_object"})
    assert server.requests[1].body["response_format"] == {"type": "json_object"}


async def test_malformed_tools_and_formats_are_config_errors(server, make_llm):
    chat, text = make_llm(), make_llm(profile="completion")
    bad_calls = [
        (chat, {"tools": [{"name": "add"}]}),
        (chat, {"tools": [ADD], "tool_choice": "sometimes"}),
        (chat, {"tool_choice": "auto"}),
        (chat, {"json_schema": Verdict, "response_format": {"type": "json_object"}}),
        (chat, {"json_schema": "an object please"}),
        (chat, {"response_format": {"schema": {}}}),
        (text, {"tools": [ADD]}),
        (text, {"json_schema": Verdict}),
    ]
    for llm, options in bad_calls:
        with pytest.raises(ConfigError):
            await llm.generate("hi", **options)
    assert server.requests == []  # each was refused before anything was sent
    with pytest.raises(ConfigError, match="tool call"):
        tool_result({"function": {"name": "add"}}, 5)


async def test_an_error_sent_inside_the_stream_is_an_error(server, make_llm):
    server.script = ["error_event", "error_event"]
    with pytest.raises(ModelAPIError, match="scripted late failure") as info:
        await make_llm(max_retries=1).generate("hi")
    assert info.value.status_code == 500 and len(server.requests) == 2  # a 500 is retried


async def test_events_split_anywhere_are_put_back_together(server, make_llm):
    server.script = ["fragmented"]
    out = await make_llm().generate("hi", n=2)
    assert out.texts == ["hello world 0", "hello world 1"] and out.finish_reasons == ["stop", "stop"]


# -- providers litellm serves: nothing is cut or dropped there either ----------------------------


async def test_litellm_would_cut_the_stops_so_the_call_is_refused(server, make_llm, monkeypatch):
    llm = make_llm(model="together_ai/test-model", api_key="x")
    with pytest.raises(ConfigError, match=r"7 stop sequences.*'\\nprint\('"):
        await llm.generate("hi", stop=STOPS)
    assert server.requests == []
    assert (await llm.generate("hi", stop=STOPS[:4])).text == "hello world"
    assert server.requests[0].body["stop"] == STOPS[:4]

    import litellm

    monkeypatch.setattr(litellm, "disable_stop_sequence_limit", True)  # the user says the provider takes more
    await llm.generate("hi", stop=STOPS)
    assert server.requests[1].body["stop"] == STOPS


async def test_a_parameter_litellm_would_drop_is_refused(monkeypatch):
    import litellm

    from agentscale.llm import LLM

    monkeypatch.setattr(litellm, "drop_params", True)  # as LITELLM_DROP_PARAMS=true would
    llm = LLM("anthropic/claude-3-5-haiku-latest", api_key="not-used", max_retries=0)
    with pytest.raises(ConfigError, match="'seed'"):
        await llm.generate("hi", seed=3)
    with pytest.raises(ConfigError, match="'logprobs'"):
        await llm.generate("hi", logprobs=True)


async def test_judges_ask_for_their_schema_where_the_model_takes_one(server, make_llm):
    from agentscale.selectors import ListwiseSelector
    from agentscale.testing import FakeModel
    from agentscale.types import Rollout, Task
    from agentscale.verifiers import LLMJudge

    task = Task(prompt="2+2?")
    rollouts = [Rollout(task_id=task.id, output=str(n)) for n in (3, 4, 5)]
    server.reply = '{"score": 8, "reason": "right"}'
    verdict = await LLMJudge(make_llm()).verify(task, rollouts[1])
    assert verdict.passed and verdict.evidence["judge_score"] == 8
    schema = server.requests[-1].body["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["score"] == {"type": "integer", "minimum": 0, "maximum": 10}

    server.reply = '{"choice": 2, "reason": "four"}'
    await ListwiseSelector(make_llm()).select(task, rollouts, {})
    schema = server.requests[-1].body["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["choice"] == {"type": "integer", "minimum": 1, "maximum": 3}

    await LLMJudge(make_llm(), structured=False).verify(task, rollouts[1])
    assert "response_format" not in server.requests[-1].body
    fake = FakeModel(['{"score": 3, "reason": "no"}'])  # no json_schema parameter: asked as before
    assert not (await LLMJudge(fake).verify(task, rollouts[0])).passed


@pytest.mark.parametrize(
    ("reply", "calls"),
    [
        ('{"name": "add", "arguments": {"a": 2, "b": 3}}', [("add", {"a": 2, "b": 3})]),
        ('<tool_call>\n{"name": "add", "arguments": {"a": 1, "b": 1}}\n</tool_call>', [("add", {"a": 1, "b": 1})]),
        ('```json\n[{"name": "add", "arguments": {"a": 1, "b": 2}}, {"name": "add", "arguments": "{}"}]\n```',
         [("add", {"a": 1, "b": 2}), ("add", {})]),
        ('{"name": "add", "arguments": {}}\n{"name": "add", "arguments": {"a": 4}}', [("add", {}), ("add", {"a": 4})]),
        ('{"name": "mul", "arguments": {"a": 2}}', None),  # not an offered tool
        ('{"name": "add", "arguments": {"a": 2}} and that is all', None),  # more than calls
        ('The sum is {"a": 2}', None),
        ('{"name": "add", "arguments": {"a": 2}, "b": 3}', [("add", {"a": 2, "b": 3})]),  # an argument misplaced
        ('{"name": "add", "why": "x"}', None),  # no arguments: not a call
    ],
)
async def test_a_reply_that_is_only_a_bare_tool_call_is_read_as_one(server, make_llm, reply, calls):
    server.reply = reply
    out = await make_llm().generate("hi", tools=[ADD])
    if calls is None:
        assert out.tool_calls == [] and out.text == reply
        return
    assert out.text == "" and out.finish_reasons == ["tool_calls"]
    assert [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in out.tool_calls[0]] == calls
    assert all(c["id"].startswith("call_") for c in out.tool_calls[0])


async def test_bare_tool_calls_are_left_alone_when_not_wanted(server, make_llm):
    server.reply = '{"name": "add", "arguments": {"a": 2, "b": 3}}'
    for llm, options in [
        (make_llm(), {}),  # no tools offered
        (make_llm(), {"tools": [ADD], "tool_choice": "none"}),
        (make_llm(bare_tool_calls=False), {"tools": [ADD]}),
    ]:
        out = await llm.generate("hi", **options)
        assert out.tool_calls == [] and out.text == server.reply
