"""The model layer records every call's usage in the rollout's ledger, so an agent that calls
``LLM(budget=b)`` and also reports its usage is charged exactly once (real HTTP, scripted server)."""

from __future__ import annotations

import pytest

from agentscale import Budget, Rollout, Task
from agentscale.agents import LLMAgent
from agentscale.budget import usage_ledger
from agentscale.strategies import ScaleContext, scale

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:Items? .*ReadOnly:UserWarning"),  # pydantic on litellm's types
]

TASK = Task(id="t", prompt="hi")


async def test_every_call_is_measured_budget_or_not(make_llm):
    llm = make_llm()  # no budget
    with usage_ledger() as ledger:
        out = await llm.generate("hi", n=2)
    assert ledger.measured == out.usage and out.usage.calls == 1


async def test_a_function_agent_using_a_charging_llm_and_reporting_usage_is_charged_once(make_llm):
    budget = Budget()
    llm = make_llm(budget=budget)

    async def agent(task: Task) -> Rollout:
        out = await llm.generate(task.prompt)  # charges the budget itself
        return Rollout(task_id=task.id, output=out.text, usage=out.usage)  # and reports the same usage

    state = await scale(agent, n=3).ainvoke({"task": TASK}, context=ScaleContext(budget=budget))
    per_rollout = [r.usage for r in state["rollouts"]]
    assert all(u.calls == 1 and u.total_tokens == 9 for u in per_rollout)  # the scripted server's 7 + 2
    assert budget.spent.calls == 3 and budget.spent.total_tokens == 27


@pytest.mark.parametrize("charging", [False, True])
async def test_an_llm_agent_is_charged_once(make_llm, charging):
    budget = Budget()
    llm = make_llm(budget=budget if charging else None)
    state = await scale(LLMAgent(llm), n=2).ainvoke({"task": TASK}, context=ScaleContext(budget=budget))
    assert [r.output for r in state["rollouts"]] == ["hello world"] * 2
    assert budget.spent.calls == 2 and budget.spent.total_tokens == 18
