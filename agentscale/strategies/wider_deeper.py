"""Wider-or-deeper search (AB-MCTS): a tree of candidates grown by Thompson sampling over verifier scores.

Each step the ``search`` node reads the tree off the run's rollouts and verdicts
(``agentscale.strategies.search_tree``), draws ``batch`` expansions from the policy, and writes
one request per expansion: **wider** is a fresh rollout of the agent (fresh sample ``k`` gets the
seed and temperature best-of-N's sample ``k`` gets, so the search's first level is exactly what
best-of-N would draw); **deeper** is a refinement, a rollout whose request carries the node as its
one ``candidate`` (output, score, the verifier's feedback, its observations) and asks for a
corrected answer. The ``expand`` node runs them (one ``Send`` each, verified as they finish) and
streams each new node; then ``search`` decides again, until a node reaches ``target``, ``n``
rollouts have run or the budget is spent; ``select`` keeps the best-scored node.

Because the tree is the rollouts, a run with a checkpointer that is killed and resumed redoes no
finished rollout, and the seeded draws make the resumed run decide as the first one would have.

Progress on the custom stream: a ``SearchNodeEvent`` per node as it finishes, and a
``SearchStepEvent`` per step (the decisions, the tree's size and best score).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypedDict

from langgraph.graph import StateGraph
from langgraph.runtime import Runtime

from agentscale.errors import ConfigError
from agentscale.protocols import Selector
from agentscale.state import RolloutInput, ScaleState
from agentscale.strategies import _wiring
from agentscale.strategies._candidates import candidate_of
from agentscale.strategies.context import ScaleContext, context_of, task_update
from agentscale.strategies.reflect import revision_request
from agentscale.strategies.rollouts import Diversity, FanOut, RunRollout, check_count, check_diversity
from agentscale.strategies.search_tree import REFINE, Decision, SearchPolicy, SearchTree, search_tree
from agentscale.strategies.select import resolve_selector
from agentscale.strategies.spec import ScaleSpec
from agentscale.types import RolloutRequest

__all__ = ["Expand", "SearchNodeEvent", "SearchStep", "SearchStepEvent", "WiderDeeper"]


class SearchNodeEvent(TypedDict):
    """A node joined the tree (streamed as its rollout finishes)."""

    event: Literal["search_node"]
    task_id: str
    rollout_id: str
    parent: str | None
    depth: int
    decision: Literal["wider", "deeper"]
    status: str
    score: float | None
    passed: bool | None


class SearchStepEvent(TypedDict):
    """What one step of the search decided (``decisions`` is empty when it stopped)."""

    event: Literal["search_step"]
    task_id: str
    step: int
    decisions: list[dict[str, str | None]]
    nodes: int
    depth: int
    best_id: str | None
    best_score: float
    stop_reason: str | None


class Expand(RunRollout):
    """Node ``expand``: ``RunRollout`` that also streams the new node (``SearchNodeEvent``)."""

    async def __call__(self, state: RolloutInput, runtime: Runtime[ScaleContext]) -> dict[str, Any]:
        update = await super().__call__(state, runtime)
        request: RolloutRequest = state["request"]
        (rollout,) = update["rollouts"]
        verdict = (update.get("verdicts") or {}).get(rollout.id)
        deeper = request.strategy == REFINE
        runtime.stream_writer(
            SearchNodeEvent(
                event="search_node",
                task_id=rollout.task_id,
                rollout_id=rollout.id,
                parent=request.parents[0] if deeper and request.parents else None,
                depth=request.generation + 1,
                decision="deeper" if deeper else "wider",
                status=rollout.status,
                score=verdict.score if verdict is not None else None,
                passed=verdict.passed if verdict is not None else None,
            )
        )
        return update


class SearchStep:
    """Node ``search``: stop, or draw the next ``batch`` expansions and write their requests.

    Writes ``{"requests": [...], "round": step + 1}`` or ``{"requests": [], "stop_reason": ...}``
    (``"target"``, ``"max rollouts"``, ``"budget"``); route it with ``FanOut("expand", "select")``.

    Args:
        n: the most rollouts in all.
        batch: expansions per step (they run in parallel).
        target: stop once a node scores at least this.
        policy: the Thompson-sampling policy.
        diversity: sampling settings (fresh sample ``k`` gets ``diversity.request(k)``'s seed and
            temperature; refinements get those of their request index).
        context: the ``ScaleContext`` to use when the runtime context is not one (nesting).

    Raises:
        ConfigError: (at run time) a rollout ran but was not verified: the search needs scores.
    """

    def __init__(
        self,
        n: int,
        *,
        batch: int = 2,
        target: float = 1.0,
        policy: SearchPolicy | None = None,
        diversity: Diversity | None = None,
        context: ScaleContext | None = None,
    ) -> None:
        self.n = check_count(n)
        self.batch = check_count(batch, "batch")
        self.target = target
        self.policy = policy or SearchPolicy()
        self.diversity = diversity or Diversity()
        self.context = context

    def _stop(self, task_id: str, step: int, tree: SearchTree, reason: str, write: Any) -> dict[str, Any]:
        write(self._event(task_id, step, tree, [], reason))
        return {"requests": [], "stop_reason": reason}

    def _event(
        self, task_id: str, step: int, tree: SearchTree, decisions: list[Decision], reason: str | None
    ) -> SearchStepEvent:
        best = tree.best()
        return SearchStepEvent(
            event="search_step",
            task_id=task_id,
            step=step,
            decisions=[{"decision": d.kind, "parent": d.parent} for d in decisions],
            nodes=len(tree.nodes),
            depth=max((node.depth for node in tree.nodes.values()), default=0),
            best_id=best.id if best is not None else None,
            best_score=best.score if best is not None else 0.0,
            stop_reason=reason,
        )

    async def __call__(self, state: ScaleState, runtime: Runtime[ScaleContext]) -> dict[str, Any]:
        ctx = context_of(runtime, self.context)
        task, update = task_update(state)
        rollouts = list(state.get("rollouts") or [])
        verdicts = state.get("verdicts") or {}
        unverified = [r.id for r in rollouts if r.ok and r.id not in verdicts]
        if unverified:
            raise ConfigError(
                "wider_deeper needs a verifier to score its nodes: pass verifier= to scale() or set "
                f"ScaleContext(verifier=...) ({len(unverified)} rollouts have no verdict)"
            )
        tree = search_tree(rollouts, verdicts, credit=self.policy.credit)
        step = state.get("round", 0) if rollouts else 0
        write = runtime.stream_writer
        best = tree.best()
        if best is not None and best.score >= self.target:
            return {**update, **self._stop(task.id, step, tree, "target", write)}
        room = self.n - len(rollouts)
        if room <= 0:
            return {**update, **self._stop(task.id, step, tree, "max rollouts", write)}
        if ctx.budget.exhausted:
            return {**update, **self._stop(task.id, step, tree, "budget", write)}
        rng = random.Random(f"{self.policy.seed}:{task.id}:{step}")
        decisions = tree.decide(min(self.batch, room), self.policy, rng)
        fresh = sum(1 for r in rollouts if r.provenance.strategy != REFINE)
        requests = []
        for i, decision in enumerate(decisions):
            index = len(rollouts) + i
            if decision.kind == "wider":
                request = self.diversity.request(fresh).model_copy(update={"index": index})
                fresh += 1
            else:
                parent = next(r for r in rollouts if r.id == decision.parent)
                request = self.diversity.request(
                    index,
                    strategy=REFINE,
                    parents=[parent.id],
                    generation=tree.nodes[parent.id].depth,
                    candidates=[candidate_of(parent, verdicts.get(parent.id))],
                    feedback=revision_request(),
                )
            requests.append(request)
        write(self._event(task.id, step, tree, decisions, None))
        return {**update, "requests": requests, "round": step + 1, "stop_reason": None}


@dataclass(frozen=True)
class WiderDeeper:
    """Wider-or-deeper search (AB-MCTS): ``search -> expand (batch) -> search ... -> select``.

    Attributes:
        n: the most rollouts in all (fresh samples and refinements).
        batch: expansions per step, run in parallel (1 is the paper's sequential search).
        target: stop once a node's verifier score reaches this.
        policy: the Thompson-sampling policy (``SearchPolicy``: Beta or Gaussian posteriors,
            improvement or raw-score credit, depth limit, seed).
        diversity: how rollouts differ (temperatures, seeds, prompt variants, models).
        selector: a ``Selector`` or registry name (default: ``ScaleContext.selector``, else the
            highest verifier score).
    """

    name: ClassVar[str] = "wider_deeper"
    n: int = 8
    batch: int = 2
    target: float = 1.0
    policy: SearchPolicy | None = None
    diversity: Diversity | None = None
    selector: Selector | str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "diversity", check_diversity(self.diversity))
        check_count(self.n)
        check_count(self.batch, "batch")
        if isinstance(self.target, bool) or not isinstance(self.target, int | float) or not 0 <= self.target <= 1:
            raise ConfigError(f"target must be a number in [0, 1], got {self.target!r}")
        if self.policy is not None and not isinstance(self.policy, SearchPolicy):
            raise ConfigError(f"WiderDeeper takes a SearchPolicy, got {type(self.policy).__name__}")
        object.__setattr__(self, "policy", self.policy or SearchPolicy())
        object.__setattr__(self, "selector", resolve_selector(self.selector))

    def build(self, graph: StateGraph, spec: ScaleSpec) -> int:
        """Wire ``search``, ``expand`` and ``select`` between ``spec.entry`` and ``spec.exit``."""
        search = SearchStep(
            self.n,
            batch=self.batch,
            target=self.target,
            policy=self.policy,
            diversity=self.diversity,
            context=spec.context,
        )
        graph.add_node("search", search)
        graph.add_node(
            "expand", Expand(spec.agent, verifier=spec.verifier, timeout=spec.timeout, context=spec.context)
        )
        graph.add_edge(spec.entry, "search")
        graph.add_conditional_edges("search", FanOut("expand", "select"), ["expand", "select"])
        graph.add_edge("expand", "search")
        _wiring.select(graph, spec, spec.selector or self.selector)
        return 2 * (-(-self.n // self.batch) + 1) + 3
