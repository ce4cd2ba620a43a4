"""LLM against a real HTTP server on loopback that answers, fails, hangs and hangs up on purpose."""

from __future__ import annotations

import asyncio
import pickle

import pytest

from agentscale import Budget, BudgetExhausted, ModelAPIError, ModelTimeout
from agentscale.llm import Endpoint
from agentscale.protocols import Model

# litellm's stream wrapper reads attributes pydantic has deprecated; not ours to fix.
pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:Items? .*ReadOnly:UserWarning"),  # pydantic on litellm's types
]

CHAT = "/v1/chat/completions"
TEXT = "/v1/completions"


@pytest.mark.parametrize("stream", [True, False])
async def test_chat_completion_and_its_usage(server, make_llm, stream):
    llm = make_llm(temperature=0.2, max_tokens=16, stream=stream, extra_body={"top_k": 20})
    out = await llm.generate(
        [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}], seed=7
    )
    assert out.texts == ["hello world"]
    assert out.finish_reasons == ["stop"]
    assert out.model == "hosted_vllm/test-model"
    assert (out.usage.prompt_tokens, out.usage.completion_tokens, out.usage.cached_tokens) == (7, 2, 3)
    assert out.usage.calls == 1 and out.usage.seconds > 0 and out.usage.cost_usd == 0.0
    [request] = server.requests
    assert request.path == CHAT
    assert request.body["model"] == "test-model"
    assert request.body["messages"][1] == {"role": "user", "content": "hi"}
    assert (request.body["temperature"], request.body["max_tokens"], request.body["seed"]) == (0.2, 16, 7)
    assert "n" not in request.body
    assert bool(request.body.get("stream")) is stream
    assert request.body["top_k"] == 20
    assert isinstance(llm, Model)


async def test_a_str_prompt_to_a_chat_model_is_one_user_message(server, make_llm):
    await make_llm().generate("hi")
    assert server.requests[0].body["messages"] == [{"role": "user", "content": "hi"}]


async def test_completion_profile_sends_text_as_is(server, make_llm):
    out = await make_llm(profile="completion", extra_body={"top_k": 20}).generate(
        "def add(a, b):", stop=["\n\n"]
    )
    assert out.text == "hello world"
    [request] = server.requests
    assert request.path == TEXT
    assert request.body["prompt"] == "def add(a, b):"
    assert request.body["stop"] == ["\n\n"] and request.body["top_k"] == 20


async def test_completion_profile_renders_messages_with_its_template(server, make_llm):
    msgs = [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "2+2?"}]
    await make_llm(profile="completion").generate(msgs)
    body = server.requests[0].body
    assert body["prompt"] == "System: Be terse.\n\nUser: 2+2?\n\nAssistant:"
    assert "\nUser:" in body["stop"]


@pytest.mark.parametrize("stream", [True, False])
async def test_n_samples_in_one_request(server, make_llm, stream):
    out = await make_llm(stream=stream).generate("hi", n=4)
    assert out.texts == [f"hello world {i}" for i in range(4)]
    assert out.finish_reasons == ["stop"] * 4
    assert len(server.requests) == 1 and server.requests[0].body["n"] == 4
    assert out.usage.calls == 1 and out.usage.completion_tokens == 8


async def test_n_as_concurrent_requests_with_distinct_seeds(server, make_llm):
    out = await make_llm(native_n=False).generate("hi", n=3, seed=10)
    assert len(out.texts) == 3
    assert sorted(r.body["seed"] for r in server.requests) == [10, 11, 12]
    assert all("n" not in r.body for r in server.requests)
    assert out.usage.calls == 3 and out.usage.prompt_tokens == 21


async def test_a_server_that_ignores_n_gets_the_rest_asked_for(server, make_llm):
    server.honour_n = False
    out = await make_llm().generate("hi", n=3)
    assert len(out.texts) == 3 and len(server.requests) == 3
    assert out.usage.calls == 3


@pytest.mark.parametrize("failures", [[500], [500, 503], [429], [429, 502, 500]])
async def test_transient_failures_are_retried(server, make_llm, failures):
    server.script = list(failures)
    out = await make_llm().generate("hi")
    assert out.text == "hello world"
    assert len(server.requests) == len(failures) + 1


async def test_retries_give_up_with_a_clear_error(server, make_llm):
    server.script = [500, 500, 500]
    with pytest.raises(ModelAPIError) as info:
        await make_llm(max_retries=2).generate("hi")
    assert len(server.requests) == 3
    err = info.value
    assert err.status_code == 500 and err.retryable
    assert "hosted_vllm/test-model" in str(err) and server.api_base in str(err) and "500" in str(err)


@pytest.mark.parametrize("status", [400, 401, 404, 422])
async def test_client_errors_are_not_retried(server, make_llm, status):
    server.script = [status]
    with pytest.raises(ModelAPIError) as info:
        await make_llm().generate("hi")
    assert len(server.requests) == 1
    err = info.value
    assert err.status_code == status and not err.retryable and not isinstance(err, ModelTimeout)
    assert (
        "hosted_vllm/test-model" in str(err) and server.api_base in str(err) and f"HTTP {status}" in str(err)
    )
    assert "scripted failure" in str(err)  # the server's own words reach the user
    again = pickle.loads(pickle.dumps(err))
    assert (again.status_code, again.model, again.api_base) == (status, err.model, err.api_base)


async def test_a_hanging_server_times_out_and_the_request_is_closed(server, make_llm):
    server.script = ["hang"]
    with pytest.raises(ModelTimeout) as info:
        await make_llm(timeout=1.0, max_retries=0).generate("hi")
    assert "hosted_vllm/test-model" in str(info.value) and server.api_base in str(info.value)
    await asyncio.wait_for(server.disconnected.wait(), 5)
    assert server.disconnects == [CHAT]


async def test_a_timeout_is_retried(server, make_llm):
    server.script = ["hang"]
    out = await make_llm(timeout=2.0).generate("hi")
    assert out.text == "hello world" and len(server.requests) == 2


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("drop", ["drop", "drop_mid"])
async def test_a_dropped_connection_is_retried(server, make_llm, drop, stream):
    server.script = [drop]  # drop_mid: mid-body without streaming, after the first event with it
    out = await make_llm(stream=stream).generate("hi")
    assert out.text == "hello world" and len(server.requests) == 2


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("drop", ["drop", "drop_mid"])
async def test_a_connection_that_keeps_dropping_gives_a_clear_error(server, make_llm, drop, stream):
    server.script = [drop, drop]
    with pytest.raises(ModelAPIError) as info:
        await make_llm(max_retries=1, stream=stream).generate("hi")
    assert len(server.requests) == 2
    assert info.value.retryable and server.api_base in str(info.value)
    assert info.value.status_code is None and "connection failed" in str(info.value)  # no made-up 500


@pytest.mark.parametrize("stream", [True, False])
async def test_an_endpoint_nobody_listens_on(make_llm, stream):
    llm = make_llm(api_base="http://127.0.0.1:9/v1", max_retries=1, stream=stream)
    with pytest.raises(ModelAPIError) as info:
        await llm.generate("hi")
    assert info.value.retryable and "127.0.0.1:9" in str(info.value) and info.value.status_code is None


@pytest.mark.parametrize(("action", "stream"), [("hang", True), ("hang", False), ("slow", True)])
async def test_cancelling_the_caller_closes_the_request(server, make_llm, action, stream):
    server.script = [action]  # slow + stream: cancelled while tokens are streaming in
    llm = make_llm(timeout=60, stream=stream)
    task = asyncio.create_task(llm.generate("hi"))
    while not server.requests:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(server.disconnected.wait(), 5)
    assert server.disconnects == [CHAT]
    assert llm.endpoint.in_flight == 0
    assert (await llm.generate("again")).text == "hello world"  # the pool is still usable


async def test_a_failed_sample_cancels_its_siblings(server, make_llm):
    server.script = ["hang", "hang", 400]  # the last to arrive fails: both others are in flight
    with pytest.raises(ModelAPIError):
        await make_llm(native_n=False, timeout=60).generate("hi", n=3)
    await asyncio.wait_for(_until(lambda: len(server.disconnects) == 2), 5)


async def test_one_endpoint_limits_concurrency_across_llms(server, make_llm):
    server.script = ["slow"] * 6
    server.slow_seconds = 0.2
    shared = Endpoint(server.api_base, max_concurrency=2)
    a, b = make_llm(endpoint=shared), make_llm(endpoint=shared)
    outs = await asyncio.gather(*(llm.generate("hi") for llm in (a, b, a, b, a, b)))
    assert len(outs) == 6
    assert shared.peak_in_flight == 2 and server.peak_active == 2
    await shared.aclose()


@pytest.mark.parametrize("stream", [True, False])
async def test_connections_are_pooled_and_released(server, make_llm, stream):
    llm = make_llm(max_concurrency=2, stream=stream)
    for _ in range(20):  # a leaked connection would exhaust the pool of 2 and hang here
        await asyncio.wait_for(llm.generate("hi"), 10)
    await asyncio.gather(*(llm.generate("hi") for _ in range(6)))
    assert server.connections <= 2


async def test_budget_is_charged_and_stops_calls_cleanly(server, make_llm):
    budget = Budget(max_tokens=20)  # each call costs 7 + 2 tokens
    llm = make_llm(budget=budget)
    done = []
    with pytest.raises(BudgetExhausted) as info:
        for _ in range(10):
            done.append(await llm.generate("hi"))
    assert info.value.limit == "tokens"
    assert len(done) == 3 and len(server.requests) == 3  # the 4th call never reached the server
    assert all(c.text == "hello world" for c in done)
    assert budget.spent.total_tokens == 27 and budget.spent.calls == 3


async def test_a_per_call_budget_overrides_the_llms(server, make_llm):
    mine, theirs = Budget(), Budget()
    llm = make_llm(budget=mine)
    await llm.generate("hi", budget=theirs)
    assert theirs.spent.calls == 1 and mine.spent.calls == 0


async def test_budget_counts_each_concurrent_sample(server, make_llm):
    budget = Budget()
    await make_llm(native_n=False, budget=budget).generate("hi", n=4)
    assert budget.spent.calls == 4 and budget.spent.prompt_tokens == 28


@pytest.mark.parametrize("stream", [True, False])
async def test_mean_logprobs_for_chat_and_text(server, make_llm, stream):
    chat = await make_llm(logprobs=True, stream=stream).generate("hi", n=2)
    assert chat.logprobs == [-1.0, -1.0]
    assert server.requests[-1].body["logprobs"] is True
    text = await make_llm(profile="completion", stream=stream).generate("x", logprobs=True)
    assert text.logprobs == [-0.5]
    assert server.requests[-1].body["logprobs"] == 1
    plain = await make_llm(stream=stream).generate("hi")
    assert plain.logprobs == []


async def test_streamed_choices_keep_the_servers_finish_reasons(server, make_llm):
    out = await make_llm().generate("hi", n=2, max_tokens=3)
    assert out.finish_reasons == ["stop", "stop"]  # as sent, though each wrote max_tokens chunks


async def test_a_streamed_choice_that_lost_its_finish_chunk_gets_one_inferred(server, make_llm):
    # litellm's stream wrapper (providers litellm serves: here together_ai at our api_base) drops
    # the finish chunk of every choice but the first when n > 1
    llm = make_llm(model="together_ai/test-model", api_key="x")
    out = await llm.generate("hi", n=2, max_tokens=3)
    assert out.texts == ["hello world 0", "hello world 1"]
    assert out.finish_reasons == ["stop", "length"]  # choice 1 wrote max_tokens chunks
    out = await llm.generate("hi", n=2, max_tokens=50)
    assert out.finish_reasons == ["stop", "stop"]


@pytest.mark.parametrize("stream", [True, False])
async def test_a_model_litellm_prices_costs_money(server, make_llm, stream):
    out = await make_llm(model="openai/gpt-4o-mini", stream=stream).generate("hi")
    assert out.text == "hello world"
    assert 0 < out.usage.cost_usd < 0.01
    assert server.requests[0].body["model"] == "gpt-4o-mini"


@pytest.mark.parametrize("stream", [True, False])
async def test_a_call_prints_nothing(server, make_llm, capfd, stream):
    server.script = [500, 400, "drop_mid", "drop_mid"]
    llm = make_llm(stream=stream, max_retries=1)
    for _ in range(2):
        with pytest.raises(ModelAPIError):
            await llm.generate("hi")
    await llm.generate("hi")
    await make_llm(profile="completion", stream=stream).generate("hi")
    out, err = capfd.readouterr()
    assert out == "" and err == ""


async def _until(predicate):
    while not predicate():
        await asyncio.sleep(0.01)
