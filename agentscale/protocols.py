"""Every extension point, as a structural ``typing.Protocol``: nothing to inherit.

Implement the one or two async methods and pass your object in. ``agentscale.testing`` has
doubles of each for tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol, runtime_checkable

from agentscale.types import Completion, ExecResult, Message, Rollout, Selection, Task, Verdict

__all__ = ["Agent", "Model", "Sandbox", "SandboxProvider", "Selector", "Verifier"]


@runtime_checkable
class Model(Protocol):
    """Something that writes text: ``agentscale.llm.LLM`` over litellm, or a test double."""

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
        """Return ``n`` samples for a chat (list of messages) or a plain text prompt."""
        ...


@runtime_checkable
class Agent(Protocol):
    """Runs once on a task. Compiled LangGraph graphs are adapted to this by ``agentscale.as_agent``."""

    async def __call__(self, task: Task) -> Rollout: ...


@runtime_checkable
class Verifier(Protocol):
    """Judges one rollout of a task."""

    async def verify(self, task: Task, rollout: Rollout) -> Verdict: ...


@runtime_checkable
class Selector(Protocol):
    """Chooses among rollouts given their verdicts (``verdicts`` may be empty)."""

    async def select(
        self, task: Task, rollouts: Sequence[Rollout], verdicts: Mapping[str, Verdict]
    ) -> Selection: ...


@runtime_checkable
class Sandbox(Protocol):
    """An isolated place to run model-written code, with a working directory that persists
    between calls of one sandbox."""

    async def run(
        self,
        command: str | Sequence[str],
        *,
        files: Mapping[str, str | bytes] | None = None,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
    ) -> ExecResult:
        """Write ``files`` into the working directory, then run ``command`` (a shell string or argv)."""
        ...

    async def read_files(self, paths: Sequence[str]) -> dict[str, bytes]:
        """Read files (relative to the working directory) back out."""
        ...


@runtime_checkable
class SandboxProvider(Protocol):
    """Hands out sandboxes, e.g. a warm pool: ``async with provider.lease() as sandbox: ...``."""

    def lease(self) -> AbstractAsyncContextManager[Sandbox]: ...
