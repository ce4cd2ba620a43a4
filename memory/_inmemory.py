"""A store that lives in one process's memory: for tests, notebooks and throwaway runs."""

from __future__ import annotations

import time
from collections.abc import Sequence

from agentscale.errors import MemoryBankError
from agentscale.memory._index import BM25Index, VectorIndex
from agentscale.memory._item import MemoryItem, ScoredMemory
from agentscale.memory._text import term_counts, tokenize

__all__ = ["InMemoryMemoryStore"]


def _boost(item: MemoryItem) -> float:
    return 0.5 + item.weight


_ORDERS = {
    "recent": lambda it: (-it.created_at, it.id),
    "uses": lambda it: (-it.uses, -it.created_at, it.id),
    "weight": lambda it: (-it.weight, -it.uses, it.id),
}


class InMemoryMemoryStore:
    """A :class:`~agentscale.protocols.MemoryStore` in a dict; same ranking as the SQLite store.

    Example:
        >>> import asyncio
        >>> store = InMemoryMemoryStore()
        >>> asyncio.run(store.add([MemoryItem(title="t", content="sort the list first")]))
        >>> [m.item.title for m in asyncio.run(store.search("how to sort", k=1))]
        ['t']
    """

    def __init__(self) -> None:
        self._items: dict[str, MemoryItem] = {}
        self._bm25 = BM25Index()
        self._vectors = VectorIndex()

    async def __aenter__(self) -> InMemoryMemoryStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _index(self, item: MemoryItem) -> None:
        self._bm25.add(item.id, term_counts(item.index_text()), _boost(item))
        if item.embedding:
            self._vectors.add(item.id, item.embedding, _boost(item))
        else:
            self._vectors.remove(item.id)

    async def add(self, items: Sequence[MemoryItem]) -> None:
        """Insert or replace items by id."""
        for item in items:
            self._items[item.id] = item.model_copy(deep=True)
            self._index(self._items[item.id])

    async def get(self, item_id: str) -> MemoryItem | None:
        """The item with this id, or ``None``."""
        item = self._items.get(item_id)
        return item.model_copy(deep=True) if item else None

    async def ids_with_prefix(self, prefix: str, *, limit: int = 10) -> list[str]:
        """Ids that start with ``prefix``, at most ``limit`` of them, in order."""
        return sorted(i for i in self._items if i.startswith(prefix))[:limit]

    async def list(self, *, limit: int | None = None, order: str = "recent") -> list[MemoryItem]:
        """Items by ``"recent"``, ``"uses"`` or ``"weight"``."""
        if order not in _ORDERS:
            raise MemoryBankError(f"unknown order {order!r}; choose from {sorted(_ORDERS)}")
        ranked = sorted(self._items.values(), key=_ORDERS[order])
        return [it.model_copy(deep=True) for it in ranked[:limit]]

    async def search(
        self, query: str, *, k: int, embedding: Sequence[float] | None = None
    ) -> list[ScoredMemory]:
        """Top ``k`` by vector similarity when ``embedding`` is given, then BM25."""
        hits: list[ScoredMemory] = []
        if embedding is not None:
            for doc, score in self._vectors.search(embedding, k):
                hits.append(
                    ScoredMemory(item=self._items[doc].model_copy(deep=True), score=score, via="vector")
                )
        seen = {h.item.id for h in hits}
        for doc, score in self._bm25.search(tokenize(query), k + len(seen)):
            if doc not in seen and len(hits) < k:
                hits.append(
                    ScoredMemory(item=self._items[doc].model_copy(deep=True), score=score, via="bm25")
                )
        return hits

    async def record_use(self, item_ids: Sequence[str], *, passed: bool | None = None) -> None:
        """Count a retrieval (``passed=None``) or the outcome of the task the items were recalled for."""
        for item_id in dict.fromkeys(item_ids):
            item = self._items.get(item_id)
            if item is None:
                continue
            if passed is None:
                item.uses += 1
                item.last_used_at = time.time()
            elif passed:
                item.successes += 1
            else:
                item.failures += 1
            self._index(item)

    async def delete(self, item_ids: Sequence[str]) -> int:
        """Delete by id; returns how many existed."""
        gone = 0
        for item_id in dict.fromkeys(item_ids):
            if self._items.pop(item_id, None) is not None:
                gone += 1
                self._bm25.remove(item_id)
                self._vectors.remove(item_id)
        return gone

    async def evict(self, max_items: int) -> list[str]:
        """Delete the least useful items beyond ``max_items``."""
        if max_items < 0:
            raise MemoryBankError(f"max_items must be >= 0, got {max_items}")
        excess = len(self._items) - max_items
        if excess <= 0:
            return []
        ranked = sorted(
            self._items.values(), key=lambda it: (it.weight, it.last_used_at or it.created_at, it.uses)
        )
        ids = [it.id for it in ranked[:excess]]
        await self.delete(ids)
        return ids

    async def count(self) -> int:
        """How many items are held."""
        return len(self._items)

    async def aclose(self) -> None:
        """Nothing to release."""
