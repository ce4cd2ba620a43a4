"""Every rollout is charged to the run's budget exactly once, whatever the agent is and whatever runs it."""

from __future__ import annotations

import copy
import dataclasses
from typing import TypedDict

from _strategy_helpers import ScoreVerifier
from langgraph.graph import END, START, StateGraph

from agentscale import Budget, Rollout, RolloutRequest, Task, Usage, Verdict
from agentscale.agents import LLMAgent
from agentscale.budget import usage_ledger
from agentscale.executor import AsyncioExecutor
from agentscale.rollout import RolloutContext, RolloutJob, RolloutResult, run_rollout
from agentscale.state import ScaleState
from agentscale.strategies import ScaleContext, Verify, scale
from agentscale.testing import FakeModel

TASK = Task(id="t", prompt="What is 2+2?")


class _ChargingModel:
    """Like ``agentscale.llm.LLM(budget=b)``: charges its budget on every call (and the ledger measures it)."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.inner = FakeModel(["4"], cycle=True)

    async def generate(self, prompt, **options):
        completion = await self.inner.generate(prompt, **options)
        self.budget.charge(completion.usage)
        return completion


async def test_a_graph_agent_with_dict_messages_is_charged():
    class State(TypedDict, total=False):
        task: Task
        request: RolloutRequest
        messages: list

    async def act(state: State) -> dict:
        usage = {"prompt_tokens": 3, "completion_tokens": 2}
        answer = {"role": "assistant", "content": "4", "usage": usage}
        return {"messages": [{"role": "user", "content": "2+2?"}, answer]}

    graph = StateGraph(State).add_node("act", act).add_edge(START, "act").add_edge("act", END).compile()
    budget = Budget(max_tokens=5)  # one rollout spends it all
    state = await scale(graph, n=3).ainvoke({"task": TASK}, context=ScaleContext(budget=budget, max_concurrency=1))
    assert budget.spent.total_tokens == 5 and budget.spent.calls == 1
    assert sorted(r.status for r in state["rollouts"]) == ["budget", "budget", "ok"]


async def test_a_function_whose_model_charges_and_that_reports_usage_is_charged_once():
    budget = Budget()
    model = _ChargingModel(budget)

    async def agent(task: Task) -> Rollout:
        completion = await model.generate(task.prompt)
        return Rollout(task_id=task.id, output=completion.text, usage=completion.usage)  # reported too

    state = await scale(agent, n=3).ainvoke({"task": TASK}, context=ScaleContext(budget=budget))
    assert budget.spent.calls == 3
    # 3 prompt words + 1 reply word per rollout, each counted once
    assert budget.spent.total_tokens == sum(r.usage.total_tokens for r in state["rollouts"]) == 3 * 4


async def test_an_llm_agent_is_charged_once_whether_its_model_charges_or_not():
    for charging in (False, True):
        budget = Budget()
        model = _ChargingModel(budget) if charging else FakeModel(["4"], cycle=True)
        state = await scale(LLMAgent(model), n=2).ainvoke({"task": TASK}, context=ScaleContext(budget=budget))
        assert budget.spent.calls == 2, charging
        assert budget.spent.total_tokens == sum(r.usage.total_tokens for r in state["rollouts"])


async def test_a_graph_whose_messages_report_what_its_model_measured_is_charged_once():
    from langchain_core.messages import AIMessage

    model = FakeModel(["4"], cycle=True)

    class State(TypedDict, total=False):
        task: Task
        request: RolloutRequest
        messages: list

    async def act(state: State) -> dict:
        completion = await model.generate(state["task"].prompt)  # measured by the ledger
        u = completion.usage
        meta = {"input_tokens": u.prompt_tokens, "output_tokens": u.completion_tokens, "total_tokens": u.total_tokens}
        return {"messages": [AIMessage(content=completion.text, usage_metadata=meta)]}  # and reported

    graph = StateGraph(State).add_node("act", act).add_edge(START, "act").add_edge("act", END).compile()
    budget = Budget()
    state = await scale(graph, n=2).ainvoke({"task": TASK}, context=ScaleContext(budget=budget))
    assert budget.spent.calls == 2 and budget.spent.total_tokens == 2 * 4
    assert all(r.usage.total_tokens == 4 for r in state["rollouts"])


async def test_what_a_failed_rollout_spent_is_charged_too():
    model = FakeModel(["4"], cycle=True)

    async def agent(task: Task) -> Rollout:
        await model.generate(task.prompt)
        raise RuntimeError("the tool crashed after the model call")

    budget = Budget()
    state = await scale(agent, n=2).ainvoke({"task": TASK}, context=ScaleContext(budget=budget))
    assert [r.status for r in state["rollouts"]] == ["error", "error"]
    assert budget.spent.calls == 2 and all(r.usage.calls == 1 for r in state["rollouts"])
    assert state["selected"].status == "none_ran"


async def test_a_judges_calls_are_not_the_rollouts_usage():
    judge = FakeModel(["PASS"], cycle=True)

    class JudgingVerifier:
        async def verify(self, task, rollout):
            await judge.generate("is it right?")
            return Verdict(rollout_id=rollout.id, score=1.0, passed=True)

    model = FakeModel(["4"], cycle=True)
    graph = scale(LLMAgent(model), n=2, verifier=JudgingVerifier())
    state = await graph.ainvoke({"task": TASK}, context=ScaleContext())
    assert len(judge.calls) == 2
    assert all(r.usage.calls == 1 for r in state["rollouts"])


class _RemoteLikeExecutor:
    """Runs each job as a remote worker would: on copies (the budget included), never touching ours."""

    def __init__(self) -> None:
        self.local = AsyncioExecutor(4)
        self.jobs: list[RolloutJob] = []

    async def run(self, job: RolloutJob) -> RolloutResult:
        self.jobs.append(job)
        if job.rollout is None and (stopped := job.admit()) is not None:
            return stopped
        shipped = dataclasses.replace(job, budget=copy.deepcopy(job.budget), emit=lambda event: None)
        with usage_ledger(detached=True):  # another process: our ledgers never see its work
            return await run_rollout(shipped)


async def test_any_executor_charges_exactly_once():
    async def agent(task: Task, run: RolloutContext) -> Rollout:
        usage = Usage(prompt_tokens=4, completion_tokens=1, calls=1)
        run.budget.charge(usage)  # the agent's model charges the budget it was handed
        return Rollout(task_id=task.id, output="4", usage=usage)

    for executor in (AsyncioExecutor(2), _RemoteLikeExecutor()):
        budget = Budget()
        ctx = ScaleContext(budget=budget, executor=executor)
        state = await scale(agent, n=3).ainvoke({"task": TASK}, context=ctx)
        assert budget.spent.total_tokens == 15 and budget.spent.calls == 3, executor
        assert budget.rollouts_started == 3
        assert len(state["rollouts"]) == 3


async def test_rollouts_and_verifications_go_through_the_executor():
    executor = _RemoteLikeExecutor()

    async def agent(task: Task) -> str:
        return "4"

    verifier = ScoreVerifier(lambda s: 1.0)
    ctx = ScaleContext(executor=executor)
    for strategy in ("best_of_n", "first_finish", "adaptive"):
        executor.jobs.clear()
        await scale(agent, strategy, n=2, verifier=verifier).ainvoke({"task": TASK}, context=ctx)
        assert executor.jobs and all(job.rollout is None for job in executor.jobs), strategy
    verify_only = StateGraph(ScaleState, context_schema=ScaleContext)
    verify_only.add_node("verify", Verify(verifier))
    verify_only.add_edge(START, "verify")
    executor.jobs.clear()
    given = Rollout(task_id="t", output="4")
    out = await verify_only.compile().ainvoke({"task": TASK, "rollouts": [given]}, context=ctx)
    assert len(executor.jobs) == 1 and executor.jobs[0].rollout == given
    assert out["verdicts"][given.id].passed
