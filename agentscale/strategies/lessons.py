"""Memory-aware scaling (ReasoningBank): ``Recall`` lessons before the rollouts, ``Remember`` after.

These are the only memory nodes: every ``scale()`` graph starts with ``recall`` and ends with
``remember``, and ``agentscale.memory`` re-exports them for your own graphs. Both do nothing
without a bank, so a run without one behaves as before. With a bank:

* ``recall`` asks it for the ``memory_k`` lessons nearest the task and writes them to the state as
  text (``lessons``) with their ids (``memories``). The task itself is never modified: every
  rollout gets the lessons in ``request.lessons`` (the default renderer puts them on top of the
  prompt), and verifiers, judges and selectors read the task as given.
* ``remember`` gives the bank every rollout and verdict of the task; with passing and failing
  rollouts side by side the bank distils *contrastive* lessons (what the passing ones did).
  The context's ``model`` writes them and each of its calls is charged to its ``budget``; with
  the budget spent it only credits the recalled lessons with the outcome (no model call).

The nodes read ``memory``, ``model``, ``memory_k`` and ``budget`` (and an optional ``judge`` for
rollouts without a verdict) from ``runtime.context`` by
attribute or mapping key, so they work in your own ``StateGraph`` with your own context type (a
``ScaleContext`` has all four; ``agentscale.memory.MemoryContext`` is a minimal one). Inside a
``scale()`` graph nested in your graph, the scale graph's own ``context=`` wins.

Memory helps a run, it never fails one: any error of the bank or its model is logged and
streamed as a ``memory`` event, and the run returns its selection. The bank is reached only
through the ``Memory`` protocol, so core never imports ``agentscale.memory``. With a
checkpointer, ``remember`` is the last node: a finished run resumed has nothing left to do, and
a run killed before it remembers once when resumed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langgraph.errors import GraphBubbleUp
from langgraph.runtime import Runtime

from agentscale.budget import Budget, charged_generate
from agentscale.errors import ConfigError
from agentscale.protocols import Model
from agentscale.state import MemoryEvent
from agentscale.strategies.context import ScaleContext, task_update
from agentscale.types import Completion, Task

__all__ = ["Recall", "Remember", "lesson_text"]

log = logging.getLogger(__name__)


def lesson_text(memory: Any) -> str:
    """One recalled lesson as text: a ``ScoredMemory`` or item by its ``render()``, else ``str()``."""
    item = getattr(memory, "item", memory)
    return item.render() if callable(getattr(item, "render", None)) else str(item)


def _item_id(memory: Any) -> str | None:
    item = getattr(memory, "item", memory)
    return getattr(item, "id", None) if not isinstance(item, str) else item


def _dep(context: Any, name: str, default: Any = None) -> Any:
    if isinstance(context, Mapping):
        return context.get(name, default)
    return getattr(context, name, default)


def _context(runtime: Any, default: ScaleContext | None) -> Any:
    # a ScaleContext at run time wins; then scale()'s own; then whatever the user's graph has
    ctx = getattr(runtime, "context", None)
    if isinstance(ctx, ScaleContext) or default is None:
        return ctx
    return default


def _memory(context: Any, required: bool) -> Any:
    memory = _dep(context, "memory")
    if memory is None and required:
        raise ConfigError(
            "memory nodes need runtime.context.memory (a MemoryBank); see agentscale.memory.MemoryContext"
        )
    return memory


def _event(task: Task, step: str, ids: Sequence[str], error: str | None = None) -> MemoryEvent:
    return MemoryEvent(event="memory", task_id=task.id, step=step, item_ids=list(ids), error=error)  # type: ignore[typeddict-item]


# The nodes take the state as a plain mapping (not ``ScaleState``): LangGraph would otherwise add
# ScaleState's keys, with its reducers, to the channels of a user's graph that holds them.


class Recall:
    """Node ``recall``: the lessons the bank recalls for the task, as ``lessons`` and ``memories``.

    Writes ``lessons`` (texts), ``memories`` (the recalled ids) and ``remembered=None`` (a fresh
    run on an old thread remembers again); also ``task`` when the input gave a str or a dict (made
    a ``Task`` here). Without a bank in the context it writes nothing else.

    Args:
        context: the ``ScaleContext`` to use when the runtime context is not one (nesting).
        require_memory: a missing bank is a ``ConfigError`` instead of a no-op.
    """

    def __init__(self, *, context: ScaleContext | None = None, require_memory: bool = False) -> None:
        self.context = context
        self.require_memory = require_memory

    async def __call__(self, state: Mapping[str, Any], runtime: Runtime[Any]) -> dict[str, Any]:
        task, update = task_update(state)
        ctx = _context(runtime, self.context)
        memory = _memory(ctx, self.require_memory)
        if memory is None:
            return update
        k = int(_dep(ctx, "memory_k", 3))
        error = None
        try:
            memories = await memory.recall(task, k) if k else []
        except GraphBubbleUp:
            raise
        except Exception as exc:  # memory helps, it is not required: run without it
            log.warning("memory recall failed for task %s; running without lessons: %r", task.id, exc)
            memories, error = [], f"{type(exc).__name__}: {exc}"
        ids = [i for i in map(_item_id, memories) if i is not None]
        lessons = [t for t in map(lesson_text, memories) if t.strip()]
        runtime.stream_writer(_event(task, "recall", ids, error))
        return {**update, "lessons": lessons, "memories": ids, "remembered": None}


@dataclass
class _ChargedModel:
    """``model``, with each call checked against and charged to ``budget`` exactly once."""

    model: Model
    budget: Budget

    async def generate(self, messages: Any, **options: Any) -> Completion:
        return await charged_generate(self.model, self.budget, messages, **options)


def _charged(model: Any, budget: Budget | None) -> Any:
    return model if budget is None else _ChargedModel(model, budget)


class Remember:
    """Node ``remember``: hand the bank the task's rollouts and verdicts to learn from.

    The bank credits the recalled lessons (``state["memories"]``) with the task's outcome and,
    given a ``model`` in the context, distils new lessons (contrastive when passing and failing
    rollouts coexist). Writes ``remembered`` (stored ids). A no-op without a bank in the context
    or when ``remembered`` is already set for this run.

    Args:
        context: the ``ScaleContext`` to use when the runtime context is not one (nesting).
        require_memory: a missing bank is a ``ConfigError`` instead of a no-op.
    """

    def __init__(self, *, context: ScaleContext | None = None, require_memory: bool = False) -> None:
        self.context = context
        self.require_memory = require_memory

    async def __call__(self, state: Mapping[str, Any], runtime: Runtime[Any]) -> dict[str, Any]:
        ctx = _context(runtime, self.context)
        memory = _memory(ctx, self.require_memory)
        if memory is None or state.get("remembered") is not None:
            return {}
        task, _ = task_update(state)
        budget: Budget | None = _dep(ctx, "budget")
        base = _dep(ctx, "model")
        # With the budget spent the bank still credits the recalled lessons, which costs no call.
        spent = budget is not None and budget.exhausted is not None
        model = None if base is None or spent else _charged(base, budget)
        judge = _charged(_dep(ctx, "judge"), budget) if _dep(ctx, "judge") is not None and not spent else model
        error = None
        try:
            stored = await memory.remember(
                task,
                list(state.get("rollouts") or []),
                dict(state.get("verdicts") or {}),
                model,
                judge=judge,
                recalled=[i for i in map(_item_id, state.get("memories") or []) if i is not None],
            )
        except GraphBubbleUp:
            raise
        except Exception as exc:  # the task's own result stands
            log.warning("memory remember failed for task %s: %r", task.id, exc)
            stored, error = [], f"{type(exc).__name__}: {exc}"
        ids = [i for i in map(_item_id, stored) if i is not None]
        if spent and error is None:
            error = f"budget exhausted ({budget.exhausted}): no new lessons distilled"
        runtime.stream_writer(_event(task, "remember", ids, error))
        return {"remembered": ids}
