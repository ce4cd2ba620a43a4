"""Pick the rollout with the best verifier score (best-of-N)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from agentscale.selectors._common import best_by_score, ok_rollouts
from agentscale.types import Rollout, Selection, Task, Verdict

__all__ = ["BestScore"]


@dataclass
class BestScore:
    """The highest verifier score wins.

    Ties: at equal score a passed verdict beats a failed one, then the earliest rollout wins.
    Unverified rollouts rank below every verified one; with no verdicts at all the first
    candidate is returned. All failed: the best-scoring failing rollout is returned (``reason``
    says none passed) unless ``require_pass`` is set, then ``rollout_id=None``. No candidates:
    ``rollout_id=None``.

    Attributes:
        require_pass: return nothing rather than a rollout that did not pass.
        name: the selector's name.
    """

    require_pass: bool = False
    name: str = "best_score"

    async def select(self, task: Task, rollouts: Sequence[Rollout], verdicts: Mapping[str, Verdict]) -> Selection:
        """Choose by verifier score."""
        candidates = ok_rollouts(rollouts)
        if self.require_pass and not any(verdicts.get(r.id) and verdicts[r.id].passed for r in candidates):
            scores = {r.id: verdicts[r.id].score for r in candidates if r.id in verdicts}
            return Selection(rollout_id=None, scores=scores, reason="no candidate passed verification")
        return best_by_score(candidates, verdicts)
