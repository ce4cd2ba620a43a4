"""Context compaction: the agent loop shortens old observations to fit the model's context."""

from __future__ import annotations

import pytest

from agentscale.errors import ModelAPIError
from agentscale.graphs import LoopConfig, function_tool, loop_agent
from agentscale.graphs.compaction import compact, compact_stable, context_overflow, estimate_tokens
from agentscale.rollout import RolloutContext
from agentscale.testing import FunctionModel
from agentscale.types import Task


async def dump(n: int) -> str:
    """Print n lines of output."""
    return "\n".join(f"line {i} " + "x" * 40 for i in range(n))


def test_compaction_keeps_the_task_and_the_latest_messages_whole():
    big = "y" * 12_000
    msgs = [{"role": "system", "content": "sys " * 200}, {"role": "user", "content": "the task " * 300}]
    for i in range(4):
        msgs += [{"role": "assistant", "content": f"step {i}"}, {"role": "user", "content": f"Observation:\n{big}"}]
    msgs += [{"role": "assistant", "content": "step 4"}, {"role": "user", "content": "Observation:\nshort"}]
    out = compact(msgs, 3000)
    assert estimate_tokens(out) <= 3000 < estimate_tokens(msgs)
    assert out[:2] == msgs[:2] and out[-2:] == msgs[-2:]  # system, task, and the latest step untouched
    assert "[observation shortened: 12013 chars]" in out[3]["content"]
    assert out[3]["content"].startswith("Observation:\nyyy")  # a head and a tail of it stay
    assert msgs[3]["content"] == f"Observation:\n{big}"  # the input is not changed
    assert compact(msgs[:4], 10**6) == msgs[:4]  # what fits is sent as it is


def test_every_message_of_the_loop_after_the_task_may_be_shortened():
    # the web agent's pages come back as user messages without "Observation:" (a link named in
    # words is followed without a call id): they were never shortened, and a 0.5B rollout's request
    # stayed over the slot even after the server named its size
    page = "Parks and gardens. " * 400
    msgs = [{"role": "system", "content": "sys"}, {"role": "user", "content": "the question"}]
    for i in range(4):
        msgs += [{"role": "assistant", "content": f"Parks [{i}]"}, {"role": "user", "content": page}]
    out = compact(msgs, 3000)
    assert estimate_tokens(out) <= 3000 < estimate_tokens(msgs)
    assert "[observation shortened" in out[3]["content"] and out[1] == msgs[1] and out[-1] == msgs[-1]


async def test_a_trajectory_that_outgrows_the_context_is_compacted_not_failed():
    seen = []

    def model(call):
        seen.append(estimate_tokens(call.prompt))
        if len(seen) > 6:
            return "Final answer: done"
        return '```dump\n{"n": 150}\n```'  # about 7,000 characters an observation

    # the same call answered the same way would end the rollout as repeating: off, to reach the context
    config = LoopConfig(actions="text", context_tokens=4096, reply_tokens=256, max_steps=10, observation_chars=8000,
                        repeat_limit=None)
    agent = loop_agent(FunctionModel(model), [function_tool(dump)], config)
    rollout = await agent(Task(prompt="dump a lot"), RolloutContext())
    assert rollout.status == "ok" and rollout.output == "done"
    assert max(seen) <= 4096 - 256  # every request fit the context
    assert rollout.metadata["compactions"] >= 3
    whole = [m for m in rollout.trajectory if m.get("name") == "dump"]
    assert len(whole) == 6 and all("shortened" not in m["content"] for m in whole)  # the kept trajectory is whole


def fussy_server(context: int, seen: list[int], *, replies: int = 6):
    """A scripted model that counts 2 characters a token (more than the loop's estimate) and, like
    llama.cpp, refuses a request over its context with HTTP 400 before doing any work."""

    def model(call):
        counted = sum(len(str(m.get("content") or "")) for m in call.prompt) // 2 + len(str(call.tools or "")) // 2
        if counted > context:
            raise ModelAPIError(f"request ({counted} tokens) exceeds the available context size ({context} tokens), "
                                "try increasing it", model="fake", status_code=400)
        seen.append(counted)
        return "Final answer: done" if len(seen) > replies else '```dump\n{"n": 60}\n```'

    return model


@pytest.mark.parametrize("configured", [None, 4096])
async def test_a_server_that_refuses_a_long_request_gets_it_compacted_to_its_own_count(configured):
    # the web agent has no context_tokens, and the 0.5B's page-heavy trajectories outgrew the
    # llama.cpp slot: "request (4158 tokens) exceeds the available context size (4096 tokens)" failed
    # the rollout; and the estimate (3 characters a token) counts fewer tokens than some servers do
    seen: list[int] = []
    config = LoopConfig(actions="text", context_tokens=configured, reply_tokens=256, max_steps=12,
                        observation_chars=8000, repeat_limit=None)
    agent = loop_agent(FunctionModel(fussy_server(2048, seen)), [function_tool(dump)], config)
    rollout = await agent(Task(prompt="dump a lot"), RolloutContext())
    assert rollout.status == "ok" and rollout.output == "done", rollout.error
    assert len(seen) == 7 and max(seen) <= 2048  # every step answered, within the server's count
    assert rollout.metadata["compactions"] >= 2
    whole = [m for m in rollout.trajectory if m.get("name") == "dump"]
    assert len(whole) == 6 and all("shortened" not in m["content"] for m in whole)


async def test_a_request_that_cannot_fit_ends_the_rollout_with_the_servers_reason():
    seen: list[int] = []  # a context too small for even the task: refused again after compaction
    agent = loop_agent(FunctionModel(fussy_server(300, seen)), [function_tool(dump)],
                       LoopConfig(actions="text", reply_tokens=64, max_steps=3))
    rollout = await agent(Task(prompt="the task " * 200), RolloutContext())
    assert rollout.metadata["stop"] == "error" and seen == []
    assert "exceeds the available context size (300 tokens)" in rollout.error


def test_context_overflows_are_read_from_llama_cpp_and_vllm_errors():
    assert context_overflow("HTTP 400: request (4158 tokens) exceeds the available context size (4096 tokens), "
                            "try increasing it") == (4158, 4096)
    assert context_overflow("This model's maximum context length is 2048 tokens. However, you requested 2100 "
                            "tokens (1588 in the messages, 512 in the completion).") == (2100, 2048)
    assert context_overflow("HTTP 503: loading model") is None


def test_stable_compaction_only_appends_between_calls_until_it_must_cut_again():
    msgs = [{"role": "system", "content": "sys"}, {"role": "user", "content": "the task"}]
    sent_before, upto, changes = None, 0, 0
    for i in range(12):  # a growing trajectory: each step 1,000 tokens of observation
        observation = {"role": "user", "content": "Observation:\n" + "z" * 3000}
        msgs += [{"role": "assistant", "content": f"step {i}"}, observation]
        sent, upto = compact_stable(msgs, 4000, upto)
        assert estimate_tokens(sent) <= 4000 and sent[:2] == msgs[:2] and sent[-2:] == msgs[-2:]
        if sent_before is not None and sent[: len(sent_before)] != sent_before:
            changes += 1  # an earlier message changed: the server processes the prompt again
        sent_before = sent
    # compact() cuts a little more each call once over (9 of 11 calls change the prefix here); this far fewer
    assert 1 <= changes <= 4
    plain_changes, before = 0, None
    for n in range(4, len(msgs) + 1, 2):
        sent = compact(msgs[:n], 4000)
        plain_changes += before is not None and sent[: len(before)] != before
        before = sent
    assert plain_changes > changes


def test_a_context_smaller_than_the_reply_is_refused():
    with pytest.raises(ValueError, match="context_tokens"):
        LoopConfig(context_tokens=600, reply_tokens=512)
