"""The real embedded server (llama.cpp's llama-server serving Qwen2.5-Coder-0.5B), started once per
run by the ``llama_server`` fixture. These check the machinery, never whether the model is right.

``/slots`` in this llama.cpp version lists every slot as ``{"id", "n_ctx", "is_processing", ...}``;
a busy slot also has ``id_task`` and ``next_token: [{"n_decoded": ...}, ...]`` (one per choice),
an idle one drops them. ``/metrics`` (on, since ``LlamaCppServer`` passes ``--metrics``) counts
generated tokens (``llamacpp:tokens_predicted_total``, flushed when a slot is released) and
decode steps (``llamacpp:n_decode_total``, growing while any slot generates).

How the server notices a client that left: a streaming request fails its next write at once.
A plain (non-streaming) request is checked only when its handler's 1-second wait for a result
times out, and that wait restarts whenever *any* result is posted (llama.cpp's
``server_response::recv_with_timeout``), e.g. each ``/slots`` answer or each streamed token of
another request. So while other traffic keeps coming faster than once a second, a disconnected
plain request runs on to ``max_tokens``. The tests therefore poll ``/slots`` at most every
``QUIET_POLL`` seconds after cancelling.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

# The first use of the fixture may build llama-server and assemble the model: give it time.
pytestmark = [pytest.mark.llm, pytest.mark.slow, pytest.mark.timeout(1500)]

QUIET_POLL = 2.0


def _client(timeout: float = 300.0) -> httpx.AsyncClient:
    return httpx.AsyncClient(trust_env=False, timeout=timeout)


async def _slots(client: httpx.AsyncClient, base_url: str) -> list[dict]:
    response = await client.get(f"{base_url}/slots")
    response.raise_for_status()
    return response.json()


async def _metrics(client: httpx.AsyncClient, base_url: str) -> dict[str, float]:
    response = await client.get(f"{base_url}/metrics")
    response.raise_for_status()
    values = {}
    for line in response.text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def _decoded(slot: dict) -> int:
    return sum(t.get("n_decoded", 0) for t in slot.get("next_token", []))


async def _wait_for(predicate, seconds: float, what: str, *, every: float = 0.05):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(every)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


async def _idle_and_quiet(client: httpx.AsyncClient, base_url: str) -> dict[str, float]:
    """Wait until no slot is busy and the counters stop moving; return the counters."""
    await _wait_for(
        lambda: _no_busy(client, base_url), 60, "all slots to go idle (left over from an earlier test)"
    )
    return await _metrics(client, base_url)


async def _no_busy(client: httpx.AsyncClient, base_url: str) -> bool:
    return not any(s["is_processing"] for s in await _slots(client, base_url))


def test_the_fixture_exposes_what_clients_need(llama_server):
    assert llama_server.api_base == f"{llama_server.base_url}/v1"
    assert llama_server.model == "hosted_vllm/qwen2.5-coder-0.5b"
    assert llama_server.profile == "chat"
    assert httpx.get(f"{llama_server.base_url}/health", trust_env=False).json() == {"status": "ok"}


async def test_chat_completion_answers(llama_server):
    async with _client() as client:
        response = await client.post(
            f"{llama_server.api_base}/chat/completions",
            json={
                "model": "qwen2.5-coder-0.5b",
                "messages": [{"role": "user", "content": "Reply with one word: pong"}],
                "max_tokens": 16,
                "temperature": 0,
            },
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["choices"][0]["message"]["content"].strip()
    assert body["usage"]["completion_tokens"] > 0


async def test_text_completion_answers(llama_server):
    async with _client() as client:
        response = await client.post(
            f"{llama_server.api_base}/completions",
            json={"model": "qwen2.5-coder-0.5b", "prompt": "def add(a, b):\n    return", "max_tokens": 8},
        )
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["text"].strip()


async def test_eight_concurrent_requests_are_served_by_distinct_slots_at_once(llama_server):
    base = llama_server.base_url
    async with _client() as client:
        await _idle_and_quiet(client, base)
        assert len(await _slots(client, base)) == 8

        async def one(i: int) -> dict:
            response = await client.post(
                f"{llama_server.api_base}/completions",
                json={
                    "model": "qwen2.5-coder-0.5b",
                    "prompt": f"# helper number {i}\ndef helper_{i}(x):",
                    "max_tokens": 48,
                    "ignore_eos": True,  # every request generates all 48 tokens: they overlap for sure
                },
            )
            response.raise_for_status()
            return response.json()

        requests = [asyncio.create_task(one(i)) for i in range(8)]
        most_busy: set[int] = set()
        tasks_seen: set[int] = set()
        while not all(r.done() for r in requests):
            busy = [s for s in await _slots(client, base) if s["is_processing"]]
            if len(busy) > len(most_busy):
                most_busy = {s["id"] for s in busy}
            tasks_seen |= {s["id_task"] for s in busy if "id_task" in s}
            await asyncio.sleep(0.02)
        answers = await asyncio.gather(*requests)
    print(f"most slots busy at once: {len(most_busy)} of 8")
    assert all(a["usage"]["completion_tokens"] == 48 for a in answers)
    assert len(most_busy) == 8, f"only {sorted(most_busy)} were busy together"
    assert len(tasks_seen) >= 8


async def _stream_completion(api_base: str, max_tokens: int, received: list[str]) -> None:
    async with _client() as client:
        body = {
            "model": "qwen2.5-coder-0.5b",
            "prompt": "# a very long module\n",
            "max_tokens": max_tokens,
            "ignore_eos": True,
            "stream": True,
        }
        async with client.stream("POST", f"{api_base}/completions", json=body) as response:
            async for line in response.aiter_lines():
                received.append(line)


async def _plain_completion(api_base: str, max_tokens: int, received: list[str]) -> None:
    async with _client() as client:
        body = {"model": "qwen2.5-coder-0.5b", "prompt": "# a very long module\n", "max_tokens": max_tokens}
        body["ignore_eos"] = True
        received.append((await client.post(f"{api_base}/completions", json=body)).text)


@pytest.mark.parametrize("send", [_stream_completion, _plain_completion], ids=["streaming", "plain"])
async def test_a_cancelled_request_frees_its_slot_and_stops_generating(llama_server, send):
    base, max_tokens = llama_server.base_url, 1500
    async with _client() as client:
        before = await _idle_and_quiet(client, base)
        received: list[str] = []
        request = asyncio.create_task(send(llama_server.api_base, max_tokens, received))

        async def generating_slot():
            busy = [s for s in await _slots(client, base) if s["is_processing"] and _decoded(s) >= 10]
            return busy[0] if busy else None

        slot = await _wait_for(generating_slot, 120, "the request to start generating")
        request.cancel()
        with pytest.raises(asyncio.CancelledError):
            await request

        async def released():
            (now,) = [s for s in await _slots(client, base) if s["id"] == slot["id"]]
            return not now["is_processing"]

        cancelled_at = time.monotonic()
        # Poll gently: see the module docstring for why fast polling would keep a plain request alive.
        await _wait_for(released, 60, f"slot {slot['id']} to go idle after the client left", every=QUIET_POLL)
        print(f"{send.__name__}: slot idle {time.monotonic() - cancelled_at:.1f} s after cancelling")
        first = await _metrics(client, base)
        await asyncio.sleep(1.5)
        second = await _metrics(client, base)
    generated = first["llamacpp:tokens_predicted_total"] - before["llamacpp:tokens_predicted_total"]
    print(f"{send.__name__}: cancelled after {generated:.0f} of {max_tokens} tokens")
    assert second["llamacpp:tokens_predicted_total"] == first["llamacpp:tokens_predicted_total"]
    assert second["llamacpp:n_decode_total"] == first["llamacpp:n_decode_total"], "still decoding"
    assert 10 <= generated < max_tokens


async def test_cancelling_through_the_llm_client_frees_the_slot(llama_server):
    from agentscale.llm import LLM

    base = llama_server.base_url
    async with (
        _client() as client,
        LLM(llama_server.model, api_base=llama_server.api_base, profile=llama_server.profile) as llm,
    ):
        answer = await llm.generate("Reply with one word: pong", max_tokens=8, temperature=0)
        assert answer.text.strip() and answer.usage.completion_tokens > 0

        await _idle_and_quiet(client, base)
        request = asyncio.create_task(
            llm.generate("Count from 1 to 2000, one number per line.", max_tokens=1500)
        )

        async def generating():
            return any(s["is_processing"] and _decoded(s) >= 10 for s in await _slots(client, base))

        await _wait_for(generating, 120, "the LLM's request to start generating")
        request.cancel()
        with pytest.raises(asyncio.CancelledError):
            await request
        await _wait_for(
            lambda: _no_busy(client, base),
            60,
            "the slot to go idle after cancelling the LLM call",
            every=QUIET_POLL,
        )
        first = await _metrics(client, base)
        await asyncio.sleep(1.5)
        assert (await _metrics(client, base))["llamacpp:n_decode_total"] == first["llamacpp:n_decode_total"]
