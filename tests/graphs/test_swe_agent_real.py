"""The SWE agent with the real embedded model in a real Docker sandbox, on one generated fixture task.

Lean on purpose (a few steps, one rollout): the first step is scripted (a search, so there is a real
observation to read), every later step is the real model's. A 0.5B model rarely fixes the bug, so
only the machinery is asserted: real tool observations from the sandbox, the context compacted to
the server's slot instead of failing, and an output that is a diff or empty.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agentscale.errors import SandboxUnavailable
from agentscale.graphs.swe import (
    PythonDeps,
    RepoSource,
    SWEConfig,
    load_instances,
    materialize_repos,
    swe_agent,
    swe_task,
)
from agentscale.llm import LLM
from agentscale.rollout import RolloutContext
from agentscale.testing import FunctionModel

# a few real calls: about a minute on an idle 2-core machine; the timeout leaves room for a busy one
pytestmark = [pytest.mark.slow, pytest.mark.llm, pytest.mark.docker, pytest.mark.timeout(1800)]
TASKS = Path(__file__).resolve().parents[1] / "fixtures" / "swe" / "tasks.jsonl"


def _cache() -> Path:
    value = os.environ.get("AGENTSCALE_CACHE")
    return (Path(value) if value else Path.home() / ".cache" / "agentscale") / "swe"


async def test_real_model_works_the_repository_in_a_docker_sandbox(llama_server):
    from agentscale.sandboxes import SandboxLimits, open_sandbox

    instance = load_instances(TASKS).instances["pypi__inflection-0.5.1-07"]
    assert materialize_repos([instance], _cache() / "repos", _cache()) == {}
    repos, deps = RepoSource(root=_cache() / "repos"), PythonDeps(_cache() / "deps")
    slot = 16384 // 8  # the test server's context per slot: the trajectory must be compacted to fit
    config = SWEConfig(actions="text", max_steps=3, reply_tokens=160, context_tokens=slot, command_timeout=30)
    async with LLM(llama_server.model, api_base=llama_server.api_base, timeout=600) as llm:

        async def first_step_scripted(call):
            if not any(m["role"] == "assistant" for m in call.prompt):
                return 'I look for the function.\n```search\n{"pattern": "def camelize"}\n```'
            out = await llm.generate(call.prompt, temperature=0.0, max_tokens=call.max_tokens, stop=call.stop)
            return out.text

        model = FunctionModel(first_step_scripted)
        try:
            async with open_sandbox("docker", limits=SandboxLimits(timeout=60)) as sandbox:
                rollout = await swe_agent(model, repos, config, deps=deps)(
                    swe_task(instance), RolloutContext(sandbox=sandbox)
                )
        except SandboxUnavailable as exc:  # pragma: no cover - depends on the host
            if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
                pytest.fail(f"docker unavailable under CI: {exc}")
            pytest.skip(f"docker unavailable: {exc}")
    assert rollout.status == "ok", rollout.error
    search = rollout.trajectory[3]
    assert search["name"] == "search" and "inflection/__init__.py:" in search["content"]  # grep ran in the checkout
    assert len(model.calls) >= 2 and rollout.metadata["steps"] >= 2  # the real model took the next steps
    assert rollout.output == "" or rollout.output.startswith("diff --git a/")
    assert rollout.metadata["patch_lines"] == len(rollout.output.splitlines())
    print("stop:", rollout.metadata["stop"], "compactions:", rollout.metadata.get("compactions", 0))
    print("real model's steps:", [str(m.get("content"))[:160] for m in rollout.trajectory[4:]])
