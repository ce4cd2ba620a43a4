"""``ChatAgent``: one model call that continues a whole conversation, tools included."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from agentscale.errors import ConfigError
from agentscale.prompts import render_lessons, render_notes
from agentscale.protocols import Model
from agentscale.rollout import RolloutContext
from agentscale.types import Message, Provenance, Rollout, RolloutRequest, Task

__all__ = ["CHAT_PARAMS", "ChatAgent", "chat_messages", "tool_call_key"]

CHAT_PARAMS = ("max_tokens", "stop", "tools", "tool_choice", "response_format")
"""Request parameters a task may carry in ``metadata["params"]``; each reaches the model as given."""


def chat_messages(task: Task, request: RolloutRequest, system: str | None = None) -> list[Message]:
    """The conversation one rollout sends: the task's ``metadata["messages"]`` as they are (or its
    prompt as one user turn), recalled lessons in the system message, and the request's notes
    (plan, candidates, feedback) as a last user turn.

    Args:
        task: ``metadata["messages"]`` holds OpenAI chat messages (multi-turn, tool calls and tool
            results kept); without it ``task.prompt`` is the one user message.
        request: the rollout's request.
        system: a system message to use when the conversation has none.

    Raises:
        ConfigError: ``metadata["messages"]`` is not a non-empty list of messages with roles.
    """
    given = task.metadata.get("messages")
    if given is None:
        messages: list[Message] = [{"role": "user", "content": task.prompt}]
    else:
        if not isinstance(given, list) or not given or not all(isinstance(m, Mapping) and "role" in m for m in given):
            raise ConfigError("task.metadata['messages'] must be a non-empty list of chat messages with roles")
        messages = [dict(m) for m in given]
    if system and messages[0].get("role") != "system":
        messages.insert(0, {"role": "system", "content": system})
    if lessons := render_lessons(request.lessons):
        if messages[0].get("role") == "system":
            messages[0] = {**messages[0], "content": f"{messages[0].get('content') or ''}\n\n{lessons}".strip()}
        else:
            messages.insert(0, {"role": "system", "content": lessons})
    if notes := render_notes(request):
        messages.append({"role": "user", "content": "\n\n".join(notes)})
    return messages


def tool_call_key(calls: list[dict[str, Any]]) -> str:
    """What a reply of tool calls votes for: the calls' names and arguments, ids left out (two
    samples that call the same tool with the same arguments agree)."""
    keys = []
    for call in calls:
        function = call.get("function") or {}
        raw = function.get("arguments") or "{}"
        try:
            args = json.dumps(json.loads(raw), sort_keys=True)
        except (TypeError, ValueError):
            args = str(raw)
        keys.append(f"{function.get('name')}({args})")
    return "; ".join(keys)


@dataclass
class ChatAgent:
    """A one-call agent for conversations: the whole message list, and any tools, go to the model
    as they are; the reply (text or tool calls) is the rollout.

    Where ``LLMAgent`` flattens a task into one prompt, this keeps a conversation's turns, tool
    calls and tool results: ``task.metadata["messages"]`` (OpenAI's shape) is sent, with the
    rollout's seed and temperature. ``task.metadata["params"]`` may carry ``max_tokens``, ``stop``,
    ``tools``, ``tool_choice`` and ``response_format`` for the call (what a client asked for).
    Replies that call tools keep the calls in ``rollout.metadata["tool_calls"]`` and vote with
    their names and arguments (``rollout.answer``), so majority voting works over tool calls too.

    Attributes:
        model: a ``Model`` (``agentscale.llm.LLM`` for tools); ``None``: the run's model.
        system: a system message for conversations that have none.
        max_tokens: cap on the reply (the task's ``params`` win).
        temperature: used when the request sets none.
        extract: reply text -> a short answer for voting.
    """

    model: Model | None = None
    system: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    extract: Callable[[str], str | None] | None = None

    async def __call__(self, task: Task, run: RolloutContext | None = None) -> Rollout:
        run = run or RolloutContext()
        model = self.model or run.model
        if model is None:
            raise ConfigError("ChatAgent(model=None) uses the run's model: set ScaleContext(model=...)")
        request = run.request
        messages = chat_messages(task, request, self.system)
        params = _params(task, self.max_tokens)
        temperature = request.temperature if request.temperature is not None else self.temperature
        run.emit({"step": "generating", "messages": len(messages)})
        started = time.monotonic()
        completion = await model.generate(messages, temperature=temperature, seed=request.seed, **params)
        usage = completion.usage
        if not usage.seconds:
            usage = usage.model_copy(update={"seconds": time.monotonic() - started})
        reply = completion.message(0)
        calls = list(reply.get("tool_calls") or [])
        text = completion.text
        if calls:
            answer: str | None = tool_call_key(calls)
        else:
            answer = self.extract(text) if self.extract else None
        return Rollout(
            task_id=task.id,
            output=text,
            answer=answer,
            trajectory=[*messages, reply],
            usage=usage,
            provenance=Provenance(
                seed=request.seed,
                temperature=temperature,
                prompt_variant=request.prompt_variant,
                model=completion.model,
                strategy=request.strategy,
                parents=list(request.parents),
                generation=request.generation,
            ),
            metadata={
                "finish_reason": completion.finish_reasons[0] if completion.finish_reasons else None,
                "tool_calls": calls,
            },
        )


def _params(task: Task, max_tokens: int | None) -> dict[str, Any]:
    given = task.metadata.get("params") or {}
    if not isinstance(given, Mapping):
        raise ConfigError("task.metadata['params'] must be a mapping of request parameters")
    unknown = sorted(set(given) - set(CHAT_PARAMS))
    if unknown:
        raise ConfigError(f"ChatAgent cannot send {unknown}; it sends {list(CHAT_PARAMS)}")
    # Only what was given is passed on: a Model without tools (a test double) still works for plain chat.
    params = {k: v for k, v in given.items() if v is not None}
    if "max_tokens" not in params and max_tokens is not None:
        params["max_tokens"] = max_tokens
    return params
