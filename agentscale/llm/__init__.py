"""The model layer: one async client for local servers (llama.cpp, vLLM) and hosted models.

``LLM`` implements :class:`agentscale.protocols.Model`: self-hosted OpenAI-compatible servers are
spoken to directly, every other provider through litellm. ``ModelProfile`` says how a model is
prompted (chat or plain text completion); ``Endpoint`` is a server shared by several LLMs, with
its concurrency limit and connection pool (and, for a managed server, its restart on death).
``tool_result`` answers a native tool call; ``ChatAgentscale`` lets an ``LLM`` stand where
LangChain/LangGraph expect a chat model. Neither litellm nor LangChain is imported here.
"""

import typing as _typing

from agentscale.llm._client import LLM, LLMConfig
from agentscale.llm._endpoint import Endpoint, RecoverableServer
from agentscale.llm._profile import ModelProfile
from agentscale.llm._tools import bare_tool_calls, tool_result

if _typing.TYPE_CHECKING:
    from agentscale.llm._langchain import ChatAgentscale

__all__ = [
    "LLM", "ChatAgentscale", "Endpoint", "LLMConfig", "ModelProfile", "RecoverableServer", "bare_tool_calls",
    "tool_result",
]


def __getattr__(name: str) -> _typing.Any:
    # langchain-core loads only for those who ask for the adapter.
    if name == "ChatAgentscale":
        from agentscale.llm._langchain import ChatAgentscale

        return ChatAgentscale
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
