"""``ScaleContext``: the run-time dependencies of a scaled run, passed as LangGraph's ``context``.

Nodes read their model, verifier, selector, sandboxes, budget and executor from
``runtime.context``, never from module globals, so two runs in one process never share settings
by accident.

**Nesting.** A ``scale()`` graph used as a node of your own graph runs with *your* graph's
context. Give it its own with ``scale(..., context=ScaleContext(...))``: every node of the scale
graph uses that one whenever the runtime context is not a ``ScaleContext``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agentscale.budget import Budget
from agentscale.errors import ConfigError
from agentscale.executor import AsyncioExecutor
from agentscale.protocols import Executor, Memory, Model, SandboxProvider, Selector, Verifier
from agentscale.strategies._checks import check_selector, check_verifier
from agentscale.types import Task

__all__ = ["ScaleContext", "as_task", "context_of"]


@dataclass
class ScaleContext:
    """What a scaled run needs at run time; give it as ``graph.ainvoke(..., context=ScaleContext(...))``.

    Arguments given to ``scale()`` or to a node's constructor win over the fields here.

    Attributes:
        model: the model strategies use themselves: critiques (reflection), plans (PlanSearch),
            judges, lessons; and the agent's ``run.model``.
        sandboxes: leases a sandbox per rollout, for agents that ask for one.
        verifier: judges each rollout as it finishes.
        selector: picks the final answer.
        budget: shared limits for the whole run; each rollout is charged to it exactly once.
        memory: a memory bank (``agentscale.memory.MemoryBank``, or any ``Memory``). With one,
            every ``scale()`` graph recalls lessons into each rollout's request first and, last,
            hands the bank the task's rollouts and verdicts to distil new lessons (written by
            ``model``, charged to ``budget``). Without one (the default) both steps do nothing.
        memory_k: how many lessons to recall per task.
        max_concurrency: at most this many rollouts run (and verify) at once, for the default
            executor.
        rollout_timeout: seconds one rollout may take before it is recorded as failed.
        executor: where rollouts run (default: ``AsyncioExecutor(max_concurrency)``, in this process).
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
    executor: Executor = None  # type: ignore[assignment] - made from max_concurrency when not given

    def __post_init__(self) -> None:
        if isinstance(self.max_concurrency, bool) or not isinstance(self.max_concurrency, int):
            raise ConfigError(f"ScaleContext.max_concurrency must be an int, got {self.max_concurrency!r}")
        if self.max_concurrency < 1:
            raise ConfigError(f"ScaleContext.max_concurrency must be >= 1, got {self.max_concurrency}")
        if self.rollout_timeout is not None and self.rollout_timeout <= 0:
            raise ConfigError(f"ScaleContext.rollout_timeout must be > 0, got {self.rollout_timeout}")
        if self.memory_k < 0:
            raise ConfigError(f"ScaleContext.memory_k must be >= 0, got {self.memory_k}")
        check_selector(self.selector)
        check_verifier(self.verifier)
        if not isinstance(self.budget, Budget):
            raise ConfigError(f"ScaleContext.budget must be a Budget, got {self.budget!r}")
        if self.executor is None:
            self.executor = AsyncioExecutor(self.max_concurrency)
        elif not callable(getattr(self.executor, "run", None)):
            raise ConfigError(f"ScaleContext.executor needs an async run(job) method, got {self.executor!r}")


def context_of(runtime: Any, default: ScaleContext | None = None) -> ScaleContext:
    """The run's ``ScaleContext``: ``runtime.context`` when it is one, else ``default``.

    Args:
        runtime: the node's LangGraph ``Runtime``.
        default: the context ``scale(..., context=...)`` baked in, for a scale graph nested in a
            graph with its own context type.

    Raises:
        ConfigError: neither is a ``ScaleContext``. Each node would otherwise make its own, and the
            run would have no shared budget and no bound on concurrency.
    """
    ctx = getattr(runtime, "context", None)
    if isinstance(ctx, ScaleContext):
        return ctx
    if default is not None:
        return default
    if ctx is None:
        raise ConfigError("invoke the graph with context=ScaleContext(...) (it holds the budget and limits)")
    raise ConfigError(
        f"context must be a ScaleContext, got {type(ctx).__name__}: inside a graph with its own context, "
        "build the scale graph with scale(..., context=ScaleContext(...))"
    )


def as_task(value: Any) -> Task:
    """The state's ``task`` as a ``Task``: a ``Task`` as is, a str as its prompt, a dict validated.

    Raises:
        ConfigError: no task, or one that is none of those.
    """
    if isinstance(value, Task):
        return value
    if isinstance(value, str):
        return Task(prompt=value)
    if isinstance(value, Mapping):
        from pydantic import ValidationError

        try:
            return Task.model_validate(dict(value))
        except ValidationError as exc:
            raise ConfigError(f"the state's 'task' is not a valid Task: {exc}") from exc
    if value is None:
        raise ConfigError('the graph needs a task: invoke it with {"task": Task(...)} (or a prompt string)')
    raise ConfigError(f"the state's 'task' must be a Task, a str or a dict, got {type(value).__name__}")


def task_update(state: Mapping[str, Any]) -> tuple[Task, dict[str, Any]]:
    """``(task, update)``: the state's task as a ``Task``, and ``{"task": it}`` when it had to be made one."""
    raw = state.get("task")
    task = as_task(raw)
    return task, ({} if task is raw else {"task": task})
