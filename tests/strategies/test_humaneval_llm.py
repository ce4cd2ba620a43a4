"""Best-of-N through scale() on real HumanEval problems, with the real embedded model and a real
sandbox running each docstring's examples. Asserts the machinery, never that the model is right."""

from __future__ import annotations

import shutil

import pytest

from agentscale import Budget
from agentscale.agents import LLMAgent
from agentscale.datasets import load_humaneval
from agentscale.prompts import render_notes
from agentscale.strategies import Diversity, ScaleContext, scale
from agentscale.types import RolloutRequest, Task

pytestmark = [
    pytest.mark.llm,
    pytest.mark.slow,
    # about 20 s on an idle 2-core machine; a loaded one can slow generation to ~1 token/s
    pytest.mark.timeout(1800),
    pytest.mark.skipif(not (shutil.which("docker") or shutil.which("bwrap")), reason="no sandbox backend"),
]

SYSTEM = "You are an expert Python programmer. Reply with one complete Python function in a ```python block."


def render(task: Task, request: RolloutRequest) -> str:
    extra = "\n\n".join(render_notes(request))  # an agent rendering the request its own way
    return f"Complete this function:\n\n```python\n{task.prompt}```\n\n{extra}".strip()


async def test_best_of_n_on_two_humaneval_problems(llama_server):
    from agentscale.llm import LLM
    from agentscale.sandboxes import open_pool
    from agentscale.verifiers import DocstringExamplesVerifier

    tasks = load_humaneval([0, 2])
    budget = Budget()
    async with (
        # generous timeouts: on a shared 2-core machine generation can slow to a few tokens/s
        LLM(
            llama_server.model, api_base=llama_server.api_base, profile=llama_server.profile, timeout=900
        ) as llm,
        open_pool("auto", size=2) as pool,
    ):
        agent = LLMAgent(llm, system=SYSTEM, render=render, max_tokens=192)
        graph = scale(
            agent, n=2, verifier=DocstringExamplesVerifier(pool), diversity=Diversity(temperatures=(0.2, 0.8))
        )
        for task in tasks:
            events = []
            state = None
            ctx = ScaleContext(budget=budget, max_concurrency=2)
            async for mode, chunk in graph.astream(
                {"task": task}, context=ctx, stream_mode=["custom", "values"]
            ):
                if mode == "custom":
                    events.append(chunk["event"])
                else:
                    state = chunk
            rollouts = state["rollouts"]
            assert len(rollouts) == 2
            finished = [r for r in rollouts if r.ok]
            assert finished, [r.error for r in rollouts]
            assert all(r.usage.completion_tokens > 0 and r.usage.calls == 1 for r in finished)
            assert {r.provenance.temperature for r in rollouts} == {0.2, 0.8}
            # every finished rollout was run in the sandbox
            assert set(state["verdicts"]) == {r.id for r in finished}
            assert all(v.verifier == "docstring_examples" for v in state["verdicts"].values())
            assert state["selected"].rollout_id in {r.id for r in finished}
            best = max(v.score for v in state["verdicts"].values())
            assert state["verdicts"][state["selected"].rollout_id].score == best
            assert events.count("rollout_finished") == 2 and events.count("verdict") == len(finished)
    assert budget.spent.calls >= 2 and budget.spent.total_tokens > 0
    assert budget.rollouts_started == 4
