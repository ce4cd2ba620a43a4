"""Agent adapters and the built-in LLMAgent: what an agent receives, what comes back, and its shape."""

from __future__ import annotations

import json
from typing import TypedDict

import pytest
from langgraph.graph import END, START, MessagesState, StateGraph

from agentscale import Budget, ConfigError, Rollout, RolloutRequest, Task
from agentscale.agents import FunctionAgent, GraphAgent, LLMAgent, as_agent
from agentscale.rollout import RolloutContext
from agentscale.strategies import ScaleContext, scale
from agentscale.testing import FakeModel, FakeSandboxProvider

TASK = Task(id="t", prompt="Say hi.")


async def test_llm_agent_renders_calls_and_reports():
    model = FakeModel(["The answer is 7"], cycle=True)
    agent = LLMAgent(
        model,
        render=lambda task, request: [{"role": "user", "content": f"Q: {task.prompt}"}],
        extract=lambda text: text.split()[-1],
        max_tokens=64,
        temperature=0.3,
    )
    r = await agent(TASK)  # run directly: a default request
    call = model.calls[0]
    assert call.prompt == [{"role": "user", "content": "Q: Say hi."}]
    assert (call.max_tokens, call.temperature, call.seed) == (64, 0.3, None)
    assert r.output == "The answer is 7" and r.answer == "7" and r.usage.calls == 1
    assert r.trajectory[-1] == {"role": "assistant", "content": "The answer is 7"}
    assert r.metadata["finish_reason"] == "stop"

    await agent(TASK, RolloutContext(request=RolloutRequest(index=3, seed=9, temperature=1.1)))
    assert (model.calls[1].seed, model.calls[1].temperature) == (9, 1.1)


async def test_llm_agent_renders_the_request_by_default_and_can_use_the_runs_model():
    model = FakeModel(["x"], cycle=True)
    request = RolloutRequest(prompt_variant="Be brief.", lessons=["Greet politely."])
    await LLMAgent()(TASK, RolloutContext(request=request, model=model))  # no model of its own
    prompt = model.calls[0].prompt[-1]["content"]
    assert prompt.startswith("Lessons learned on similar tasks") and "1. Greet politely." in prompt
    assert prompt.endswith("---\n\nSay hi.\n\nBe brief.")
    with pytest.raises(ConfigError, match="run's model"):
        await LLMAgent()(TASK)


async def test_llm_agent_rejects_unknown_model_names():
    agent = LLMAgent({"a": FakeModel(["x"])})
    with pytest.raises(ConfigError, match="no model 'b'"):
        await agent(TASK, RolloutContext(request=RolloutRequest(model="b")))


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


async def test_functions_get_what_their_parameters_name():
    seen = {}

    async def wants_everything(task, request, run, sandbox):
        seen.update(task=task, request=request, run=run, sandbox=sandbox)
        return "ok"

    async def positional_context(task: Task, ctx: RolloutContext):  # recognised by its annotation
        seen["ctx"] = ctx
        return "ok"

    agent = as_agent(wants_everything)
    assert agent.wants_sandbox
    provider = FakeSandboxProvider()
    budget = Budget()
    model = FakeModel(["x"])
    state = await scale(agent, n=1).ainvoke(
        {"task": TASK}, context=ScaleContext(sandboxes=provider, budget=budget, model=model)
    )
    assert state["rollouts"][0].ok
    assert seen["task"] == TASK and seen["request"].index == 0
    run = seen["run"]
    assert run.request is seen["request"] and run.budget is budget and run.model is model
    assert seen["sandbox"] is run.sandbox is provider.leased[0]
    await as_agent(positional_context)(TASK)
    assert isinstance(seen["ctx"], RolloutContext)


def test_an_agent_with_a_parameter_nobody_can_fill_fails_when_adapted():
    async def odd(task, budget_limit):
        return "x"

    with pytest.raises(ConfigError, match="'budget_limit'"):
        as_agent(odd)
    with pytest.raises(ConfigError, match="'budget_limit'"):
        scale(odd, n=2)


async def test_an_object_that_is_an_agent_is_used_as_is():
    class Echo:
        async def __call__(self, task: Task, run: RolloutContext) -> Rollout:
            return Rollout(task_id=task.id, output=f"seed {run.request.seed}")

    echo = Echo()
    assert as_agent(echo) is echo
    state = await scale(echo, n=2).ainvoke({"task": TASK}, context=ScaleContext())
    assert sorted(r.output for r in state["rollouts"]) == ["seed 0", "seed 1"]


async def test_agents_report_progress_through_emit():
    async def agent(task, run):
        run.emit({"step": 1, "action": "think"})
        return "done"

    events = []
    graph = scale(agent, n=1)
    async for chunk in graph.astream({"task": TASK}, context=ScaleContext(), stream_mode="custom"):
        events.append(chunk)
    (step,) = [e for e in events if e["event"] == "agent"]
    assert step == {"event": "agent", "task_id": "t", "index": 0, "data": {"step": 1, "action": "think"}}


def _tool_calling_graph():
    from langchain_core.messages import AIMessage, ToolMessage

    async def act(state: MessagesState) -> dict:
        call = AIMessage(
            content="",
            tool_calls=[{"name": "add", "args": {"a": 2, "b": 2}, "id": "call-1"}],
            usage_metadata={"input_tokens": 11, "output_tokens": 4, "total_tokens": 15},
        )
        result = ToolMessage(content="4", tool_call_id="call-1", name="add")
        usage = {"input_tokens": 20, "output_tokens": 5, "total_tokens": 25}
        answer = AIMessage(content="2+2 is 4", usage_metadata=usage)
        return {"messages": [call, result, answer]}

    return StateGraph(MessagesState).add_node("act", act).add_edge(START, "act").add_edge("act", END).compile()


async def test_a_chat_graph_gets_the_rendered_request_and_keeps_its_tool_calls():
    graph = _tool_calling_graph()
    r = await as_agent(graph)(TASK, RolloutContext(request=RolloutRequest(plan="Use the add tool.")))
    user, call, tool, answer = r.trajectory
    assert user == {"role": "user", "content": "Say hi.\n\nFollow this plan:\nUse the add tool."}
    assert call["role"] == "assistant"
    assert call["tool_calls"] == [
        {"id": "call-1", "type": "function", "function": {"name": "add", "arguments": json.dumps({"a": 2, "b": 2})}}
    ]
    assert tool == {"role": "tool", "tool_call_id": "call-1", "name": "add", "content": "4"}
    assert answer == {"role": "assistant", "content": "2+2 is 4"}
    assert r.output == "2+2 is 4"
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.calls) == (31, 9, 2)


async def test_dict_messages_come_out_in_openai_shape_with_their_usage():
    class State(TypedDict, total=False):
        task: Task
        request: RolloutRequest
        messages: list

    async def act(state: State) -> dict:
        return {
            "messages": [
                {"role": "human", "content": state["task"].prompt},
                {"role": "ai", "content": "", "tool_calls": [{"name": "greet", "args": {}, "id": "c1"}]},
                {"role": "tool", "content": "hi", "tool_call_id": "c1", "name": "greet"},
                {"role": "assistant", "content": "hi!", "usage": {"prompt_tokens": 9, "completion_tokens": 2}},
            ]
        }

    graph = StateGraph(State).add_node("act", act).add_edge(START, "act").add_edge("act", END).compile()
    agent = as_agent(graph)
    assert isinstance(agent, GraphAgent)
    r = await agent(TASK)
    assert [m["role"] for m in r.trajectory] == ["user", "assistant", "tool", "assistant"]
    assert r.trajectory[1]["tool_calls"][0]["function"] == {"name": "greet", "arguments": "{}"}
    assert r.trajectory[2]["tool_call_id"] == "c1" and r.trajectory[2]["name"] == "greet"
    assert (r.usage.prompt_tokens, r.usage.completion_tokens) == (9, 2)


async def test_a_graph_whose_context_is_a_rollout_context_gets_the_run():
    from langgraph.runtime import Runtime

    class State(TypedDict, total=False):
        task: Task
        request: RolloutRequest
        output: str

    async def act(state: State, runtime: Runtime[RolloutContext]) -> dict:
        run = runtime.context
        return {"output": f"seed {run.request.seed}, model {run.model.name}"}

    builder = StateGraph(State, context_schema=RolloutContext).add_node("act", act)
    graph = builder.add_edge(START, "act").add_edge("act", END).compile()
    context = ScaleContext(model=FakeModel(["x"], name="m"))
    state = await scale(graph, n=2).ainvoke({"task": TASK}, context=context)
    assert sorted(r.output for r in state["rollouts"]) == ["seed 0, model m", "seed 1, model m"]
