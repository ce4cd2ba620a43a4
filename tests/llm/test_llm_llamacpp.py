"""LLM against the real embedded llama.cpp server (Qwen2.5-Coder-0.5B-Instruct, 8 slots).

Assertions are about the machinery (requests, usage, slots), never about the model being right.
"""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from agentscale import Budget, BudgetExhausted
from agentscale.llm import LLM, tool_result
from agentscale.types import Rollout, Task
from agentscale.verifiers import LLMJudge

pytestmark = [
    pytest.mark.llm,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:Items? .*ReadOnly:UserWarning"),
]


# Long timeouts: on a loaded 2-core machine 40 tokens can take minutes.
TIMEOUT = 900


@pytest.fixture
async def llm(llama_server):
    options = dict(api_base=llama_server.api_base, profile=llama_server.profile, timeout=TIMEOUT)
    async with LLM(llama_server.model, **options) as llm:
        yield llm


async def test_chat_through_llm(llm):
    out = await llm.generate(
        [
            {"role": "system", "content": "You answer in one word."},
            {"role": "user", "content": "Is water wet?"},
        ],
        max_tokens=8,
        temperature=0.0,
    )
    assert out.text.strip()
    assert out.finish_reasons[0] in ("stop", "length")
    usage = out.usage
    assert usage.prompt_tokens > 10 and 0 < usage.completion_tokens <= 8
    assert usage.calls == 1 and usage.seconds > 0 and usage.cost_usd == 0.0


async def test_text_completion_through_llm(llama_server):
    async with LLM(llama_server.model, api_base=llama_server.api_base, profile="completion") as llm:
        code = await llm.generate("def add(a, b):\n    return", max_tokens=6, temperature=0.0)
        assert code.text.strip() and 0 < code.usage.completion_tokens <= 6
        chat = await llm.generate([{"role": "user", "content": "Say hi."}], max_tokens=6)
        assert chat.usage.prompt_tokens > 3 and chat.usage.completion_tokens > 0


async def test_n_samples_in_one_request(llm):
    out = await llm.generate("Name an animal.", n=4, max_tokens=6, temperature=1.0, logprobs=True)
    assert len(out.texts) == 4 and all(t.strip() for t in out.texts)
    assert out.usage.calls == 1  # one HTTP request carried all four
    assert 4 <= out.usage.completion_tokens <= 24
    assert all(r in ("stop", "length") for r in out.finish_reasons)
    assert len(out.logprobs) == 4 and all(lp is not None and lp <= 0 for lp in out.logprobs)


# Seven stops: the first five never occur in the reply, the 6th and 7th do.
STOPS = ["@@", "%%", "~~~", "<<>>", "^^^", " 8,", " 9,"]


@pytest.mark.parametrize(
    ("profile", "prompt"), [("chat", "Count from 1 to 20, separated by commas."), ("completion", "1, 2, 3,")]
)
async def test_the_sixth_and_seventh_stop_sequences_stop_the_reply(llama_server, profile, prompt):
    async with LLM(llama_server.model, api_base=llama_server.api_base, profile=profile, timeout=TIMEOUT) as llm:
        free = await llm.generate(prompt, temperature=0.0, max_tokens=40)
        out = await llm.generate(prompt, temperature=0.0, max_tokens=40, stop=STOPS)
    seen = {s: free.text.find(s) for s in STOPS if s in free.text}
    assert set(seen) <= set(STOPS[5:]) and seen, f"the reply without stops must pass 8 or 9: {free.text!r}"
    assert out.finish_reasons == ["stop"]
    assert out.text == free.text[: min(seen.values())]  # cut where the first of them began


@pytest.mark.parametrize("stream", [True, False])
async def test_usage_of_three_choices_is_their_sum(llama_server, stream):
    budget = Budget()
    # ignore_eos: every choice runs to max_tokens, so the sum is known exactly
    options = dict(
        api_base=llama_server.api_base, stream=stream, extra_body={"ignore_eos": True}, budget=budget, timeout=TIMEOUT
    )
    async with LLM(llama_server.model, **options) as llm:
        out = await llm.generate("Count from 1 to 100.", n=3, max_tokens=20, temperature=1.0)
    assert len(out.texts) == 3 and out.finish_reasons == ["length"] * 3
    assert out.usage.completion_tokens == 60 and out.usage.calls == 1
    assert budget.spent.completion_tokens == 60 and budget.spent.calls == 1


LOOKUP = {
    "type": "function",
    "function": {
        "name": "lookup",
        "description": "Look up the secret code word for a colour.",
        "parameters": {"type": "object", "properties": {"colour": {"type": "string"}}, "required": ["colour"]},
    },
}


async def test_a_tool_call_its_result_and_a_final_answer(llm):
    messages = [
        {"role": "system", "content": "Answer the user's question in one sentence, using the tool results."},
        {"role": "user", "content": "What is the secret code word for blue?"},
    ]
    # Qwen2.5-Coder-0.5B writes the call's JSON without the <tool_call> tags llama-server parses;
    # the LLM reads such a bare call (LLMConfig.bare_tool_calls).
    out = await llm.generate(messages, tools=[LOOKUP], temperature=0.0, max_tokens=40)
    assert out.finish_reasons == ["tool_calls"], out.text
    [[call]] = out.tool_calls
    assert call["function"]["name"] == "lookup" and isinstance(json.loads(call["function"]["arguments"]), dict)
    messages += [out.message(0), tool_result(call, "walrus")]
    final = await llm.generate(messages, temperature=0.0, max_tokens=30)
    print(f"call: {call['function']}; final answer: {final.text!r}")
    assert final.text.strip() and final.tool_calls == [] and final.finish_reasons == ["stop"]


async def test_a_schema_constrained_judge_verdict_always_parses(llm):
    judge = LLMJudge(llm, max_tokens=120)
    task = Task(prompt="What is 2 + 3?")
    for output in ("5", "2 + 3 = 6", "I am not sure, maybe ask someone else."):
        verdict = await judge.verify(task, Rollout(task_id=task.id, output=output))
        [reply] = verdict.evidence["replies"]  # read on the first ask
        data = json.loads(reply)  # strict JSON: no lenient parsing needed
        assert set(data) == {"score", "reason"} and isinstance(data["score"], int) and 0 <= data["score"] <= 10
        assert verdict.evidence["judge_score"] == data["score"]


async def test_a_repeated_prompt_is_served_from_the_prefix_cache(llm):
    prompt = "Here is a long preamble that the server should keep in its prefix cache. " * 6 + "Say ok."
    first = await llm.generate(prompt, max_tokens=2, temperature=0.0)
    second = await llm.generate(prompt, max_tokens=2, temperature=0.0)
    assert second.usage.prompt_tokens == first.usage.prompt_tokens
    assert second.usage.cached_tokens > first.usage.prompt_tokens // 2


async def test_budget_stops_the_next_call_and_keeps_the_finished_one(llama_server):
    budget = Budget(max_tokens=5)
    async with LLM(llama_server.model, api_base=llama_server.api_base, budget=budget) as llm:
        first = await llm.generate("Say hi.", max_tokens=4)
        with pytest.raises(BudgetExhausted):
            await llm.generate("Say hi again.", max_tokens=4)
    assert first.text and budget.spent.calls == 1
    assert budget.spent.total_tokens == first.usage.total_tokens


async def test_cancelling_a_call_frees_its_slot(llm, llama_server):
    async with httpx.AsyncClient(base_url=llama_server.base_url, timeout=30) as http:
        task = asyncio.create_task(
            llm.generate("Count from 1 to 1000, one number per line.", max_tokens=1500)
        )
        busy = await _wait_for(
            http, lambda slots: [s for s in slots if s["is_processing"] and _decoded(s) >= 3]
        )
        [slot_id] = [s["id"] for s in busy]
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        idle = await _wait_for(
            http, lambda slots: [s for s in slots if s["id"] == slot_id and not s["is_processing"]]
        )
        decoded = _decoded(idle[0])
        await asyncio.sleep(1.0)
        [later] = [s for s in (await http.get("/slots")).json() if s["id"] == slot_id]
        assert not later["is_processing"] and _decoded(later) == decoded  # generation stopped
        assert decoded < 1000


def _decoded(slot) -> int:
    return sum(t.get("n_decoded", 0) for t in slot.get("next_token", []))


async def _wait_for(http, pick, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = pick((await http.get("/slots")).json())
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError("the server's /slots never showed the expected state")


async def test_langgraph_tool_node_runs_the_models_tool_call(llm):
    from langchain_core.messages import HumanMessage, SystemMessage, ToolMessage
    from langchain_core.tools import tool
    from langgraph.graph import END, START, MessagesState, StateGraph
    from langgraph.prebuilt import ToolNode

    from agentscale.llm import ChatAgentscale

    @tool
    def lookup(colour: str) -> str:
        """Look up the secret code word for a colour."""
        return {"blue": "walrus"}.get(colour.lower(), "unknown")

    chat = ChatAgentscale(llm=llm, temperature=0.0, max_tokens=40)
    messages = [
        SystemMessage("Answer the user's question in one sentence, using the tool results."),
        HumanMessage("What is the secret code word for blue?"),
    ]
    ai = await chat.bind_tools([lookup]).ainvoke(messages)
    assert [c["name"] for c in ai.tool_calls] == ["lookup"] and ai.usage_metadata["output_tokens"] > 0
    graph = StateGraph(MessagesState)
    graph.add_node("tools", ToolNode([lookup]))
    graph.add_edge(START, "tools")
    graph.add_edge("tools", END)
    result = await graph.compile().ainvoke({"messages": [*messages, ai]})
    answer = result["messages"][-1]
    assert isinstance(answer, ToolMessage) and answer.tool_call_id == ai.tool_calls[0]["id"]
    assert answer.content == "walrus" or answer.content == "unknown"
    final = await chat.ainvoke([*messages, ai, answer])
    assert final.content.strip() and not final.tool_calls


async def test_a_trajectory_over_the_real_slot_is_compacted_to_the_context_the_server_names(llm):
    # the web agent sets no context; on the 0.5B a trajectory of pages outgrew the llama.cpp slot and
    # "request (4158 tokens) exceeds the available context size (4096 tokens)" lost the rollout.
    # Three scripted steps fill the trajectory (~6k tokens, the slot holds 2048), then the real model
    # answers: the server refuses the first request, the loop compacts to the size it named.
    from agentscale.graphs import LoopConfig, function_tool, loop_agent
    from agentscale.graphs.compaction import context_overflow
    from agentscale.rollout import RolloutContext
    from agentscale.testing import FakeModel

    async def dump(n: int) -> str:
        """Print n lines of output."""
        return "\n".join(f"{i}: " + "lorem ipsum dolor sit amet " * 3 for i in range(n))

    with pytest.raises(Exception) as refused:  # what the real server says, read as the loop reads it
        await llm.generate([{"role": "user", "content": await dump(400)}], max_tokens=8)
    assert context_overflow(refused.value) is not None and context_overflow(refused.value)[1] == 2048

    class ScriptedThenReal:
        def __init__(self) -> None:
            self.script = FakeModel(['```dump\n{"n": 80}\n```'] * 3)
            self.calls = 0

        async def generate(self, prompt, **kwargs):
            self.calls += 1
            return await (self.script if self.calls <= 3 else llm).generate(prompt, **kwargs)

    config = LoopConfig(actions="text", reply_tokens=64, max_steps=4, observation_chars=8000, repeat_limit=None)
    rollout = await loop_agent(ScriptedThenReal(), [function_tool(dump)], config)(
        Task(prompt="Print 80 lines three times, then say what the last line says."), RolloutContext())
    assert rollout.metadata["stop"] != "error", rollout.error  # the real model answered the 4th step
    assert rollout.metadata["steps"] == 4 and rollout.metadata["compactions"] >= 1
