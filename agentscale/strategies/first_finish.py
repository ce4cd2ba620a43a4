"""First-finish sampling: start N rollouts, keep the first that passes the verifier, cancel the rest.

Why one node with asyncio tasks instead of a ``Send`` fan-out: the tasks of a LangGraph
superstep cannot cancel each other, and the step ends only when all of them have. Here each
rollout is an ``asyncio`` task running through ``ScaleContext.executor``; as soon as one passes,
the others are cancelled and drained (cancelling the task closes its HTTP request, so the model
server stops generating). Rollouts that finished meanwhile are kept; the cancelled ones are
recorded as ``status="cancelled"``. External cancellation cancels and drains every rollout, then
propagates.

The price: the node is one LangGraph task, so a run killed mid-race redoes the race on resume.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, ClassVar

from langgraph.graph import StateGraph
from langgraph.runtime import Runtime

from agentscale.agents import as_agent
from agentscale.protocols import Verifier
from agentscale.rollout import RolloutResult, finished_event
from agentscale.state import ScaleState, SelectedEvent
from agentscale.strategies import _wiring
from agentscale.strategies.context import ScaleContext, context_of, task_update
from agentscale.strategies.rollouts import Diversity, check_count, check_diversity, run_request
from agentscale.strategies.spec import ScaleSpec
from agentscale.types import Provenance, Rollout, RolloutRequest, Selection

__all__ = ["FirstFinish", "Race"]


class Race:
    """Node ``race``: first-finish sampling.

    Writes ``rollouts`` and ``verdicts``, and ``selected`` when a rollout passed (route on it:
    without a winner, a ``select`` node can still pick the best of what finished).

    Args:
        agent: an ``Agent``, compiled graph or async function.
        n: how many rollouts to start (the executor bounds how many run at once).
        diversity: how they differ.
        verifier: decides what passes (default: ``ScaleContext.verifier``); without one, the
            first successful rollout wins.
        timeout: seconds per rollout (default: ``ScaleContext.rollout_timeout``).
        context: the ``ScaleContext`` to use when the runtime context is not one (nesting).
    """

    def __init__(
        self,
        agent: Any,
        n: int,
        *,
        diversity: Diversity | None = None,
        verifier: Verifier | None = None,
        timeout: float | None = None,
        context: ScaleContext | None = None,
    ) -> None:
        self.agent = as_agent(agent)
        self.n = check_count(n)
        self.diversity = diversity or Diversity()
        self.verifier = verifier
        self.timeout = timeout
        self.context = context

    async def __call__(self, state: ScaleState, runtime: Runtime[ScaleContext]) -> dict[str, Any]:
        ctx = context_of(runtime, self.context)
        task, update = task_update(state)
        verifier = self.verifier or ctx.verifier
        write = runtime.stream_writer
        lessons = list(state.get("lessons") or [])
        requests = [self.diversity.request(i, lessons=lessons) for i in range(self.n)]
        running: dict[asyncio.Task, RolloutRequest] = {
            asyncio.create_task(
                run_request(
                    self.agent,
                    task,
                    r,
                    ctx=ctx,
                    write=write,
                    verifier=verifier,
                    timeout=self.timeout or ctx.rollout_timeout,
                ),
                name=f"agentscale-race-{task.id}-{r.index}",
            ): r
            for r in requests
        }
        finished: list[RolloutResult] = []
        winner: Rollout | None = None
        pending = set(running)
        try:
            while pending and winner is None:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for t in sorted(done, key=lambda t: running[t].index):
                    result = t.result()  # run_request returns failures as data
                    finished.append(result)
                    verdict = result.verdict
                    passed = verdict.passed if verdict is not None else (verifier is None and result.rollout.ok)
                    if winner is None and passed:
                        winner = result.rollout
        finally:
            # cancel and drain: nothing may outlive the node, and what finished meanwhile is kept
            for t in pending:
                t.cancel()
            outcomes = await asyncio.gather(*pending, return_exceptions=True)
        cancelled: list[Rollout] = []
        for t, outcome in zip(pending, outcomes, strict=True):
            if isinstance(outcome, RolloutResult):
                finished.append(outcome)
            elif isinstance(outcome, asyncio.CancelledError):
                cancelled.append(_cancelled(task.id, running[t]))
                write(finished_event(task, running[t], cancelled[-1]))
            else:
                raise outcome
        update |= {
            "rollouts": [f.rollout for f in finished] + cancelled,
            "verdicts": {f.rollout.id: f.verdict for f in finished if f.verdict is not None},
            "stop_reason": "passed" if winner else "none passed",
        }
        if winner is not None:
            selection = Selection(rollout_id=winner.id, reason="first rollout to pass")
            update["selected"] = selection
            write(
                SelectedEvent(
                    event="selected",
                    task_id=task.id,
                    rollout_id=winner.id,
                    status=selection.status,
                    reason=selection.reason,
                )
            )
        return update


def _cancelled(task_id: str, request: RolloutRequest) -> Rollout:
    return Rollout(
        task_id=task_id,
        status="cancelled",
        error="cancelled: another rollout passed first",
        provenance=Provenance(seed=request.seed, temperature=request.temperature, strategy=request.strategy),
        metadata={"index": request.index},
    )


@dataclass(frozen=True)
class FirstFinish:
    """First-finish: ``race`` (the first rollout to pass wins, the rest are cancelled), then ``select``
    among what finished when none passed.

    Attributes:
        n: rollouts started.
        diversity: how they differ.
    """

    name: ClassVar[str] = "first_finish"
    n: int = 8
    diversity: Diversity | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "diversity", check_diversity(self.diversity))
        check_count(self.n)

    def build(self, graph: StateGraph, spec: ScaleSpec) -> int:
        """Wire ``race`` and ``select`` between ``spec.entry`` and ``spec.exit``."""
        race = Race(
            spec.agent,
            self.n,
            diversity=self.diversity,
            verifier=spec.verifier,
            timeout=spec.timeout,
            context=spec.context,
        )
        graph.add_node("race", race)
        graph.add_edge(spec.entry, "race")
        graph.add_conditional_edges("race", _Route(spec.exit), ["select", spec.exit])
        _wiring.select(graph, spec, spec.selector)
        return 2


@dataclass(frozen=True)
class _Route:
    exit: str

    def __call__(self, state: ScaleState) -> str:
        return self.exit if state.get("selected") is not None else "select"


