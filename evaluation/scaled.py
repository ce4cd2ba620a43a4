"""One workflow task solved with a strategy, recorded with full provenance: what ``agentscale run``,
its batches, ``agentscale chat`` and ``agentscale serve-strategy`` run for each task.

``ScaledRunner`` holds a workflow's parts (``WorkflowParts``) and the run's settings; it builds the
``scale()`` graph once (an unknown strategy, selector or option fails there, before any task
starts) and ``await runner.run(task)`` returns a ``TaskRecord``: every rollout's output, usage,
seed, temperature and verdict, the selection and why, the tokens of every inner call (judges and
selectors included: the run's budget counts them), the seconds, and the workflow's score of the
chosen answer where the task can be scored (hidden tests, an expected answer). Failures of the
model or the candidate are data in the record (``status``), never exceptions.

Example:
    ```python
    parts = registry.create("workflows", "chat").build(WorkflowEnv(model=llm))
    runner = ScaledRunner(parts, RunSettings(workflow="chat", strategy="majority", n=5, model=llm.model), model=llm)
    record = await runner.run(task, on_event=print)
    record.answer, record.reason, record.usage.total_tokens
    ```
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agentscale.budget import Budget
from agentscale.protocols import Model, SandboxProvider
from agentscale.rollout import verify_one
from agentscale.strategies import ScaleContext, make_selector, resolve_strategy, scale
from agentscale.types import Rollout, Task, Usage, Verdict
from agentscale.workflows import WorkflowParts

__all__ = ["RolloutRecord", "RunSettings", "ScaledRunner", "ScoreRecord", "TaskRecord"]

EventSink = Callable[[Mapping[str, Any]], None]


class RunSettings(BaseModel):
    """How tasks are scaled: everything a results line needs to say how it was made.

    Attributes:
        workflow: the workflow's registry name.
        strategy: a registered strategy's name.
        n: the strategy's ``n`` (``None``: its default).
        selector: a registered selector's name (``None``: the workflow's, else the strategy's).
        model: the model string the agent talks to.
        api_base: the endpoint, where one was given or started.
        options: the workflow's options (``-c key=value``).
        strategy_options: the strategy's other constructor arguments (JSON-able).
        max_tokens: the token budget of one task (every call: rollouts, judges, selectors).
        max_seconds: the wall-clock budget of one task.
        max_concurrency: rollouts of one task that run at once.
        rollout_timeout: seconds one rollout may take.
    """

    model_config = ConfigDict(extra="forbid")

    workflow: str
    strategy: str = "best_of_n"
    n: int | None = Field(default=None, ge=1)
    selector: str | None = None
    model: str = ""
    api_base: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    strategy_options: dict[str, Any] = Field(default_factory=dict)
    max_tokens: int | None = Field(default=None, ge=1)
    max_seconds: float | None = Field(default=None, gt=0)
    max_concurrency: int = Field(default=8, ge=1)
    rollout_timeout: float | None = Field(default=None, gt=0)


class ScoreRecord(BaseModel):
    """The workflow's scorer on the chosen answer (hidden tests, expected answer)."""

    passed: bool
    score: float
    feedback: str = ""


class RolloutRecord(BaseModel):
    """One rollout as a results line keeps it."""

    id: str
    index: int
    status: str
    output: str = ""
    answer: str | None = None
    error: str | None = None
    seed: int | None = None
    temperature: float | None = None
    model: str | None = None
    step: str | None = None
    """Which step made it: ``"sample"``, ``"reflect"``, ``"evolve"``, ``"synthesize"``..."""
    generation: int = 0
    parents: list[str] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    seconds: float = 0.0
    verdict: ScoreRecord | None = None
    tool_calls: list[dict[str, Any]] = Field(default_factory=list)
    trajectory: list[dict[str, Any]] = Field(default_factory=list)

    @classmethod
    def of(cls, rollout: Rollout, verdict: Verdict | None) -> RolloutRecord:
        """Build from a finished rollout and its verdict."""
        p = rollout.provenance
        return cls(
            id=rollout.id,
            index=int(rollout.metadata.get("index", 0)),
            status=rollout.status,
            output=rollout.output,
            answer=rollout.answer,
            error=rollout.error,
            seed=p.seed,
            temperature=p.temperature,
            model=p.model,
            step=p.strategy,
            generation=p.generation,
            parents=list(p.parents),
            usage=rollout.usage,
            seconds=float(rollout.metadata.get("seconds", rollout.usage.seconds)),
            verdict=_score(verdict) if verdict is not None else None,
            tool_calls=list(rollout.metadata.get("tool_calls") or []),
            trajectory=list(rollout.trajectory),
        )


class TaskRecord(BaseModel):
    """One task scaled: one line of a results file.

    ``status`` is the selection's (``"chosen"``, ``"none_passed"``, ``"none_ran"``) or ``"error"``
    when the run itself failed; a batch redoes ``"error"`` and ``"none_ran"`` tasks when resumed
    (nothing of theirs finished).
    """

    kind: Literal["run"] = "run"
    task_id: str
    prompt: str
    workflow: str
    strategy: str
    n: int | None
    selector: str | None
    model: str
    api_base: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    status: Literal["chosen", "none_passed", "none_ran", "error"]
    answer: str | None = None
    selected: str | None = None
    selected_index: int | None = None
    reason: str = ""
    stop_reason: str | None = None
    rollouts: list[RolloutRecord] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    """Every call of the task's run: rollouts, verifiers, selectors, judges (the run's budget)."""
    seconds: float = 0.0
    score: ScoreRecord | None = None
    """The workflow's scorer on the answer; ``None`` where the task cannot be scored."""
    error: str | None = None
    finished_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def finished(self) -> bool:
        """Something ran: a resumed batch keeps this line (``"error"`` and ``"none_ran"`` are redone)."""
        return self.status in ("chosen", "none_passed")

    @property
    def chosen(self) -> RolloutRecord | None:
        """The chosen rollout's record."""
        return next((r for r in self.rollouts if r.id == self.selected), None)


def _score(verdict: Verdict) -> ScoreRecord:
    return ScoreRecord(passed=verdict.passed, score=verdict.score, feedback=verdict.feedback)


class ScaledRunner:
    """Solves tasks of one workflow with one strategy, each into a ``TaskRecord``.

    Args:
        parts: the workflow's agent, verifier, scorer and selector (``Workflow.build``); its
            ``diversity`` goes to the strategy unless ``settings.strategy_options`` set one.
        settings: the strategy, its ``n`` and selector, budgets, and what the records say.
        model: the run's model (``ScaleContext.model``): LLM selectors, judges, reflection.
        sandboxes: leases sandboxes to agents that want one.
        memory: a memory bank (``ScaleContext.memory``) shared by every task this runner solves:
            lessons are recalled before each task and distilled after it.

    Raises:
        ConfigError: an unknown strategy or selector, or an option the strategy does not take.
    """

    def __init__(
        self,
        parts: WorkflowParts,
        settings: RunSettings,
        *,
        model: Model | None = None,
        sandboxes: SandboxProvider | None = None,
        memory: Any = None,
    ) -> None:
        self.parts = parts
        self.memory = memory
        self.settings = settings
        self.model = model
        self.sandboxes = sandboxes
        strategy = resolve_strategy(settings.strategy, settings.n, **settings.strategy_options)
        takes_diversity = dataclasses.is_dataclass(strategy) and hasattr(strategy, "diversity")
        if parts.diversity is not None and takes_diversity and "diversity" not in settings.strategy_options:
            # sample at the temperatures the workflow's prompt was measured with, unless the run chose its own
            strategy = dataclasses.replace(strategy, diversity=parts.diversity)
        self.n = settings.n if settings.n is not None else getattr(strategy, "n", None)
        selector = make_selector(settings.selector, model) if settings.selector else parts.selector
        self.selector_name = settings.selector or _name_of(parts.selector)
        self.graph = scale(parts.agent, strategy, verifier=parts.verifier, selector=selector)

    def context(self) -> ScaleContext:
        """A fresh context (and budget) for one task."""
        s = self.settings
        return ScaleContext(
            model=self.model,
            sandboxes=self.sandboxes,
            memory=self.memory,
            budget=Budget(max_tokens=s.max_tokens, max_seconds=s.max_seconds),
            max_concurrency=s.max_concurrency,
            rollout_timeout=s.rollout_timeout,
        )

    async def run(self, task: Task, *, on_event: EventSink | None = None) -> TaskRecord:
        """Scale ``task`` and record it (see ``TaskRecord``); events stream to ``on_event`` as they come.

        Raises:
            asyncio.CancelledError: the caller cancelled the run (its model requests are closed).
        """
        ctx = self.context()
        state: Mapping[str, Any] = {}
        started = time.monotonic()
        async for mode, chunk in self.graph.astream({"task": task}, context=ctx, stream_mode=["custom", "values"]):
            if mode == "custom":
                if on_event is not None:
                    on_event(chunk)
            else:
                state = chunk
        seconds = time.monotonic() - started
        return await self._record(task, state, ctx.budget.spent, seconds)

    async def _record(self, task: Task, state: Mapping[str, Any], usage: Usage, seconds: float) -> TaskRecord:
        s = self.settings
        rollouts = sorted(state.get("rollouts") or [], key=lambda r: int(r.metadata.get("index", 0)))
        verdicts = dict(state.get("verdicts") or {})
        selection = state.get("selected")
        chosen = None
        if selection is not None and selection.rollout_id is not None:
            chosen = next((r for r in rollouts if r.id == selection.rollout_id), None)
        score = await self._score(task, chosen) if chosen is not None and chosen.ok else None
        return TaskRecord(
            task_id=task.id,
            prompt=task.prompt,
            workflow=s.workflow,
            strategy=s.strategy,
            n=self.n,
            selector=self.selector_name,
            model=s.model,
            api_base=s.api_base,
            options=dict(s.options),
            status=selection.status if selection is not None else "none_ran",
            answer=chosen.output if chosen is not None else None,
            selected=chosen.id if chosen is not None else None,
            selected_index=int(chosen.metadata.get("index", 0)) if chosen is not None else None,
            reason=selection.reason if selection is not None else "the run stopped before selecting",
            stop_reason=state.get("stop_reason"),
            rollouts=[RolloutRecord.of(r, verdicts.get(r.id)) for r in rollouts],
            usage=usage,
            seconds=round(seconds, 3),
            score=score,
            error=_first_error(rollouts) if selection is None or selection.status == "none_ran" else None,
        )

    async def _score(self, task: Task, chosen: Rollout) -> ScoreRecord | None:
        scorer = self.parts.scorer
        if scorer is None:
            return None
        verdict = await verify_one(scorer, task, chosen)
        # A task without hidden tests or an expected answer cannot be scored: no score, not a fail.
        if verdict.evidence.get("no_checks") or verdict.evidence.get("verifier_error"):
            return None
        return _score(verdict)


def _first_error(rollouts: list[Rollout]) -> str | None:
    return next((r.error for r in rollouts if r.error), None) or (None if rollouts else "no rollout ran")


def _name_of(selector: Any) -> str | None:
    if selector is None or isinstance(selector, str):
        return selector
    return getattr(selector, "name", None) or type(selector).__name__
