"""Evolutionary refinement (EvoScale, Mind Evolution): a population improved over generations.

Node ``evolve`` runs after each generation of rollouts. The population is every successful,
verified rollout so far with duplicates dropped (same output up to whitespace: the best-scored
copy stays). It stops at the target score, the generation limit, or an exhausted budget.
Otherwise it breeds the next generation from the best ``survivors``: the top ``elites`` are
always mutated (elites are kept, and their lines go on); the other children are mutations of
one parent or recombinations of several, parents picked by score (binary tournaments). A child
is a new rollout of the agent whose request carries its parents as ``candidates`` (answers,
scores, feedback) and, as ``feedback``, ``MUTATE`` or ``RECOMBINE``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, ClassVar

from langgraph.graph import StateGraph
from langgraph.runtime import Runtime

from agentscale.errors import ConfigError
from agentscale.protocols import Selector
from agentscale.state import GenerationEvent, ScaleState
from agentscale.strategies import _wiring
from agentscale.strategies._candidates import candidate_of
from agentscale.strategies.context import ScaleContext, context_of, task_update
from agentscale.strategies.rollouts import Diversity, check_count, check_diversity
from agentscale.strategies.select import resolve_selector
from agentscale.strategies.spec import ScaleSpec
from agentscale.types import Rollout, Verdict

__all__ = ["MUTATE", "RECOMBINE", "Breed", "Evolve", "EvolvePolicy", "population"]


def _key(rollout: Rollout) -> str:
    return " ".join(rollout.output.split())


def population(rollouts: list[Rollout], verdicts: dict[str, Verdict]) -> tuple[list[Rollout], int]:
    """Unique verified candidates, best first (earliest on ties), and how many duplicates were dropped."""
    best: dict[str, Rollout] = {}
    seen = 0
    for r in rollouts:
        if not r.ok or r.id not in verdicts:
            continue
        seen += 1
        key = _key(r)
        if key not in best or verdicts[r.id].score > verdicts[best[key].id].score:
            best[key] = r
    order = {r.id: i for i, r in enumerate(rollouts)}
    ranked = sorted(best.values(), key=lambda r: (-verdicts[r.id].score, order[r.id]))
    return ranked, seen - len(ranked)


MUTATE = "Write an improved, complete answer: fix what the check found, and try a change that could score higher."
"""What a mutation child is asked to do with its one candidate."""

RECOMBINE = "Write one new, complete answer that combines their strengths and avoids their mistakes."
"""What a recombination child is asked to do with its candidates."""


@dataclass(frozen=True)
class EvolvePolicy:
    """How the population evolves.

    Attributes:
        generations: at most this many generations after the first samples.
        children: rollouts per generation (default: the size of the first wave).
        elites: the best this-many candidates are always carried on (each gets a child).
        survivors: parents are drawn from the best this-many (default: ``children``).
        target: stop once a candidate scores at least this.
        mutation_rate: chance that a non-elite child mutates one parent rather than recombining.
        parents: how many parents a recombination uses.
        seed: seeds parent selection, so a resumed run breeds the same children.
    """

    generations: int = 3
    children: int | None = None
    elites: int = 1
    survivors: int | None = None
    target: float = 1.0
    mutation_rate: float = 0.5
    parents: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        check_count(self.generations, "EvolvePolicy.generations", minimum=0)
        check_count(self.elites, "EvolvePolicy.elites", minimum=0)
        check_count(self.parents, "EvolvePolicy.parents", minimum=2)
        if self.children is not None:
            check_count(self.children, "children")
        if not 0.0 <= self.mutation_rate <= 1.0:
            raise ConfigError(f"mutation_rate must be in [0, 1], got {self.mutation_rate}")


def _distinct(pick, k: int) -> list[Rollout]:
    chosen: list[Rollout] = []
    for _ in range(20 * k):  # tournaments can repeat a parent: retry a bounded number of times
        candidate = pick()
        if all(candidate.id != c.id for c in chosen):
            chosen.append(candidate)
            if len(chosen) == k:
                break
    return chosen


class Breed:
    """Node ``evolve``: stop, or write the next generation's requests.

    Writes ``{"requests": [...], "round": g + 1}`` or ``{"requests": [], "stop_reason": ...}``;
    route it with ``FanOut``.

    Args:
        policy: the evolution settings.
        diversity: sampling settings for the children.
        context: the ``ScaleContext`` to use when the runtime context is not one (nesting).
    """

    def __init__(
        self,
        policy: EvolvePolicy | None = None,
        *,
        diversity: Diversity | None = None,
        context: ScaleContext | None = None,
    ) -> None:
        self.policy = policy or EvolvePolicy()
        self.diversity = diversity or Diversity()
        self.context = context

    async def __call__(self, state: ScaleState, runtime: Runtime[ScaleContext]) -> dict[str, Any]:
        ctx = context_of(runtime, self.context)
        policy = self.policy
        task, _ = task_update(state)
        rollouts = state.get("rollouts") or []
        verdicts = state.get("verdicts") or {}
        generation = state.get("round", 0)
        pool, duplicates = population(rollouts, verdicts)
        best = verdicts[pool[0].id].score if pool else 0.0
        runtime.stream_writer(
            GenerationEvent(
                event="generation",
                task_id=task.id,
                generation=generation,
                best_score=best,
                population=len(pool),
                duplicates=duplicates,
            )
        )
        if not pool:
            return {"requests": [], "stop_reason": "no verified candidates"}
        if best >= policy.target:
            return {"requests": [], "stop_reason": "target"}
        if generation >= policy.generations:
            return {"requests": [], "stop_reason": "generations"}
        if ctx.budget.exhausted:
            return {"requests": [], "stop_reason": "budget"}
        first_wave = sum(1 for r in rollouts if r.provenance.generation == 0)
        n_children = policy.children or max(1, first_wave)
        survivors = pool[: policy.survivors or n_children]
        rng = random.Random(policy.seed * 1_000_003 + generation)

        def pick() -> Rollout:
            a, b = rng.choice(survivors), rng.choice(survivors)
            return a if verdicts[a.id].score >= verdicts[b.id].score else b

        start = len(rollouts)
        requests = []
        for i in range(n_children):
            if i < min(policy.elites, len(pool)):
                parents = [pool[i]]
            elif len(survivors) < 2 or rng.random() < policy.mutation_rate:
                parents = [pick()]
            else:
                parents = _distinct(pick, min(policy.parents, len(survivors)))
            requests.append(
                self.diversity.request(
                    start + i,
                    strategy="evolve",
                    parents=[p.id for p in parents],
                    generation=generation + 1,
                    candidates=[candidate_of(p, verdicts[p.id]) for p in parents],
                    feedback=MUTATE if len(parents) == 1 else RECOMBINE,
                )
            )
        return {"requests": requests, "round": generation + 1}


@dataclass(frozen=True)
class Evolve:
    """Evolutionary refinement: ``prepare -> rollout (xN) -> evolve -> rollout (children) ... -> select``.

    Attributes:
        n: the first generation's rollouts.
        policy: the evolution settings (``EvolvePolicy``).
        diversity: how rollouts differ.
        plans: PlanSearch plans for the first generation (see ``BestOfN``).
        selector: a ``Selector`` or registry name (default: ``ScaleContext.selector``, else the
            highest verifier score).
    """

    name: ClassVar[str] = "evolve"
    n: int = 8
    policy: EvolvePolicy | None = None
    diversity: Diversity | None = None
    plans: int = 0
    selector: Selector | str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "diversity", check_diversity(self.diversity))
        check_count(self.n)
        check_count(self.plans, "plans", minimum=0)
        if self.policy is not None and not isinstance(self.policy, EvolvePolicy):
            raise ConfigError(f"Evolve takes an EvolvePolicy, got {type(self.policy).__name__}")
        object.__setattr__(self, "policy", self.policy or EvolvePolicy())
        object.__setattr__(self, "selector", resolve_selector(self.selector))

    def build(self, graph: StateGraph, spec: ScaleSpec) -> int:
        """Wire ``prepare``, ``rollout``, ``evolve`` and ``select`` between ``spec.entry`` and ``spec.exit``."""
        diversity = self.diversity or Diversity()
        _wiring.sample(graph, spec, self.n, diversity=diversity, plans=self.plans)
        _wiring.loop(graph, "evolve", Breed(self.policy, diversity=diversity, context=spec.context))
        _wiring.select(graph, spec, spec.selector or self.selector)
        return 2 * (self.policy.generations + 1) + 3
