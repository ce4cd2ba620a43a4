"""First-finish sampling: start N rollouts, keep the first that passes the verifier, cancel the rest.

Why one node with asyncio tasks instead of a ``Send`` fan-out: the tasks of a LangGraph
superstep cannot cancel each other, and the step ends only when all of them have. Here each
rollout is an ``asyncio`` task; as soon as one passes, the others are cancelled and drained
(cancelling the task closes its HTTP request, so the model server stops generating). Rollouts
that finished meanwhile are kept; the cancelled ones are recorded as ``status="cancelled"``.
External cancellation cancels and drains every rollout, then propagates.

The price: the node is one LangGraph task, so a run killed mid-race redoes the race on resume.
"""

from __future__ import annotations

import asyncio
from typing import Any

from langgraph.runtime import Runtime

from agentscale.agents import as_agent
from agentscale.errors import ConfigError
from agentscale.protocols import Verifier
from agentscale.state import Sample, ScaleState
from agentscale.strategies.context import ScaleContext, context_of
from agentscale.strategies.rollouts import Diversity, run_one
from agentscale.types import Provenance, Rollout, Selection, Verdict

__all__ = ["Race"]


class Race:
    """Node ``race``: first-finish sampling.

    Writes ``rollouts`` and ``verdicts``, and ``selected`` when a rollout passed (route on it:
    without a winner, a ``select`` node can still pick the best of what finished).

    Args:
        agent: an ``Agent``, compiled graph or async function.
        n: how many rollouts to start (at most ``ScaleContext.max_concurrency`` run at once).
        diversity: how they differ.
        verifier: decides what passes (default: ``ScaleContext.verifier``); without one, the
            first successful rollout wins.
        timeout: seconds per rollout (default: ``ScaleContext.rollout_timeout``).
    """

    def __init__(
        self,
        agent: Any,
        n: int,
        *,
        diversity: Diversity | None = None,
        verifier: Verifier | None = None,
        timeout: float | None = None,
    ) -> None:
        if n < 1:
            raise ConfigError(f"n must be >= 1, got {n}")
        self.agent = as_agent(agent)
        self.n = n
        self.diversity = diversity or Diversity()
        self.verifier = verifier
        self.timeout = timeout

    async def __call__(self, state: ScaleState, runtime: Runtime[ScaleContext]) -> dict[str, Any]:
        ctx = context_of(runtime)
        task = state["task"]
        verifier = self.verifier or ctx.verifier
        write = runtime.stream_writer
        samples = [self.diversity.sample(i) for i in range(self.n)]
        running: dict[asyncio.Task, Sample] = {
            asyncio.create_task(
                run_one(
                    self.agent,
                    task,
                    s,
                    ctx=ctx,
                    write=write,
                    verifier=verifier,
                    timeout=self.timeout or ctx.rollout_timeout,
                ),
                name=f"agentscale-race-{task.id}-{s.index}",
            ): s
            for s in samples
        }
        finished: list[tuple[Rollout, Verdict | None]] = []
        winner: Rollout | None = None
        pending = set(running)
        try:
            while pending and winner is None:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for t in sorted(done, key=lambda t: running[t].index):
                    rollout, verdict = t.result()  # run_one returns failures as data
                    finished.append((rollout, verdict))
                    passed = verdict.passed if verdict is not None else (verifier is None and rollout.ok)
                    if winner is None and passed:
                        winner = rollout
        finally:
            # cancel and drain: nothing may outlive the node, and what finished meanwhile is kept
            for t in pending:
                t.cancel()
            outcomes = await asyncio.gather(*pending, return_exceptions=True)
        cancelled: list[Rollout] = []
        for t, outcome in zip(pending, outcomes, strict=True):
            sample = running[t]
            if isinstance(outcome, tuple):
                finished.append(outcome)
            elif isinstance(outcome, asyncio.CancelledError):
                cancelled.append(_cancelled(task.id, sample))
            else:
                raise outcome
        for r in cancelled:
            write(
                {
                    "event": "rollout_finished",
                    "task_id": task.id,
                    "index": r.metadata["index"],
                    "rollout_id": r.id,
                    "status": r.status,
                    "tokens": 0,
                    "seconds": 0.0,
                    "error": r.error,
                }
            )
        update: dict[str, Any] = {
            "rollouts": [r for r, _ in finished] + cancelled,
            "verdicts": {r.id: v for r, v in finished if v is not None},
            "stop_reason": "passed" if winner else "none passed",
        }
        if winner is not None:
            update["selected"] = Selection(rollout_id=winner.id, reason="first rollout to pass")
        return update


def _cancelled(task_id: str, sample: Sample) -> Rollout:
    return Rollout(
        task_id=task_id,
        status="cancelled",
        error="cancelled: another rollout passed first",
        provenance=Provenance(seed=sample.seed, temperature=sample.temperature, strategy=sample.strategy),
        metadata={"index": sample.index},
    )
