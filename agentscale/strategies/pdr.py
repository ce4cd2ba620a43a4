"""Parallel-Distill-Refine (PDR): a first wave of rollouts, distilled into K summaries by Recursive
Tournament Voting, feeds a second wave; RTV picks the final rollout.

``prepare -> rollout (first wave) -> distill -> rollout (second wave) -> distill (stops) -> select``

The ``distill`` node summarises each finished first-wave rollout (``agentscale.summaries``: the
judge model writes the summary of an agent rollout with tool steps; a single-shot rollout is its
output and check), narrows them to ``k`` with RTV (``RecursiveTournament.narrow``), and writes the
second wave: each request carries the ``k`` summaries as its ``candidates`` (``output``: the
final change or answer; ``observations``: hypotheses tried, progress and failure modes;
``feedback``: the verifier's words; ``score``) and, as its ``feedback``, ``DISTILL``. The final
``select`` runs RTV over the second wave (all successful rollouts if none of the second wave
succeeded). The judge is ``judge`` or ``ScaleContext.model``; its calls (summaries and votes) are
charged to the run's budget.

From "Scaling Test-Time Compute for Agentic Coding" (2026): K = 4 summaries chosen by RTV helped
more than 4 random ones, and one summary barely helped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypedDict

from langgraph.graph import StateGraph
from langgraph.runtime import Runtime

from agentscale.budget import usage_ledger
from agentscale.errors import ConfigError
from agentscale.protocols import Model, Selector
from agentscale.selectors.rtv import RecursiveTournament
from agentscale.state import ScaleState
from agentscale.strategies import _wiring
from agentscale.strategies.context import ScaleContext, context_of, task_update
from agentscale.strategies.rollouts import Diversity, check_count, check_diversity
from agentscale.strategies.select import Select, resolve_selector
from agentscale.strategies.spec import ScaleSpec
from agentscale.summaries import summary_candidate
from agentscale.types import Rollout, Selection, Task, Verdict

__all__ = ["DISTILL", "Distill", "DistillEvent", "LastWave", "ParallelDistillRefine", "PickFinal"]

DISTILL = (
    "Above are summaries of earlier attempts at this task, with what a check of each found. Learn from "
    "them: keep what worked, avoid what failed, then write your own complete answer."
)
"""What a second-wave rollout is asked to do with its summaries."""


class DistillEvent(TypedDict):
    """The summaries chosen for the second wave."""

    event: Literal["distill"]
    task_id: str
    chosen: list[str]
    judge_calls: int
    votes: int
    summaries: dict[str, str]


def _rtv(judge: Model, policy: ParallelDistillRefine) -> RecursiveTournament:
    return RecursiveTournament(
        judge, group_size=policy.group_size, votes=policy.votes, temperature=policy.temperature, seed=policy.seed
    )


def _judge(judge: Model | None, ctx: ScaleContext) -> Model:
    model = judge or ctx.model
    if model is None:
        raise ConfigError("pdr needs a judge: ParallelDistillRefine(judge=...) or ScaleContext(model=...)")
    return model


class Distill:
    """Node ``distill``: after the first wave, write the second; after the second, stop.

    Writes ``{"requests": [...], "round": 1}`` or ``{"requests": [], "stop_reason": ...}``; route it
    with ``FanOut``.

    Args:
        policy: the strategy's settings (``k``, ``refine``, RTV's ``group_size``/``votes``...).
        judge: the model that summarises and votes (default: ``ScaleContext.model``).
        diversity: sampling settings for the second wave (indices and seeds continue).
        context: the ``ScaleContext`` to use when the runtime context is not one (nesting).
    """

    def __init__(
        self,
        policy: ParallelDistillRefine,
        *,
        judge: Model | None = None,
        diversity: Diversity | None = None,
        context: ScaleContext | None = None,
    ) -> None:
        self.policy = policy
        self.judge = judge
        self.diversity = diversity or Diversity()
        self.context = context

    async def __call__(self, state: ScaleState, runtime: Runtime[ScaleContext]) -> dict[str, Any]:
        ctx = context_of(runtime, self.context)
        task, _ = task_update(state)
        if state.get("round", 0) >= 1:
            return {"requests": [], "stop_reason": "refined"}
        rollouts = list(state.get("rollouts") or [])
        verdicts = state.get("verdicts") or {}
        first = [r for r in rollouts if r.ok and r.provenance.generation == 0]
        if not first:
            return {"requests": [], "stop_reason": "no rollouts"}
        if ctx.budget.exhausted:
            return {"requests": [], "stop_reason": "budget"}
        rtv = _rtv(_judge(self.judge, ctx), self.policy)
        # the judge's summaries and votes are this run's work: charged once, whatever the client does
        with usage_ledger() as ledger:
            result = await rtv.narrow(task, first, verdicts, keep=self.policy.k)
        ledger.settle(ctx.budget)
        by_id = {r.id: r for r in first}
        chosen = result.winners
        candidates = [summary_candidate(result.summaries[i], by_id[i], verdicts.get(i)) for i in chosen]
        runtime.stream_writer(
            DistillEvent(
                event="distill",
                task_id=task.id,
                chosen=chosen,
                judge_calls=result.calls,
                votes=result.votes_read,
                summaries={i: result.summaries[i].text(max_chars=300) for i in chosen},
            )
        )
        start = len(rollouts)
        requests = [
            self.diversity.request(
                start + i, strategy="pdr", parents=list(chosen), generation=1, candidates=candidates, feedback=DISTILL
            )
            for i in range(self.policy.refine or self.policy.n)
        ]
        return {"requests": requests, "round": 1}


@dataclass
class LastWave:
    """A selector over the latest wave only: the rollouts of the highest ``provenance.generation``
    that succeeded (all successful rollouts when none of it did), handed to ``inner``."""

    inner: Selector
    name: str = "last_wave"

    async def select(self, task: Task, rollouts: Sequence[Rollout], verdicts: Mapping[str, Verdict]) -> Selection:
        """``inner``'s choice among the latest wave."""
        ok = [r for r in rollouts if r.ok]
        if not ok:
            return Selection(rollout_id=None, reason="no candidates")
        latest = max(r.provenance.generation for r in ok)
        return await self.inner.select(task, [r for r in ok if r.provenance.generation == latest], verdicts)


class PickFinal:
    """Node ``select`` of PDR: the given selector, else RTV with the run's judge, over the last wave.

    Args:
        policy: the strategy's settings (RTV's ``group_size``, ``votes``, ``temperature``, ``seed``).
        selector: replaces RTV (still given the last wave only).
        judge: the RTV judge (default: ``ScaleContext.model``).
        context: the ``ScaleContext`` to use when the runtime context is not one (nesting).
    """

    def __init__(
        self,
        policy: ParallelDistillRefine,
        *,
        selector: Selector | None = None,
        judge: Model | None = None,
        context: ScaleContext | None = None,
    ) -> None:
        self.policy = policy
        self.selector = selector
        self.judge = judge
        self.context = context

    async def __call__(self, state: ScaleState, runtime: Runtime[ScaleContext]) -> dict[str, Any]:
        ctx = context_of(runtime, self.context)
        inner = self.selector or ctx.selector or _rtv(_judge(self.judge, ctx), self.policy)
        # a Select node made per call: the judge may come from this run's context
        return await Select(LastWave(inner), context=self.context)(state, runtime)


@dataclass(frozen=True)
class ParallelDistillRefine:
    """Parallel-Distill-Refine: ``prepare -> rollout (n) -> distill -> rollout (refine) -> select``.

    Attributes:
        n: the first wave's rollouts.
        refine: the second wave's rollouts (default: ``n``).
        k: summaries RTV keeps from the first wave for each second-wave rollout.
        group_size: RTV's group size (both narrowings).
        votes: RTV's sampled votes per group.
        temperature: the votes' sampling temperature.
        seed: seeds RTV's groups and votes.
        judge: summarises and votes (default: ``ScaleContext.model``).
        diversity: how rollouts differ.
        selector: replaces RTV for the final pick (it sees the second wave only).
    """

    name: ClassVar[str] = "pdr"
    n: int = 8
    refine: int | None = None
    k: int = 4
    group_size: int = 2
    votes: int = 8
    temperature: float | None = 0.7
    seed: int = 0
    judge: Model | None = None
    diversity: Diversity | None = None
    selector: Selector | str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "diversity", check_diversity(self.diversity))
        check_count(self.n)
        if self.refine is not None:
            check_count(self.refine, "refine")
        check_count(self.k, "k")
        check_count(self.group_size, "group_size", minimum=2)
        check_count(self.votes, "votes")
        if self.judge is not None and not callable(getattr(self.judge, "generate", None)):
            raise ConfigError(f"judge must be a model with async generate(), got {self.judge!r}")
        object.__setattr__(self, "selector", resolve_selector(self.selector))

    def build(self, graph: StateGraph, spec: ScaleSpec) -> int:
        """Wire ``prepare``, ``rollout``, ``distill`` and ``select`` between ``spec.entry`` and ``spec.exit``."""
        diversity = self.diversity or Diversity()
        _wiring.sample(graph, spec, self.n, diversity=diversity, plans=0)
        _wiring.loop(graph, "distill", Distill(self, judge=self.judge, diversity=diversity, context=spec.context))
        final = PickFinal(self, selector=spec.selector or self.selector, judge=self.judge, context=spec.context)
        graph.add_node("select", final)
        graph.add_edge("select", spec.exit)
        return 2 * 2 + 3
