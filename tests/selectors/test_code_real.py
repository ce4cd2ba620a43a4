"""Behaviour clustering on the real sandbox backends (Docker, bubblewrap) through a warm pool."""

from __future__ import annotations

import os

import pytest

from agentscale.datasets import load_humaneval
from agentscale.errors import SandboxUnavailable
from agentscale.selectors import code_selection
from agentscale.types import Rollout

pytestmark = pytest.mark.slow
BACKENDS = [
    pytest.param("docker", marks=pytest.mark.docker, id="docker"),
    pytest.param("bwrap", marks=pytest.mark.bwrap, id="bwrap"),
]


@pytest.fixture(params=BACKENDS)
async def pool(request):
    from agentscale.sandboxes import SandboxLimits, open_pool

    try:
        async with open_pool(request.param, size=2, limits=SandboxLimits(timeout=60, memory_mb=256, pids=64)) as pool:
            yield pool
    except SandboxUnavailable as exc:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{request.param} unavailable under CI: {exc}")
        pytest.skip(f"{request.param} unavailable: {exc}")


async def test_default_code_selection_breaks_a_tie_on_humaneval(pool):
    """HumanEval/26 (remove elements that occur more than once): four programs pass the one
    docstring example; two are right, one drops only the numbers seen exactly twice, one loops
    on an empty list (and loses only that input). The default picks a right one, even with the wrong one first."""
    task = load_humaneval([26])[0]
    right = task.metadata["canonical_solution"]
    twice = "    return [n for n in numbers if numbers.count(n) != 2]\n"
    loops = "    while not numbers:\n        pass\n" + right
    right_2 = "    return [n for n in numbers if numbers.count(n) == 1]\n"
    rollouts = [Rollout(id=str(i), task_id=task.id, output=o) for i, o in enumerate([twice, loops, right, right_2])]
    chosen = code_selection(pool)
    verdicts = {r.id: await chosen.verifier.verify(task, r) for r in rollouts}
    assert verdicts["0"].passed and verdicts["1"].passed and verdicts["2"].passed
    selection = await chosen.selector.select(task, rollouts, verdicts)
    assert selection.rollout_id in {"1", "2", "3"}, selection.reason
    assert selection.rollout_id != "0"
