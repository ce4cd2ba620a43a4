"""The embedded default store: one SQLite file, safe with several processes writing at once.

Why it holds up:

* WAL journal: readers never block the writer, and a process killed mid-write leaves the last
  committed state (the torn transaction is simply not in the log).
* Every write is one ``BEGIN IMMEDIATE`` transaction: it takes the write lock up front, so two
  writers wait for each other (``busy_timeout``) instead of failing on a lock upgrade.
* Each process keeps an in-memory search index (BM25 and vectors) mirrored from the table.
  Writes stamp rows with a monotonically increasing ``rev`` (deletions leave tombstones), and
  ``PRAGMA data_version`` says cheaply when another connection committed, so refreshing the
  index reads only what changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import threading
import time
from array import array
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from agentscale.errors import MemoryBankError
from agentscale.memory._index import BM25Index, VectorIndex, _np
from agentscale.memory._item import MemoryItem, ScoredMemory
from agentscale.memory._migrations import migrate
from agentscale.memory._text import term_counts, tokenize

__all__ = ["SQLiteMemoryStore"]

_COLUMNS = (
    "id, title, description, content, kind, query, provenance, created_at, updated_at, "
    "uses, successes, failures, last_used_at, embedding, embedder"
)
_ORDERS = {
    "recent": "created_at DESC, id",
    "uses": "uses DESC, created_at DESC, id",
    "weight": "(1.0 + successes) / (2.0 + successes + failures) DESC, uses DESC, id",
}
# Lowest value first: weight, then least recently used (new items count as just used), then fewest uses.
_EVICTION_ORDER = (
    "(1.0 + successes) / (2.0 + successes + failures) ASC, COALESCE(last_used_at, created_at) ASC, uses ASC"
)


def _boost(successes: int, failures: int) -> float:
    # Relevance decides; the weight only nudges: a fresh item gets 1.0, a proven one up to 1.5.
    return 0.5 + (1 + successes) / (2 + successes + failures)


def _vector(blob: bytes) -> Sequence[float]:
    if _np is not None:  # no per-float Python objects: loading 100k vectors stays fast
        return _np.frombuffer(blob, dtype=_np.float32)
    vector = array("f")
    vector.frombytes(blob)
    return vector


def _row_to_item(row: sqlite3.Row | tuple) -> MemoryItem:
    (item_id, title, description, content, kind, query, provenance, created_at, updated_at,
     uses, successes, failures, last_used_at, embedding, embedder) = row  # fmt: skip
    vector = None
    if embedding is not None:
        buf = array("f")
        buf.frombytes(embedding)
        vector = buf.tolist()
    return MemoryItem(
        id=item_id, title=title, description=description, content=content, kind=kind, query=query,
        provenance=json.loads(provenance), created_at=created_at, updated_at=updated_at, uses=uses,
        successes=successes, failures=failures, last_used_at=last_used_at, embedding=vector,
        embedder=embedder,
    )  # fmt: skip


class SQLiteMemoryStore:
    """A :class:`~agentscale.protocols.MemoryStore` in one SQLite file.

    Open it with ``await SQLiteMemoryStore.open(path)`` (creates and migrates the file) and close
    it with ``await store.aclose()``, or use ``async with``. Calls run in a worker thread; one
    connection per store, used by one thread at a time.

    Args:
        path: the database file; its folder is created on open.
        busy_timeout: seconds a writer waits for another process's write lock before failing.
    """

    def __init__(self, path: str | Path, *, busy_timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._bm25 = BM25Index()
        self._vectors = VectorIndex()
        self._index_rev = 0
        self._data_version: int | None = None
        self._dirty = True

    @classmethod
    async def open(cls, path: str | Path, *, busy_timeout: float = 30.0) -> SQLiteMemoryStore:
        """Open (creating and migrating as needed) the bank at ``path``.

        Raises:
            MemoryBankError: the file cannot be opened or is not a memory bank.
        """
        store = cls(path, busy_timeout=busy_timeout)
        await asyncio.to_thread(store._open)
        return store

    async def __aenter__(self) -> SQLiteMemoryStore:
        if self._conn is None:
            await asyncio.to_thread(self._open)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- plumbing ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _translate(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise MemoryBankError(f"memory bank {self.path}: {exc}") from exc

    def _open(self) -> None:
        with self._translate():
            if str(self.path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
            )
            try:
                conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
                self._retry_locked(lambda: conn.execute("PRAGMA journal_mode = WAL"))
                # NORMAL in WAL mode survives any process crash; only an OS crash can drop the last commit.
                conn.execute("PRAGMA synchronous = NORMAL")
                migrate(conn)
            except BaseException:
                conn.close()
                raise
            self._conn = conn

    def _retry_locked(self, fn: Any) -> Any:
        # Switching to WAL takes an exclusive lock that the busy handler does not always wait for.
        deadline = time.monotonic() + self.busy_timeout
        while True:
            try:
                return fn()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.to_thread(self._locked, fn, *args)

    def _locked(self, fn: Any, *args: Any) -> Any:
        with self._lock, self._translate():
            if self._conn is None:
                raise MemoryBankError(f"memory bank {self.path} is closed")
            return fn(self._conn, *args)

    @contextlib.contextmanager
    def _write(self, conn: sqlite3.Connection) -> Iterator[int]:
        """One write transaction; yields the new revision number for the rows it touches."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            (rev,) = conn.execute(
                "UPDATE meta SET value = value + 1 WHERE key = 'rev' RETURNING value"
            ).fetchone()
            yield rev
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        finally:
            self._dirty = True

    # -- writes -----------------------------------------------------------------------------

    async def add(self, items: Sequence[MemoryItem]) -> None:
        """Insert or replace ``items`` (matched by id) in one transaction."""
        if items:
            await self._run(self._add, list(items))

    def _add(self, conn: sqlite3.Connection, items: list[MemoryItem]) -> None:
        with self._write(conn) as rev:
            conn.executemany(
                f"INSERT OR REPLACE INTO items ({_COLUMNS}, terms, rev) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        it.id,
                        it.title,
                        it.description,
                        it.content,
                        it.kind,
                        it.query,
                        json.dumps([p.model_dump(mode="json") for p in it.provenance]),
                        it.created_at,
                        it.updated_at,
                        it.uses,
                        it.successes,
                        it.failures,
                        it.last_used_at,
                        array("f", it.embedding).tobytes() if it.embedding else None,
                        it.embedder if it.embedding else None,
                        json.dumps(term_counts(it.index_text())),
                        rev,
                    )  # fmt: skip
                    for it in items
                ],
            )
            conn.executemany("DELETE FROM tombstones WHERE id = ?", [(it.id,) for it in items])

    async def record_use(self, item_ids: Sequence[str], *, passed: bool | None = None) -> None:
        """Count a retrieval (``passed=None``) or the outcome of the task the items were recalled for."""
        if item_ids:
            await self._run(self._record_use, list(dict.fromkeys(item_ids)), passed)

    def _record_use(self, conn: sqlite3.Connection, ids: list[str], passed: bool | None) -> None:
        marks = ",".join("?" * len(ids))
        if passed is None:
            # Use counts do not change ranking, so they need no new revision (no index refresh).
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(
                    f"UPDATE items SET uses = uses + 1, last_used_at = ? WHERE id IN ({marks})",
                    [time.time(), *ids],
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return
        column = "successes" if passed else "failures"
        with self._write(conn) as rev:
            conn.execute(
                f"UPDATE items SET {column} = {column} + 1, rev = ? WHERE id IN ({marks})", [rev, *ids]
            )

    async def delete(self, item_ids: Sequence[str]) -> int:
        """Delete items by id; returns how many existed."""
        if not item_ids:
            return 0
        return await self._run(self._delete, list(dict.fromkeys(item_ids)))

    def _delete(self, conn: sqlite3.Connection, ids: list[str]) -> int:
        with self._write(conn) as rev:
            return self._delete_in(conn, ids, rev)

    @staticmethod
    def _delete_in(conn: sqlite3.Connection, ids: list[str], rev: int) -> int:
        gone = 0
        for start in range(0, len(ids), 500):  # stay under SQLite's bound-parameter limit
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            gone += conn.execute(f"DELETE FROM items WHERE id IN ({marks})", chunk).rowcount
        conn.executemany("INSERT OR REPLACE INTO tombstones (id, rev) VALUES (?, ?)", [(i, rev) for i in ids])
        return gone

    async def evict(self, max_items: int) -> list[str]:
        """Delete the least useful items beyond ``max_items``; returns their ids."""
        if max_items < 0:
            raise MemoryBankError(f"max_items must be >= 0, got {max_items}")
        return await self._run(self._evict, max_items)

    def _evict(self, conn: sqlite3.Connection, max_items: int) -> list[str]:
        with self._write(conn) as rev:
            (n,) = conn.execute("SELECT COUNT(*) FROM items").fetchone()
            if n <= max_items:
                return []
            ids = [
                r[0]
                for r in conn.execute(
                    f"SELECT id FROM items ORDER BY {_EVICTION_ORDER} LIMIT ?", (n - max_items,)
                )
            ]
            self._delete_in(conn, ids, rev)
            return ids

    # -- reads ------------------------------------------------------------------------------

    async def get(self, item_id: str) -> MemoryItem | None:
        """The item with this id, or ``None``."""
        rows = await self._run(self._fetch, [item_id])
        return rows.get(item_id)

    def _fetch(self, conn: sqlite3.Connection, ids: list[str]) -> dict[str, MemoryItem]:
        marks = ",".join("?" * len(ids))
        rows = conn.execute(f"SELECT {_COLUMNS} FROM items WHERE id IN ({marks})", ids).fetchall()
        return {row[0]: _row_to_item(row) for row in rows}

    async def ids_with_prefix(self, prefix: str, *, limit: int = 10) -> list[str]:
        """Ids that start with ``prefix``, at most ``limit`` of them, in order."""
        return await self._run(self._ids_with_prefix, prefix, limit)

    def _ids_with_prefix(self, conn: sqlite3.Connection, prefix: str, limit: int) -> list[str]:
        # A range on the primary key instead of LIKE: no wildcard to escape, and the index is used.
        rows = conn.execute(
            "SELECT id FROM items WHERE id >= ? AND id < ? ORDER BY id LIMIT ?", (prefix, prefix + "\U0010ffff", limit)
        )
        return [r[0] for r in rows]

    async def list(self, *, limit: int | None = None, order: str = "recent") -> list[MemoryItem]:
        """Items ordered by ``"recent"``, ``"uses"`` or ``"weight"``, at most ``limit`` of them."""
        if order not in _ORDERS:
            raise MemoryBankError(f"unknown order {order!r}; choose from {sorted(_ORDERS)}")
        return await self._run(self._list, limit, order)

    def _list(self, conn: sqlite3.Connection, limit: int | None, order: str) -> list[MemoryItem]:
        sql = f"SELECT {_COLUMNS} FROM items ORDER BY {_ORDERS[order]} LIMIT ?"
        return [_row_to_item(r) for r in conn.execute(sql, (-1 if limit is None else limit,))]

    async def count(self) -> int:
        """How many items the bank holds."""
        return await self._run(lambda conn: conn.execute("SELECT COUNT(*) FROM items").fetchone()[0])

    async def search(
        self, query: str, *, k: int, embedding: Sequence[float] | None = None
    ) -> list[ScoredMemory]:
        """Top ``k`` items for ``query``: by cosine similarity to ``embedding`` over items that have
        vectors, then lexical (BM25) hits among the rest; scores are multiplied by a weight boost."""
        return await self._run(self._search, query, k, embedding)

    def _search(
        self, conn: sqlite3.Connection, query: str, k: int, embedding: Sequence[float] | None
    ) -> list[ScoredMemory]:
        self._refresh(conn)
        hits: list[tuple[str, float, str]] = []
        if embedding is not None:
            hits = [(doc, score, "vector") for doc, score in self._vectors.search(embedding, k)]
        if len(hits) < k:
            seen = {doc for doc, _, _ in hits}
            for doc, score in self._bm25.search(tokenize(query), k + len(seen)):
                if doc not in seen and len(hits) < k:
                    hits.append((doc, score, "bm25"))
        if not hits:
            return []
        items = self._fetch(conn, [doc for doc, _, _ in hits])
        return [ScoredMemory(item=items[d], score=s, via=via) for d, s, via in hits if d in items]

    def _refresh(self, conn: sqlite3.Connection) -> None:
        (version,) = conn.execute("PRAGMA data_version").fetchone()
        if not self._dirty and version == self._data_version:
            return
        conn.execute("BEGIN")  # one snapshot for the whole refresh
        try:
            (rev,) = conn.execute("SELECT value FROM meta WHERE key = 'rev'").fetchone()
            if rev != self._index_rev:
                for (doc,) in conn.execute("SELECT id FROM tombstones WHERE rev > ?", (self._index_rev,)):
                    self._bm25.remove(doc)
                    self._vectors.remove(doc)
                rows = conn.execute(
                    "SELECT id, terms, embedding, successes, failures FROM items WHERE rev > ?",
                    (self._index_rev,),
                ).fetchall()
                boosts = [_boost(successes, failures) for _, _, _, successes, failures in rows]
                self._bm25.add_many(
                    (row[0], json.loads(row[1]), b) for row, b in zip(rows, boosts, strict=True)
                )
                vectors = []
                for (doc, _, embedding, _, _), boost in zip(rows, boosts, strict=True):
                    if embedding is not None:
                        vectors.append((doc, _vector(embedding), boost))
                    else:
                        self._vectors.remove(doc)
                self._vectors.add_many(vectors)
                self._index_rev = rev
        finally:
            conn.execute("COMMIT")
        self._data_version = version
        self._dirty = False

    async def aclose(self) -> None:
        """Close the connection (idempotent)."""
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
