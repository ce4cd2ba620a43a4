"""``BestOfN``: N rollouts, each verified as it finishes, the best one kept."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from langgraph.graph import StateGraph

from agentscale.protocols import Selector
from agentscale.strategies import _wiring
from agentscale.strategies.rollouts import Diversity, check_count, check_diversity
from agentscale.strategies.select import resolve_selector
from agentscale.strategies.spec import ScaleSpec

__all__ = ["BestOfN"]


@dataclass(frozen=True)
class BestOfN:
    """Best-of-N: ``prepare -> rollout (xN, Send) -> select``.

    Attributes:
        n: rollouts.
        diversity: how they differ (temperatures, seeds, prompt variants, models).
        plans: PlanSearch: write this many natural-language plans with ``ScaleContext.model``
            first and condition the rollouts on them.
        selector: a ``Selector`` or registry name (default: ``ScaleContext.selector``, else the
            highest verifier score).
    """

    name: ClassVar[str] = "best_of_n"
    n: int = 8
    diversity: Diversity | None = None
    plans: int = 0
    selector: Selector | str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "diversity", check_diversity(self.diversity))
        check_count(self.n)
        check_count(self.plans, "plans", minimum=0)
        object.__setattr__(self, "selector", resolve_selector(self.selector))

    def _default_selector(self) -> Selector | None:
        return None

    def build(self, graph: StateGraph, spec: ScaleSpec) -> int:
        """Wire ``prepare``, ``rollout`` and ``select`` between ``spec.entry`` and ``spec.exit``."""
        _wiring.sample(graph, spec, self.n, diversity=self.diversity or Diversity(), plans=self.plans)
        graph.add_edge("rollout", "select")
        _wiring.select(graph, spec, spec.selector or self.selector or self._default_selector())
        return 4
