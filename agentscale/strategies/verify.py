"""Node ``verify``: verify every successful rollout that has no verdict yet.

Rollout nodes usually verify their own result as it finishes; this node is for graphs that
verify as a separate step (after a fan-in, or with a second verifier). It is idempotent: a
rollout that already has a verdict is skipped, so it is safe to run after a resume. Each
verification runs through ``ScaleContext.executor``, like a rollout.
"""

from __future__ import annotations

import asyncio
from typing import Any

from langgraph.runtime import Runtime

from agentscale.errors import ConfigError
from agentscale.executor import execute
from agentscale.protocols import Verifier
from agentscale.rollout import RolloutJob
from agentscale.state import ScaleState
from agentscale.strategies._checks import check_verifier
from agentscale.strategies.context import ScaleContext, context_of, task_update
from agentscale.types import RolloutRequest

__all__ = ["Verify"]


class Verify:
    """Node ``verify``.

    Args:
        verifier: the verifier (default: ``ScaleContext.verifier``).
        context: the ``ScaleContext`` to use when the runtime context is not one (nesting).
    """

    def __init__(self, verifier: Verifier | None = None, *, context: ScaleContext | None = None) -> None:
        self.verifier = check_verifier(verifier)
        self.context = context

    async def __call__(self, state: ScaleState, runtime: Runtime[ScaleContext]) -> dict[str, Any]:
        ctx = context_of(runtime, self.context)
        verifier = self.verifier or ctx.verifier
        if verifier is None:
            raise ConfigError("the verify node needs a verifier: pass one or set ScaleContext(verifier=...)")
        task, update = task_update(state)
        done = state.get("verdicts") or {}
        todo = [r for r in state.get("rollouts") or [] if r.ok and r.id not in done]
        jobs = [
            RolloutJob(
                agent=None,
                task=task,
                request=RolloutRequest(index=int(r.metadata.get("index", 0))),
                verifier=verifier,
                budget=ctx.budget,
                emit=runtime.stream_writer,
                rollout=r,
            )
            for r in todo
        ]
        # verify_one never raises for a bad candidate, so gather cannot lose siblings' verdicts.
        results = await asyncio.gather(*(execute(ctx.executor, job) for job in jobs))
        verdicts = {res.rollout.id: res.verdict for res in results if res.verdict is not None}
        return {**update, "verdicts": verdicts} if verdicts else update
