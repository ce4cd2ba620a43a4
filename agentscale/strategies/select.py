"""Node ``select``: choose the final answer among the successful rollouts.

Failed rollouts (errors, timeouts, budget stops) never reach the selector. With no successful
rollout at all, the selection is ``Selection(rollout_id=None)`` with the reason: running out
of candidates is an outcome, not a crash. With no selector configured, the rollout with the
highest verdict score wins (the earliest on ties; the first to finish when nothing was verified).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langgraph.runtime import Runtime

from agentscale.protocols import Selector
from agentscale.state import ScaleState
from agentscale.strategies.context import ScaleContext, context_of
from agentscale.types import Rollout, Selection, Verdict

__all__ = ["Select", "best_scored"]


def best_scored(rollouts: Sequence[Rollout], verdicts: Mapping[str, Verdict]) -> Selection:
    """The rollout with the highest verdict score (earliest wins ties); unverified ones score -1."""
    if not rollouts:
        return Selection(rollout_id=None, reason="no successful rollouts")
    scores = {r.id: verdicts[r.id].score if r.id in verdicts else -1.0 for r in rollouts}
    best = max(rollouts, key=lambda r: scores[r.id])  # max keeps the first of equals
    return Selection(
        rollout_id=best.id,
        scores={k: v for k, v in scores.items() if v >= 0},
        reason="highest verifier score" if scores[best.id] >= 0 else "first successful rollout (no verdicts)",
    )


class Select:
    """Node ``select``.

    Args:
        selector: the selector (default: ``ScaleContext.selector``, else ``best_scored``).
    """

    def __init__(self, selector: Selector | None = None) -> None:
        self.selector = selector

    async def __call__(self, state: ScaleState, runtime: Runtime[ScaleContext]) -> dict[str, Any]:
        ctx = context_of(runtime)
        task = state["task"]
        candidates = [r for r in state.get("rollouts") or [] if r.ok]
        verdicts = {
            k: v for k, v in (state.get("verdicts") or {}).items() if any(r.id == k for r in candidates)
        }
        selector = self.selector or ctx.selector
        if not candidates:
            failed = len(state.get("rollouts") or [])
            selection = Selection(
                rollout_id=None, reason=f"no successful rollouts ({failed} failed or not started)"
            )
        elif selector is None:
            selection = best_scored(candidates, verdicts)
        else:
            selection = await selector.select(task, candidates, verdicts)
        update: dict[str, Any] = {"selected": selection}
        if selection.rollout is not None:  # a selector that writes a new answer (synthesis)
            update["rollouts"] = [selection.rollout]
        runtime.stream_writer(
            {
                "event": "selected",
                "task_id": task.id,
                "rollout_id": selection.rollout_id,
                "reason": selection.reason,
            }
        )
        return update
