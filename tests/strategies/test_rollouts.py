"""Parallel rollouts: fan-out, failure isolation, timeouts, streaming, budget, diversity, composition."""

from __future__ import annotations

import asyncio
import operator
from typing import Annotated, TypedDict

import pytest
from _strategy_helpers import ScoreVerifier, rollout
from langgraph.graph import END, START, StateGraph

from agentscale import Budget, ConfigError, RolloutRequest, Task
from agentscale.agents import LLMAgent, as_agent
from agentscale.prompts import render_request
from agentscale.state import ScaleState
from agentscale.strategies import (
    Diversity,
    PrepareRequests,
    RunRollout,
    ScaleContext,
    Select,
    fan_out,
    run_request,
    scale,
)
from agentscale.testing import FakeModel, FunctionModel

TASK = Task(id="t1", prompt="What is 6 * 7?")


def _length_score(text: str) -> float:
    return len(text) / 10


async def test_best_of_n_keeps_the_best_scored_rollout():
    async def agent(task: Task, request: RolloutRequest):
        return rollout(task, "x" * (request.index + 1))

    graph = scale(agent, n=5, verifier=ScoreVerifier(_length_score))
    state = await graph.ainvoke({"task": TASK}, context=ScaleContext())
    assert len(state["rollouts"]) == 5
    assert len(state["verdicts"]) == 5
    chosen = next(r for r in state["rollouts"] if r.id == state["selected"].rollout_id)
    assert chosen.output == "xxxxx"


async def test_a_failing_or_hanging_rollout_does_not_kill_its_siblings():
    async def agent(task: Task, request: RolloutRequest):
        i = request.index
        if i == 1:
            raise RuntimeError("tool crashed")
        if i == 2:
            await asyncio.sleep(30)
        return rollout(task, f"answer {i}")

    graph = scale(agent, n=4, timeout=0.5)
    state = await graph.ainvoke({"task": TASK}, context=ScaleContext())
    by_index = {r.metadata["index"]: r for r in state["rollouts"]}
    assert sorted(by_index) == [0, 1, 2, 3]
    assert by_index[1].status == "error" and by_index[1].error == "RuntimeError: tool crashed"
    assert by_index[2].status == "error" and "timed out after 0.5 s" in by_index[2].error
    assert by_index[0].ok and by_index[3].ok
    assert state["selected"].rollout_id in {by_index[0].id, by_index[3].id}


async def test_all_rollouts_failing_is_an_outcome_not_a_crash():
    async def agent(task: Task, request: RolloutRequest):
        raise ValueError("nope")

    state = await scale(agent, n=3).ainvoke({"task": TASK}, context=ScaleContext())
    assert [r.status for r in state["rollouts"]] == ["error"] * 3
    assert state["selected"].rollout_id is None
    assert "no successful rollouts" in state["selected"].reason


async def test_a_verifier_that_raises_gives_a_failing_verdict():
    class Broken:
        async def verify(self, task, rollout):
            raise OSError("sandbox gone")

    async def agent(task: Task, request: RolloutRequest):
        return rollout(task, "ok")

    state = await scale(agent, n=2, verifier=Broken()).ainvoke({"task": TASK}, context=ScaleContext())
    assert all(not v.passed and "sandbox gone" in v.feedback for v in state["verdicts"].values())


async def test_cancellation_is_never_swallowed():
    started = asyncio.Event()

    async def agent(task: Task, request: RolloutRequest):
        started.set()
        await asyncio.sleep(30)

    job = asyncio.create_task(
        run_request(as_agent(agent), TASK, RolloutRequest(), ctx=ScaleContext(), write=lambda e: None)
    )
    await started.wait()
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job


async def test_a_fast_rollout_streams_out_before_a_slow_one_finishes():
    release = asyncio.Event()

    async def agent(task: Task, request: RolloutRequest):
        if request.index == 0:
            await release.wait()  # the slow one finishes only once the fast one was seen
        return rollout(task, f"r{request.index}")

    graph = scale(agent, n=2)
    seen = []

    async def consume():
        async for mode, chunk in graph.astream(
            {"task": TASK}, context=ScaleContext(), stream_mode=["updates", "custom"]
        ):
            seen.append((mode, chunk))
            if mode == "updates" and "rollout" in chunk and not release.is_set():
                assert chunk["rollout"]["rollouts"][0].output == "r1"  # the fast one, while r0 still runs
                release.set()

    await asyncio.wait_for(consume(), timeout=10)  # would hang if the fast result were held back
    events = [c["event"] for m, c in seen if m == "custom"]
    assert events.count("rollout_started") == 2 and events.count("rollout_finished") == 2
    assert events[-1] == "selected"
    finished = [c for m, c in seen if m == "custom" and c["event"] == "rollout_finished"]
    assert [f["index"] for f in finished] == [1, 0]


async def test_concurrency_is_bounded_by_the_context():
    running = 0
    peak = 0

    async def agent(task: Task, request: RolloutRequest):
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.02)
        running -= 1
        return rollout(task, "x")

    state = await scale(agent, n=6).ainvoke({"task": TASK}, context=ScaleContext(max_concurrency=2))
    assert len(state["rollouts"]) == 6
    assert peak == 2


async def test_usage_is_counted_per_rollout_and_charged_to_the_budget_once():
    model = FakeModel(["the answer is 42"], cycle=True)
    budget = Budget()
    state = await scale(LLMAgent(model), n=3).ainvoke({"task": TASK}, context=ScaleContext(budget=budget))
    per_rollout = [r.usage for r in state["rollouts"]]
    assert all(u.calls == 1 and u.completion_tokens == 4 and u.prompt_tokens > 0 for u in per_rollout)
    assert budget.spent.total_tokens == sum(u.total_tokens for u in per_rollout)
    assert budget.spent.calls == 3
    assert budget.rollouts_started == 3


async def test_budget_exhaustion_stops_cleanly_and_keeps_finished_rollouts():
    async def agent(task: Task, request: RolloutRequest):
        return rollout(task, f"answer {request.index}", tokens=50)  # 100 tokens each

    budget = Budget(max_tokens=250)
    ctx = ScaleContext(budget=budget, max_concurrency=1)  # one at a time, so the budget is seen in between
    state = await scale(agent, n=6, verifier=ScoreVerifier(lambda s: 0.5)).ainvoke(
        {"task": TASK}, context=ctx
    )
    statuses = [r.status for r in sorted(state["rollouts"], key=lambda r: r.metadata["index"])]
    assert statuses == ["ok", "ok", "ok", "budget", "budget", "budget"]
    assert budget.spent.total_tokens == 300
    assert state["selected"].rollout_id in {r.id for r in state["rollouts"] if r.ok}


async def test_max_rollouts_budget_caps_how_many_start():
    async def agent(task: Task, request: RolloutRequest):
        return rollout(task, "x")

    ctx = ScaleContext(budget=Budget(max_rollouts=2))
    state = await scale(agent, n=5).ainvoke({"task": TASK}, context=ctx)
    assert sorted(r.status for r in state["rollouts"]) == ["budget"] * 3 + ["ok"] * 2


async def test_diversity_reaches_the_model_through_the_llm_agent():
    model = FunctionModel(lambda call: "42")
    diversity = Diversity(temperatures=(0.2, 1.0), seed=100, prompt_variants=(None, "Think step by step."))
    state = await scale(LLMAgent(model, system="Be brief."), n=4, diversity=diversity).ainvoke(
        {"task": TASK}, context=ScaleContext()
    )
    calls = sorted(model.calls, key=lambda c: c.seed)
    assert [c.seed for c in calls] == [100, 101, 102, 103]
    assert [c.temperature for c in calls] == [0.2, 1.0, 0.2, 1.0]
    assert [c.prompt[-1]["content"].endswith("Think step by step.") for c in calls] == [
        False,
        True,
        False,
        True,
    ]
    assert all(c.prompt[0] == {"role": "system", "content": "Be brief."} for c in calls)
    prov = sorted((r.provenance.seed, r.provenance.temperature) for r in state["rollouts"])
    assert prov == [(100, 0.2), (101, 1.0), (102, 0.2), (103, 1.0)]


async def test_llm_agent_switches_models_by_sample():
    small, large = FunctionModel(lambda c: "s", name="small"), FunctionModel(lambda c: "l", name="large")
    agent = LLMAgent({"small": small, "large": large})
    state = await scale(agent, n=4, diversity=Diversity(models=("small", "large"))).ainvoke(
        {"task": TASK}, context=ScaleContext()
    )
    assert len(small.calls) == 2 and len(large.calls) == 2
    assert sorted(r.provenance.model for r in state["rollouts"]) == ["large", "large", "small", "small"]


async def test_plan_search_conditions_each_rollout_on_a_plan():
    planner = FakeModel(["Use a loop.", "Use recursion."])
    seen = []

    async def agent(task: Task, request: RolloutRequest):
        assert task == TASK  # the task as given; the plan comes in the request
        seen.append(render_request(task, request))
        return rollout(task, "x")

    await scale(agent, n=4, plans=2).ainvoke({"task": TASK}, context=ScaleContext(model=planner))
    assert sum("Follow this plan:\nUse a loop." in p for p in seen) == 2
    assert sum("Follow this plan:\nUse recursion." in p for p in seen) == 2
    assert planner.calls[0].n == 2


async def test_a_compiled_graph_is_an_agent():
    class AgentState(TypedDict, total=False):
        task: Task
        request: RolloutRequest
        output: str

    async def solve(state: AgentState) -> dict:
        return {"output": f"solved with seed {state['request'].seed}"}

    inner = (
        StateGraph(AgentState)
        .add_node("solve", solve)
        .add_edge(START, "solve")
        .add_edge("solve", END)
        .compile()
    )
    state = await scale(inner, n=2).ainvoke({"task": TASK}, context=ScaleContext())
    assert sorted(r.output for r in state["rollouts"]) == ["solved with seed 0", "solved with seed 1"]


async def test_an_agent_that_takes_a_sandbox_gets_its_own_lease():
    from agentscale.testing import FakeSandboxProvider

    provider = FakeSandboxProvider()

    async def agent(task: Task, sandbox):
        result = await sandbox.run("echo hi")
        return rollout(task, str(result.exit_code))

    state = await scale(agent, n=3).ainvoke({"task": TASK}, context=ScaleContext(sandboxes=provider))
    assert len(provider.leased) == 3 and all(len(s.commands) == 1 for s in provider.leased)
    assert all(r.ok for r in state["rollouts"])


async def test_the_nodes_work_in_a_users_own_graph():
    class MyState(ScaleState, total=False):
        log: Annotated[list[str], operator.add]

    async def announce(state: MyState) -> dict:
        return {"log": [f"picked {state['selected'].rollout_id}"]}

    async def agent(task: Task, request: RolloutRequest):
        return rollout(task, "y" * (request.index + 1))

    builder = StateGraph(MyState, context_schema=ScaleContext)
    builder.add_node("prepare", PrepareRequests(3))
    builder.add_node("rollout", RunRollout(agent))
    builder.add_node("select", Select())
    builder.add_node("announce", announce)
    builder.add_edge(START, "prepare")
    builder.add_conditional_edges("prepare", fan_out, ["rollout", "select"])
    builder.add_edge("rollout", "select")
    builder.add_edge("select", "announce")
    builder.add_edge("announce", END)
    graph = builder.compile()
    state = await graph.ainvoke({"task": TASK}, context=ScaleContext(verifier=ScoreVerifier(_length_score)))
    winner = next(r for r in state["rollouts"] if r.id == state["selected"].rollout_id)
    assert winner.output == "yyy"
    assert state["log"] == [f"picked {winner.id}"]


def test_bad_options_are_config_errors():
    async def agent(task):
        return "x"

    with pytest.raises(ConfigError, match="unknown strategy"):
        scale(agent, strategy="best_of_everything")
    with pytest.raises(ConfigError, match="n must be"):
        scale(agent, n=0)
    with pytest.raises(ConfigError, match="cannot use"):
        scale(lambda task: "sync", n=1)
    with pytest.raises(ConfigError, match="max_concurrency"):
        ScaleContext(max_concurrency=0)
    with pytest.raises(ConfigError, match="empty"):
        Diversity(temperatures=())


async def test_a_model_client_that_charges_the_budget_itself_is_not_charged_twice():
    budget = Budget()
    model = FakeModel(["42"], cycle=True)

    class ChargingModel:
        """Like agentscale.llm.LLM(budget=...): charges its budget on every call."""

        def __init__(self) -> None:
            self.budget = budget

        async def generate(self, prompt, **kwargs):
            completion = await model.generate(prompt, **kwargs)
            self.budget.charge(completion.usage)
            return completion

    state = await scale(LLMAgent(ChargingModel()), n=3).ainvoke(
        {"task": TASK}, context=ScaleContext(budget=budget)
    )
    assert budget.spent.calls == 3
    assert budget.spent.total_tokens == sum(r.usage.total_tokens for r in state["rollouts"])


async def test_a_budget_that_runs_out_inside_the_agent_is_a_budget_stop():
    from agentscale import BudgetExhausted

    async def agent(task: Task, request: RolloutRequest):
        raise BudgetExhausted("tokens")

    state = await scale(agent, n=2).ainvoke({"task": TASK}, context=ScaleContext())
    assert [r.status for r in state["rollouts"]] == ["budget", "budget"]


async def test_invoking_without_a_context_is_a_clear_error():
    async def agent(task: Task, request: RolloutRequest):
        return rollout(task, "x")

    with pytest.raises(ConfigError, match="context=ScaleContext"):
        await scale(agent, n=2).ainvoke({"task": TASK})


async def test_the_verify_node_verifies_what_is_not_verified_yet():
    from agentscale.strategies import Verify

    async def agent(task: Task, request: RolloutRequest):
        return rollout(task, "z" * (request.index + 1))

    verifier = ScoreVerifier(_length_score)
    builder = StateGraph(ScaleState, context_schema=ScaleContext)
    builder.add_node("prepare", PrepareRequests(3))
    builder.add_node("rollout", RunRollout(agent))  # no verifier here or in the context
    builder.add_node("verify", Verify(verifier))
    builder.add_node("select", Select())
    builder.add_edge(START, "prepare")
    builder.add_conditional_edges("prepare", fan_out, ["rollout", "select"])
    builder.add_edge("rollout", "verify")
    builder.add_edge("verify", "select")
    builder.add_edge("select", END)
    state = await builder.compile().ainvoke({"task": TASK}, context=ScaleContext())
    assert len(state["verdicts"]) == 3 and len(verifier.seen) == 3
    winner = next(r for r in state["rollouts"] if r.id == state["selected"].rollout_id)
    assert winner.output == "zzz"
