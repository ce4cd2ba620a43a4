"""A SQLite checkpointer that knows agentscale's state types.

LangGraph's serializer revives unregistered classes with a warning today and will block them in
strict mode; this one registers the types a scaled run stores (task, rollouts, verdicts...).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from agentscale.types import Candidate, Provenance, Rollout, RolloutRequest, Selection, Task, Usage, Verdict

__all__ = ["STATE_TYPES", "sqlite_checkpointer", "state_serializer"]

STATE_TYPES: tuple[type, ...] = (Task, Rollout, Usage, Provenance, Verdict, Selection, RolloutRequest, Candidate)
"""The classes a scaled run's checkpoints hold."""


def state_serializer(extra: tuple[type, ...] = ()) -> JsonPlusSerializer:
    """LangGraph's serializer with ``STATE_TYPES`` (and ``extra``) allowed to deserialize."""
    return JsonPlusSerializer(allowed_msgpack_modules=[*STATE_TYPES, *extra])


@asynccontextmanager
async def sqlite_checkpointer(
    path: str | Path, *, extra_types: tuple[type, ...] = ()
) -> AsyncIterator[object]:
    """Open an ``AsyncSqliteSaver`` on ``path`` (created if missing) for ``scale(checkpointer=...)``.

    Example:
        ``async with sqlite_checkpointer("runs.db") as saver: graph = scale(agent, checkpointer=saver)``
    """
    import aiosqlite
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    async with aiosqlite.connect(str(path)) as conn:
        saver = AsyncSqliteSaver(conn, serde=state_serializer(extra_types))
        await saver.setup()
        yield saver
