"""Fixtures for the memory bank tests: every store backend, on a real SQLite file where it is SQLite."""

from __future__ import annotations

import pytest

from agentscale.memory import InMemoryMemoryStore, SQLiteMemoryStore


@pytest.fixture(params=["inmemory", "sqlite"])
async def store(request, tmp_path):
    if request.param == "inmemory":
        backend = InMemoryMemoryStore()
    else:
        backend = await SQLiteMemoryStore.open(tmp_path / "bank.db")
    yield backend
    await backend.aclose()
