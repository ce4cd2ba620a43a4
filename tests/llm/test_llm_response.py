"""The stream reader on the event shapes real servers send (recorded from llama-server and vLLM)."""

from __future__ import annotations

from agentscale.llm._response import StreamAccumulator, parse


def _usage(prompt: int, completion: int, cached: int = 0) -> dict:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    }


def test_llama_server_chat_stream_with_three_choices():
    # each choice ends with its finish chunk, then a usage chunk of its own (no choices)
    reader = StreamAccumulator(text_route=False, max_tokens=20)
    for i in range(3):
        reader.add({"choices": [{"index": i, "delta": {"role": "assistant", "content": None}}]})
    for step in range(20):
        for i in range(3):
            reader.add({"choices": [{"index": i, "delta": {"content": f"t{step}"}, "finish_reason": None}]})
    for i in (1, 0, 2):
        reader.add({"choices": [{"index": i, "delta": {}, "finish_reason": "length"}]})
        reader.add({"choices": [], "usage": _usage(30, 20, cached=29 if i else 0), "timings": {"cache_n": 29}})
    parsed = reader.parsed(1.0, cost=None)
    assert parsed.finish_reasons == ["length"] * 3 and len(parsed.texts) == 3
    assert parsed.usage.completion_tokens == 60 and parsed.usage.prompt_tokens == 30
    assert parsed.usage.cached_tokens == 29 and parsed.usage.calls == 1


def test_llama_server_text_stream_carries_usage_on_each_finish_chunk():
    reader = StreamAccumulator(text_route=True, max_tokens=None)
    for i in range(2):
        reader.add({"choices": [{"index": i, "text": "x", "logprobs": {"content": [{"logprob": -2.0}]}}]})
    for i in range(2):
        reader.add({"choices": [{"index": i, "text": "", "finish_reason": "stop"}], "usage": _usage(5, 1 + i)})
    parsed = reader.parsed(1.0, cost=None)
    assert parsed.texts == ["x", "x"] and parsed.logprobs == [-2.0, -2.0]
    assert (parsed.usage.prompt_tokens, parsed.usage.completion_tokens) == (5, 3)


def test_vllm_stream_has_one_usage_for_the_request():
    reader = StreamAccumulator(text_route=False, max_tokens=None)
    for i in range(2):
        reader.add({"choices": [{"index": i, "delta": {"content": "hi"}, "finish_reason": "stop"}]})
    reader.add({"choices": [], "usage": _usage(9, 4)})
    assert reader.parsed(1.0, cost=None).usage.completion_tokens == 4


def test_tool_call_deltas_with_and_without_indices():
    reader = StreamAccumulator(text_route=False, max_tokens=None)
    head = {"index": 0, "id": "call_a", "type": "function", "function": {"name": "add", "arguments": ""}}
    reader.add({"choices": [{"index": 0, "delta": {"tool_calls": [head]}}]})
    for piece in ('{"a": ', "1}"):
        delta = {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}
        reader.add({"choices": [{"index": 0, "delta": delta}]})
    # a server that leaves out the call index: a new id starts a call, no id continues the last one
    reader.add({"choices": [{"index": 0, "delta": {"tool_calls": [{"id": "call_b", "function": {"name": "neg"}}]}}]})
    reader.add({"choices": [{"index": 0, "delta": {"tool_calls": [{"function": {"arguments": '{"x": 2}'}}]}}]})
    reader.add({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
    parsed = reader.parsed(1.0, cost=None)
    assert parsed.texts == [""] and parsed.finish_reasons == ["tool_calls"]
    assert [(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in parsed.tool_calls[0]] == [
        ("call_a", "add", '{"a": 1}'),
        ("call_b", "neg", '{"x": 2}'),
    ]


def test_a_non_streamed_tool_call_with_object_arguments_and_no_id():
    response = {
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {"content": None, "tool_calls": [{"function": {"name": "add", "arguments": {"a": 1}}}]},
            }
        ],
        "usage": _usage(3, 2),
    }
    [[call]] = parse(response, text_route=False, seconds=0.1).tool_calls
    assert call["function"] == {"name": "add", "arguments": '{"a": 1}'}
    assert call["id"].startswith("call_") and call["type"] == "function"
