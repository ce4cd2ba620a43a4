"""One model server and the limits of talking to it, shared by every LLM pointed at it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import httpx

from agentscale.errors import ConfigError
from agentscale.llm._sse import Connections

if TYPE_CHECKING:
    from agentscale.llm._litellm import Clients

__all__ = ["Endpoint", "RecoverableServer"]


@runtime_checkable
class RecoverableServer(Protocol):
    """A server an :class:`Endpoint` can ask to come back after a connection to it failed.

    :class:`agentscale.servers.ManagedServer` is one: it restarts a server process that died, at
    most ``max_restarts`` times.
    """

    @property
    def api_base(self) -> str:
        """Where the server listens now (a restart may move it)."""
        ...

    @property
    def restarts(self) -> int:
        """How many times the server was restarted so far."""
        ...

    async def recover(self, seen_restarts: int) -> bool:
        """Bring the server back if it died; called after a connection to it failed.

        Args:
            seen_restarts: ``restarts`` as it was when the failed request was sent.

        Returns:
            ``True`` when the server was restarted since then (send the request again),
            ``False`` when it is running (the failure was something else).

        Raises:
            ServerError: it died and may not be restarted again (names the server and its log).
        """
        ...


class Endpoint:
    """A model endpoint (``api_base``) with a concurrency limit and a pooled HTTP connection.

    Several :class:`~agentscale.llm.LLM` objects that talk to the same server should share one
    ``Endpoint``, so the limit holds for all of them together (e.g. a sampler and a judge on one
    llama.cpp server with 8 slots). An ``LLM`` given no endpoint makes its own.

    An endpoint made by a managed server (``srv.endpoint()``) knows its server: when a request
    fails because the connection failed, it asks the server to recover, and a server that died is
    restarted once (for every caller at once) and the request sent again.

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
            provider's default (litellm then manages the HTTP clients). Ignored with ``server``.
        api_key: sent to the server; local servers need none.
        max_concurrency: requests in flight at once, across every LLM sharing this endpoint.
        server: the managed server behind this endpoint, which can be restarted when it dies.
    """

    def __init__(
        self,
        api_base: str | None = None,
        *,
        api_key: str | None = None,
        max_concurrency: int = 16,
        server: RecoverableServer | None = None,
    ) -> None:
        if max_concurrency < 1:
            raise ConfigError(f"max_concurrency must be >= 1, got {max_concurrency}")
        # Checked on the type: a server's api_base raises until it is started.
        if server is not None and not all(hasattr(type(server), a) for a in ("api_base", "restarts", "recover")):
            raise ConfigError(f"server must have api_base, restarts and recover(), got {server!r}")
        self._api_base = api_base.rstrip("/") if api_base else None
        self.api_key = api_key
        self.max_concurrency = max_concurrency
        self.server = server
        self.in_flight = 0
        """Requests holding a slot right now."""
        self.peak_in_flight = 0
        """The most requests that held a slot at once since the endpoint was made."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._http: httpx.AsyncClient | None = None
        self._streams: Connections | None = None
        self._clients: Clients | None = None

    def __repr__(self) -> str:
        where = repr(self.server) if self.server is not None else repr(self._api_base)
        return f"Endpoint({where}, max_concurrency={self.max_concurrency})"

    @property
    def api_base(self) -> str | None:
        """The base URL requests go to (a managed server's current one)."""
        if self.server is not None:
            return self.server.api_base.rstrip("/")
        return self._api_base

    def _bind(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # Semaphores and pooled connections cannot cross event loops.
            self._loop = loop
            self._semaphore = asyncio.Semaphore(self.max_concurrency)
            self._http = None
            self._streams = None
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

    def http(self) -> httpx.AsyncClient:
        """The pooled ``httpx`` client for this loop, for litellm's requests to this server."""
        if self._loop is not asyncio.get_running_loop():
            self._bind()
        if self._http is None:
            limits = httpx.Limits(
                max_connections=self.max_concurrency, max_keepalive_connections=self.max_concurrency
            )
            # trust_env=False: a loopback model server must not be sent through the user's HTTP proxy.
            self._http = httpx.AsyncClient(limits=limits, timeout=None, trust_env=False)
        return self._http

    def connections(self) -> Connections:
        """The kept-alive connections requests to a self-hosted server use, for this loop (and
        the current ``api_base``: a restarted server may have moved)."""
        if self._loop is not asyncio.get_running_loop():
            self._bind()
        base = self.api_base
        if base is None:
            raise ConfigError("a request to a self-hosted server needs an api_base")
        streams = self._streams
        if streams is None or streams.base_url != base:
            if streams is not None:
                streams.aclose()
            streams = self._streams = Connections(base, max_idle=self.max_concurrency)
        return streams

    def clients(self) -> Clients | None:
        """litellm's view of the pooled client (importing litellm on first use); ``None`` for
        hosted providers, whose clients litellm manages."""
        if self.api_base is None:
            return None
        http = self.http()
        if self._clients is None:
            from agentscale.llm._litellm import Clients

            self._clients = Clients(self.api_base, self.api_key, http)
        return self._clients

    @property
    def restarts(self) -> int:
        """How many times the server behind this endpoint was restarted (0 without a server)."""
        return self.server.restarts if self.server is not None else 0

    async def recover(self, seen_restarts: int) -> bool:
        """After a failed connection: ``True`` if the server was (or now is) restarted, so the
        request should be sent again; ``False`` without a server or when it is running.

        Raises:
            ServerError: the server died and may not be restarted again.
        """
        if self.server is None:
            return False
        restarted = await self.server.recover(seen_restarts)
        if restarted:
            self._clients = None  # the OpenAI SDK client holds the old base URL
        return restarted

    async def aclose(self) -> None:
        """Close the pooled connections (a later call opens new ones)."""
        http, self._http = self._http, None
        streams, self._streams = self._streams, None
        self._clients = None
        if streams is not None:
            streams.aclose()
        if http is not None and self._loop is asyncio.get_running_loop():
            await http.aclose()

    async def __aenter__(self) -> Endpoint:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
