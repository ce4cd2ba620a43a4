"""LLM against the real embedded llama.cpp server (Qwen2.5-Coder-0.5B-Instruct, 8 slots).

Assertions are about the machinery (requests, usage, slots), never about the model being right.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from agentscale import Budget, BudgetExhausted
from agentscale.llm import LLM

pytestmark = [
    pytest.mark.llm,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:Items? .*ReadOnly:UserWarning"),
]


@pytest.fixture
async def llm(llama_server):
    async with LLM(llama_server.model, api_base=llama_server.api_base, profile=llama_server.profile) as llm:
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
