"""``ChatAgentscale``: an agentscale model standing where LangChain and LangGraph expect a chat model.

LangGraph's prebuilt agents (``create_react_agent``, ``ToolNode``) and LangChain runnables take a
``BaseChatModel``; this adapter is one, over any :class:`agentscale.protocols.Model` (an ``LLM``
normally). Messages are converted to OpenAI dicts, tools bound with ``bind_tools`` go to the
model's native tool calling, and the reply comes back as an ``AIMessage`` with ``tool_calls``
and ``usage_metadata``. Budgets, retries, endpoints and server restarts stay the LLM's.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage, convert_to_openai_messages
from langchain_core.messages.tool import invalid_tool_call, tool_call
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, Field

from agentscale.errors import ConfigError
from agentscale.protocols import Model
from agentscale.types import Completion

__all__ = ["ChatAgentscale"]

_CHOICE_WORDS = {"auto": "auto", "none": "none", "required": "required", "any": "required"}


class ChatAgentscale(BaseChatModel):
    """A LangChain chat model over an agentscale model.

    Example:
        ```python
        from langgraph.prebuilt import create_react_agent

        llm = LLM(srv.model, endpoint=srv.endpoint())
        agent = create_react_agent(ChatAgentscale(llm=llm, temperature=0.0), tools=[add])
        result = await agent.ainvoke({"messages": [("user", "What is 2 + 3? Use the add tool.")]})
        ```

    Attributes:
        llm: the model (``agentscale.llm.LLM`` for tools and structured output).
        temperature: sampling temperature (``None``: the LLM's default).
        max_tokens: cap on generated tokens (``None``: the LLM's default).
        stop: stop sequences added to every call.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    llm: Any = Field(exclude=True)
    temperature: float | None = None
    max_tokens: int | None = None
    stop: list[str] | None = None

    def model_post_init(self, context: Any, /) -> None:
        if not isinstance(self.llm, Model):
            raise ConfigError(f"ChatAgentscale needs an agentscale model (an LLM), got {self.llm!r:.200}")

    @property
    def _llm_type(self) -> str:
        return "agentscale"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model": getattr(self.llm, "model", type(self.llm).__name__), "temperature": self.temperature}

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | bool | dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Offer ``tools`` to the model's native tool calling.

        Args:
            tools: LangChain tools, functions, pydantic models or OpenAI tool dicts.
            tool_choice: ``"auto"``, ``"none"``, ``"required"``/``"any"``/``True`` (must call one),
                a tool's name, or an OpenAI ``tool_choice`` dict.
            **kwargs: more ``generate`` options bound with them.
        """
        formatted = [convert_to_openai_tool(t) for t in tools]
        if tool_choice is not None:
            kwargs["tool_choice"] = _tool_choice(tool_choice)
        return self.bind(tools=formatted, **kwargs)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        options: dict[str, Any] = {"temperature": self.temperature, "max_tokens": self.max_tokens}
        stops = [*(self.stop or ()), *(stop or ())]
        if stops:
            options["stop"] = stops
        options.update(kwargs)
        completion = await self.llm.generate(convert_to_openai_messages(messages), **options)
        message = _ai_message(completion)
        return ChatResult(
            generations=[ChatGeneration(message=message)],
            llm_output={"model_name": completion.model, "token_usage": completion.usage.model_dump()},
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        # The model is async; a sync caller gets a private event loop (in a thread when the
        # calling thread already runs one).
        call = self._agenerate(messages, stop, None, **kwargs)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(call)
        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, call).result()


def _tool_choice(choice: str | bool | dict[str, Any]) -> str | dict[str, Any]:
    if choice is True:
        return "required"
    if isinstance(choice, dict):
        return choice
    if isinstance(choice, str):
        return _CHOICE_WORDS.get(choice) or {"type": "function", "function": {"name": choice}}
    raise ConfigError(f"tool_choice is a word, a tool's name, True or a dict, got {choice!r}")


def _ai_message(completion: Completion) -> AIMessage:
    calls, invalid = [], []
    for call in completion.tool_calls[0] if completion.tool_calls else ():
        function = call["function"]
        try:
            args = json.loads(function["arguments"] or "{}")
            if not isinstance(args, dict):
                raise ValueError("arguments are not a JSON object")
        except ValueError as exc:
            invalid.append(
                invalid_tool_call(name=function["name"], args=function["arguments"], id=call["id"], error=str(exc))
            )
            continue
        calls.append(tool_call(name=function["name"], args=args, id=call["id"]))
    usage = completion.usage
    return AIMessage(
        content=completion.text,
        tool_calls=calls,
        invalid_tool_calls=invalid,
        usage_metadata={
            "input_tokens": usage.prompt_tokens,
            "output_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens,
            "input_token_details": {"cache_read": usage.cached_tokens},
        },
        response_metadata={
            "model_name": completion.model,
            "finish_reason": completion.finish_reasons[0] if completion.finish_reasons else None,
        },
    )
