"""Agent adapters and the built-in LLMAgent."""

from __future__ import annotations

import pytest

from agentscale import ConfigError, Rollout, Task
from agentscale.agents import FunctionAgent, GraphAgent, LLMAgent, as_agent, sample_of, task_for_sample
from agentscale.state import Sample
from agentscale.testing import FakeModel

TASK = Task(id="t", prompt="Say hi.")


async def test_llm_agent_renders_calls_and_reports():
    model = FakeModel(["The answer is 7"], cycle=True)
    agent = LLMAgent(
        model,
        render=lambda task: [{"role": "user", "content": f"Q: {task.prompt}"}],
        extract=lambda text: text.split()[-1],
        max_tokens=64,
        temperature=0.3,
    )
    r = await agent(TASK)  # run directly: no sample attached
    call = model.calls[0]
    assert call.prompt == [{"role": "user", "content": "Q: Say hi."}]
    assert (call.max_tokens, call.temperature, call.seed) == (64, 0.3, None)
    assert r.output == "The answer is 7" and r.answer == "7" and r.usage.calls == 1
    assert r.trajectory[-1] == {"role": "assistant", "content": "The answer is 7"}
    assert r.metadata["finish_reason"] == "stop"

    await agent(task_for_sample(TASK, Sample(index=3, seed=9, temperature=1.1)))
    assert (model.calls[1].seed, model.calls[1].temperature) == (9, 1.1)


async def test_llm_agent_rejects_unknown_model_names():
    agent = LLMAgent({"a": FakeModel(["x"])})
    with pytest.raises(ConfigError, match="no model 'b'"):
        await agent(task_for_sample(TASK, Sample(index=0, model="b")))


async def test_as_agent_adapts_functions_and_checks_their_results():
    async def returns_text(task):
        return "hello"

    async def returns_junk(task):
        return 42

    agent = as_agent(returns_text)
    assert isinstance(agent, FunctionAgent) and not agent.wants_sandbox
    r = await agent(TASK)
    assert isinstance(r, Rollout) and r.output == "hello" and r.task_id == "t"
    with pytest.raises(TypeError, match="expected a Rollout or a str"):
        await as_agent(returns_junk)(TASK)
    llm_agent = LLMAgent(FakeModel(["x"]))
    assert as_agent(llm_agent) is llm_agent
    with pytest.raises(ConfigError, match="only to LangGraph graphs"):
        as_agent(returns_text, output=lambda s: s)


async def test_graph_agent_reads_messages_and_their_usage():
    from langchain_core.messages import AIMessage, HumanMessage

    class FakeGraph:
        def get_graph(self):  # what as_agent looks for, with ainvoke
            return None

        async def ainvoke(self, payload, **kwargs):
            assert sample_of(payload["task"]) is None
            ai = AIMessage(
                content="done", usage_metadata={"input_tokens": 5, "output_tokens": 2, "total_tokens": 7}
            )
            return {"messages": [HumanMessage(content="go"), ai]}

    agent = as_agent(FakeGraph())
    assert isinstance(agent, GraphAgent)
    r = await agent(TASK)
    assert r.output == "done"
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.calls) == (5, 2, 1)
    assert [m["role"] for m in r.trajectory] == ["human", "ai"]
