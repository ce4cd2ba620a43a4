"""``MemoryContext``: the smallest run-time context the memory nodes work with."""

from __future__ import annotations

from dataclasses import dataclass

from agentscale.budget import Budget
from agentscale.protocols import Memory, Model

__all__ = ["MemoryContext"]


@dataclass
class MemoryContext:
    """A ``context_schema`` for graphs that only need memory (others add these fields to theirs).

    Attributes:
        memory: the bank.
        model: writes lessons (and judges rollouts without a verdict); ``None`` only credits the
            recalled lessons with the task's outcome.
        memory_k: lessons to recall per task.
        judge: judges rollouts without a verdict instead of ``model``.
        budget: charged for the lessons' model calls; with it spent, no lessons are written.
    """

    memory: Memory
    model: Model | None = None
    memory_k: int = 3
    judge: Model | None = None
    budget: Budget | None = None
