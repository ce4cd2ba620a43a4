"""Majority vote over normalised answers (self-consistency)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from agentscale.selectors._common import best_by_score, clusters, ok_rollouts, score_of
from agentscale.types import Rollout, Selection, Task, Verdict

__all__ = ["MajorityVote"]


@dataclass
class MajorityVote:
    """Picks the answer most rollouts agree on (answers compared after ``normalize_answer``).

    Each finished rollout votes once for its answer (``rollout.answer``, else the answer extracted
    from its output); rollouts without an answer abstain and failed rollouts do not vote.

    Ties: between equally large clusters, the one whose members have the higher total verifier
    score wins; if still tied, the cluster that appeared first. Within the winning cluster the
    member with the best verifier score is returned (the earliest when none is verified).
    No votes at all (no candidate has an answer): falls back to the best verifier score, else
    the first candidate, and says so in ``reason``. No candidates: ``rollout_id=None``.

    ``Selection.scores`` maps every voter to its cluster's share of the votes.
    """

    name: str = "majority"

    async def select(self, task: Task, rollouts: Sequence[Rollout], verdicts: Mapping[str, Verdict]) -> Selection:
        """Choose by vote."""
        candidates = ok_rollouts(rollouts)
        groups = clusters(candidates)
        if not groups:
            return best_by_score(candidates, verdicts, why="no answers to vote on; ")
        order = list(groups)

        def rank(key: str) -> tuple[int, float, int]:
            members = groups[key]
            return (len(members), sum(max(score_of(verdicts, r), 0.0) for r in members), -order.index(key))

        winner = max(groups, key=rank)
        voters = sum(len(m) for m in groups.values())
        members = groups[winner]
        chosen = max(enumerate(members), key=lambda ir: (score_of(verdicts, ir[1]), -ir[0]))[1]
        tied = [k for k in groups if len(groups[k]) == len(members)]
        note = (
            f"; tie with {len(tied) - 1} other answer(s) broken by verifier score, then order" if len(tied) > 1 else ""
        )
        return Selection(
            rollout_id=chosen.id,
            scores={r.id: len(m) / voters for m in groups.values() for r in m},
            reason=f"majority: {len(members)} of {voters} votes for {winner!r}{note}",
        )
