"""Issue 18's pieces with the real embedded 0.5B model: wider-or-deeper search, planned sampling,
RTV, trajectory summaries and PDR. They assert the machinery (structured votes and summaries
parse, refinements reach the model with their parents, judge calls are counted and charged),
never that the small model judged or answered well."""

from __future__ import annotations

import pytest

from agentscale import Budget, Rollout, Task
from agentscale.agents import LLMAgent
from agentscale.selectors import RecursiveTournament
from agentscale.strategies import ParallelDistillRefine, Planned, ScaleContext, WiderDeeper, scale, search_tree
from agentscale.summaries import Summarizer
from agentscale.verifiers import AnswerChecker

pytestmark = [pytest.mark.llm, pytest.mark.slow]

MATH = Task(id="mul", prompt="What is 17 * 23? Reply with the number only.", expected="391")
ADD = Task(id="add", prompt="Write a Python function add(a, b) that returns the sum of a and b.")
CANDIDATES = [
    Rollout(id="right", task_id="add", output="```python\ndef add(a, b):\n    return a + b\n```"),
    Rollout(id="wrong", task_id="add", output="```python\ndef add(a, b):\n    return a - b\n```"),
    Rollout(id="empty", task_id="add", output="I am not sure."),
]


@pytest.fixture
async def llm(llama_server):
    from agentscale.llm import LLM

    async with LLM(llama_server.model, api_base=llama_server.api_base, profile=llama_server.profile) as client:
        yield client


async def test_rtv_votes_parse_and_are_counted(llm):
    from agentscale.llm import LLM

    budget = Budget(max_tokens=50_000)
    async with LLM(llm.config, budget=budget) as judge:
        rtv = RecursiveTournament(judge, votes=4, reason_chars=0, max_tokens=20)
        result = await rtv.narrow(ADD, CANDIDATES, {})
    groups = [g for r in result.rounds for g in r if g.decided_by != "bye"]
    assert result.winners[0] in {r.id for r in CANDIDATES} and len(result.rounds) == 2
    assert result.votes_read == result.votes_asked == 4 * len(groups)  # the schema makes every vote readable
    assert result.calls == 2 * len(groups) and budget.spent.calls == result.calls
    print(f"\nRTV: {result.winners} ({[g.votes for g in groups]})")


async def test_the_model_summarises_an_agent_trajectory(llm):
    trajectory = [
        {"role": "user", "content": "Fix add so the test passes."},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "bash", "arguments": '{"cmd": "pytest -q"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "name": "bash", "content": "FAILED test_add: assert add(1, 2) == 3"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c2", "type": "function", "function": {"name": "edit", "arguments": '{"old": "-", "new": "+"}'}}]},
        {"role": "tool", "tool_call_id": "c2", "name": "edit", "content": "edited add.py"},
    ]  # fmt: skip
    rollout = Rollout(id="r", task_id="add", output="-    return a - b\n+    return a + b", trajectory=trajectory)
    summary = await Summarizer(llm, max_tokens=300).summarize(ADD, rollout)
    assert summary.source == "model" and summary.final == rollout.output.strip()
    assert all(isinstance(h, str) for h in summary.hypotheses + summary.failure_modes)
    print(f"\n{summary.text()}")


async def test_wider_deeper_refines_with_the_real_model(llm):
    budget = Budget(max_tokens=20_000)
    graph = scale(LLMAgent(llm, max_tokens=24), WiderDeeper(n=4, batch=2), verifier=AnswerChecker())
    state = await graph.ainvoke({"task": MATH}, context=ScaleContext(budget=budget))
    tree = search_tree(state["rollouts"], state["verdicts"])
    assert 2 <= len(tree.nodes) <= 4 and state["stop_reason"] in {"target", "max rollouts"}
    for node in tree.nodes.values():
        rollout = next(r for r in state["rollouts"] if r.id == node.id)
        assert rollout.ok and rollout.usage.total_tokens > 0
        assert node.parent is None or rollout.provenance.parents == [node.parent]
    assert budget.spent.total_tokens == sum(r.usage.total_tokens for r in state["rollouts"])
    print(f"\n{state['stop_reason']}: {[(n.depth, n.score) for n in tree.nodes.values()]}")


async def test_planned_sampling_with_the_real_model(llm):
    graph = scale(LLMAgent(llm, max_tokens=24), Planned(n=6, wave=2), verifier=AnswerChecker())
    state = await graph.ainvoke({"task": MATH}, context=ScaleContext(budget=Budget(max_tokens=20_000)))
    assert 2 <= len(state["rollouts"]) <= 6
    assert state["stop_reason"] in {"passed", "flat", "max rollouts"}
    assert (state["stop_reason"] == "passed") == any(v.passed for v in state["verdicts"].values())


async def test_pdr_second_wave_builds_on_the_first_with_the_real_model(llm):
    strategy = ParallelDistillRefine(n=2, refine=1, k=2, votes=2, judge=llm)
    graph = scale(LLMAgent(llm, max_tokens=24), strategy, verifier=AnswerChecker())
    state = await graph.ainvoke({"task": MATH}, context=ScaleContext(budget=Budget(max_tokens=20_000)))
    first = [r for r in state["rollouts"] if r.provenance.generation == 0]
    (second,) = [r for r in state["rollouts"] if r.provenance.generation == 1]
    assert len(first) == 2 and second.ok and set(second.provenance.parents) <= {r.id for r in first}
    assert state["selected"].rollout_id == second.id
