"""Agents: adapt a compiled LangGraph graph or an async function to the ``Agent`` protocol, and a
small built-in agent for single-shot LLM problems
(``LLMAgent``) and one for conversations with tools (``ChatAgent``).

An agent runs once per rollout as ``await agent(task, run)``: ``task`` is the task as given, ``run``
an ``agentscale.rollout.RolloutContext`` with the rollout's typed request, the run's budget and
model, a leased sandbox for agents that want one, and ``emit`` for progress. Its trajectory comes
back in OpenAI's message shape (``openai_messages``), and whatever it spent is charged to the run's
budget exactly once (see ``agentscale.budget``).
"""

from agentscale.agents._adapt import FunctionAgent, GraphAgent, as_agent
from agentscale.agents._chat import ChatAgent, chat_messages, tool_call_key
from agentscale.agents._llm import LLMAgent
from agentscale.agents._messages import message_text, messages_usage, openai_messages
from agentscale.rollout import RolloutContext

__all__ = [
    "ChatAgent",
    "FunctionAgent",
    "GraphAgent",
    "LLMAgent",
    "RolloutContext",
    "as_agent",
    "chat_messages",
    "message_text",
    "messages_usage",
    "openai_messages",
    "tool_call_key",
]
