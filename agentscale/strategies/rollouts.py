"""Parallel rollouts: plan the requests, fan them out with ``Send``, run each one through the executor.

``prepare`` writes the wave of ``RolloutRequest``s; ``fan_out`` sends one ``Send("rollout", ...)``
per request (with the task's recalled lessons); each ``rollout`` task hands one ``RolloutJob`` to
``ScaleContext.executor`` (through ``agentscale.executor.execute``, which charges the budget once)
and returns ``{"rollouts": [r], "verdicts": ...}``. A rollout that raises or times out comes back
as ``Rollout(status="error")`` (see ``agentscale.rollout``), so it never kills its siblings.

Each task's writes are saved to the checkpointer as it finishes (``durability="sync"`` or
``"async"``), so a run that is killed mid-superstep and resumed with the same ``thread_id``
re-runs only the rollouts that had not finished; ``stream_mode="updates"`` shows each one as it
finishes, so a slow rollout holds back nobody's result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import Send

from agentscale.agents import as_agent
from agentscale.budget import charged_generate
from agentscale.errors import ConfigError
from agentscale.executor import execute
from agentscale.protocols import Verifier
from agentscale.rollout import RolloutJob, RolloutResult
from agentscale.state import RolloutInput, ScaleState
from agentscale.strategies.context import ScaleContext, as_task, context_of, task_update
from agentscale.types import RolloutRequest, Task

__all__ = [
    "Diversity", "FanOut", "PrepareRequests", "RunRollout", "check_count", "check_diversity", "fan_out", "run_request",
]

_PLAN_PROMPT = (
    "Here is a problem:\n\n{problem}\n\n"
    "Do not solve it yet. Write a short plan in plain language (3-6 sentences, no code) for one "
    "way to solve it. Make it a different idea from the obvious first approach when you can."
)


def check_count(value: Any, name: str = "n", *, minimum: int = 1) -> int:
    """``value`` if it is an int (not a bool) of at least ``minimum``; else a ``ConfigError``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an int >= {minimum}, got {value!r}")
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_diversity(value: Any) -> Diversity:
    """``value`` if it is a ``Diversity``, a default one for ``None``; else a ``ConfigError``."""
    if value is None:
        return Diversity()
    if not isinstance(value, Diversity):
        raise ConfigError(f"diversity must be a Diversity(...), got {value!r}")
    return value


@dataclass(frozen=True)
class Diversity:
    """How the rollouts of one wave differ from each other.

    Each list is cycled by rollout index, so ``temperatures=(0.2, 0.6, 1.0)`` spreads three ways
    and ``models=("small", "large")`` alternates models (with an agent that has both).

    Attributes:
        temperatures: sampling temperatures.
        seed: the first rollout's seed; rollout ``i`` gets ``seed + i``.
        prompt_variants: extra instructions for the prompt (``None`` = the plain prompt).
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

    def request(self, index: int, **fields: Any) -> RolloutRequest:
        """The request at ``index``; ``fields`` (strategy, parents, candidates, feedback...) are set as given."""
        return RolloutRequest(
            index=index,
            seed=self.seed + index,
            temperature=self.temperatures[index % len(self.temperatures)],
            prompt_variant=self.prompt_variants[index % len(self.prompt_variants)],
            model=self.models[index % len(self.models)],
            **fields,
        )


async def run_request(
    agent: Any,
    task: Task,
    request: RolloutRequest,
    *,
    ctx: ScaleContext,
    write: Any,
    verifier: Verifier | None = None,
    timeout: float | None = None,
) -> RolloutResult:
    """Run one rollout through ``ctx.executor``: bounded, timed, charged once, verified, and never
    raising for its own failure.

    Args:
        agent: an adapted ``Agent``.
        task: the task as the caller gave it.
        request: this rollout's request.
        ctx: the run's context (budget, executor, model, sandboxes).
        write: where progress events go (``runtime.stream_writer``).
        verifier: checks the rollout when it succeeded; ``None`` skips verification.
        timeout: seconds before the rollout is recorded as failed.

    Raises:
        asyncio.CancelledError: the caller cancelled it.
        GraphBubbleUp: the agent interrupted (human-in-the-loop), so LangGraph can pause the run.
    """
    job = RolloutJob(
        agent=agent,
        task=task,
        request=request,
        verifier=verifier,
        timeout=timeout,
        budget=ctx.budget,
        model=ctx.model,
        sandboxes=ctx.sandboxes,
        emit=write,
    )
    return await execute(ctx.executor, job)


class RunRollout:
    """Node ``rollout``: run the agent once for the ``RolloutRequest`` it was sent, and verify the result.

    Use it as the target of ``fan_out``: ``builder.add_node("rollout", RunRollout(agent))``.

    Args:
        agent: an ``Agent``, a compiled LangGraph graph, or an async function (see ``as_agent``).
        verifier: checks each rollout as it finishes (default: ``ScaleContext.verifier``).
        timeout: seconds per rollout (default: ``ScaleContext.rollout_timeout``).
        context: the ``ScaleContext`` to use when the runtime context is not one (nesting).
    """

    def __init__(
        self,
        agent: Any,
        *,
        verifier: Verifier | None = None,
        timeout: float | None = None,
        context: ScaleContext | None = None,
    ) -> None:
        if timeout is not None and timeout <= 0:
            raise ConfigError(f"timeout must be > 0, got {timeout}")
        self.agent = as_agent(agent)
        self.verifier = verifier
        self.timeout = timeout
        self.context = context

    async def __call__(self, state: RolloutInput, runtime: Runtime[ScaleContext]) -> dict[str, Any]:
        ctx = context_of(runtime, self.context)
        result = await run_request(
            self.agent,
            as_task(state["task"]),
            state["request"],
            ctx=ctx,
            write=runtime.stream_writer,
            verifier=self.verifier or ctx.verifier,
            timeout=self.timeout or ctx.rollout_timeout,
        )
        update: dict[str, Any] = {"rollouts": [result.rollout]}
        if result.verdict is not None:
            update["verdicts"] = {result.rollout.id: result.verdict}
        return update


class PrepareRequests:
    """Node ``prepare``: write the first wave of requests (and, optionally, PlanSearch plans).

    Args:
        n: how many rollouts.
        diversity: how they differ (temperatures, seeds, prompt variants, models).
        plans: if > 0, first ask ``ScaleContext.model`` for this many natural-language plans and
            give request ``i`` plan ``i % plans`` (PlanSearch).
        context: the ``ScaleContext`` to use when the runtime context is not one (nesting).
    """

    def __init__(
        self, n: int, *, diversity: Diversity | None = None, plans: int = 0, context: ScaleContext | None = None
    ) -> None:
        self.n = check_count(n)
        self.plans = check_count(plans, "plans", minimum=0)
        self.diversity = check_diversity(diversity)
        self.context = context

    async def __call__(self, state: ScaleState, runtime: Runtime[ScaleContext]) -> dict[str, Any]:
        ctx = context_of(runtime, self.context)
        task, update = task_update(state)
        plans = await self._write_plans(task, ctx) if self.plans else []
        requests = [
            self.diversity.request(i, plan=plans[i % len(plans)] if plans else None) for i in range(self.n)
        ]
        return {**update, "requests": requests, "round": 0, "stop_reason": None}

    async def _write_plans(self, task: Task, ctx: ScaleContext) -> list[str]:
        if ctx.model is None:
            raise ConfigError("plans need a model: set ScaleContext(model=...)")
        completion = await charged_generate(
            ctx.model,
            ctx.budget,
            [{"role": "user", "content": _PLAN_PROMPT.format(problem=task.prompt)}],
            n=self.plans,
            temperature=1.0,
            seed=self.diversity.seed,
        )
        return [t.strip() for t in completion.texts if t.strip()] or [""]


@dataclass(frozen=True)
class FanOut:
    """Router: one ``Send(node, {"task", "request"})`` per request in ``state["requests"]``.

    Each request gets the task's recalled lessons (``state["lessons"]``). With no requests left
    (a step decided to stop) it routes to ``otherwise`` instead. Register it with both
    destinations: ``add_conditional_edges("prepare", fan_out, ["rollout", "select"])``.
    """

    node: str = "rollout"
    otherwise: str = "select"

    def __call__(self, state: ScaleState) -> list[Send] | str:
        requests = state.get("requests") or []
        if not requests:
            return self.otherwise
        lessons = list(state.get("lessons") or [])
        task = as_task(state.get("task"))
        return [
            Send(self.node, {"task": task, "request": r.model_copy(update={"lessons": lessons}) if lessons else r})
            for r in requests
        ]


fan_out = FanOut()
"""The default router: requests go to ``"rollout"``, and to ``"select"`` when there are none."""
