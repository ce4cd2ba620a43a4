"""A managed server that dies mid-run: restarted once for every caller, interrupted requests sent
again, the restart reported in the LangGraph run's custom stream, and a server that keeps dying
reported instead of restarted in a loop. The stand-in server is the scripted OpenAI-compatible
server of ``tests/llm`` run as a process, so these take seconds."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any, TypedDict

import pytest
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph

from agentscale.errors import ConfigError, ServerError
from agentscale.llm import LLM
from agentscale.servers import ManagedServer

SCRIPTED = Path(__file__).resolve().parents[1] / "llm" / "scripted_server.py"


class ScriptedProcess(ManagedServer):
    """The scripted server as a process; every request streams tokens for ``seconds``."""

    kind = "scripted"

    def __init__(self, seconds: float = 1.5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seconds = seconds

    @property
    def served_name(self) -> str:
        return "test-model"

    def identity(self) -> dict[str, Any]:
        return {"seconds": self.seconds}

    def command(self, port: int) -> list[str]:
        return [sys.executable, str(SCRIPTED), str(port), "slow", str(self.seconds)]


class State(TypedDict, total=False):
    texts: list[str]


def _graph(llm: LLM, calls: int):
    async def ask(state: State) -> State:
        get_stream_writer()({"event": "asking", "calls": calls})
        outs = await asyncio.gather(*(llm.generate("hi") for _ in range(calls)))
        return {"texts": [o.text for o in outs]}

    builder = StateGraph(State)
    builder.add_node("ask", ask)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", END)
    return builder.compile()


async def _kill_when_busy(srv: ManagedServer, events: list[dict]) -> int:
    while not events:  # the node has started asking
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.4)  # the requests are streaming now
    pid = srv.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    return pid


async def test_a_server_killed_mid_request_is_restarted_once_and_the_requests_sent_again(tmp_path):
    async with ScriptedProcess(cache_dir=tmp_path, reuse=False) as srv:
        port = srv.port
        llm = LLM(srv.model, endpoint=srv.endpoint(), max_retries=0, timeout=30)  # no ordinary retries
        events: list[dict] = []

        async def run():
            async for event in _graph(llm, 4).astream({}, stream_mode="custom"):
                events.append(event)

        runner = asyncio.create_task(run())
        killed = await _kill_when_busy(srv, events)
        await asyncio.wait_for(runner, 60)

        [restart] = [e for e in events if e.get("event") == "server_restarted"]
        assert restart["old_pid"] == killed and restart["pid"] == srv.pid != killed
        assert restart["exit_status"] == -signal.SIGKILL and restart["restarts"] == 1
        assert restart["log"] == str(srv.log_path) and restart["api_base"] == srv.api_base
        assert srv.restarts == 1 and srv.port == port  # one restart for four callers, same port
        log = srv.log_path.read_text()
        assert log.count("$ ") == 2 and f"the server (pid {killed}) exited with status -9" in log  # both runs
        assert llm.endpoint.in_flight == 0
        await llm.aclose()


async def test_the_endpoint_follows_a_server_that_had_to_move(tmp_path):
    async with ScriptedProcess(seconds=0.2, cache_dir=tmp_path, reuse=False) as srv:
        llm = LLM(srv.model, endpoint=srv.endpoint(), max_retries=0)
        await llm.generate("hi")
        os.kill(srv.pid, signal.SIGKILL)
        await asyncio.sleep(0.3)
        squatter = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", srv.port)  # takes the port
        try:
            old = srv.port
            out = await llm.generate("hi again")
            assert out.text and srv.restarts == 1 and srv.port != old
            assert llm.endpoint.api_base == srv.api_base
        finally:
            squatter.close()
        await llm.aclose()


async def test_a_server_that_keeps_dying_is_reported_not_restarted_forever(tmp_path):
    async with ScriptedProcess(seconds=0.2, cache_dir=tmp_path, reuse=False) as srv:
        llm = LLM(srv.model, endpoint=srv.endpoint(), max_retries=2, retry_initial_wait=0.01)
        os.kill(srv.pid, signal.SIGKILL)
        assert (await llm.generate("hi")).text  # restarted once
        second = srv.pid
        os.kill(second, signal.SIGKILL)
        with pytest.raises(ServerError) as info:
            await llm.generate("hi")
        message = str(info.value)
        assert "scripted server 'test-model'" in message and f"pid {second}" in message
        assert "not restarting it again" in message and str(srv.log_path) in message
        assert info.value.log_path == str(srv.log_path)
        assert srv.restarts == 1
        with pytest.raises(ServerError):  # and stays reported: no second restart on a later call
            await llm.generate("hi")
        assert srv.restarts == 1
        await llm.aclose()


async def test_a_running_server_is_not_restarted_for_a_refused_request(tmp_path):
    async with ScriptedProcess(seconds=0.2, cache_dir=tmp_path, reuse=False, max_restarts=0) as srv:
        assert await srv.recover(0) is False  # alive: the failure was something else
        pid = srv.pid
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(ServerError, match="max_restarts=0"):
            await srv.recover(0)
    with pytest.raises(ConfigError):
        ScriptedProcess(max_restarts=-1)
