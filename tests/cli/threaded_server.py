"""The scripted OpenAI-compatible server of ``tests/llm`` on a thread of its own, so a CLI (which runs its
own event loop, or its own process) can talk to it from a test."""

from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "llm"))

from scripted_server import ScriptedServer  # noqa: E402


class ThreadedServer:
    """A ``ScriptedServer`` on a background event loop; ``call(fn)`` runs ``fn(server)`` on that loop."""

    def __init__(self, **options) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="scripted-server", daemon=True)
        self.thread.start()
        self.server = self._run(ScriptedServer(**options).start())

    def _run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    def call(self, fn):
        async def go():
            return fn(self.server)

        return self._run(go())

    @property
    def api_base(self) -> str:
        return self.server.api_base

    @property
    def requests(self) -> list:
        return self.call(lambda s: list(s.requests))

    def close(self) -> None:
        self._run(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()
