"""LangGraph nodes: ``recall`` before the rollouts, ``remember`` after the task.

State they read and write (mix :class:`MemoryState`'s keys into your graph's state schema):

* ``task`` (:class:`~agentscale.types.Task`): read by both. ``recall`` writes it back with the
  recalled lessons prepended to its prompt, so any agent that reads ``task.prompt`` sees them
  (the original prompt is kept in ``task.metadata["prompt_without_memory"]``).
* ``memories`` (list of :class:`ScoredMemory`): written by ``recall``, read by ``remember`` to
  credit those items with the task's outcome.
* ``rollouts`` (list of :class:`~agentscale.types.Rollout`) and ``verdicts`` (by rollout id, or
  a list): read by ``remember``.
* ``remembered`` (list of item ids): written by ``remember``.

Dependencies come from ``runtime.context`` (a dataclass or a mapping): ``memory`` (a
:class:`MemoryBank`), ``model`` (writes lessons and judges unverified rollouts), and optionally
``memory_k`` (items to recall, default 3) and ``judge``. :class:`MemoryContext` has exactly these.
"""

from __future__ import annotations

import logging
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypedDict

from langgraph.errors import GraphBubbleUp
from langgraph.runtime import Runtime

from agentscale.errors import AgentScaleError, ConfigError
from agentscale.memory._bank import MemoryBank
from agentscale.memory._item import ScoredMemory
from agentscale.protocols import Model
from agentscale.types import Rollout, Task, Verdict

__all__ = ["MemoryContext", "MemoryState", "inject_memories", "recall", "remember", "render_memories"]

log = logging.getLogger(__name__)

_HEADER = "Lessons learned on similar tasks (apply them where they fit):"


class MemoryState(TypedDict, total=False):
    """The state keys the memory nodes use."""

    task: Task
    rollouts: Annotated[list[Rollout], operator.add]
    verdicts: Mapping[str, Verdict] | list[Verdict]
    memories: list[ScoredMemory]
    remembered: list[str]


@dataclass
class MemoryContext:
    """A ``context_schema`` for graphs that only need memory (others add these fields to theirs)."""

    memory: MemoryBank
    model: Model | None = None
    memory_k: int = 3
    judge: Model | None = None


def render_memories(memories: Sequence[ScoredMemory]) -> str:
    """The block of lessons an agent sees; empty when there are none."""
    if not memories:
        return ""
    lines = [_HEADER]
    for i, memory in enumerate(memories, 1):
        lines.append(f"{i}. " + memory.item.render().replace("\n", "\n   "))
    return "\n".join(lines)


def inject_memories(task: Task, memories: Sequence[ScoredMemory]) -> Task:
    """A copy of ``task`` whose prompt starts with the lessons (idempotent: re-injecting replaces them).

    Agents that render prompts themselves find the parts in ``task.metadata``:
    ``"prompt_without_memory"`` (the original prompt) and ``"memory"`` (the lessons block, or "").
    """
    original = task.metadata.get("prompt_without_memory") or task.prompt
    block = render_memories(memories)
    prompt = f"{block}\n\n---\n\n{original}" if block else original
    metadata = {
        **task.metadata,
        "prompt_without_memory": original,
        "memory": block,
        "memory_ids": [m.item.id for m in memories],
    }
    return task.model_copy(update={"prompt": prompt, "metadata": metadata})


def _dep(runtime: Runtime[Any] | None, name: str, default: Any = None) -> Any:
    context = runtime.context if runtime is not None else None
    if isinstance(context, Mapping):
        return context.get(name, default)
    return getattr(context, name, default)


def _bank(runtime: Runtime[Any] | None) -> MemoryBank:
    bank = _dep(runtime, "memory")
    if bank is None:
        raise ConfigError(
            "memory nodes need runtime.context.memory (a MemoryBank); see agentscale.memory.MemoryContext"
        )
    return bank


async def recall(state: Mapping[str, Any], runtime: Runtime[Any]) -> dict[str, Any]:
    """Recall the top-k lessons for ``state["task"]`` and put them in its prompt.

    A store failure is logged and the task runs without memories: memory helps, it is not required.
    """
    bank = _bank(runtime)
    task: Task = state["task"]
    try:
        memories = await bank.recall(task, int(_dep(runtime, "memory_k", 3)))
    except GraphBubbleUp:
        raise
    except AgentScaleError as exc:
        log.warning("memory recall failed for task %s; running without memories: %s", task.id, exc)
        memories = []
    return {"memories": memories, "task": inject_memories(task, memories)}


async def remember(state: Mapping[str, Any], runtime: Runtime[Any]) -> dict[str, Any]:
    """Distil lessons from ``state["rollouts"]`` (and ``verdicts``) and store them.

    Credits the items in ``state["memories"]`` with the task's outcome. A failure (model or
    store) is logged and yields ``remembered=[]``: the task's own result stands.
    """
    bank = _bank(runtime)
    task: Task = state["task"]
    recalled = [m.item.id for m in state.get("memories") or []]
    try:
        stored = await bank.remember(
            task,
            state.get("rollouts") or [],
            state.get("verdicts"),
            _dep(runtime, "model"),
            judge=_dep(runtime, "judge"),
            recalled=recalled,
        )
    except GraphBubbleUp:
        raise
    except AgentScaleError as exc:
        log.warning("memory remember failed for task %s: %s", task.id, exc)
        stored = []
    return {"remembered": [item.id for item in stored]}
