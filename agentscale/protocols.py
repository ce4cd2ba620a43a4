"""Every extension point, as a structural ``typing.Protocol``: nothing to inherit.

Implement the one or two async methods and pass your object in. ``agentscale.testing`` has
doubles of each for tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from agentscale.types import Completion, ExecResult, Message, Rollout, Selection, Task, Verdict

if TYPE_CHECKING:  # annotations only: core never imports a side package at run time
    from langgraph.graph import StateGraph

    from agentscale.memory import MemoryItem, ScoredMemory  # noqa: TID251 - type names only
    from agentscale.rollout import RolloutContext, RolloutJob, RolloutResult
    from agentscale.sandboxes import BaseSandbox, SandboxLimits  # noqa: TID251 - type names only
    from agentscale.strategies import ScaleSpec
    from agentscale.workflows import WorkflowEnv, WorkflowParts

__all__ = [
    "Agent", "Embedder", "Executor", "Memory", "MemoryStore", "Model", "Sandbox", "SandboxBackend",
    "SandboxProvider", "Selector", "Strategy", "Tool", "Verifier", "Workflow",
]


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
    """Runs once on a task: ``async def __call__(self, task, run) -> Rollout``.

    ``task`` is the task as given; ``run`` (an ``agentscale.rollout.RolloutContext``) holds this
    rollout's request (seed, temperature, plan, feedback, lessons, candidates...), the run's budget
    and model, a leased sandbox when the agent wants one, and ``emit`` for progress. Functions and
    compiled LangGraph graphs are adapted to this by ``agentscale.as_agent``.
    """

    async def __call__(self, task: Task, run: RolloutContext) -> Rollout: ...


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
class SandboxBackend(Protocol):
    """Makes sandboxes of one kind (``agentscale.sandboxes`` has Docker, bubblewrap and an unsafe
    local one). ``start()`` once, ``create()`` many, ``aclose()`` removes them all."""

    name: str
    limits: SandboxLimits

    async def start(self) -> None: ...

    async def create(self) -> BaseSandbox: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class Executor(Protocol):
    """Runs rollouts somewhere: ``agentscale.executor.AsyncioExecutor`` in this process by default.

    ``run`` calls ``job.admit()`` once it has room for the job (a budget stop comes back as its
    result), then ``agentscale.rollout.run_rollout(job)`` where the agent runs, and returns the
    result. It never charges the budget: ``agentscale.executor.execute`` does, once, around it.
    """

    async def run(self, job: RolloutJob) -> RolloutResult: ...


@runtime_checkable
class Strategy(Protocol):
    """A scaling strategy: wires its nodes into a graph builder between ``spec.entry`` and ``spec.exit``.

    ``build`` adds its nodes to ``graph`` (a ``StateGraph(ScaleState, context_schema=ScaleContext)``),
    an edge from ``spec.entry`` into them and edges out of them into ``spec.exit``, and returns the
    most supersteps it can take (``scale()`` sets the graph's recursion limit from it).
    """

    def build(self, graph: StateGraph, spec: ScaleSpec) -> int: ...


@runtime_checkable
class SandboxProvider(Protocol):
    """Hands out sandboxes, e.g. a warm pool: ``async with provider.lease() as sandbox: ...``."""

    def lease(self) -> AbstractAsyncContextManager[Sandbox]: ...


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors for memory retrieval (``agentscale.memory.SentenceEmbedder`` runs a
    local model offline). ``name`` is stored with each vector so vectors of different models never mix."""

    name: str

    async def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


@runtime_checkable
class Memory(Protocol):
    """What ``scale()`` needs of a memory bank in ``ScaleContext.memory`` (``agentscale.memory.MemoryBank``
    is one): lessons for a task before its rollouts, and its rollouts and verdicts after them."""

    async def recall(self, task: Task, k: int = 3) -> list[ScoredMemory]:
        """The ``k`` lessons most relevant to ``task``, best first."""
        ...

    async def remember(
        self,
        task: Task,
        rollouts: Sequence[Rollout],
        verdicts: Mapping[str, Verdict] | Sequence[Verdict] | None = None,
        model: Model | None = None,
        *,
        judge: Model | None = None,
        recalled: Sequence[str] | None = None,
    ) -> list[MemoryItem]:
        """Distil and store lessons from a finished task (``model=None``: only credit ``recalled``)."""
        ...


@runtime_checkable
class MemoryStore(Protocol):
    """Where a memory bank keeps its items (``agentscale.memory.SQLiteMemoryStore`` by default).

    Every write is atomic: a batch is stored whole or not at all. ``search`` ranks by vector
    similarity when ``embedding`` is given and items have vectors, else lexically (BM25).
    """

    async def add(self, items: Sequence[MemoryItem]) -> None:
        """Insert or replace items (by id), in one transaction."""
        ...

    async def get(self, item_id: str) -> MemoryItem | None: ...

    async def list(self, *, limit: int | None = None, order: str = "recent") -> list[MemoryItem]:
        """Items by ``"recent"``, ``"uses"`` or ``"weight"``, at most ``limit``."""
        ...

    async def search(
        self, query: str, *, k: int, embedding: Sequence[float] | None = None
    ) -> list[ScoredMemory]: ...

    async def record_use(self, item_ids: Sequence[str], *, passed: bool | None = None) -> None:
        """With ``passed=None`` count a retrieval of each item; with a bool, count how the task it
        was retrieved for ended (this sets the item's weight)."""
        ...

    async def delete(self, item_ids: Sequence[str]) -> int: ...

    async def evict(self, max_items: int) -> list[str]:
        """Delete the least useful items (lowest weight, least used, oldest) beyond ``max_items``."""
        ...

    async def count(self) -> int: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class Tool(Protocol):
    """An action an agent can take, e.g. a tool of the agent loop in ``agentscale.graphs``.

    ``name``, ``description`` and ``parameters`` (the JSON schema of the arguments object) describe
    it to the model, as a native tool definition or in a plain-text action format. ``__call__``
    runs it with the parsed arguments and returns the observation the model sees next (or
    ``agentscale.graphs.Finished``: that observation and the rollout's answer, ending the loop, for
    a tool that knows the work is over). A refusal
    or failure the model can act on is a ``ToolError`` (the loop shows its message); the rollout's
    ``run`` gives the tool its sandbox, budget and progress stream.

    Optional attributes the agent loop reads when present: ``timeout`` (seconds per call),
    ``needs_sandbox`` (lease a sandbox per rollout), ``aliases`` (other names a text-format block
    may use) and ``example`` (arguments shown in the text format's instructions).
    """

    name: str
    description: str
    parameters: Mapping[str, Any]

    async def __call__(self, arguments: Mapping[str, Any], run: RolloutContext) -> str: ...


@runtime_checkable
class Workflow(Protocol):
    """A ready-made agent for a kind of task, found by name in the ``workflows`` registry group.

    ``agentscale run WORKFLOW``, batches and ``agentscale chat`` use it the same way: ``task`` turns
    what the user typed (or one JSONL record of a tasks file) into a ``Task``; ``build`` makes the
    agent and its checks for a run from a ``WorkflowEnv`` (the model, sandboxes, options).

    Attributes:
        name: the registry name.
        profile: the model profile its agent expects (``"chat"`` or ``"completion"``).
        needs_sandbox: whether ``build`` needs ``env.sandboxes``.

    Optionally, ``conversational = True`` says ``task`` takes ``{"prompt": ..., "messages": [...]}``
    (a whole conversation); ``agentscale chat`` then hands it the history as messages, and as a
    transcript in the prompt otherwise.
    """

    name: str
    profile: str
    needs_sandbox: bool

    def task(self, source: str | Mapping[str, Any]) -> Task: ...

    def build(self, env: WorkflowEnv) -> WorkflowParts: ...
