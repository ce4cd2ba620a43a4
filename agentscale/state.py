"""Graph state for scaling strategies: the state TypedDicts, their reducers, and progress events.

Every strategy graph shares one state shape, ``ScaleState``, so its nodes can be rewired into a
user's own ``StateGraph``. Keys that parallel branches write (``rollouts``, ``verdicts``) carry
reducers; the rest are plain last-value keys written by one node at a time.

Progress events are small ``TypedDict``s that nodes hand to ``runtime.stream_writer``; a UI reads
them from ``graph.astream(..., stream_mode=["updates", "custom"])``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Literal, TypedDict

from pydantic import BaseModel, Field

from agentscale.types import Rollout, Selection, Task, Verdict

__all__ = [
    "BudgetEvent",
    "GenerationEvent",
    "MemoryEvent",
    "ReflectEvent",
    "RolloutFinished",
    "RolloutInput",
    "RolloutStarted",
    "Sample",
    "ScaleEvent",
    "SelectedEvent",
    "ScaleState",
    "VerdictEvent",
    "VoteEvent",
    "merge_rollouts",
    "merge_verdicts",
]


class Sample(BaseModel):
    """The settings of one rollout: how it differs from its siblings.

    The rollout node hands these to the agent inside the task (see
    ``agentscale.strategies.task_for_sample``), so any agent sees the prompt variant, plan and
    feedback as text, and agents that sample a model read the seed, temperature and model name
    from ``task.metadata["sample"]``.

    Attributes:
        index: position of this rollout in the run (unique within one run).
        seed: sampling seed.
        temperature: sampling temperature, ``None`` for the agent's default.
        model: which model to use where the agent has several (ModelSwitch-style diversity).
        prompt_variant: an extra instruction that perturbs the prompt.
        plan: a natural-language plan to follow (PlanSearch-style diversity).
        feedback: text from earlier candidates (reflection, evolution) the agent should use.
        strategy: the step that asked for this rollout (``"sample"``, ``"reflect"``, ``"evolve"``).
        parents: ids of the rollouts this one derives from.
        generation: reflection round or evolution generation (0 for first samples).
    """

    index: int
    seed: int | None = None
    temperature: float | None = None
    model: str | None = None
    prompt_variant: str | None = None
    plan: str | None = None
    feedback: str | None = None
    strategy: str = "sample"
    parents: list[str] = Field(default_factory=list)
    generation: int = 0


def merge_rollouts(
    left: Sequence[Rollout] | None, right: Sequence[Rollout] | Rollout | None
) -> list[Rollout]:
    """Reducer for ``rollouts``: append new rollouts, replace ones whose id is already there.

    Replacing by id keeps a replayed write (a resumed run, a re-sent update) from counting a
    rollout twice, and lets a later step update a rollout in place.
    """
    merged = list(left or [])
    if right is None:
        return merged
    incoming = [right] if isinstance(right, Rollout) else list(right)
    where = {r.id: i for i, r in enumerate(merged)}
    for rollout in incoming:
        if rollout.id in where:
            merged[where[rollout.id]] = rollout
        else:
            where[rollout.id] = len(merged)
            merged.append(rollout)
    return merged


def merge_verdicts(
    left: Mapping[str, Verdict] | None, right: Mapping[str, Verdict] | None
) -> dict[str, Verdict]:
    """Reducer for ``verdicts`` (rollout id -> verdict): the newer verdict for an id wins."""
    return {**(left or {}), **(right or {})}


class ScaleState(TypedDict, total=False):
    """The state every strategy graph shares.

    Attributes:
        task: the problem (the only key a caller must give).
        samples: the next wave of rollouts to fan out; the planning node of each step writes it.
        rollouts: every rollout so far, in the order they finished (reducer: ``merge_rollouts``).
        verdicts: rollout id -> verdict (reducer: ``merge_verdicts``).
        selected: the final choice.
        round: the current wave, reflection round or evolution generation.
        stop_reason: why the strategy stopped sampling (``"settled"``, ``"target"``, ``"budget"``...).
        memories: ids of the lessons recalled for this task (``recall`` node; ``[]`` without a bank).
        remembered: ids of the lessons stored after it (``remember`` node); ``None`` until then.
    """

    task: Task
    samples: list[Sample]
    rollouts: Annotated[list[Rollout], merge_rollouts]
    verdicts: Annotated[dict[str, Verdict], merge_verdicts]
    selected: Selection | None
    round: int
    stop_reason: str | None
    memories: list[str]
    remembered: list[str] | None


class RolloutInput(TypedDict):
    """What one ``Send("rollout", ...)`` carries: the task and this rollout's sample."""

    task: Task
    sample: Sample


# ---- progress events (runtime.stream_writer payloads) ------------------------------------


class RolloutStarted(TypedDict):
    event: Literal["rollout_started"]
    task_id: str
    index: int
    strategy: str
    generation: int


class RolloutFinished(TypedDict):
    event: Literal["rollout_finished"]
    task_id: str
    index: int
    rollout_id: str
    status: str
    tokens: int
    seconds: float
    error: str | None


class VerdictEvent(TypedDict):
    event: Literal["verdict"]
    task_id: str
    rollout_id: str
    score: float
    passed: bool


class VoteEvent(TypedDict):
    event: Literal["vote"]
    task_id: str
    counts: dict[str, int]
    leader: str | None
    confidence: float
    settled: bool


class ReflectEvent(TypedDict):
    event: Literal["reflect"]
    task_id: str
    round: int
    revising: list[str]


class GenerationEvent(TypedDict):
    event: Literal["generation"]
    task_id: str
    generation: int
    best_score: float
    population: int
    duplicates: int


class BudgetEvent(TypedDict):
    event: Literal["budget"]
    task_id: str
    spent_tokens: int
    remaining: dict[str, float | None]
    exhausted: str | None


class MemoryEvent(TypedDict):
    event: Literal["memory"]
    task_id: str
    step: Literal["recall", "remember"]
    item_ids: list[str]
    error: str | None


class SelectedEvent(TypedDict):
    event: Literal["selected"]
    task_id: str
    rollout_id: str | None
    reason: str


ScaleEvent = (
    RolloutStarted
    | RolloutFinished
    | VerdictEvent
    | VoteEvent
    | ReflectEvent
    | GenerationEvent
    | BudgetEvent
    | MemoryEvent
    | SelectedEvent
)
"""Any progress event a strategy emits; ``event`` tells which."""
