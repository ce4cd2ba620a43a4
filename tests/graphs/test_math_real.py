"""The agent loop and the math workflow with the real embedded model and real sandboxes.

The Python tool must really run in the sandbox: its observations carry facts only the sandbox has
(uid 65534, no network). Assertions check the machinery, never that the model is right.
"""

from __future__ import annotations

import json
import os

import pytest

from agentscale import Budget, ScaleContext, scale
from agentscale.errors import SandboxUnavailable
from agentscale.graphs import LoopConfig, PythonTool, loop_agent
from agentscale.graphs.math import GroundedAnswer, MathConfig, gsm_tasks, math_agent
from agentscale.llm import LLM
from agentscale.rollout import RolloutContext
from agentscale.testing import FakeModel, FunctionModel
from agentscale.types import Task

pytestmark = pytest.mark.slow
BACKENDS = [
    pytest.param("docker", marks=pytest.mark.docker, id="docker"),
    pytest.param("bwrap", marks=pytest.mark.bwrap, id="bwrap"),
]

PROBE = """import os, socket
print("uid", os.getuid())
try:
    socket.create_connection(("1.1.1.1", 53), timeout=2)
    print("network: yes")
except OSError:
    print("network: none")
print("answer", 6 * 7)
"""


@pytest.fixture(params=BACKENDS)
async def pool(request):
    from agentscale.sandboxes import open_pool

    try:
        async with open_pool(request.param, size=2) as pool:
            yield pool
    except SandboxUnavailable as exc:  # pragma: no cover - depends on the host
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{request.param} unavailable under CI: {exc}")
        pytest.skip(f"{request.param} unavailable: {exc}")


@pytest.fixture
async def docker_pool():
    from agentscale.sandboxes import open_pool

    try:
        async with open_pool("docker", size=2) as pool:
            yield pool
    except SandboxUnavailable as exc:  # pragma: no cover - depends on the host
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"docker unavailable under CI: {exc}")
        pytest.skip(f"docker unavailable: {exc}")


async def test_python_tool_runs_in_the_sandbox_not_on_the_host(pool):
    async with pool.lease() as sandbox:
        out = await PythonTool(timeout=20)({"code": PROBE}, RolloutContext(sandbox=sandbox))
        assert "uid 65534" in out and "network: none" in out and "answer 42" in out
        assert os.getuid() != 65534  # the host runs the tests as another user
        looping = await PythonTool(timeout=2)({"code": "while True: pass"}, RolloutContext(sandbox=sandbox))
        assert "timed out after 2 s" in looping


@pytest.mark.llm
@pytest.mark.docker
async def test_real_model_reads_a_real_sandbox_observation(llama_server, docker_pool):
    """Step 1 is scripted (the probe); every later step is the real model's, on the real observation."""
    pool = docker_pool
    async with LLM(llama_server.model, api_base=llama_server.api_base, timeout=600) as llm:

        async def first_step_scripted(call):
            if len(call.prompt) == 2:
                return f"I check where I run.\n```python\n{PROBE}```"
            out = await llm.generate(call.prompt, temperature=0.0, max_tokens=call.max_tokens, stop=call.stop)
            return out.text

        model = FunctionModel(first_step_scripted)
        agent = loop_agent(model, [PythonTool(timeout=20)], LoopConfig(actions="text", max_steps=3, plain_final=True))
        task = Task(prompt="What user id does your Python code run as? Run code to find out, then answer.")
        graph = scale(agent, "best_of_n", n=1)
        state = await graph.ainvoke(
            {"task": task}, context=ScaleContext(sandboxes=pool, budget=Budget(max_tokens=8000))
        )
    (rollout,) = state["rollouts"]
    assert rollout.status == "ok", rollout.error
    observation = rollout.trajectory[3]
    assert observation["role"] == "user" and observation["name"] == "python"
    assert "uid 65534" in observation["content"] and "network: none" in observation["content"]
    assert len(model.calls) >= 2 and rollout.metadata["steps"] >= 2  # the real model took the next step
    print("real model after the probe:", [m["content"][:200] for m in rollout.trajectory[4:]])


@pytest.mark.llm
@pytest.mark.docker
@pytest.mark.parametrize("actions", ["text", "tools"])
async def test_math_agent_end_to_end_on_gsm(llama_server, docker_pool, actions):
    """Two rollouts of the math agent on a GSM problem, each in its own real sandbox, in either format."""
    (task,) = gsm_tasks([0])
    pool = docker_pool
    async with LLM(llama_server.model, api_base=llama_server.api_base, timeout=600) as llm:
        agent = math_agent(llm, MathConfig(actions=actions, max_steps=3, reply_tokens=300))
        graph = scale(agent, "majority", n=2, verifier=GroundedAnswer())
        state = await graph.ainvoke(
            {"task": task}, context=ScaleContext(sandboxes=pool, budget=Budget(max_tokens=30_000))
        )
    assert state["selected"].status in ("chosen", "none_passed"), state["selected"]
    for rollout in state["rollouts"]:
        assert rollout.status == "ok", rollout.error
        assert rollout.metadata["actions"] == actions and 1 <= rollout.metadata["steps"] <= 3
        assert rollout.usage.total_tokens > 0 and rollout.trajectory[0]["role"] == "system"
        calls = {c["id"] for m in rollout.trajectory if m["role"] == "assistant" for c in m.get("tool_calls") or []}
        answered = {m["tool_call_id"] for m in rollout.trajectory if m["role"] == "tool"}
        assert answered == calls  # every native call answered by a tool message (none in the text format)
        for m in rollout.trajectory:
            if m.get("name") == "python" or m["role"] == "tool":
                assert "Error: the python tool runs code only in a sandbox" not in m["content"]
        verdict = state["verdicts"][rollout.id]
        print(actions, rollout.metadata, repr(rollout.answer), "expected", task.expected, verdict.feedback)
        print(json.dumps(rollout.trajectory[2:], indent=1)[:1500])
    assert {r.provenance.seed for r in state["rollouts"]} == {0, 1}


async def test_a_program_that_never_ends_is_killed_in_the_sandbox_and_the_agent_goes_on(pool):
    """A scripted model; the programs really run (and the first is really killed) in the sandbox."""
    replies = ["```python\nwhile True:\n    pass\n```", "```python\nprint(6 * 7)\n```", "Final answer: 42"]
    agent = math_agent(FakeModel(replies), MathConfig(python_timeout=2))
    graph = scale(agent, "best_of_n", n=1, verifier=GroundedAnswer())
    state = await graph.ainvoke({"task": Task(prompt="6 * 7?")}, context=ScaleContext(sandboxes=pool))
    (rollout,) = state["rollouts"]
    seen = [m["content"] for m in rollout.trajectory if m.get("name") == "python"]
    assert "timed out after 2 s" in seen[0]
    assert seen[1] == "Observation:\n42"  # the same leased sandbox still runs programs after the kill
    assert rollout.answer == "42" and state["verdicts"][rollout.id].passed
