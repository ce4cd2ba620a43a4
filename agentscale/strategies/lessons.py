"""Memory-aware scaling (ReasoningBank): ``recall`` lessons before the rollouts, ``remember`` after.

Every ``scale()`` graph starts with ``recall`` and ends with ``remember``; both do nothing when
``ScaleContext.memory`` is ``None``, so a run without a bank behaves as before. With a bank:

* ``recall`` asks it for the ``memory_k`` lessons nearest the task and puts the block in
  ``task.metadata["memory"]`` (the prompt itself stays as given, so verifiers, judges and
  selectors read the original task); ``task_for_sample`` renders the block at the top of every
  rollout's prompt, and ``prompt_parts`` hands it to agents that render prompts themselves.
* ``remember`` gives the bank every rollout and verdict of the task; with passing and failing
  rollouts side by side the bank distils *contrastive* lessons (what the passing ones did).
  ``ScaleContext.model`` writes them and each of its calls is charged to the run's budget;
  with the budget spent it only credits the recalled lessons with the outcome (no model call).

Memory helps a run, it never fails one: any error of the bank or its model is logged and
streamed as a ``memory`` event, and the run returns its selection. The bank is reached only
through the ``Memory`` protocol, so core never imports ``agentscale.memory``. With a
checkpointer, ``remember`` is the last node: a finished run resumed has nothing left to do, and
a run killed before it remembers once when resumed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from langgraph.errors import GraphBubbleUp
from langgraph.runtime import Runtime

from agentscale.agents import MEMORY_KEY, ORIGINAL_KEY
from agentscale.budget import Budget
from agentscale.protocols import Model
from agentscale.state import ScaleState
from agentscale.strategies.context import ScaleContext, context_of
from agentscale.types import Completion, Task

__all__ = ["Recall", "Remember", "render_lessons"]

log = logging.getLogger(__name__)

# The same header agentscale.memory.render_memories writes, so a lesson block reads the same
# whichever node recalled it.
_HEADER = "Lessons learned on similar tasks (apply them where they fit):"


def render_lessons(memories: Sequence[Any]) -> str:
    """The block of lessons an agent sees (``""`` for none).

    Each memory is a ``ScoredMemory`` (its ``item.render()``), an item with ``render()``, or text.
    """
    lines = []
    for memory in memories:
        item = getattr(memory, "item", memory)
        text = item.render() if callable(getattr(item, "render", None)) else str(item)
        if text.strip():
            lines.append(f"{len(lines) + 1}. " + text.strip().replace("\n", "\n   "))
    return "\n".join([_HEADER, *lines]) if lines else ""


def _item_id(memory: Any) -> str | None:
    item = getattr(memory, "item", memory)
    return getattr(item, "id", None) if not isinstance(item, str) else item


def _original(task: Task) -> Task:
    # a task that went through agentscale.memory's own recall node has the lessons in its prompt
    original = task.metadata.get(ORIGINAL_KEY)
    return task.model_copy(update={"prompt": original}) if original and original != task.prompt else task


def _event(task: Task, step: str, ids: Sequence[str], error: str | None = None) -> dict[str, Any]:
    return {"event": "memory", "task_id": task.id, "step": step, "item_ids": list(ids), "error": error}


class Recall:
    """Node ``recall``: put the lessons the bank recalls for the task in ``task.metadata["memory"]``.

    Writes ``task`` (same prompt; metadata ``memory``, ``memory_ids``, ``prompt_without_memory``),
    ``memories`` (the recalled ids) and ``remembered=None`` (a fresh run on an old thread
    remembers again). A no-op without ``ScaleContext.memory``.
    """

    async def __call__(self, state: ScaleState, runtime: Runtime[ScaleContext]) -> dict[str, Any]:
        ctx = context_of(runtime)
        if ctx.memory is None:
            return {}
        task = _original(state["task"])
        error = None
        try:
            memories = await ctx.memory.recall(task, ctx.memory_k) if ctx.memory_k else []
        except GraphBubbleUp:
            raise
        except Exception as exc:  # memory helps, it is not required: run without it
            log.warning("memory recall failed for task %s; running without lessons: %r", task.id, exc)
            memories, error = [], f"{type(exc).__name__}: {exc}"
        ids = [i for i in map(_item_id, memories) if i is not None]
        runtime.stream_writer(_event(task, "recall", ids, error))
        metadata = {**task.metadata, MEMORY_KEY: render_lessons(memories), "memory_ids": ids, ORIGINAL_KEY: task.prompt}
        return {"task": task.model_copy(update={"metadata": metadata}), "memories": ids, "remembered": None}


@dataclass
class _ChargedModel:
    """``model``, with each call checked against and charged to ``budget`` (unless it charges it itself)."""

    model: Model
    budget: Budget

    async def generate(self, messages: Any, **options: Any) -> Completion:
        self.budget.check()
        completion = await self.model.generate(messages, **options)
        if getattr(self.model, "budget", None) is not self.budget:
            self.budget.charge(completion.usage)
        return completion


class Remember:
    """Node ``remember``: hand the bank the task's rollouts and verdicts to learn from.

    The bank credits the recalled lessons (``state["memories"]``) with the task's outcome and,
    given ``ScaleContext.model``, distils new lessons (contrastive when passing and failing
    rollouts coexist). Writes ``remembered`` (stored ids). A no-op without ``ScaleContext.memory``
    or when ``remembered`` is already set for this run.
    """

    async def __call__(self, state: ScaleState, runtime: Runtime[ScaleContext]) -> dict[str, Any]:
        ctx = context_of(runtime)
        if ctx.memory is None or state.get("remembered") is not None:
            return {}
        task = state["task"]
        # With the budget spent the bank still credits the recalled lessons, which costs no call.
        spent = ctx.budget.exhausted is not None
        model = None if ctx.model is None or spent else _ChargedModel(ctx.model, ctx.budget)
        error = None
        try:
            stored = await ctx.memory.remember(
                task,
                list(state.get("rollouts") or []),
                dict(state.get("verdicts") or {}),
                model,
                judge=model,
                recalled=[i for i in map(_item_id, state.get("memories") or []) if i is not None],
            )
        except GraphBubbleUp:
            raise
        except Exception as exc:  # the task's own result stands
            log.warning("memory remember failed for task %s: %r", task.id, exc)
            stored, error = [], f"{type(exc).__name__}: {exc}"
        ids = [i for i in map(_item_id, stored) if i is not None]
        if spent and error is None:
            error = f"budget exhausted ({ctx.budget.exhausted}): no new lessons distilled"
        runtime.stream_writer(_event(task, "remember", ids, error))
        return {"remembered": ids}
