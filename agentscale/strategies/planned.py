"""Planned sampling: waves of rollouts sized by the compute planner, until the task's curve is flat.

Node ``plan`` runs first and after each wave. It turns the run's rollouts into a
``TaskProgress`` (verifier scores and passes; votes by ``key``; tokens per rollout), asks
``agentscale.planner.plan_allocation`` what the next wave should be given what is left of the
budget, and stops when the planner calls the task saturated (a verified pass, a settled vote, a
flat success curve, ``n`` rollouts) or can give it nothing (the budget). It is the one-task use
of the same planner a batch loop calls across tasks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Literal, TypedDict

from langgraph.graph import StateGraph
from langgraph.runtime import Runtime

from agentscale.errors import ConfigError
from agentscale.planner import PlanPolicy, TaskProgress, plan_allocation, success_curve
from agentscale.protocols import Selector
from agentscale.selectors.best_score import BestScore
from agentscale.selectors.majority_vote import MajorityVote
from agentscale.state import ScaleState
from agentscale.strategies import _wiring
from agentscale.strategies.adaptive import answer_key
from agentscale.strategies.context import ScaleContext, context_of, task_update
from agentscale.strategies.rollouts import Diversity, FanOut, RunRollout, check_count, check_diversity
from agentscale.strategies.select import resolve_selector
from agentscale.strategies.spec import ScaleSpec
from agentscale.types import Rollout, Selection, Task, Verdict

__all__ = ["PlanEvent", "PlanWave", "Planned"]


class PlanEvent(TypedDict):
    """What the planner said before a wave."""

    event: Literal["plan"]
    task_id: str
    wave: int
    success: float
    gain: float
    next: int
    reason: str | None


class PlanWave:
    """Node ``plan``: ask the planner for the next wave, or stop.

    Writes ``{"requests": [...], "round": w + 1}`` or ``{"requests": [], "stop_reason": ...}``;
    route it with ``FanOut``.

    Args:
        n: the most rollouts in all.
        wave: the most rollouts in one wave.
        policy: the planner's settings (its ``per_task`` and ``max_per_task`` are set from ``wave``
            and ``n``).
        key: rollout -> the answer it votes for (``None`` abstains), for tasks without a verifier.
        diversity: sampling settings (indices and seeds continue across waves).
        context: the ``ScaleContext`` to use when the runtime context is not one (nesting).
    """

    def __init__(
        self,
        n: int,
        *,
        wave: int = 4,
        policy: PlanPolicy | None = None,
        key: Callable[[Rollout], str | None] = answer_key,
        diversity: Diversity | None = None,
        context: ScaleContext | None = None,
    ) -> None:
        self.n = check_count(n)
        self.wave = check_count(wave, "wave")
        self.policy = policy or PlanPolicy()
        self.key = key
        self.diversity = diversity or Diversity()
        self.context = context

    async def __call__(self, state: ScaleState, runtime: Runtime[ScaleContext]) -> dict[str, Any]:
        ctx = context_of(runtime, self.context)
        task, update = task_update(state)
        rollouts = list(state.get("rollouts") or [])
        step = state.get("round", 0) if rollouts else 0
        progress = TaskProgress.from_rollouts(task.id, rollouts, state.get("verdicts") or {}, key=self.key)
        room = self.n - len(rollouts)
        budget = ctx.budget
        limited = budget.max_tokens is not None or budget.max_rollouts is not None
        reason: str | None = None
        count = 0
        gain = 0.0
        if progress.mode == "verified" and progress.passed:
            reason = "passed"  # also when the wave that passed was the last one room allowed
        elif room <= 0:
            reason = "max rollouts"
        elif budget.exhausted:
            reason = "budget"
        else:
            policy = replace(self.policy, per_task=min(self.wave, room), max_per_task=progress.done + room)
            plan = plan_allocation([progress], budget if limited else None, policy=policy)
            count, gain = plan.rollouts[task.id], plan.gains[task.id]
            reason = plan.reasons.get(task.id) or (None if count else "budget")
        success = success_curve(progress, 0, self.policy)[0]
        runtime.stream_writer(
            PlanEvent(event="plan", task_id=task.id, wave=step, success=success, gain=gain, next=count, reason=reason)
        )
        if reason is not None:
            return {**update, "requests": [], "stop_reason": reason}
        requests = [self.diversity.request(len(rollouts) + i) for i in range(count)]
        return {**update, "requests": requests, "round": step + 1, "stop_reason": None}


@dataclass
class _ByEvidence:
    """The best verifier score when rollouts were verified, else the majority vote."""

    name: str = "by_evidence"

    async def select(self, task: Task, rollouts: Sequence[Rollout], verdicts: Mapping[str, Verdict]) -> Selection:
        if any(r.id in verdicts for r in rollouts):
            return await BestScore().select(task, rollouts, verdicts)
        return await MajorityVote().select(task, rollouts, verdicts)


@dataclass(frozen=True)
class Planned:
    """Planned sampling: ``plan -> rollout (wave) -> plan ... -> select``, each wave sized by the planner.

    Attributes:
        n: the most rollouts in all.
        wave: the most rollouts in one wave.
        policy: the planner's prior, partial credit and ``min_gain`` (``PlanPolicy``).
        key: rollout -> the answer it votes for, for tasks without a verifier.
        diversity: how rollouts differ.
        selector: a ``Selector`` or registry name (default: ``ScaleContext.selector``, else the best
            verifier score when there are verdicts, else the majority vote).
    """

    name: ClassVar[str] = "planned"
    n: int = 16
    wave: int = 4
    policy: PlanPolicy | None = None
    key: Callable[[Rollout], str | None] = answer_key
    diversity: Diversity | None = None
    selector: Selector | str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "diversity", check_diversity(self.diversity))
        check_count(self.n)
        check_count(self.wave, "wave")
        if self.policy is not None and not isinstance(self.policy, PlanPolicy):
            raise ConfigError(f"Planned takes a PlanPolicy, got {type(self.policy).__name__}")
        if not callable(self.key):
            raise ConfigError(f"key must be a function rollout -> answer, got {self.key!r}")
        object.__setattr__(self, "selector", resolve_selector(self.selector))

    def build(self, graph: StateGraph, spec: ScaleSpec) -> int:
        """Wire ``plan``, ``rollout`` and ``select`` between ``spec.entry`` and ``spec.exit``."""
        plan = PlanWave(
            self.n, wave=self.wave, policy=self.policy, key=self.key, diversity=self.diversity, context=spec.context
        )
        graph.add_node("plan", plan)
        graph.add_node(
            "rollout", RunRollout(spec.agent, verifier=spec.verifier, timeout=spec.timeout, context=spec.context)
        )
        graph.add_edge(spec.entry, "plan")
        graph.add_conditional_edges("plan", FanOut("rollout", "select"), ["rollout", "select"])
        graph.add_edge("rollout", "plan")
        _wiring.select(graph, spec, spec.selector or self.selector or _ByEvidence())
        return 2 * (self.n + 1) + 3
