"""Parallel rollouts: plan the samples, fan them out with ``Send``, run each one safely.

``prepare`` writes the wave of ``Sample``s; ``fan_out`` sends one ``Send("rollout", ...)`` per
sample; each ``rollout`` task runs the agent once (with its own seed, temperature, prompt
variant, plan or model), verifies the result, and returns ``{"rollouts": [r], "verdicts": ...}``.

Why the rollout node catches errors itself: when one task of a LangGraph superstep raises,
the runner cancels its siblings (``langgraph/pregel/_runner.py``), so one bad sample would kill
the batch. A rollout that raises or times out becomes ``Rollout(status="error")`` instead.
The per-rollout timeout is an ``asyncio.timeout`` inside the node rather than
``add_node(timeout=...)`` for the same reason: a node timeout raises ``NodeTimeoutError``
into the superstep. Interrupts (``GraphBubbleUp``) and cancellation still propagate.

Each task's writes are saved to the checkpointer as it finishes (``durability="sync"`` or
``"async"``), so a run that is killed mid-superstep and resumed with the same ``thread_id``
re-runs only the rollouts that had not finished; ``stream_mode="updates"`` shows each one as it
finishes, so a slow rollout holds back nobody's result.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from langgraph.errors import GraphBubbleUp
from langgraph.runtime import Runtime
from langgraph.types import Send

from agentscale.agents import as_agent, task_for_sample
from agentscale.errors import BudgetExhausted, ConfigError
from agentscale.protocols import Verifier
from agentscale.state import RolloutInput, Sample, ScaleState
from agentscale.strategies.context import ScaleContext, context_of
from agentscale.types import Provenance, Rollout, Task, Verdict

__all__ = ["Diversity", "FanOut", "PrepareSamples", "RunRollout", "fan_out", "run_one", "verify_one"]

Writer = Callable[[dict[str, Any]], None]

_PLAN_PROMPT = (
    "Here is a problem:\n\n{problem}\n\n"
    "Do not solve it yet. Write a short plan in plain language (3-6 sentences, no code) for one "
    "way to solve it. Make it a different idea from the obvious first approach when you can."
)


@dataclass(frozen=True)
class Diversity:
    """How the samples of one wave differ from each other.

    Each list is cycled by sample index, so ``temperatures=(0.2, 0.6, 1.0)`` spreads three ways
    and ``models=("small", "large")`` alternates models (with an agent that has both).

    Attributes:
        temperatures: sampling temperatures.
        seed: the first sample's seed; sample ``i`` gets ``seed + i``.
        prompt_variants: extra instructions appended to the prompt (``None`` = the plain prompt).
        models: model names for agents with several models (``None`` = the agent's default).
    """

    temperatures: Sequence[float | None] = (0.8,)
    seed: int = 0
    prompt_variants: Sequence[str | None] = (None,)
    models: Sequence[str | None] = (None,)

    def __post_init__(self) -> None:
        for name in ("temperatures", "prompt_variants", "models"):
            if not getattr(self, name):
                raise ConfigError(f"Diversity.{name} must not be empty")

    def sample(self, index: int, **fields: Any) -> Sample:
        """The sample at ``index``; ``fields`` (strategy, parents, feedback...) are set as given."""
        return Sample(
            index=index,
            seed=self.seed + index,
            temperature=self.temperatures[index % len(self.temperatures)],
            prompt_variant=self.prompt_variants[index % len(self.prompt_variants)],
            model=self.models[index % len(self.models)],
            **fields,
        )


def _emit(write: Writer, event: dict[str, Any]) -> None:
    write(event)


def _budget_event(task: Task, ctx: ScaleContext) -> dict[str, Any]:
    return {
        "event": "budget",
        "task_id": task.id,
        "spent_tokens": ctx.budget.spent.total_tokens,
        "remaining": ctx.budget.remaining(),
        "exhausted": ctx.budget.exhausted,
    }


async def verify_one(verifier: Verifier, task: Task, rollout: Rollout) -> Verdict:
    """Run ``verifier`` on one rollout; a verifier that raises gives a failing verdict, not a crash."""
    try:
        return await verifier.verify(task, rollout)
    except GraphBubbleUp:
        raise
    except Exception as exc:  # a broken check must not take the run down: it becomes data
        return Verdict(
            rollout_id=rollout.id,
            score=0.0,
            passed=False,
            feedback=f"the verifier failed: {type(exc).__name__}: {exc}",
            evidence={"verifier_error": repr(exc)},
            verifier=type(verifier).__name__,
        )


async def _call_agent(agent: Any, task: Task, ctx: ScaleContext) -> Rollout:
    if getattr(agent, "wants_sandbox", False):
        if ctx.sandboxes is None:
            raise ConfigError("this agent takes a sandbox: set ScaleContext(sandboxes=...)")
        async with ctx.sandboxes.lease() as sandbox:
            return await agent(task, sandbox=sandbox)
    result = await agent(task)
    if not isinstance(result, Rollout):
        raise TypeError(f"the agent returned {type(result).__name__}, not a Rollout")
    return result


async def run_one(
    agent: Any,
    task: Task,
    sample: Sample,
    *,
    ctx: ScaleContext,
    write: Writer,
    verifier: Verifier | None = None,
    timeout: float | None = None,
) -> tuple[Rollout, Verdict | None]:
    """Run one rollout safely: bounded, timed, budgeted, verified, and never raising for its own failure.

    Args:
        agent: an ``Agent``.
        task: the task as the caller gave it (the sample is applied here).
        sample: this rollout's settings.
        ctx: the run's context (budget, limiter, sandboxes).
        write: where progress events go (``runtime.stream_writer``).
        verifier: checks the rollout when it succeeded; ``None`` skips verification.
        timeout: seconds before the rollout is recorded as failed.

    Returns:
        The rollout (``status`` ``"ok"``, ``"error"`` or ``"budget"``) and its verdict, if any.

    Raises:
        asyncio.CancelledError: the caller cancelled it (never turned into a result here).
        GraphBubbleUp: the agent interrupted (human-in-the-loop), so LangGraph can pause the run.
    """
    async with ctx.limiter():
        # Ask the budget only once a slot is free, so rollouts queued behind it see its latest state.
        if not ctx.budget.start_rollout():
            limit = ctx.budget.exhausted or "rollouts"
            rollout = Rollout(
                task_id=task.id,
                status="budget",
                error=f"not started: budget exhausted ({limit})",
                provenance=_provenance(sample, Provenance()),
                metadata={"index": sample.index},
            )
            _emit(write, _finished_event(task, sample, rollout))
            return rollout, None
        _emit(
            write,
            {
                "event": "rollout_started",
                "task_id": task.id,
                "index": sample.index,
                "strategy": sample.strategy,
                "generation": sample.generation,
            },
        )
        started = time.monotonic()
        try:
            async with asyncio.timeout(timeout) as deadline:
                rollout = await _call_agent(agent, task_for_sample(task, sample), ctx)
        except GraphBubbleUp:
            raise
        except BudgetExhausted as exc:  # the model client ran out mid-rollout: a stop, not a fault
            rollout = Rollout(task_id=task.id, status="budget", error=str(exc))
        except Exception as exc:  # CancelledError is a BaseException and passes through
            if isinstance(exc, TimeoutError) and deadline.expired():
                error = f"timed out after {timeout:g} s"
            else:
                error = f"{type(exc).__name__}: {exc}"
            rollout = Rollout(task_id=task.id, status="error", error=error)
        seconds = time.monotonic() - started
        rollout = rollout.model_copy(
            update={
                "task_id": task.id,
                "provenance": _provenance(sample, rollout.provenance),
                "metadata": {**rollout.metadata, "index": sample.index, "seconds": seconds},
            }
        )
        # A rollout is charged here, once, unless its agent's model client already charged this
        # budget call by call (an agent says so with ``charges(budget)``, as LLMAgent does).
        charges = getattr(agent, "charges", None)
        if not (callable(charges) and charges(ctx.budget)):
            ctx.budget.charge(rollout.usage)
        _emit(write, _finished_event(task, sample, rollout))
        _emit(write, _budget_event(task, ctx))
        verdict = None
        if verifier is not None and rollout.ok:
            verdict = await verify_one(verifier, task, rollout)
            _emit(
                write,
                {
                    "event": "verdict",
                    "task_id": task.id,
                    "rollout_id": rollout.id,
                    "score": verdict.score,
                    "passed": verdict.passed,
                },
            )
        return rollout, verdict


def _provenance(sample: Sample, given: Provenance) -> Provenance:
    return Provenance(
        seed=sample.seed if sample.seed is not None else given.seed,
        temperature=sample.temperature if sample.temperature is not None else given.temperature,
        prompt_variant=sample.prompt_variant or given.prompt_variant,
        model=given.model or sample.model,
        strategy=sample.strategy,
        parents=list(sample.parents) or list(given.parents),
        generation=sample.generation,
    )


def _finished_event(task: Task, sample: Sample, rollout: Rollout) -> dict[str, Any]:
    return {
        "event": "rollout_finished",
        "task_id": task.id,
        "index": sample.index,
        "rollout_id": rollout.id,
        "status": rollout.status,
        "tokens": rollout.usage.total_tokens,
        "seconds": float(rollout.metadata.get("seconds", 0.0)),
        "error": rollout.error,
    }


class RunRollout:
    """Node ``rollout``: run the agent once for the ``Sample`` it was sent, and verify the result.

    Use it as the target of ``fan_out``: ``builder.add_node("rollout", RunRollout(agent))``.

    Args:
        agent: an ``Agent``, a compiled LangGraph graph, or an async function (see ``as_agent``).
        verifier: checks each rollout as it finishes (default: ``ScaleContext.verifier``).
        timeout: seconds per rollout (default: ``ScaleContext.rollout_timeout``).
    """

    def __init__(self, agent: Any, *, verifier: Verifier | None = None, timeout: float | None = None) -> None:
        if timeout is not None and timeout <= 0:
            raise ConfigError(f"timeout must be > 0, got {timeout}")
        self.agent = as_agent(agent)
        self.verifier = verifier
        self.timeout = timeout

    async def __call__(self, state: RolloutInput, runtime: Runtime[ScaleContext]) -> dict[str, Any]:
        ctx = context_of(runtime)
        rollout, verdict = await run_one(
            self.agent,
            state["task"],
            state["sample"],
            ctx=ctx,
            write=runtime.stream_writer,
            verifier=self.verifier or ctx.verifier,
            timeout=self.timeout or ctx.rollout_timeout,
        )
        update: dict[str, Any] = {"rollouts": [rollout]}
        if verdict is not None:
            update["verdicts"] = {rollout.id: verdict}
        return update


class PrepareSamples:
    """Node ``prepare``: write the first wave of samples (and, optionally, PlanSearch plans).

    Args:
        n: how many rollouts.
        diversity: how they differ (temperatures, seeds, prompt variants, models).
        plans: if > 0, first ask ``ScaleContext.model`` for this many natural-language plans and
            give sample ``i`` plan ``i % plans`` (PlanSearch).
    """

    def __init__(self, n: int, *, diversity: Diversity | None = None, plans: int = 0) -> None:
        if n < 1:
            raise ConfigError(f"n must be >= 1, got {n}")
        if plans < 0:
            raise ConfigError(f"plans must be >= 0, got {plans}")
        self.n = n
        self.diversity = diversity or Diversity()
        self.plans = plans

    async def __call__(self, state: ScaleState, runtime: Runtime[ScaleContext]) -> dict[str, Any]:
        ctx = context_of(runtime)
        task = state["task"]
        plans = await self._write_plans(task, ctx) if self.plans else []
        samples = [
            self.diversity.sample(i, plan=plans[i % len(plans)] if plans else None) for i in range(self.n)
        ]
        return {"samples": samples, "round": 0, "stop_reason": None}

    async def _write_plans(self, task: Task, ctx: ScaleContext) -> list[str]:
        if ctx.model is None:
            raise ConfigError("plans need a model: set ScaleContext(model=...)")
        completion = await ctx.model.generate(
            [{"role": "user", "content": _PLAN_PROMPT.format(problem=task.prompt)}],
            n=self.plans,
            temperature=1.0,
            seed=self.diversity.seed,
        )
        ctx.budget.charge(completion.usage)
        return [t.strip() for t in completion.texts if t.strip()] or [""]


@dataclass(frozen=True)
class FanOut:
    """Router: one ``Send(node, {"task", "sample"})`` per sample in ``state["samples"]``.

    With no samples left (a step decided to stop) it routes to ``otherwise`` instead.
    Register it with both destinations: ``add_conditional_edges("prepare", fan_out, ["rollout", "select"])``.
    """

    node: str = "rollout"
    otherwise: str = "select"

    def __call__(self, state: ScaleState) -> list[Send] | str:
        samples = state.get("samples") or []
        if not samples:
            return self.otherwise
        return [Send(self.node, {"task": state["task"], "sample": s}) for s in samples]


fan_out = FanOut()
"""The default router: samples go to ``"rollout"``, and to ``"select"`` when there are none."""
