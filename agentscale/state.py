"""Graph state for scaling strategies: the state TypedDicts, their reducers, and progress events.

Every strategy graph shares one state shape, ``ScaleState``, so its nodes can be rewired into a
user's own ``StateGraph``. Keys that parallel branches write (``rollouts``, ``verdicts``) carry
reducers; the rest are plain last-value keys written by one node at a time.

**Your own state.** A graph that holds scale nodes, or a ``scale()`` graph as a subgraph node, must
declare those keys with the same reducers: subclass ``ScaleState``, or annotate your keys with
``Rollouts`` and ``Verdicts`` (``rollouts: Rollouts``). Plain ``list[Rollout]`` keys make LangGraph
reject the parallel writes (``InvalidUpdateError``).

Progress events are small ``TypedDict``s that nodes hand to ``runtime.stream_writer``; a UI reads
them from ``graph.astream(..., stream_mode=["updates", "custom"])``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, TypedDict

from agentscale.types import Rollout, RolloutRequest, Selection, Task, Verdict

__all__ = [
    "AgentEvent",
    "BudgetEvent",
    "GenerationEvent",
    "MemoryEvent",
    "ReflectEvent",
    "RolloutFinished",
    "RolloutInput",
    "RolloutStarted",
    "Rollouts",
    "ScaleEvent",
    "ScaleState",
    "SelectedEvent",
    "VerdictEvent",
    "Verdicts",
    "VoteEvent",
    "merge_rollouts",
    "merge_verdicts",
]


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


Rollouts = Annotated[list[Rollout], merge_rollouts]
"""The ``rollouts`` key's type with its reducer, for your own state schema."""

Verdicts = Annotated[dict[str, Verdict], merge_verdicts]
"""The ``verdicts`` key's type with its reducer, for your own state schema."""


class ScaleState(TypedDict, total=False):
    """The state every strategy graph shares.

    Attributes:
        task: the problem (the only key a caller must give; a str or a dict is made a ``Task`` by
            the first node).
        requests: the next wave of rollouts to fan out; the planning node of each step writes it.
        rollouts: every rollout so far, in the order they finished (reducer: ``merge_rollouts``).
        verdicts: rollout id -> verdict (reducer: ``merge_verdicts``).
        selected: the final choice.
        round: the current wave, reflection round or evolution generation.
        stop_reason: why the strategy stopped sampling (``"settled"``, ``"target"``, ``"budget"``...).
        lessons: the lessons recalled for this task, as text (``recall``); every request carries them.
        memories: ids of the lessons recalled for this task (``recall`` node; ``[]`` without a bank).
        remembered: ids of the lessons stored after it (``remember`` node); ``None`` until then.
    """

    task: Task
    requests: list[RolloutRequest]
    rollouts: Rollouts
    verdicts: Verdicts
    selected: Selection | None
    round: int
    stop_reason: str | None
    lessons: list[str]
    memories: list[str]
    remembered: list[str] | None


class RolloutInput(TypedDict):
    """What one ``Send("rollout", ...)`` carries: the task and this rollout's request."""

    task: Task
    request: RolloutRequest


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
    status: str
    reason: str


class AgentEvent(TypedDict):
    """What an agent reported through ``RolloutContext.emit`` (``data``), tagged with its rollout."""

    event: Literal["agent"]
    task_id: str
    index: int
    data: dict[str, Any]


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
    | AgentEvent
)
"""Any progress event a strategy emits; ``event`` tells which."""
