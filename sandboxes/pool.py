"""A warm pool: N sandboxes kept ready so N concurrent rollouts never pay a cold start.

``lease()`` hands out a ready sandbox (waiting while all are out). When the lease ends the sandbox
goes back in the background: reset (processes killed, work dir and ``/tmp`` emptied) and queued
again, or, if it broke (its container died, a reset failed), closed and replaced by a new one.
A sandbox that died while idle is noticed when leased and replaced, never handed out.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from agentscale.errors import ConfigError, SandboxError
from agentscale.sandboxes._base import BaseSandbox, SandboxBackend, finish

__all__ = ["SandboxPool"]


class SandboxPool:
    """Keeps ``size`` sandboxes of one backend ready. Implements ``agentscale.protocols.SandboxProvider``.

    Use it as an async context manager: everything it made is removed on exit, on errors and on
    cancellation (Ctrl-C under ``asyncio.run``).

    Example:
        >>> async def check(pool, src):  # doctest: +SKIP
        ...     async with pool.lease() as sandbox:
        ...         return await sandbox.run(["python3", "check.py"], files={"check.py": src}, timeout=10)

    Args:
        backend: what makes the sandboxes (``DockerBackend``, ``BwrapBackend``...); the pool starts
            and closes it.
        size: how many sandboxes to keep ready (and so the most leases out at once).
    """

    def __init__(self, backend: SandboxBackend, size: int = 8) -> None:
        if size < 1:
            raise ConfigError(f"pool size must be at least 1, got {size}")
        self.backend = backend
        self.size = size
        self.replaced = 0
        """How many broken sandboxes were replaced so far."""
        self._ready: asyncio.Queue[BaseSandbox | BaseException] | None = None
        self._tasks: set[asyncio.Task] = set()
        self._leased: set[BaseSandbox] = set()
        self._waiting = 0
        self._closed = False

    @property
    def backend_name(self) -> str:
        """The backend in use (``"docker"``, ``"bwrap"``...; for ``auto``, what it chose)."""
        return self.backend.name

    async def start(self) -> None:
        """Start the backend and make ``size`` sandboxes (concurrently).

        Raises:
            SandboxUnavailable: the backend cannot run here.
            SandboxError: not a single sandbox could be made.
        """
        if self._ready is not None:
            return
        self._ready = asyncio.Queue()
        try:
            await self.backend.start()
            results = await asyncio.gather(
                *(self.backend.create() for _ in range(self.size)), return_exceptions=True
            )
        except BaseException:
            await self.aclose()
            raise
        errors = [r for r in results if isinstance(r, BaseException)]
        for r in results:
            self._ready.put_nowait(r)  # a failed one surfaces (and is retried) at its lease
        if len(errors) == len(results):
            await self.aclose()
            raise SandboxError(f"could not create any sandbox: {errors[0]}") from errors[0]

    @contextlib.asynccontextmanager
    async def lease(self) -> AsyncIterator[BaseSandbox]:
        """Borrow a ready sandbox for the duration of an ``async with`` block.

        Raises:
            SandboxError: the pool is closed, or a replacement sandbox could not be made.
        """
        if self._ready is None or self._closed:
            raise SandboxError("the pool is not open (use `async with pool:` first)")
        sandbox = await self._take()
        self._leased.add(sandbox)
        try:
            yield sandbox
        finally:
            self._leased.discard(sandbox)
            if self._closed:
                await finish(sandbox.aclose())
            else:
                self._spawn(self._recycle(sandbox))  # reset in the background: the caller goes on

    async def _take(self) -> BaseSandbox:
        assert self._ready is not None
        while True:
            self._waiting += 1
            try:
                item = await self._ready.get()
            finally:
                self._waiting -= 1
            if isinstance(item, BaseException):
                if self._closed:
                    raise SandboxError("the pool is closed")
                self._spawn(self._replace())  # try again for the next lease
                raise SandboxError(f"could not make a replacement sandbox: {item}") from item
            if self._closed:
                raise SandboxError("the pool is closed")
            if item.broken is None and item.alive():
                return item
            await item.aclose()  # died while idle: replace it, never hand it out
            self.replaced += 1
            self._spawn(self._replace())

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro, name="agentscale-pool-recycle")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _recycle(self, sandbox: BaseSandbox) -> None:
        if not self._closed and sandbox.broken is None:
            try:
                await sandbox.reset()
                if not self._closed:
                    self._ready.put_nowait(sandbox)  # type: ignore[union-attr]
                    return
            except Exception:
                pass  # reset failed: replace it below
        await sandbox.aclose()
        if not self._closed:
            self.replaced += 1
            await self._replace()

    async def _replace(self) -> None:
        try:
            sandbox = await self.backend.create()
        except Exception as exc:
            if not self._closed:
                self._ready.put_nowait(exc)  # type: ignore[union-attr]
            return
        if self._closed:
            await sandbox.aclose()
        else:
            self._ready.put_nowait(sandbox)  # type: ignore[union-attr]

    async def aclose(self) -> None:
        """Close every sandbox (ready, leased or being recycled) and the backend. Survives cancellation."""
        if self._closed:
            return
        self._closed = True
        await finish(self._aclose())

    async def _aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        held: list[BaseSandbox] = list(self._leased)
        while self._ready is not None and not self._ready.empty():
            item = self._ready.get_nowait()
            if isinstance(item, BaseSandbox):
                held.append(item)
        await asyncio.gather(*(s.aclose() for s in held), return_exceptions=True)
        if self._ready is not None:
            for _ in range(self._waiting):  # wake leases still waiting: they fail, they do not hang
                self._ready.put_nowait(SandboxError("the pool was closed"))
        await self.backend.aclose()  # removes anything the backend still knows about

    async def __aenter__(self) -> SandboxPool:
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        ready = self._ready.qsize() if self._ready is not None else 0
        return (
            f"SandboxPool({self.backend.name}, size={self.size}, ready={ready}, leased={len(self._leased)})"
        )
