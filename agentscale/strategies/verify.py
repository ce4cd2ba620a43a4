"""Node ``verify``: verify every successful rollout that has no verdict yet.

Rollout nodes usually verify their own result as it finishes; this node is for graphs that
verify as a separate step (after a fan-in, or with a second verifier). It is idempotent: a
rollout that already has a verdict is skipped, so it is safe to run after a resume.
"""

from __future__ import annotations

import asyncio
from typing import Any

from langgraph.runtime import Runtime

from agentscale.errors import ConfigError
from agentscale.protocols import Verifier
from agentscale.state import ScaleState
from agentscale.strategies.context import ScaleContext, context_of
from agentscale.strategies.rollouts import verify_one
from agentscale.types import Rollout, Verdict

__all__ = ["Verify"]


class Verify:
    """Node ``verify``.

    Args:
        verifier: the verifier (default: ``ScaleContext.verifier``).
    """

    def __init__(self, verifier: Verifier | None = None) -> None:
        self.verifier = verifier

    async def __call__(self, state: ScaleState, runtime: Runtime[ScaleContext]) -> dict[str, Any]:
        ctx = context_of(runtime)
        verifier = self.verifier or ctx.verifier
        if verifier is None:
            raise ConfigError("the verify node needs a verifier: pass one or set ScaleContext(verifier=...)")
        task = state["task"]
        done = state.get("verdicts") or {}
        todo = [r for r in state.get("rollouts") or [] if r.ok and r.id not in done]
        limiter = ctx.limiter()

        async def check(rollout: Rollout) -> Verdict:
            async with limiter:
                verdict = await verify_one(verifier, task, rollout)
            runtime.stream_writer(
                {
                    "event": "verdict",
                    "task_id": task.id,
                    "rollout_id": rollout.id,
                    "score": verdict.score,
                    "passed": verdict.passed,
                }
            )
            return verdict

        # verify_one never raises for a bad candidate, so gather cannot lose siblings' verdicts.
        verdicts = await asyncio.gather(*(check(r) for r in todo))
        return {"verdicts": {r.id: v for r, v in zip(todo, verdicts, strict=True)}} if todo else {}
