"""One model server and the limits of talking to it, shared by every LLM pointed at it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from agentscale.errors import ConfigError

if TYPE_CHECKING:
    from agentscale.llm._litellm import Clients

__all__ = ["Endpoint"]


class Endpoint:
    """A model endpoint (``api_base``) with a concurrency limit and a pooled HTTP connection.

    Several :class:`~agentscale.llm.LLM` objects that talk to the same server should share one
    ``Endpoint``, so the limit holds for all of them together (e.g. a sampler and a judge on one
    llama.cpp server with 8 slots). An ``LLM`` given no endpoint makes its own.

    The limit and the connection pool belong to the event loop that uses them; using the
    endpoint from a new loop (a new ``asyncio.run``) starts a fresh pool.

    Example:
        ```python
        server = Endpoint("http://127.0.0.1:8080/v1", max_concurrency=8)
        sampler = LLM("hosted_vllm/qwen", endpoint=server, temperature=0.8)
        judge = LLM("hosted_vllm/qwen", endpoint=server, temperature=0.0)
        ```

    Args:
        api_base: the server's OpenAI-compatible base URL (``.../v1``), or ``None`` for a hosted
            provider's default (litellm then manages the HTTP clients).
        api_key: sent to the server; local servers need none.
        max_concurrency: requests in flight at once, across every LLM sharing this endpoint.
    """

    def __init__(
        self, api_base: str | None = None, *, api_key: str | None = None, max_concurrency: int = 16
    ) -> None:
        if max_concurrency < 1:
            raise ConfigError(f"max_concurrency must be >= 1, got {max_concurrency}")
        self.api_base = api_base.rstrip("/") if api_base else None
        self.api_key = api_key
        self.max_concurrency = max_concurrency
        self.in_flight = 0
        """Requests holding a slot right now."""
        self.peak_in_flight = 0
        """The most requests that held a slot at once since the endpoint was made."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._clients: Clients | None = None

    def __repr__(self) -> str:
        return f"Endpoint({self.api_base!r}, max_concurrency={self.max_concurrency})"

    def _bind(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # Semaphores and pooled connections cannot cross event loops.
            self._loop = loop
            self._semaphore = asyncio.Semaphore(self.max_concurrency)
            self._clients = None

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one of the endpoint's ``max_concurrency`` slots for the duration of a request."""
        if self._loop is not asyncio.get_running_loop():
            self._bind()
        async with self._semaphore:  # type: ignore[union-attr]
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            try:
                yield
            finally:
                self.in_flight -= 1

    def clients(self) -> Clients | None:
        """The pooled HTTP clients for this loop (importing litellm on first use); ``None``
        for hosted providers, whose clients litellm manages."""
        if self.api_base is None:
            return None
        if self._loop is not asyncio.get_running_loop():
            self._bind()
        if self._clients is None:
            from agentscale.llm._litellm import Clients

            self._clients = Clients(self.api_base, self.api_key, self.max_concurrency)
        return self._clients

    async def aclose(self) -> None:
        """Close the pooled connections (a later call opens new ones)."""
        clients, self._clients = self._clients, None
        if clients is not None and self._loop is asyncio.get_running_loop():
            await clients.aclose()

    async def __aenter__(self) -> Endpoint:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
