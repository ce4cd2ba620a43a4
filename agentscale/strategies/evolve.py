"""Evolutionary refinement (EvoScale, Mind Evolution): a population improved over generations.

Node ``evolve`` runs after each generation of rollouts. The population is every successful,
verified rollout so far with duplicates dropped (same output up to whitespace: the best-scored
copy stays). It stops at the target score, the generation limit, or an exhausted budget.
Otherwise it breeds the next generation from the best ``survivors``: the top ``elites`` are
always mutated (elites are kept, and their lines go on); the other children are mutations of
one parent or recombinations of several, parents picked by score (binary tournaments). A child
is a new rollout of the agent whose prompt holds its parents' answers and their feedback.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from langgraph.runtime import Runtime

from agentscale.errors import ConfigError
from agentscale.state import ScaleState
from agentscale.strategies.context import ScaleContext, context_of
from agentscale.strategies.rollouts import Diversity
from agentscale.types import Rollout, Verdict

__all__ = ["Evolve", "EvolvePolicy", "population"]

_FEEDBACK_CHARS = 1500


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


def _describe(rollout: Rollout, verdict: Verdict) -> str:
    feedback = (verdict.feedback or "(no details)").strip()[:_FEEDBACK_CHARS]
    head = f'<candidate score="{verdict.score:.2f}">'
    return f"{head}\n{rollout.output.strip()}\n</candidate>\nFeedback: {feedback}"


def mutation_prompt(parent: Rollout, verdict: Verdict) -> str:
    """Text asking for an improved version of one candidate."""
    return (
        "Here is a candidate answer and what a check of it said:\n\n"
        f"{_describe(parent, verdict)}\n\n"
        "Write an improved, complete answer: fix what the check found, and try a change that could "
        "score higher."
    )


def recombination_prompt(parents: list[Rollout], verdicts: dict[str, Verdict]) -> str:
    """Text asking for one answer that combines several candidates' strengths."""
    shown = "\n\n".join(_describe(p, verdicts[p.id]) for p in parents)
    return (
        f"Here are {len(parents)} candidate answers and what a check of each said:\n\n{shown}\n\n"
        "Write one new, complete answer that combines their strengths and avoids their mistakes."
    )


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
        if self.generations < 0 or self.elites < 0 or self.parents < 2:
            raise ConfigError("EvolvePolicy needs generations >= 0, elites >= 0 and parents >= 2")
        if self.children is not None and self.children < 1:
            raise ConfigError(f"children must be >= 1, got {self.children}")
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


class Evolve:
    """Node ``evolve``: stop, or write the next generation's samples.

    Writes ``{"samples": [...], "round": g + 1}`` or ``{"samples": [], "stop_reason": ...}``;
    route it with ``FanOut``.

    Args:
        policy: the evolution settings.
        diversity: sampling settings for the children.
    """

    def __init__(self, policy: EvolvePolicy | None = None, *, diversity: Diversity | None = None) -> None:
        self.policy = policy or EvolvePolicy()
        self.diversity = diversity or Diversity()

    async def __call__(self, state: ScaleState, runtime: Runtime[ScaleContext]) -> dict[str, Any]:
        ctx = context_of(runtime)
        policy = self.policy
        task = state["task"]
        rollouts = state.get("rollouts") or []
        verdicts = state.get("verdicts") or {}
        generation = state.get("round", 0)
        pool, duplicates = population(rollouts, verdicts)
        best = verdicts[pool[0].id].score if pool else 0.0
        runtime.stream_writer(
            {
                "event": "generation",
                "task_id": task.id,
                "generation": generation,
                "best_score": best,
                "population": len(pool),
                "duplicates": duplicates,
            }
        )
        if not pool:
            return {"samples": [], "stop_reason": "no verified candidates"}
        if best >= policy.target:
            return {"samples": [], "stop_reason": "target"}
        if generation >= policy.generations:
            return {"samples": [], "stop_reason": "generations"}
        if ctx.budget.exhausted:
            return {"samples": [], "stop_reason": "budget"}
        first_wave = sum(1 for r in rollouts if r.provenance.generation == 0)
        n_children = policy.children or max(1, first_wave)
        survivors = pool[: policy.survivors or n_children]
        rng = random.Random(policy.seed * 1_000_003 + generation)

        def pick() -> Rollout:
            a, b = rng.choice(survivors), rng.choice(survivors)
            return a if verdicts[a.id].score >= verdicts[b.id].score else b

        start = len(rollouts)
        samples = []
        for i in range(n_children):
            if i < min(policy.elites, len(pool)):
                parents = [pool[i]]
            elif len(survivors) < 2 or rng.random() < policy.mutation_rate:
                parents = [pick()]
            else:
                parents = _distinct(pick, min(policy.parents, len(survivors)))
            text = (
                mutation_prompt(parents[0], verdicts[parents[0].id])
                if len(parents) == 1
                else recombination_prompt(parents, verdicts)
            )
            samples.append(
                self.diversity.sample(
                    start + i,
                    strategy="evolve",
                    parents=[p.id for p in parents],
                    generation=generation + 1,
                    feedback=text,
                )
            )
        return {"samples": samples, "round": generation + 1}
