"""The SQLite schema, as append-only named migrations.

Never edit or reorder a migration that has shipped: add a new one at the end. Each runs once,
inside the transaction that records its name in ``_migrations``, so a crash mid-migration leaves
the old schema intact and the next open retries it.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable

from agentscale.memory._text import term_counts

__all__ = ["MIGRATIONS", "applied", "migrate"]

Migration = tuple[str, Callable[[sqlite3.Connection], None]]


def _m001_create_items(conn: sqlite3.Connection) -> None:
    conn.execute(
        """CREATE TABLE items (
            id TEXT PRIMARY KEY,
            title TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            content TEXT NOT NULL,
            kind TEXT NOT NULL DEFAULT 'strategy',
            query TEXT NOT NULL DEFAULT '',
            provenance TEXT NOT NULL DEFAULT '[]',
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )"""
    )


def _m002_usage_and_term_stats(conn: sqlite3.Connection) -> None:
    # Retrieval counts drive weights and eviction; term counts let BM25 load without re-tokenising.
    for column in (
        "uses INTEGER NOT NULL DEFAULT 0",
        "successes INTEGER NOT NULL DEFAULT 0",
        "failures INTEGER NOT NULL DEFAULT 0",
        "last_used_at REAL",
        "terms TEXT NOT NULL DEFAULT '{}'",
    ):
        conn.execute(f"ALTER TABLE items ADD COLUMN {column}")
    rows = conn.execute("SELECT id, query, title, description, content FROM items").fetchall()
    for item_id, *parts in rows:
        text = "\n".join(p for p in parts if p)
        conn.execute("UPDATE items SET terms = ? WHERE id = ?", (json.dumps(term_counts(text)), item_id))


def _m003_embeddings_and_change_log(conn: sqlite3.Connection) -> None:
    # Vectors live with their items. `rev` orders changes so every process can refresh its
    # in-memory index incrementally; deletions leave tombstones for the same reason.
    conn.execute("ALTER TABLE items ADD COLUMN embedding BLOB")
    conn.execute("ALTER TABLE items ADD COLUMN embedder TEXT")
    conn.execute("ALTER TABLE items ADD COLUMN rev INTEGER NOT NULL DEFAULT 1")
    conn.execute("CREATE INDEX items_rev ON items(rev)")
    conn.execute("CREATE TABLE tombstones (id TEXT PRIMARY KEY, rev INTEGER NOT NULL)")
    conn.execute("CREATE INDEX tombstones_rev ON tombstones(rev)")
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)")
    conn.execute("INSERT INTO meta (key, value) VALUES ('rev', 1)")


MIGRATIONS: list[Migration] = [
    ("m001_create_items", _m001_create_items),
    ("m002_usage_and_term_stats", _m002_usage_and_term_stats),
    ("m003_embeddings_and_change_log", _m003_embeddings_and_change_log),
]


def applied(conn: sqlite3.Connection) -> list[str]:
    """Names of the migrations already applied to this database, in order."""
    conn.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
    return [row[0] for row in conn.execute("SELECT name FROM _migrations ORDER BY rowid")]


def migrate(conn: sqlite3.Connection, migrations: list[Migration] | None = None) -> list[str]:
    """Apply the migrations not yet applied; returns their names.

    The connection must be in autocommit mode (``isolation_level=None``). Runs under
    ``BEGIN IMMEDIATE`` so processes opening a fresh bank at once migrate it exactly once.
    """
    todo = MIGRATIONS if migrations is None else migrations
    conn.execute("BEGIN IMMEDIATE")
    try:
        done = set(applied(conn))
        ran = []
        for name, step in todo:
            if name in done:
                continue
            step(conn)
            conn.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", (name, time.time()))
            ran.append(name)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return ran
