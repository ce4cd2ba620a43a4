"""The embedded server killed in the middle of a best-of-8 run: the run finishes, finished rollouts
are kept, the interrupted ones are sent again to the restarted server, and the restart shows in
the run's progress stream. A private server (``reuse=False``), since this one gets killed."""

from __future__ import annotations

import os
import signal

import pytest

from agentscale import LLMAgent, ScaleContext, scale
from agentscale.llm import LLM
from agentscale.servers import LlamaCppServer
from agentscale.types import Task

pytestmark = [pytest.mark.llm, pytest.mark.slow, pytest.mark.timeout(1500)]


class Recorder:
    """The model, noting the server's restart count as each call returns (no call is made twice)."""

    def __init__(self, llm: LLM, server: LlamaCppServer) -> None:
        self.llm, self.server, self.returned = llm, server, []

    async def generate(self, prompt, **options):
        out = await self.llm.generate(prompt, **options)
        self.returned.append((self.server.restarts, out.text))
        return out


async def test_a_server_killed_mid_run_is_restarted_and_the_run_finishes(tmp_path):
    async with LlamaCppServer(parallel=8, ctx_size=8192, reuse=False, startup_timeout=300) as srv:
        llm = LLM(srv.model, endpoint=srv.endpoint(), profile=srv.profile, timeout=900, max_retries=0)
        model = Recorder(llm, srv)
        graph = scale(LLMAgent(model, max_tokens=48), n=8)
        task = Task(prompt="Write one sentence about the sea.")
        events, finished_before = [], []
        killed: list[int] = []
        async for mode, chunk in graph.astream(
            {"task": task}, context=ScaleContext(), stream_mode=["custom", "values"]
        ):
            if mode == "custom":
                events.append(chunk)
                if chunk.get("event") == "rollout_finished" and not killed:
                    finished_before = list(model.returned)
                    killed.append(srv.pid)
                    os.kill(srv.pid, signal.SIGKILL)  # the other rollouts are mid-request
            else:
                state = chunk
        await llm.aclose()

    restarts = [e for e in events if e.get("event") == "server_restarted"]
    assert len(restarts) == 1 and restarts[0]["old_pid"] == killed[0] and srv.restarts == 1
    rollouts = state["rollouts"]
    assert len(rollouts) == 8 and all(r.ok for r in rollouts), [r.error for r in rollouts]
    assert len(model.returned) == 8  # one call per rollout: nothing finished was redone
    assert finished_before and all(n == 0 for n, _ in finished_before)
    kept = {text for _, text in finished_before}
    assert kept <= {r.output for r in rollouts}  # finished before the kill, kept as they were
    assert sum(1 for n, _ in model.returned if n == 1) >= 1  # the interrupted ones, on the new server
    assert state.get("selected") is not None
