"""Shared fixtures. Real-server fixtures (model server, Docker engine) live beside the tests
that need them and are session-scoped so the suite starts each server once."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _clean_environ(monkeypatch):
    # Our own env vars must never leak from the developer's shell into a test.
    for key in list(os.environ):
        if key.startswith("AGENTSCALE_") and key != "AGENTSCALE_CACHE":
            monkeypatch.delenv(key)


@pytest.fixture(scope="session")
def llama_server():
    """The real embedded llama.cpp server (Qwen2.5-Coder-0.5B, 8 slots, 16384 tokens of context),
    started once for the whole run. On a fresh machine it first builds llama-server and assembles
    the model (minutes; cached in ``$AGENTSCALE_CACHE`` or ``~/.cache/agentscale``). Never skipped:
    if it cannot start, the tests that use it fail. Yields the started ``LlamaCppServer``
    (``.api_base``, ``.base_url``, ``.model``, ``.profile``).

    It runs on an event loop of its own, in a thread that lives as long as the server, so sync and
    async tests can both use it (and the server's parent-death signal, tied to the thread that
    started it, fires only when the run ends).
    """
    from agentscale.servers import LlamaCppServer

    cache = os.environ.get("AGENTSCALE_CACHE")
    server = LlamaCppServer(
        parallel=8, ctx_size=16384, reuse=False, startup_timeout=300, cache_dir=Path(cache) if cache else None
    )
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="llama-server-loop", daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(server.start(), loop).result()
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(timeout=60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
