"""Best-of-Majority: restrict to the most frequent answers, then take the best-scored among them."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from agentscale.errors import ConfigError
from agentscale.selectors._common import best_by_score, clusters, ok_rollouts, score_of
from agentscale.types import Rollout, Selection, Task, Verdict

__all__ = ["BestOfMajority"]


@dataclass
class BestOfMajority:
    """Majority filter, then best-of-N (Di et al., 2025, "Best-of-Majority").

    Answers are clustered by ``normalize_answer``. Frequent answers survive: with ``min_fraction``
    unset, every cluster tied for the largest size; with ``min_fraction = a``, every cluster with at
    least ``ceil(a * voters)`` members (the largest cluster always survives). Among the survivors'
    members the best verifier score wins, so a reward model can only pick among answers that many
    samples agree on, which guards against a verifier fooled by one odd sample.

    Ties: equal scores go to the member of the larger cluster, then the earliest rollout.
    No answers at all: the best verifier score over all candidates (``reason`` says so). No
    verdicts: the first member of the largest cluster (plain majority). No candidates:
    ``rollout_id=None``.

    Attributes:
        min_fraction: the share of votes an answer needs to stay in; ``None`` keeps only the top.
        name: the selector's name.
    """

    min_fraction: float | None = None
    name: str = "best_of_majority"

    def __post_init__(self) -> None:
        if self.min_fraction is not None and not 0 < self.min_fraction <= 1:
            raise ConfigError(f"BestOfMajority.min_fraction must be in (0, 1], got {self.min_fraction}")

    async def select(self, task: Task, rollouts: Sequence[Rollout], verdicts: Mapping[str, Verdict]) -> Selection:
        """Filter by frequency, choose by score."""
        candidates = ok_rollouts(rollouts)
        groups = clusters(candidates)
        if not groups:
            return best_by_score(candidates, verdicts, why="no answers to cluster; ")
        voters = sum(len(m) for m in groups.values())
        top = max(len(m) for m in groups.values())
        need = top if self.min_fraction is None else min(top, math.ceil(self.min_fraction * voters))
        kept = {k: m for k, m in groups.items() if len(m) >= need}
        position = {r.id: i for i, r in enumerate(candidates)}
        pool = [(k, r) for k, m in kept.items() for r in m]
        key, chosen = max(pool, key=lambda kr: (score_of(verdicts, kr[1]), len(kept[kr[0]]), -position[kr[1].id]))
        return Selection(
            rollout_id=chosen.id,
            scores={r.id: score_of(verdicts, r) for _, r in pool if r.id in verdicts},
            reason=(
                f"best of majority: {len(kept)} answer(s) with >= {need} of {voters} votes; "
                f"chose {key!r} (score {score_of(verdicts, chosen):.3g})"
            ),
        )
