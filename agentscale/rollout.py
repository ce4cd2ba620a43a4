"""One rollout, as data: what an agent gets (``RolloutContext``), what an executor runs
(``RolloutJob``) and what comes back (``RolloutResult``), and ``run_rollout``, the in-process
worker every executor ends up calling where the agent runs.

``run_rollout`` runs the agent once and never raises for the rollout's own failure: an agent
that raises or times out becomes ``Rollout(status="error")`` (when one task of a LangGraph
superstep raises, LangGraph cancels its siblings, so one bad sample would kill the batch). The
timeout is an ``asyncio.timeout`` here rather than ``add_node(timeout=...)`` for the same reason.
Interrupts (``GraphBubbleUp``) and cancellation still propagate. The rollout's usage is the
larger, field by field, of what the agent reports and what its model calls measured (the usage
ledger, ``agentscale.budget``); charging the run's budget is the caller's job
(``agentscale.executor.execute``), so whatever executes a rollout, it is charged exactly once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from langgraph.errors import GraphBubbleUp

from agentscale.budget import Budget, usage_ledger
from agentscale.errors import BudgetExhausted, ConfigError
from agentscale.protocols import Model, Sandbox, SandboxProvider, Verifier
from agentscale.state import AgentEvent, RolloutFinished, RolloutStarted, VerdictEvent
from agentscale.types import Provenance, Rollout, RolloutRequest, Task, Verdict

if TYPE_CHECKING:
    from agentscale.protocols import Agent

__all__ = ["RolloutContext", "RolloutJob", "RolloutResult", "run_rollout", "verify_one"]

log = logging.getLogger(__name__)

Emit = Callable[[dict[str, Any]], None]


def _ignore(event: dict[str, Any]) -> None:
    return None


@dataclass(frozen=True)
class RolloutContext:
    """What an agent gets besides the task: ``async def agent(task, run: RolloutContext)``.

    Attributes:
        request: how this rollout is asked for (seed, temperature, model, plan, feedback, lessons,
            candidates to refine...); ``agentscale.prompts.render_request`` renders it by default.
        budget: the run's budget. Model calls the agent makes through a client given it
            (``LLM(budget=run.budget)``) are charged as they happen; whatever else the rollout
            spent is charged when it returns, exactly once either way.
        model: the run's model (``ScaleContext.model``), for agents that bring none of their own.
        sandbox: a sandbox leased for this rollout, for agents that want one (a ``sandbox``
            parameter, or ``wants_sandbox = True``); else ``None``.
        emit: reports progress (e.g. one dict per agent step) on the run's custom stream, as an
            ``AgentEvent``; a no-op outside a run.
    """

    request: RolloutRequest = field(default_factory=RolloutRequest)
    budget: Budget = field(default_factory=Budget)
    model: Model | None = None
    sandbox: Sandbox | None = None
    emit: Emit = _ignore


@dataclass(frozen=True)
class RolloutResult:
    """A finished rollout and its verdict (``None`` when it was not verified)."""

    rollout: Rollout
    verdict: Verdict | None = None


@dataclass(frozen=True)
class RolloutJob:
    """One rollout (and its verification) for an ``Executor`` to run.

    With ``rollout`` given, the job only verifies that rollout (the ``verify`` node's work).

    Attributes:
        agent: an adapted agent (``agentscale.agents.as_agent``).
        task: the task as given.
        request: this rollout's request.
        verifier: checks the rollout when it succeeded; ``None`` skips verification.
        timeout: seconds before the rollout is recorded as failed.
        budget: the run's budget.
        model: the run's model (handed to the agent as ``run.model``).
        sandboxes: leases a sandbox for agents that want one.
        emit: where progress events go (``runtime.stream_writer``).
        rollout: an existing rollout to verify instead of running the agent.
    """

    agent: Agent | None
    task: Task
    request: RolloutRequest
    verifier: Verifier | None = None
    timeout: float | None = None
    budget: Budget = field(default_factory=Budget)
    model: Model | None = None
    sandboxes: SandboxProvider | None = None
    emit: Emit = _ignore
    rollout: Rollout | None = None

    def admit(self) -> RolloutResult | None:
        """Reserve a rollout on the budget; when none may start, the ``status="budget"`` result to
        return instead (its ``rollout_finished`` event already emitted).

        Executors call this once they have room to run the job, so rollouts queued behind a full
        executor see the budget as it is when their turn comes.
        """
        if self.budget.start_rollout():
            return None
        limit = self.budget.exhausted or "rollouts"
        rollout = Rollout(
            task_id=self.task.id,
            status="budget",
            error=f"not started: budget exhausted ({limit})",
            provenance=_provenance(self.request, Provenance()),
            metadata={"index": self.request.index},
        )
        self.emit(finished_event(self.task, self.request, rollout))
        return RolloutResult(rollout)


async def verify_one(verifier: Verifier, task: Task, rollout: Rollout) -> Verdict:
    """Run ``verifier`` on one rollout; a verifier that raises gives a failing verdict, not a crash.

    The failure is logged (once per failure) and kept in the verdict's ``evidence["verifier_error"]``,
    so the selection can say how many rollouts the verifier failed on.
    """
    try:
        verdict = await verifier.verify(task, rollout)
        if not isinstance(verdict, Verdict):
            raise TypeError(f"{type(verifier).__name__}.verify returned {type(verdict).__name__}, not a Verdict")
    except GraphBubbleUp:
        raise
    except Exception as exc:  # a broken check must not take the run down: it becomes data
        error = f"{type(exc).__name__}: {exc}"
        name = type(verifier).__name__
        log.warning("verifier %s failed on rollout %s of task %s: %s", name, rollout.id, task.id, error)
        return Verdict(
            rollout_id=rollout.id,
            score=0.0,
            passed=False,
            feedback=f"the verifier failed: {error}",
            evidence={"verifier_error": error},
            verifier=name,
        )
    return verdict


def _provenance(request: RolloutRequest, given: Provenance) -> Provenance:
    return Provenance(
        seed=request.seed if request.seed is not None else given.seed,
        temperature=request.temperature if request.temperature is not None else given.temperature,
        prompt_variant=request.prompt_variant or given.prompt_variant,
        model=given.model or request.model,
        strategy=request.strategy,
        parents=list(request.parents) or list(given.parents),
        generation=request.generation,
    )


def finished_event(task: Task, request: RolloutRequest, rollout: Rollout) -> RolloutFinished:
    """The ``rollout_finished`` progress event for ``rollout``."""
    return RolloutFinished(
        event="rollout_finished",
        task_id=task.id,
        index=request.index,
        rollout_id=rollout.id,
        status=rollout.status,
        tokens=rollout.usage.total_tokens,
        seconds=float(rollout.metadata.get("seconds", 0.0)),
        error=rollout.error,
    )


def _agent_emitter(job: RolloutJob) -> Emit:
    def emit(data: dict[str, Any]) -> None:
        job.emit(AgentEvent(event="agent", task_id=job.task.id, index=job.request.index, data=dict(data)))

    return emit


async def _call_agent(job: RolloutJob) -> Rollout:
    agent = job.agent
    if agent is None:
        raise ConfigError("a RolloutJob needs an agent or a rollout to verify")
    run = RolloutContext(request=job.request, budget=job.budget, model=job.model, emit=_agent_emitter(job))
    if getattr(agent, "wants_sandbox", False):
        if job.sandboxes is None:
            raise ConfigError("this agent takes a sandbox: set ScaleContext(sandboxes=...)")
        async with job.sandboxes.lease() as sandbox:
            return await agent(job.task, _with_sandbox(run, sandbox))
    return await agent(job.task, run)


def _with_sandbox(run: RolloutContext, sandbox: Sandbox) -> RolloutContext:
    return RolloutContext(request=run.request, budget=run.budget, model=run.model, sandbox=sandbox, emit=run.emit)


async def _run_agent(job: RolloutJob) -> Rollout:
    from agentscale.agents import openai_messages  # agents import this module for RolloutContext

    task, request, timeout = job.task, job.request, job.timeout
    started = time.monotonic()
    with usage_ledger() as ledger:
        try:
            async with asyncio.timeout(timeout) as deadline:
                rollout = await _call_agent(job)
            if not isinstance(rollout, Rollout):
                raise TypeError(f"the agent returned {type(rollout).__name__}, not a Rollout")
            rollout = rollout.model_copy(update={"trajectory": openai_messages(rollout.trajectory)})
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
    return rollout.model_copy(
        update={
            "task_id": task.id,
            # what the agent reports or what its model calls measured, whichever is more
            "usage": rollout.usage.most(ledger.measured),
            "provenance": _provenance(request, rollout.provenance),
            "metadata": {**rollout.metadata, "index": request.index, "seconds": seconds},
        }
    )


async def _verify(job: RolloutJob, rollout: Rollout) -> Verdict | None:
    if job.verifier is None or not rollout.ok:
        return None
    # Verification is not the rollout's work: its model calls stay out of the rollout's usage.
    with usage_ledger(detached=True):
        verdict = await verify_one(job.verifier, job.task, rollout)
    job.emit(
        VerdictEvent(
            event="verdict",
            task_id=job.task.id,
            rollout_id=rollout.id,
            score=verdict.score,
            passed=verdict.passed,
        )
    )
    return verdict


async def run_rollout(job: RolloutJob) -> RolloutResult:
    """Run one job here and now: the agent (bounded by ``job.timeout``), then the verifier.

    Executors call this where the agent runs (in-process for ``AsyncioExecutor``; inside a worker
    for a distributed one). It does not charge the budget (see ``agentscale.executor.execute``)
    and does not reserve a rollout on it (``RolloutJob.admit``).

    Returns:
        The rollout (``status`` ``"ok"``, ``"error"`` or ``"budget"``) and its verdict, if any.

    Raises:
        asyncio.CancelledError: the caller cancelled it (never turned into a result here).
        GraphBubbleUp: the agent interrupted (human-in-the-loop), so LangGraph can pause the run.
    """
    if job.rollout is not None:
        return RolloutResult(job.rollout, await _verify(job, job.rollout))
    job.emit(
        RolloutStarted(
            event="rollout_started",
            task_id=job.task.id,
            index=job.request.index,
            strategy=job.request.strategy,
            generation=job.request.generation,
        )
    )
    rollout = await _run_agent(job)
    job.emit(finished_event(job.task, job.request, rollout))
    return RolloutResult(rollout, await _verify(job, rollout))
