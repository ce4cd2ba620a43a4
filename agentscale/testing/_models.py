from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field

from agentscale.budget import record_usage
from agentscale.types import Completion, Message, Usage

__all__ = ["FakeModel", "FunctionModel", "ModelCall"]


@dataclass
class ModelCall:
    """One recorded call to a fake model."""

    prompt: Sequence[Message] | str
    n: int
    temperature: float | None
    max_tokens: int | None
    seed: int | None
    stop: Sequence[str] | None


def _prompt_tokens(prompt: Sequence[Message] | str) -> int:
    text = prompt if isinstance(prompt, str) else " ".join(str(m.get("content", "")) for m in prompt)
    return max(1, len(text.split()))


@dataclass
class FunctionModel:
    """A model whose every reply comes from ``fn(call) -> str`` (sync or async).

    ``delay`` seconds are awaited per call, so cancellation and concurrency can be tested.
    Usage counts whitespace-separated words as tokens.
    """

    __test__ = False

    fn: Callable[[ModelCall], str | Awaitable[str]]
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
    ) -> Completion:
        call = ModelCall(prompt, n, temperature, max_tokens, seed, stop)
        self.calls.append(call)
        if self.delay:
            await asyncio.sleep(self.delay)
        texts = []
        for _ in range(n):
            reply = self.fn(call)
            if inspect.isawaitable(reply):
                reply = await reply
            texts.append(reply)
        usage = Usage(
            prompt_tokens=_prompt_tokens(prompt),
            completion_tokens=sum(len(t.split()) for t in texts),
            calls=1,
        )
        record_usage(usage)  # as agentscale.llm.LLM does: the rollout's ledger sees every call
        return Completion(model=self.name, texts=texts, finish_reasons=["stop"] * n, usage=usage)


class FakeModel(FunctionModel):
    """A model that replies with a fixed script, in order (cycling when ``cycle=True``).

    Example:
        >>> import asyncio
        >>> m = FakeModel(["4", "5"])
        >>> asyncio.run(m.generate("2+2?")).text
        '4'
    """

    __test__ = False

    def __init__(self, replies: Iterable[str], *, cycle: bool = False, name: str = "fake", delay: float = 0.0):
        self.replies = list(replies)
        self.cycle = cycle
        self._next = 0
        super().__init__(fn=self._reply, name=name, delay=delay)

    def _reply(self, call: ModelCall) -> str:
        if self._next >= len(self.replies):
            if not self.cycle or not self.replies:
                raise IndexError(f"FakeModel ran out of scripted replies after {len(self.replies)}")
            self._next = 0
        reply = self.replies[self._next]
        self._next += 1
        return reply
