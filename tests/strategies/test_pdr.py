"""Parallel-Distill-Refine: the second wave's prompts carry the summaries RTV chose from the first,
the final pick is RTV over the second wave, and the judge's work is charged."""

from __future__ import annotations

import json
import re

import pytest

from agentscale import Budget, ConfigError, RolloutRequest, Task, Usage, registry
from agentscale.prompts import render_request
from agentscale.strategies import DISTILL, ParallelDistillRefine, ScaleContext, scale
from agentscale.testing import FunctionModel
from agentscale.types import Rollout

TASK = Task(id="t", prompt="Fix the bug.")


def judge_model() -> FunctionModel:
    """Summaries: 'plan <q>'; votes: the attempt with the highest quality."""

    def reply(call) -> str:
        text = call.prompt[-1]["content"]
        if "summarise" in call.prompt[0]["content"]:
            quality = re.search(r"quality=(\d+)", text)[1]
            return json.dumps({"hypotheses": [f"plan {quality}"], "progress": f"got to {quality}", "failure_modes": []})
        qualities = [int(q) for q in re.findall(r"quality=(\d+)", text)]
        return json.dumps({"reason": "", "choice": max(range(len(qualities)), key=lambda i: qualities[i]) + 1})

    return FunctionModel(reply)


FIRST = [3, 11, 7, 1, 9, 4, 10, 2]


def agent_with_steps(prompts: dict[int, str]):
    """First wave: quality FIRST[i] with a tool step; second wave: quality 100 + i."""

    async def agent(task: Task, request: RolloutRequest):
        prompts[request.index] = render_request(task, request)
        quality = FIRST[request.index] if request.generation == 0 else 100 + request.index
        trajectory = [
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "c", "type": "function", "function": {"name": "run", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c", "name": "run", "content": f"quality={quality}"},
        ]  # fmt: skip
        usage = Usage(prompt_tokens=10, completion_tokens=10, calls=1)
        return Rollout(task_id=task.id, output=f"answer quality={quality}", trajectory=trajectory, usage=usage)

    return agent


async def test_the_second_wave_carries_the_summaries_rtv_chose():
    prompts: dict[int, str] = {}
    model = judge_model()
    budget = Budget(max_tokens=10**9)
    graph = scale(agent_with_steps(prompts), ParallelDistillRefine(n=8, refine=3, k=4))
    events, state = [], None
    async for mode, chunk in graph.astream(
        {"task": TASK}, context=ScaleContext(model=model, budget=budget), stream_mode=["custom", "values"]
    ):
        if mode == "custom" and chunk["event"] == "distill":
            events.append(chunk)
        elif mode == "values":
            state = chunk
    (event,) = events
    first = {r.id: r for r in state["rollouts"] if r.provenance.generation == 0}
    second = [r for r in state["rollouts"] if r.provenance.generation == 1]
    assert len(first) == 8 and len(second) == 3 and state["stop_reason"] == "refined"
    chosen = event["chosen"]
    assert len(chosen) == 4 and set(chosen) <= set(first)
    chosen_q = {int(re.search(r"quality=(\d+)", first[i].output)[1]) for i in chosen}
    assert 11 in chosen_q  # the best survives any pairing
    others = {int(re.search(r"quality=(\d+)", r.output)[1]) for i, r in first.items() if i not in chosen}
    for index in (8, 9, 10):  # every second-wave prompt carries the 4 chosen summaries and nothing else
        prompt = prompts[index]
        for q in chosen_q:
            assert f"Tried: plan {q}" in prompt and f"Progress: got to {q}" in prompt
        for q in others:
            assert f"plan {q}\n" not in prompt and f"quality={q}\n" not in prompt
        assert prompt.rstrip().endswith(DISTILL)
    assert all(r.provenance.parents == chosen and r.provenance.strategy == "pdr" for r in second)
    # the final pick is RTV over the second wave only
    winner = next(r for r in state["rollouts"] if r.id == state["selected"].rollout_id)
    assert winner.output == "answer quality=110"
    assert "recursive tournament" in state["selected"].reason
    # judging was charged: 8 + 3 summaries, 4 + 2 groups of two rotations
    summaries = [c for c in model.calls if "summarise" in c.prompt[0]["content"]]
    assert len(summaries) == 8 + 3 and len(model.calls) - len(summaries) == (4 + 2) * 2
    assert budget.spent.calls == 11 + len(model.calls)


async def test_single_shot_rollouts_are_distilled_without_summary_calls():
    seen: list[RolloutRequest] = []

    async def agent(task: Task, request: RolloutRequest):
        seen.append(request)
        quality = FIRST[request.index] if request.generation == 0 else 50
        return Rollout(task_id=task.id, output=f"def f(): return {quality}  # quality={quality}")

    model = judge_model()
    state = await scale(agent, "pdr", n=4, k=2, votes=2).ainvoke({"task": TASK}, context=ScaleContext(model=model))
    assert all("summarise" not in c.prompt[0]["content"] for c in model.calls)
    second = [r for r in seen if r.generation == 1]
    assert len(second) == 4
    (kept,) = {tuple(c.output for c in r.candidates) for r in second}
    assert len(kept) == 2 and "def f(): return 11  # quality=11" in kept
    assert state["selected"].rollout_id is not None


async def test_pdr_needs_a_judge_and_checks_its_settings():
    async def agent(task: Task, request: RolloutRequest):
        return Rollout(task_id=task.id, output="x")

    with pytest.raises(ConfigError, match="needs a judge"):
        await scale(agent, "pdr", n=2).ainvoke({"task": TASK}, context=ScaleContext())
    for bad in ({"k": 0}, {"group_size": 1}, {"votes": 0}, {"refine": 0}, {"judge": "gpt"}):
        with pytest.raises(ConfigError):
            scale(agent, "pdr", **bad)
    assert registry.load("strategies", "pdr") is ParallelDistillRefine
