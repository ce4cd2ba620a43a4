"""``Majority``: N rollouts, the most common answer wins."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from agentscale.protocols import Selector
from agentscale.strategies.best_of_n import BestOfN
from agentscale.strategies.select import resolve_selector

__all__ = ["Majority"]


@dataclass(frozen=True)
class Majority(BestOfN):
    """Majority vote: best-of-N's graph, with the ``majority`` selector (votes over normalised
    answers) unless another is given.

    Attributes:
        n: rollouts.
        diversity: how they differ.
        plans: PlanSearch plans (see ``BestOfN``).
        selector: replaces the vote (e.g. ``"weighted_vote"``, ``"behaviour_vote"``).
    """

    name: ClassVar[str] = "majority"

    def _default_selector(self) -> Selector | None:
        return resolve_selector("majority")
