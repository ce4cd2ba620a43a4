"""The search tree of wider-or-deeper search (AB-MCTS), and its Thompson-sampling policy: pure data
and pure functions, no LangGraph.

The tree is never stored on its own: it is read off the run's ``rollouts`` and ``verdicts`` (a
fresh sample is a child of the root; a refinement names its parent in ``provenance.parents`` and
has ``provenance.strategy == "refine"``), so it is checkpointed with them and a resumed run sees
exactly the tree it left.

**The policy** (AB-MCTS-A, "Wider or Deeper?", Inoue et al. 2025; node aggregation as in Sakana
AI's TreeQuest). Every node ``N`` (the root included) offers two arms: **GEN**, a new child of
``N`` (at the root a fresh rollout: *wider*; below it a refinement of ``N``: *deeper*), and
**CONT**, going down into one of ``N``'s children. Each arm has a posterior over the reward of what
it produces: GEN's from the rewards of ``N``'s children, CONT's from the rewards of everything
below them, and each child's from its own reward and its subtree's. One expansion draws a sample
from GEN's and CONT's posteriors at the root; GEN wins: expand here; CONT wins: draw from each
child's posterior, go down into the best, and decide again there. A node with nothing to go down
into expands. ``SearchPolicy.dist`` picks Beta posteriors (rewards as fractional successes,
Jeffreys' prior) or Gaussian ones (normal-inverse-gamma).

**Rewards.** With ``credit="score"`` a node's reward is its verifier score (the paper's). With
``credit="improvement"`` (the default) a refinement earns its score only when it beats its parent,
else 0: a revision that is no better than what it revised adds nothing we did not have, so a
lineage whose revisions stall loses the policy's favour and it turns to fresh samples, while one
whose revisions keep climbing draws it deeper. Fresh samples earn their score. A rollout that
failed to run is a node with score and reward 0 that is never expanded.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from agentscale.errors import ConfigError
from agentscale.types import Rollout, Verdict

__all__ = ["Decision", "SearchNode", "SearchPolicy", "SearchTree", "search_tree"]

REFINE = "refine"
"""``provenance.strategy`` of a refinement (a deeper node)."""


@dataclass(frozen=True)
class SearchPolicy:
    """How wider-or-deeper search chooses.

    Attributes:
        dist: ``"beta"`` (rewards in [0, 1] as fractional successes, prior ``Beta(0.5, 0.5)``) or
            ``"gaussian"`` (normal-inverse-gamma prior: mean 0, kappa 1, nu 1, tau² 0.1).
        credit: ``"improvement"`` (a refinement earns its score only when it beats its parent) or
            ``"score"`` (every node earns its score).
        max_depth: refinements never go deeper than this (fresh samples are depth 1); ``None``:
            no limit.
        seed: seeds the Thompson draws (with the task id and the step), so a resumed run decides
            as the first one did.
    """

    dist: Literal["beta", "gaussian"] = "beta"
    credit: Literal["improvement", "score"] = "improvement"
    max_depth: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.dist not in ("beta", "gaussian"):
            raise ConfigError(f"SearchPolicy.dist must be 'beta' or 'gaussian', got {self.dist!r}")
        if self.credit not in ("improvement", "score"):
            raise ConfigError(f"SearchPolicy.credit must be 'improvement' or 'score', got {self.credit!r}")
        if self.max_depth is not None and (
            isinstance(self.max_depth, bool) or not isinstance(self.max_depth, int) or self.max_depth < 1
        ):
            raise ConfigError(f"SearchPolicy.max_depth must be an int >= 1 or None, got {self.max_depth!r}")

    def draw(self, rewards: Sequence[float], rng: random.Random) -> float:
        """One Thompson draw of an arm's mean reward given its observed ``rewards``."""
        if self.dist == "beta":
            total = sum(rewards)
            return rng.betavariate(0.5 + total, 0.5 + len(rewards) - total)
        # normal-inverse-gamma posterior (Murphy, PML 2, 3.4.3.3), prior m=0, kappa=1, nu=1, tau²=0.1
        m, kappa, nu, tau2 = 0.0, 1.0, 1.0, 0.1
        n = len(rewards)
        if n:
            mean = sum(rewards) / n
            spread = sum((r - mean) ** 2 for r in rewards)
            m, kappa, nu, tau2 = (
                (kappa * m + n * mean) / (kappa + n),
                kappa + n,
                nu + n,
                (nu * tau2 + spread + n * kappa * (m - mean) ** 2 / (kappa + n)) / (nu + n),
            )
        variance = (nu * tau2 / 2) / rng.gammavariate(nu / 2, 1.0)
        return rng.gauss(m, math.sqrt(variance / kappa))


@dataclass
class SearchNode:
    """One candidate in the tree.

    Attributes:
        id: its rollout's id.
        parent: the rollout it refines, ``None`` for a fresh sample (a child of the root).
        depth: 1 for a fresh sample, parent's depth + 1 for a refinement.
        score: its verifier score (0 when it failed to run).
        reward: what it contributes to the posteriors (see the module docstring).
        ok: it ran; only nodes that ran are refined.
        index: its request's index (children are ordered by it, so draws do not depend on which
            rollout finished first).
        children: ids of its refinements, by index.
    """

    id: str
    parent: str | None
    depth: int
    score: float
    reward: float
    ok: bool
    index: int
    children: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Decision:
    """One expansion: ``"wider"`` (a fresh rollout) or ``"deeper"`` (refine ``parent``)."""

    kind: Literal["wider", "deeper"]
    parent: str | None = None


@dataclass
class SearchTree:
    """The tree of a wider-or-deeper search (build it with ``search_tree``).

    Attributes:
        nodes: rollout id -> node.
        roots: ids of the fresh samples, by index.
    """

    nodes: dict[str, SearchNode]
    roots: list[str]

    def best(self) -> SearchNode | None:
        """The highest-scored node that ran (the earliest index on ties), or ``None``."""
        ran = [n for n in self.nodes.values() if n.ok]
        return max(ran, key=lambda n: (n.score, -n.index)) if ran else None

    def below(self, ids: Sequence[str]) -> list[SearchNode]:
        """Every descendant of the nodes ``ids`` (not the nodes themselves)."""
        out, stack = [], [c for i in ids for c in self.nodes[i].children]
        while stack:
            node = self.nodes[stack.pop()]
            out.append(node)
            stack.extend(node.children)
        return out

    def _expandable(self, node_id: str, policy: SearchPolicy) -> bool:
        node = self.nodes[node_id]
        return node.ok and (policy.max_depth is None or node.depth < policy.max_depth)

    def choose(self, policy: SearchPolicy, rng: random.Random) -> Decision:
        """One expansion by Thompson sampling, from the root down (see the module docstring)."""
        here: str | None = None
        children = self.roots
        while True:
            open_children = [c for c in children if self._expandable(c, policy)]
            if open_children:
                gen = policy.draw([self.nodes[c].reward for c in children], rng)
                cont = policy.draw([n.reward for n in self.below(children)], rng)
                if cont > gen:
                    draws = {
                        c: policy.draw([self.nodes[c].reward] + [n.reward for n in self.below([c])], rng)
                        for c in open_children
                    }
                    here = max(open_children, key=lambda c: draws[c])
                    children = self.nodes[here].children
                    continue
            return Decision("wider") if here is None else Decision("deeper", here)

    def decide(self, k: int, policy: SearchPolicy, rng: random.Random) -> list[Decision]:
        """``k`` expansions, each drawn independently on the current tree."""
        return [self.choose(policy, rng) for _ in range(k)]


def search_tree(
    rollouts: Sequence[Rollout], verdicts: Mapping[str, Verdict], *, credit: str = "improvement"
) -> SearchTree:
    """The tree read off a run's rollouts and verdicts.

    Rollouts that never ran (``status`` ``"budget"`` or ``"cancelled"``) are left out; a
    refinement whose parent is not in the tree is attached to the root.

    Args:
        rollouts: the run's rollouts (``state["rollouts"]``).
        verdicts: their verdicts (``state["verdicts"]``); a rollout without one scores 0.
        credit: ``"improvement"`` or ``"score"`` (see ``SearchPolicy.credit``).
    """
    ran = [r for r in rollouts if r.status in ("ok", "error")]
    ran.sort(key=lambda r: (int(r.metadata.get("index", 0)), r.id))
    ids = {r.id for r in ran}
    nodes: dict[str, SearchNode] = {}
    roots: list[str] = []
    pending = list(ran)
    # parents come before children in index order, but go by rounds to be safe about ties
    while pending:
        waiting = []
        for r in pending:
            parent = r.provenance.parents[0] if r.provenance.strategy == REFINE and r.provenance.parents else None
            if parent is not None and parent not in ids:
                parent = None
            if parent is not None and parent not in nodes:
                waiting.append(r)
                continue
            verdict = verdicts.get(r.id)
            score = verdict.score if (verdict is not None and r.ok) else 0.0
            depth = 1 if parent is None else nodes[parent].depth + 1
            base = 0.0 if parent is None else nodes[parent].score
            reward = score if credit == "score" or score > base else 0.0
            nodes[r.id] = SearchNode(
                id=r.id,
                parent=parent,
                depth=depth,
                score=score,
                reward=reward,
                ok=r.ok,
                index=int(r.metadata.get("index", 0)),
            )
            (roots if parent is None else nodes[parent].children).append(r.id)
        if len(waiting) == len(pending):  # a cycle of parents cannot happen, but never loop on one
            break
        pending = waiting
    return SearchTree(nodes=nodes, roots=roots)
