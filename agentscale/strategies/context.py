"""``ScaleContext``: the run-time dependencies of a scaled run, passed as LangGraph's ``context``.

Nodes read their model, verifier, selector, sandboxes and budget from ``runtime.context``,
never from module globals, so two runs in one process never share settings by accident.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from agentscale.budget import Budget
from agentscale.errors import ConfigError
from agentscale.protocols import Memory, Model, SandboxProvider, Selector, Verifier

__all__ = ["ScaleContext", "context_of"]


@dataclass
class ScaleContext:
    """What a scaled run needs at run time; give it as ``graph.ainvoke(..., context=ScaleContext(...))``.

    Arguments given to ``scale()`` or to a node's constructor win over the fields here.

    Attributes:
        model: the model strategies use themselves: critiques (reflection), plans (PlanSearch),
            judges. The agent brings its own model.
        sandboxes: leases a sandbox per rollout, for agents that ask for one.
        verifier: judges each rollout as it finishes.
        selector: picks the final answer.
        budget: shared limits for the whole run; each finished rollout is charged to it once.
        memory: a memory bank (``agentscale.memory.MemoryBank``, or any ``Memory``). With one,
            every ``scale()`` graph recalls lessons into each rollout's prompt first and, last,
            hands the bank the task's rollouts and verdicts to distil new lessons (written by
            ``model``, charged to ``budget``). Without one (the default) both steps do nothing.
        memory_k: how many lessons to recall per task.
        max_concurrency: at most this many rollouts run (and verify) at once.
        rollout_timeout: seconds one rollout may take before it is recorded as failed.
    """

    model: Model | None = None
    sandboxes: SandboxProvider | None = None
    verifier: Verifier | None = None
    selector: Selector | None = None
    budget: Budget = field(default_factory=Budget)
    memory: Memory | None = None
    memory_k: int = 3
    max_concurrency: int = 8
    rollout_timeout: float | None = None
    _limiter: asyncio.Semaphore | None = field(default=None, init=False, repr=False, compare=False)
    _limiter_loop: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_concurrency < 1:
            raise ConfigError(f"ScaleContext.max_concurrency must be >= 1, got {self.max_concurrency}")
        if self.rollout_timeout is not None and self.rollout_timeout <= 0:
            raise ConfigError(f"ScaleContext.rollout_timeout must be > 0, got {self.rollout_timeout}")
        if self.memory_k < 0:
            raise ConfigError(f"ScaleContext.memory_k must be >= 0, got {self.memory_k}")

    def limiter(self) -> asyncio.Semaphore:
        """The semaphore every rollout of this run holds while it runs (made on first use).

        It is made per event loop, so one context can serve runs under successive ``asyncio.run``.
        """
        loop = asyncio.get_running_loop()
        if self._limiter is None or self._limiter_loop is not loop:
            self._limiter = asyncio.Semaphore(self.max_concurrency)
            self._limiter_loop = loop
        return self._limiter


def context_of(runtime: Any) -> ScaleContext:
    """The run's ``ScaleContext`` from a node's ``runtime``.

    Raises:
        ConfigError: the graph was invoked without one. Each node would otherwise make its own,
            and the run would have no shared budget and no bound on concurrency.
    """
    ctx = getattr(runtime, "context", None)
    if ctx is None:
        raise ConfigError("invoke the graph with context=ScaleContext(...) (it holds the budget and limits)")
    if not isinstance(ctx, ScaleContext):
        raise ConfigError(f"context must be a ScaleContext, got {type(ctx).__name__}")
    return ctx
