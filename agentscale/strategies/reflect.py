"""Reflection: critique and revise, with the verifier's feedback in the request.

Node ``reflect`` runs after each wave of rollouts. Its ``ReflectPolicy`` decides whether to go
on: it stops once any candidate reaches the score threshold, after ``max_rounds`` rounds, or
when the budget is spent. Otherwise it revises the latest round's candidates that scored below
the threshold (never the good ones: reflecting on an already-good answer is a known way to make
it worse). Each revision is a new rollout of the same agent whose request carries the previous
attempt as its one ``candidate`` (output, score, the verifier's feedback) and, as ``feedback``,
what to do with it (with a critique written by ``ScaleContext.model`` when asked for).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, ClassVar

from langgraph.errors import GraphBubbleUp
from langgraph.graph import StateGraph
from langgraph.runtime import Runtime

from agentscale.budget import charged_generate
from agentscale.errors import ConfigError
from agentscale.protocols import Selector
from agentscale.state import ReflectEvent, ScaleState
from agentscale.strategies import _wiring
from agentscale.strategies._candidates import candidate_of
from agentscale.strategies.context import ScaleContext, context_of, task_update
from agentscale.strategies.rollouts import Diversity, check_count, check_diversity
from agentscale.strategies.select import resolve_selector
from agentscale.strategies.spec import ScaleSpec
from agentscale.types import Rollout, Task, Verdict

__all__ = ["PlanRevisions", "Reflect", "ReflectPolicy", "revision_request"]

_FEEDBACK_CHARS = 2000

_CRITIQUE_PROMPT = (
    "Problem:\n\n{problem}\n\nAn attempt at it:\n\n{output}\n\nA check of the attempt said "
    "(score {score:.2f} of 1):\n{feedback}\n\nIn a few sentences, say what is wrong with the attempt "
    "and how to fix it. Do not write the corrected answer."
)

REVISE = "Write a corrected, complete answer. Keep what was right and fix what the check found."
"""What a revision is asked to do with its candidate."""


def revision_request(critique: str | None = None) -> str:
    """The ``feedback`` of a revision's request: the critique (if any), then ``REVISE``."""
    return f"A review of the attempt:\n{critique.strip()}\n\n{REVISE}" if critique else REVISE


@dataclass(frozen=True)
class ReflectPolicy:
    """When to reflect.

    Attributes:
        threshold: revise only candidates scoring below this; stop once any reaches it.
        max_rounds: at most this many rounds of revision.
        width: revise at most this many candidates per round (the best-scoring below the
            threshold); ``None`` = all of them.
        critique: ask ``ScaleContext.model`` for a critique before each revision.
    """

    threshold: float = 1.0
    max_rounds: int = 2
    width: int | None = None
    critique: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold <= 1.0:
            raise ConfigError(f"threshold must be in [0, 1], got {self.threshold}")
        check_count(self.max_rounds, "max_rounds", minimum=0)
        if self.width is not None:
            check_count(self.width, "width")


class PlanRevisions:
    """Node ``reflect``: decide whether to revise, and write the revision requests.

    Writes ``{"requests": [...], "round": r + 1}`` to go on, or ``{"requests": [], "stop_reason": ...}``
    to stop; route it with ``FanOut`` (``add_conditional_edges("reflect", FanOut(), ["rollout", "select"])``).

    Args:
        policy: the trigger policy.
        diversity: sampling settings for the revisions (seeds continue from the run's count).
        context: the ``ScaleContext`` to use when the runtime context is not one (nesting).
    """

    def __init__(
        self,
        policy: ReflectPolicy | None = None,
        *,
        diversity: Diversity | None = None,
        context: ScaleContext | None = None,
    ) -> None:
        self.policy = policy or ReflectPolicy()
        self.diversity = diversity or Diversity()
        self.context = context

    def _stop(self, reason: str) -> dict[str, Any]:
        return {"requests": [], "stop_reason": reason}

    async def __call__(self, state: ScaleState, runtime: Runtime[ScaleContext]) -> dict[str, Any]:
        ctx = context_of(runtime, self.context)
        policy = self.policy
        task, _ = task_update(state)
        rollouts = state.get("rollouts") or []
        verdicts = state.get("verdicts") or {}
        round_ = state.get("round", 0)
        if not verdicts:
            return self._stop("no verdicts")
        if max(v.score for v in verdicts.values()) >= policy.threshold:
            return self._stop("threshold reached")
        if round_ >= policy.max_rounds:
            return self._stop("max rounds")
        if ctx.budget.exhausted:
            return self._stop("budget")
        latest = [
            r
            for r in rollouts
            if r.ok
            and r.provenance.generation == round_
            and r.id in verdicts
            and verdicts[r.id].score < policy.threshold
        ]
        latest.sort(key=lambda r: verdicts[r.id].score, reverse=True)
        if policy.width is not None:
            latest = latest[: policy.width]
        if not latest:
            return self._stop("nothing to revise")
        critiques = (
            await self._critiques(task, latest, verdicts, ctx) if policy.critique else [None] * len(latest)
        )
        start = len(rollouts)
        requests = [
            self.diversity.request(
                start + i,
                strategy="reflect",
                parents=[r.id],
                generation=round_ + 1,
                candidates=[candidate_of(r, verdicts[r.id])],
                feedback=revision_request(critique),
            )
            for i, (r, critique) in enumerate(zip(latest, critiques, strict=True))
        ]
        runtime.stream_writer(
            ReflectEvent(event="reflect", task_id=task.id, round=round_ + 1, revising=[r.id for r in latest])
        )
        return {"requests": requests, "round": round_ + 1}

    async def _critiques(
        self, task: Task, rollouts: list[Rollout], verdicts: dict[str, Verdict], ctx: ScaleContext
    ) -> list[str | None]:
        if ctx.model is None:
            raise ConfigError("ReflectPolicy(critique=True) needs ScaleContext(model=...)")
        model = ctx.model

        async def critique(rollout: Rollout) -> str | None:
            verdict = verdicts[rollout.id]
            prompt = _CRITIQUE_PROMPT.format(
                problem=task.prompt,
                output=rollout.output,
                score=verdict.score,
                feedback=(verdict.feedback or "(no details)")[:_FEEDBACK_CHARS],
            )
            try:
                completion = await charged_generate(
                    model, ctx.budget, [{"role": "user", "content": prompt}], temperature=0.2
                )
            except GraphBubbleUp:
                raise
            except Exception:  # a critique is optional help: revise on the verifier's feedback alone
                return None
            return completion.text

        return list(await asyncio.gather(*(critique(r) for r in rollouts)))


@dataclass(frozen=True)
class Reflect:
    """Reflection: ``prepare -> rollout (xN) -> reflect -> rollout (revisions) ... -> select``.

    Attributes:
        n: the first wave's rollouts.
        policy: when and what to revise (``ReflectPolicy``).
        diversity: how rollouts differ.
        plans: PlanSearch plans for the first wave (see ``BestOfN``).
        selector: a ``Selector`` or registry name (default: ``ScaleContext.selector``, else the
            highest verifier score).
    """

    name: ClassVar[str] = "reflect"
    n: int = 8
    policy: ReflectPolicy | None = None
    diversity: Diversity | None = None
    plans: int = 0
    selector: Selector | str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "diversity", check_diversity(self.diversity))
        check_count(self.n)
        check_count(self.plans, "plans", minimum=0)
        if self.policy is not None and not isinstance(self.policy, ReflectPolicy):
            raise ConfigError(f"Reflect takes a ReflectPolicy, got {type(self.policy).__name__}")
        object.__setattr__(self, "policy", self.policy or ReflectPolicy())
        object.__setattr__(self, "selector", resolve_selector(self.selector))

    def build(self, graph: StateGraph, spec: ScaleSpec) -> int:
        """Wire ``prepare``, ``rollout``, ``reflect`` and ``select`` between ``spec.entry`` and ``spec.exit``."""
        diversity = self.diversity or Diversity()
        _wiring.sample(graph, spec, self.n, diversity=diversity, plans=self.plans)
        _wiring.loop(graph, "reflect", PlanRevisions(self.policy, diversity=diversity, context=spec.context))
        _wiring.select(graph, spec, spec.selector or self.selector)
        return 2 * (self.policy.max_rounds + 1) + 3
