from __future__ import annotations

import asyncio
import inspect
import json
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentscale.budget import record_usage
from agentscale.types import Completion, Message, Usage

__all__ = ["FakeModel", "FunctionModel", "ModelCall", "tool_call"]

Reply = str | Message
"""A scripted reply: a text, or an assistant message with ``tool_calls`` (OpenAI shape, or
``{"name", "arguments"}`` with arguments as a dict) for native tool calling."""


def tool_call(name: str, arguments: Mapping[str, Any] | str | None = None, *, id: str | None = None) -> dict[str, Any]:  # noqa: A002
    """A native tool call in OpenAI's shape, for scripting a fake model's replies.

    Example:
        >>> tool_call("add", {"a": 1})["function"]
        {'name': 'add', 'arguments': '{"a": 1}'}
    """
    raw = arguments if isinstance(arguments, str) else json.dumps(dict(arguments or {}))
    call_id = id or "call_" + uuid.uuid4().hex[:8]
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": raw}}


def _calls(reply: Message) -> list[dict[str, Any]]:
    calls = []
    for c in reply.get("tool_calls") or []:
        if "function" in c:
            calls.append(dict(c))
        else:
            calls.append(tool_call(c["name"], c.get("arguments"), id=c.get("id")))
    return calls


@dataclass
class ModelCall:
    """One recorded call to a fake model."""

    prompt: Sequence[Message] | str
    n: int
    temperature: float | None
    max_tokens: int | None
    seed: int | None
    stop: Sequence[str] | None
    tools: Sequence[Mapping[str, Any]] | None = None
    tool_choice: str | Mapping[str, Any] | None = None


def _prompt_tokens(prompt: Sequence[Message] | str) -> int:
    text = prompt if isinstance(prompt, str) else " ".join(str(m.get("content", "")) for m in prompt)
    return max(1, len(text.split()))


@dataclass
class FunctionModel:
    """A model whose every reply comes from ``fn(call) -> str`` (sync or async).

    ``fn`` may also return an assistant message with ``tool_calls`` (see ``tool_call``), which
    comes back in ``Completion.tool_calls``, as a chat model's native tool calls do; the tools
    offered are in ``call.tools``. ``delay`` seconds are awaited per call, so cancellation and
    concurrency can be tested. Usage counts whitespace-separated words as tokens.
    """

    __test__ = False

    fn: Callable[[ModelCall], Reply | Awaitable[Reply]]
    name: str = "fake"
    delay: float = 0.0
    calls: list[ModelCall] = field(default_factory=list)

    async def generate(
        self,
        prompt: Sequence[Message] | str,
        *,
        n: int = 1,
        temperature: float | None = None,
        max_tokens: int | None = None,
        seed: int | None = None,
        stop: Sequence[str] | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: str | Mapping[str, Any] | None = None,
    ) -> Completion:
        call = ModelCall(prompt, n, temperature, max_tokens, seed, stop, tools, tool_choice)
        self.calls.append(call)
        if self.delay:
            await asyncio.sleep(self.delay)
        texts: list[str] = []
        calls: list[list[dict[str, Any]]] = []
        for _ in range(n):
            reply = self.fn(call)
            if inspect.isawaitable(reply):
                reply = await reply
            if isinstance(reply, Mapping):
                texts.append(str(reply.get("content") or ""))
                calls.append(_calls(reply))
            else:
                texts.append(reply)
                calls.append([])
        usage = Usage(
            prompt_tokens=_prompt_tokens(prompt),
            completion_tokens=sum(len(t.split()) for t in texts) + sum(len(json.dumps(c)) // 8 for c in calls if c),
            calls=1,
        )
        record_usage(usage)  # as agentscale.llm.LLM does: the rollout's ledger sees every call
        return Completion(
            model=self.name,
            texts=texts,
            finish_reasons=["tool_calls" if c else "stop" for c in calls],
            usage=usage,
            tool_calls=calls if any(calls) else [],
        )


class FakeModel(FunctionModel):
    """A model that replies with a fixed script, in order (cycling when ``cycle=True``).

    Example:
        >>> import asyncio
        >>> m = FakeModel(["4", "5"])
        >>> asyncio.run(m.generate("2+2?")).text
        '4'
    """

    __test__ = False

    def __init__(self, replies: Iterable[Reply], *, cycle: bool = False, name: str = "fake", delay: float = 0.0):
        self.replies = list(replies)
        self.cycle = cycle
        self._next = 0
        super().__init__(fn=self._reply, name=name, delay=delay)

    def _reply(self, call: ModelCall) -> Reply:
        if self._next >= len(self.replies):
            if not self.cycle or not self.replies:
                raise IndexError(f"FakeModel ran out of scripted replies after {len(self.replies)}")
            self._next = 0
        reply = self.replies[self._next]
        self._next += 1
        return reply
