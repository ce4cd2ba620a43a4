"""Where rollouts run: the ``Executor`` seam, its asyncio default, and ``execute``, which charges
the budget once whatever executed the rollout.

Every strategy node hands its rollouts (and the ``verify`` node its verifications) to
``execute(ctx.executor, job)``; nothing else runs an agent. ``AsyncioExecutor`` runs them in this
process, at most ``max_concurrency`` at a time.

**A distributed executor** (Ray, say) implements the same one method::

    class RayExecutor:
        def __init__(self, max_in_flight: int = 64) -> None:
            self._slots = asyncio.Semaphore(max_in_flight)

        async def run(self, job: RolloutJob) -> RolloutResult:
            async with self._slots:                      # room to run it now
                if (stopped := job.admit()) is not None:  # reserve it on the local budget
                    return stopped
                # a @ray.remote function that runs `asyncio.run(run_rollout(job))` on a worker
                ref = _remote_run.remote(dataclasses.replace(job, emit=_drop_event))
                return await ref                          # Ray object refs are awaitable

The worker calls ``agentscale.rollout.run_rollout`` there (the agent, verifier and any model
client must pickle; ``emit`` writes to this process's stream, so it stays behind, and an executor
that wants live progress relays the events itself). Budget charges made inside the worker hit
the worker's copy of the budget, never this one; ``execute`` sees that nothing was charged here
and charges the rollout's whole usage here, once. Put it in
``ScaleContext(executor=RayExecutor())``: no strategy changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from agentscale.budget import usage_ledger
from agentscale.errors import ConfigError
from agentscale.protocols import Executor
from agentscale.rollout import RolloutJob, RolloutResult, run_rollout
from agentscale.state import BudgetEvent

__all__ = ["AsyncioExecutor", "execute"]


class AsyncioExecutor:
    """Runs rollouts in this process's event loop, at most ``max_concurrency`` at once.

    The bound covers each rollout and its verification. A rollout waiting for a slot asks the
    budget only once it has one, so queued rollouts see the budget as it is when their turn comes.
    One executor may serve runs on successive event loops (its semaphore is made per loop).

    Args:
        max_concurrency: rollouts in flight at once.
    """

    def __init__(self, max_concurrency: int = 8) -> None:
        if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int) or max_concurrency < 1:
            raise ConfigError(f"max_concurrency must be an int >= 1, got {max_concurrency!r}")
        self.max_concurrency = max_concurrency
        self._semaphore: asyncio.Semaphore | None = None
        self._loop: Any = None

    def __repr__(self) -> str:
        return f"AsyncioExecutor(max_concurrency={self.max_concurrency})"

    @asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        if self._semaphore is None or self._loop is not loop:
            self._semaphore, self._loop = asyncio.Semaphore(self.max_concurrency), loop
        async with self._semaphore:
            yield

    async def run(self, job: RolloutJob) -> RolloutResult:
        """Run ``job`` once a slot is free (see ``Executor``)."""
        async with self._slot():
            if job.rollout is None and (stopped := job.admit()) is not None:
                return stopped
            return await run_rollout(job)


async def execute(executor: Executor, job: RolloutJob) -> RolloutResult:
    """Run ``job`` on ``executor`` and charge the run's budget for it exactly once.

    The rollout's usage (what the agent reported or its model calls measured, whichever is more)
    is charged minus whatever its model client already charged this budget while it ran; a
    ``budget`` progress event follows.

    Raises:
        asyncio.CancelledError: the caller cancelled it.
        GraphBubbleUp: the agent interrupted.
    """
    with usage_ledger() as ledger:
        result = await executor.run(job)
    if job.rollout is not None:  # a verification: the rollout was charged when it ran
        return result
    if not isinstance(result, RolloutResult):
        raise ConfigError(f"{type(executor).__name__}.run returned {type(result).__name__}, not a RolloutResult")
    ledger.settle(job.budget, result.rollout.usage)
    budget = job.budget
    job.emit(
        BudgetEvent(
            event="budget",
            task_id=job.task.id,
            spent_tokens=budget.spent.total_tokens,
            remaining=budget.remaining(),
            exhausted=budget.exhausted,
        )
    )
    return result
