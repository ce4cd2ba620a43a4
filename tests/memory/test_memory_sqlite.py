"""The SQLite store on real files: several processes at once, a SIGKILL mid-write, old schemas."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from agentscale.errors import MemoryBankError
from agentscale.memory import MemoryItem, SQLiteMemoryStore
from agentscale.memory._migrations import MIGRATIONS

_WRITER = """
import asyncio, sys
from agentscale.memory import MemoryItem, SQLiteMemoryStore

async def main(db, n, tag, batch):
    store = await SQLiteMemoryStore.open(db)
    i = 0
    while n < 0 or i < n:
        items = [MemoryItem(id=f"{tag}-{i + j}", title=f"{tag} lesson {i + j}",
                            content=f"remember {tag} number {i + j} " + "padding " * 200)
                 for j in range(batch)]
        await store.add(items)
        i += batch
        if i % 40 == 0:
            await store.search(f"{tag} lesson", k=3)  # readers and writers interleave
        if i == batch:
            print("first commit", flush=True)
    await store.aclose()

asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])))
"""


def _spawn(db, n: int, tag: str, batch: int = 1) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(db), str(n), tag, str(batch)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _integrity(db) -> str:
    with sqlite3.connect(db) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


@pytest.mark.slow
async def test_four_processes_writing_at_once_lose_nothing(tmp_path):
    db = tmp_path / "bank.db"  # fresh: the processes also race to create and migrate it
    procs = [_spawn(db, 200, f"p{i}") for i in range(4)]
    for proc in procs:
        _, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
    store = await SQLiteMemoryStore.open(db)
    try:
        assert await store.count() == 800
        ids = {it.id for it in await store.list()}
        assert ids == {f"p{p}-{i}" for p in range(4) for i in range(200)}
        hits = await store.search("p2 number 117", k=1)
        assert hits[0].item.id == "p2-117"
    finally:
        await store.aclose()
    assert _integrity(db) == "ok"
    with sqlite3.connect(db) as conn:
        applied = [r[0] for r in conn.execute("SELECT name FROM _migrations")]
    assert applied == [name for name, _ in MIGRATIONS]  # each migration ran exactly once


@pytest.mark.slow
async def test_sigkill_in_the_middle_of_writes_leaves_a_readable_bank(tmp_path):
    db = tmp_path / "bank.db"
    batch = 100
    for round_ in range(3):
        proc = _spawn(db, -1, f"k{round_}", batch)  # writes batches until killed
        assert proc.stdout.readline().strip() == "first commit"
        time.sleep(0.3 + 0.17 * round_)  # land somewhere inside a later transaction
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()
        assert proc.returncode == -signal.SIGKILL
        assert _integrity(db) == "ok"
        store = await SQLiteMemoryStore.open(db)
        try:
            n = await store.count()
            # every transaction is a whole batch: none is half there
            assert n >= batch * (round_ + 1) and n % batch == 0, n
            assert (await store.search(f"k{round_} lesson", k=1))[0].item.id.startswith(f"k{round_}-")
            await store.add([MemoryItem(id=f"after-{round_}", title="after", content="still writable")])
            assert await store.count() == n + 1
            await store.delete([f"after-{round_}"])
        finally:
            await store.aclose()


# The schema as m001_create_items left it, frozen here on purpose: this is what an old bank looks like.
_SCHEMA_V1 = """
CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL);
INSERT INTO _migrations VALUES ('m001_create_items', 1700000000.0);
CREATE TABLE items (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    content TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT 'strategy',
    query TEXT NOT NULL DEFAULT '',
    provenance TEXT NOT NULL DEFAULT '[]',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
INSERT INTO items VALUES ('old1', 'Sort intervals first', 'merging ranges',
    'Sort intervals by start before merging overlaps.', 'strategy', 'merge overlapping intervals',
    '[{"task_id": "t9", "rollout_ids": ["r1"], "outcome": "success",' ||
    ' "created_at": 1700000000.0, "model": null}]',
    1700000000.0, 1700000000.0);
INSERT INTO items VALUES ('old2', 'Beware empty input', '', 'Return None for an empty list.', 'pitfall', '',
    '[]', 1700000001.0, 1700000001.0);
"""


async def test_oldest_schema_is_migrated_and_keeps_its_items(tmp_path):
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(_SCHEMA_V1)
    store = await SQLiteMemoryStore.open(db)
    try:
        old = await store.get("old1")
        assert old.title == "Sort intervals first"
        assert old.provenance[0].task_id == "t9"
        assert (old.uses, old.successes, old.failures, old.embedding) == (0, 0, 0, None)
        # term stats were backfilled, so the old items are searchable
        assert [h.item.id for h in await store.search("overlapping intervals", k=2)] == ["old1"]
        assert [h.item.id for h in await store.search("empty list", k=2)] == ["old2"]
        await store.record_use(["old2"], passed=False)
        await store.add([MemoryItem(id="new", title="new", content="x", embedding=[1.0], embedder="e")])
        assert (await store.get("old2")).failures == 1
        assert (await store.get("new")).embedding == [1.0]
    finally:
        await store.aclose()
    with sqlite3.connect(db) as conn:
        applied = [r[0] for r in conn.execute("SELECT name FROM _migrations ORDER BY rowid")]
    assert applied == [name for name, _ in MIGRATIONS]
    assert _integrity(db) == "ok"


async def test_reopening_a_current_bank_runs_no_migration(tmp_path):
    db = tmp_path / "bank.db"
    await (await SQLiteMemoryStore.open(db)).aclose()
    with sqlite3.connect(db) as conn:
        before = conn.execute("SELECT name, applied_at FROM _migrations").fetchall()
    await (await SQLiteMemoryStore.open(db)).aclose()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT name, applied_at FROM _migrations").fetchall() == before
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_another_process_writes_are_seen_by_an_open_store(tmp_path):
    db = tmp_path / "bank.db"
    reader = await SQLiteMemoryStore.open(db)
    writer = await SQLiteMemoryStore.open(db)  # a second connection behaves as another process does
    try:
        await writer.add([MemoryItem(id="a", title="alpha", content="zebra crossing")])
        assert [h.item.id for h in await reader.search("zebra", k=1)] == ["a"]
        await writer.record_use(["a"], passed=True)
        await writer.delete(["a"])
        assert await reader.search("zebra", k=1) == []
    finally:
        await reader.aclose()
        await writer.aclose()


async def test_not_a_database_is_a_clear_error(tmp_path):
    db = tmp_path / "junk.db"
    db.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(MemoryBankError, match="junk.db"):
        await SQLiteMemoryStore.open(db)


async def test_closed_store_raises_ours(tmp_path):
    store = await SQLiteMemoryStore.open(tmp_path / "b.db")
    await store.aclose()
    await store.aclose()  # idempotent
    with pytest.raises(MemoryBankError, match="closed"):
        await store.count()


async def test_concurrent_tasks_in_one_process(tmp_path):
    store = await SQLiteMemoryStore.open(tmp_path / "b.db")
    try:
        await asyncio.gather(*(
            store.add([MemoryItem(id=f"t{i}", title=f"t{i}", content=f"c{i}")]) for i in range(50)
        ))  # fmt: skip
        assert await store.count() == 50
    finally:
        await store.aclose()
