"""The memory bank: recall lessons before a task, remember new ones after it."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

from agentscale.errors import MemoryBankError
from agentscale.memory._distill import Distiller, JudgedRollout
from agentscale.memory._embed import SentenceEmbedder, embeddings_available
from agentscale.memory._item import MemoryItem, ScoredMemory
from agentscale.memory._sqlite import SQLiteMemoryStore
from agentscale.memory._text import jaccard
from agentscale.protocols import Embedder, MemoryStore, Model
from agentscale.types import Rollout, Task, Verdict

__all__ = ["MemoryBank", "task_outcome"]

log = logging.getLogger(__name__)


def task_outcome(judged: Sequence[JudgedRollout]) -> bool | None:
    """How a task ended: passed if any rollout passed, failed if every judged one failed, else unknown."""
    known = [j.passed for j in judged if j.passed is not None]
    if not known:
        return None
    return any(known)


def _lesson(item: MemoryItem) -> str:
    return f"{item.title}\n{item.description}\n{item.content}"


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    if len(a) != len(b):
        return 0.0
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / ((math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))) or 1.0)


class MemoryBank:
    """ReasoningBank-style memory over any :class:`~agentscale.protocols.MemoryStore`.

    Plain Python::

        async with await MemoryBank.open("memory.db") as bank:
            memories = await bank.recall(task, k=3)           # best matches, best first
            ...run the agent...
            await bank.remember(task, rollouts, verdicts, model)

    ``recall`` counts a use of each item it returns and remembers which task they were for, so
    ``remember`` for that task credits them with its outcome (items recalled for tasks that then
    fail lose weight). ``remember`` distils new items, merges near-duplicates into existing ones
    (adding provenance), and evicts the least useful items beyond ``max_items``.

    Args:
        store: where items live.
        embedder: makes vectors for retrieval; ``None`` means lexical (BM25) retrieval only.
        distiller: prompts and limits for distillation.
        max_items: size cap; the lowest-weight, least recently used items go first.
        duplicate_threshold: term-set overlap (Jaccard, 0-1) of two lessons' text above which they are merged.
        min_similarity: vector hits scoring below this are not recalled (lexical hits need a shared term).
    """

    def __init__(
        self,
        store: MemoryStore,
        *,
        embedder: Embedder | None = None,
        distiller: Distiller | None = None,
        max_items: int = 5000,
        duplicate_threshold: float = 0.6,
        min_similarity: float = 0.2,
    ) -> None:
        if max_items < 1:
            raise MemoryBankError(f"max_items must be >= 1, got {max_items}")
        self.store = store
        self.embedder = embedder
        self.distiller = distiller or Distiller()
        self.max_items = max_items
        self.duplicate_threshold = duplicate_threshold
        self.min_similarity = min_similarity
        self._recalled: dict[str, list[str]] = {}

    @classmethod
    async def open(
        cls, path: str | Path, *, embedder: Embedder | Literal["auto"] | None = "auto", **options: object
    ) -> MemoryBank:
        """A bank on the SQLite file at ``path`` (created and migrated as needed).

        Args:
            path: the database file.
            embedder: ``"auto"`` uses the local sentence model when the ``embeddings`` extra is
                installed and BM25 otherwise; ``None`` forces BM25.
            **options: passed to :class:`MemoryBank`.
        """
        if embedder == "auto":
            embedder = SentenceEmbedder() if embeddings_available() else None
        store = await SQLiteMemoryStore.open(path)
        return cls(store, embedder=embedder, **options)  # type: ignore[arg-type]

    async def __aenter__(self) -> MemoryBank:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the store."""
        await self.store.aclose()

    async def resolve_id(self, prefix: str) -> str:
        """The id of the one item whose id is ``prefix`` or starts with it (people type short ids).

        Raises:
            MemoryBankError: no item matches, or several do (the message lists them).
        """
        if not prefix:
            raise MemoryBankError("give a memory item id (or the start of one)")
        if await self.store.get(prefix) is not None:
            return prefix
        finder = getattr(self.store, "ids_with_prefix", None)
        if finder is not None:
            matches = await finder(prefix, limit=6)
        else:  # a store of someone else's without the fast path
            matches = sorted(it.id for it in await self.store.list() if it.id.startswith(prefix))[:6]
        if not matches:
            raise MemoryBankError(f"no memory item {prefix!r}")
        if len(matches) > 1:
            shown = ", ".join(matches[:5]) + (", ..." if len(matches) > 5 else "")
            raise MemoryBankError(f"{prefix!r} is the start of several ids ({shown}); give more of it")
        return matches[0]

    # -- retrieval ----------------------------------------------------------------------------

    async def search(self, query: str, k: int = 5) -> list[ScoredMemory]:
        """The ``k`` items most similar to ``query``, best first, without counting a use."""
        if k <= 0 or not query.strip():
            return []
        embedding = (await self.embedder.embed([query]))[0] if self.embedder else None
        hits = await self.store.search(query, k=k, embedding=embedding)
        return [h for h in hits if h.via == "bm25" or h.score >= self.min_similarity]

    async def recall(self, task: Task | str, k: int = 3) -> list[ScoredMemory]:
        """The ``k`` items most relevant to ``task``, best first; counts a use of each.

        Args:
            task: a :class:`~agentscale.types.Task` (its prompt is the query) or a query string.
            k: how many items at most.
        """
        if isinstance(task, Task):
            query = task.prompt
        else:
            query = task
        hits = await self.search(query, k)
        ids = [h.item.id for h in hits]
        if ids:
            await self.store.record_use(ids)
        if isinstance(task, Task):
            self._recalled[task.id] = ids
            if len(self._recalled) > 10_000:  # tasks never remembered must not pile up forever
                self._recalled.pop(next(iter(self._recalled)))
        return hits

    # -- writing ------------------------------------------------------------------------------

    async def remember(
        self,
        task: Task,
        rollouts: Sequence[Rollout],
        verdicts: Mapping[str, Verdict] | Sequence[Verdict] | None = None,
        model: Model | None = None,
        *,
        judge: Model | None = None,
        recalled: Sequence[str] | None = None,
    ) -> list[MemoryItem]:
        """Learn from a finished task: credit recalled items with its outcome, distil and store new items.

        Args:
            task: the task.
            rollouts: all its rollouts (more rollouts of one task give a contrastive prompt).
            verdicts: their verdicts; rollouts without one are judged by ``judge`` (or ``model``).
            model: writes the lessons; ``None`` only credits recalled items.
            judge: judges rollouts that have no verdict.
            recalled: ids of the items recalled for this task; defaults to those this bank's
                :meth:`recall` returned for ``task.id``.

        Returns:
            The stored items: new ones, and existing ones that absorbed a near-duplicate.
        """
        ids = list(recalled) if recalled is not None else self._recalled.pop(task.id, [])
        if model is None:
            judged = await self.distiller.judge(task, rollouts, verdicts, judge)
            items: list[MemoryItem] = []
        else:
            items, judged = await self.distiller.distill(task, rollouts, verdicts, model, judge=judge)
        outcome = task_outcome(judged)
        if outcome is not None and ids:
            await self.store.record_use(ids, passed=outcome)
        return await self.add(items) if items else []

    async def add(self, items: Sequence[MemoryItem], *, dedupe: bool = True) -> list[MemoryItem]:
        """Store items (with vectors from the embedder), merging near-duplicates, then apply the size cap.

        Returns:
            What was stored: each new item, or the existing item it was merged into.
        """
        items = [it.model_copy(deep=True) for it in items]
        if self.embedder is not None:
            missing = [it for it in items if not it.embedding or it.embedder != self.embedder.name]
            if missing:
                vectors = await self.embedder.embed([it.index_text() for it in missing])
                for it, vector in zip(missing, vectors, strict=True):
                    it.embedding, it.embedder = vector, self.embedder.name
        stored: dict[str, MemoryItem] = {}
        for item in items:
            target = await self._duplicate_of(item, list(stored.values())) if dedupe else None
            if target is None:
                stored[item.id] = item
            else:
                target.provenance.extend(item.provenance)
                target.updated_at = time.time()
                stored[target.id] = target
        await self.store.add(list(stored.values()))
        evicted = await self.store.evict(self.max_items)
        if evicted:
            log.info("memory bank over its cap of %d items: evicted %d", self.max_items, len(evicted))
        return [it for it in stored.values() if it.id not in set(evicted)]

    async def _duplicate_of(self, item: MemoryItem, pending: list[MemoryItem]) -> MemoryItem | None:
        hits = await self.store.search(_lesson(item), k=5, embedding=item.embedding)
        candidates = [*pending, *(h.item for h in hits if h.item.id != item.id)]
        for other in candidates:
            if jaccard(_lesson(item), _lesson(other)) >= self.duplicate_threshold:
                return other
            if item.embedding and other.embedding and other.embedder == item.embedder:
                if _cosine(item.embedding, other.embedding) >= 0.97:
                    return other
        return None

    # -- upkeep -------------------------------------------------------------------------------

    async def prune(self, *, max_items: int | None = None, min_weight: float | None = None) -> list[str]:
        """Delete items below ``min_weight`` (weight is in (0, 1); fresh items have 0.5), then
        evict down to ``max_items`` (default: the bank's cap). Returns the deleted ids."""
        gone: list[str] = []
        if min_weight is not None:
            low = [it.id for it in await self.store.list(order="weight") if it.weight < min_weight]
            await self.store.delete(low)
            gone.extend(low)
        gone.extend(await self.store.evict(self.max_items if max_items is None else max_items))
        return gone
