"""Vote over normalised answers, each vote weighted (by default, by its verifier score)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from agentscale.selectors._common import best_by_score, clusters, ok_rollouts, score_of
from agentscale.selectors.majority_vote import MajorityVote
from agentscale.types import Rollout, Selection, Task, Verdict

__all__ = ["WeightedVote", "verdict_weight"]


def verdict_weight(rollout: Rollout, verdict: Verdict | None) -> float:
    """The default weight: the verdict's score; an unverified rollout weighs 0."""
    return verdict.score if verdict is not None else 0.0


@dataclass
class WeightedVote:
    """Each rollout votes for its normalised answer with weight ``weight(rollout, verdict)``.

    The default weight is the verifier score, so answers backed by well-verified rollouts win even
    when fewer rollouts gave them. Pass e.g. ``lambda r, v: math.exp(r.metadata["mean_logprob"])``
    for confidence-weighted voting.

    Ties: between equal total weights, the cluster with the larger single weight wins, then the
    one that appeared first; within the winner, the heaviest member (then the earliest).
    All weights 0 (e.g. every candidate failed verification): falls back to an unweighted
    ``MajorityVote`` and says so in ``reason``. No answers at all: the best verifier score, else the
    first candidate. No candidates: ``rollout_id=None``.

    Attributes:
        weight: ``(rollout, verdict or None) -> weight >= 0``.
        name: the selector's name.
    """

    weight: Callable[[Rollout, Verdict | None], float] = verdict_weight
    name: str = "weighted_vote"

    async def select(self, task: Task, rollouts: Sequence[Rollout], verdicts: Mapping[str, Verdict]) -> Selection:
        """Choose by weighted vote."""
        candidates = ok_rollouts(rollouts)
        groups = clusters(candidates)
        if not groups:
            return best_by_score(candidates, verdicts, why="no answers to vote on; ")
        weights = {r.id: max(0.0, float(self.weight(r, verdicts.get(r.id)))) for m in groups.values() for r in m}
        totals = {k: sum(weights[r.id] for r in m) for k, m in groups.items()}
        if not any(totals.values()):
            fallback = await MajorityVote().select(task, candidates, verdicts)
            return fallback.model_copy(update={"reason": f"all vote weights are 0; {fallback.reason}"})
        order = list(groups)
        winner = max(groups, key=lambda k: (totals[k], max(weights[r.id] for r in groups[k]), -order.index(k)))
        members = groups[winner]
        chosen = max(enumerate(members), key=lambda ir: (weights[ir[1].id], score_of(verdicts, ir[1]), -ir[0]))[1]
        grand = sum(totals.values())
        return Selection(
            rollout_id=chosen.id,
            scores={r.id: totals[k] / grand for k, m in groups.items() for r in m},
            reason=f"weighted vote: {totals[winner]:.3g} of {grand:.3g} for {winner!r} ({len(members)})",
        )
