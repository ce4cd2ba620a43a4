"""``ChatAgentscale``: an LLM where LangGraph expects a chat model (against the scripted server)."""

from __future__ import annotations

import warnings

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool

from agentscale import ConfigError
from agentscale.llm import ChatAgentscale
from agentscale.testing import FakeModel

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:Items? .*ReadOnly:UserWarning"),
]


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


async def test_bind_tools_sends_them_and_tool_calls_come_back(server, make_llm):
    server.tool_calls = [("add", '{"a": 2, "b": 3}')]
    chat = ChatAgentscale(llm=make_llm(), temperature=0.0, stop=["\n\n"])
    reply = await chat.bind_tools([add], tool_choice="add").ainvoke([HumanMessage("What is 2 + 3?")])
    assert isinstance(reply, AIMessage)
    assert reply.tool_calls == [{"name": "add", "args": {"a": 2, "b": 3}, "id": "call_0_0", "type": "tool_call"}]
    assert reply.usage_metadata["input_tokens"] == 7 and reply.usage_metadata["output_tokens"] == 2
    body = server.requests[0].body
    assert body["tools"][0]["function"]["name"] == "add" and body["temperature"] == 0.0
    assert body["tool_choice"] == {"type": "function", "function": {"name": "add"}}
    assert body["stop"] == ["\n\n"]


async def test_a_react_agent_runs_on_it(server, make_llm):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from langgraph.prebuilt import create_react_agent

    server.tool_calls = [("add", '{"a": 2, "b": 3}')]
    agent = create_react_agent(ChatAgentscale(llm=make_llm()), tools=[add])
    state = await agent.ainvoke({"messages": [("user", "What is 2 + 3?")]})
    kinds = [type(m).__name__ for m in state["messages"]]
    assert kinds == ["HumanMessage", "AIMessage", "ToolMessage", "AIMessage"]
    assert isinstance(state["messages"][2], ToolMessage) and state["messages"][2].content == "5"
    assert state["messages"][-1].content == "result: 5"
    sent = server.requests[1].body["messages"]  # the tool's answer went back in OpenAI's shape
    assert sent[1]["tool_calls"][0]["function"]["name"] == "add"
    assert sent[2]["role"] == "tool" and sent[2]["tool_call_id"] == "call_0_0" and sent[2]["content"] == "5"


def test_sync_invoke_and_any_model(server, make_llm):
    assert ChatAgentscale(llm=FakeModel(["hi there"])).invoke("hello").content == "hi there"
    with pytest.raises(ConfigError):
        ChatAgentscale(llm="not a model")


async def test_unreadable_arguments_become_an_invalid_tool_call(server, make_llm):
    server.tool_calls = [("add", '{"a": 2, "b": ')]
    reply = await ChatAgentscale(llm=make_llm()).bind_tools([add]).ainvoke("2 + 3?")
    assert reply.tool_calls == [] and reply.invalid_tool_calls[0]["args"] == '{"a": 2, "b": '
