"""A host process awaited on the event loop itself: its exit through a pidfd, its output through
non-blocking pipes, with no thread per process.

``asyncio.create_subprocess_exec`` waits for each child on a thread of its own (Python 3.11's
``ThreadedChildWatcher``) and wraps its pipes in transports; on a busy two-core machine that cost
a sandbox call about 8 ms over a blocking ``subprocess.run`` (``benchmarks/sandbox.py``). A
pidfd (Linux 5.3) becomes readable when the process exits, so the loop's own ``epoll`` sees both
the exit and the output. Where ``pidfd_open`` is missing, the exit is polled instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
from collections.abc import Sequence
from typing import Any

from agentscale.sandboxes._output import CappedBuffer

__all__ = ["Child", "PipeReader", "read_json_doc"]


class Child:
    """A started process whose exit and output this event loop awaits.

    Args:
        cmd: the argv.
        out: where stdout goes (capped; the rest is read and dropped).
        err: where stderr goes.
        **popen: ``subprocess.Popen`` options (``pass_fds``, ``env``, ``cwd``, ``user``...).

    Raises:
        OSError: the process could not be started.
    """

    def __init__(self, cmd: Sequence[str], *, out: CappedBuffer, err: CappedBuffer, **popen: Any) -> None:
        self._loop = asyncio.get_running_loop()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            self._proc = subprocess.Popen(list(cmd), stdin=subprocess.DEVNULL, stdout=out_w, stderr=err_w, **popen)
        except BaseException:
            for fd in (out_r, err_r):
                os.close(fd)
            raise
        finally:
            os.close(out_w)
            os.close(err_w)
        self.pid = self._proc.pid
        self._exited = self._loop.create_future()
        self._pipes = PipeReader({out_r: out, err_r: err})
        self._pidfd = -1
        self._poller: asyncio.Task | None = None
        try:
            self._pidfd = os.pidfd_open(self.pid)
            self._loop.add_reader(self._pidfd, self._on_exit)
        except (AttributeError, OSError):
            self._poller = self._loop.create_task(self._poll_exit(), name=f"agentscale-wait-{self.pid}")

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode

    def _on_exit(self) -> None:
        self._loop.remove_reader(self._pidfd)
        self._proc.wait()  # it has exited: this only reaps it
        if not self._exited.done():
            self._exited.set_result(self._proc.returncode)

    async def _poll_exit(self) -> None:
        pause = 0.001
        while self._proc.poll() is None:
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.05)
        if not self._exited.done():
            self._exited.set_result(self._proc.returncode)

    async def wait(self) -> int:
        """Wait for the process to exit; return its exit status (negative: killed by that signal)."""
        return await asyncio.shield(self._exited)

    async def drained(self, timeout: float) -> bool:
        """Wait (at most ``timeout`` s) until every holder of the output pipes has closed them."""
        return await self._pipes.drained(timeout)

    def close(self) -> None:
        """Stop watching and close the pipes (the process must be dead or abandoned)."""
        self._pipes.close()
        if self._pidfd >= 0:
            self._loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = -1
        if self._poller is not None:
            self._poller.cancel()


class PipeReader:
    """Reads pipes (non-blocking, on the event loop) into capped buffers until every writer is gone."""

    def __init__(self, pipes: dict[int, CappedBuffer]) -> None:
        self._loop = asyncio.get_running_loop()
        self._open = dict(pipes)
        self._drained = self._loop.create_future()
        for fd in self._open:
            os.set_blocking(fd, False)
            self._loop.add_reader(fd, self._read, fd)
        if not self._open:
            self._drained.set_result(None)

    def _read(self, fd: int) -> None:
        try:
            chunk = os.read(fd, 1 << 16)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if chunk:
            self._open[fd].write(chunk)
            return
        self._loop.remove_reader(fd)
        os.close(fd)
        del self._open[fd]
        if not self._open and not self._drained.done():
            self._drained.set_result(None)

    async def drained(self, timeout: float) -> bool:
        """Wait (at most ``timeout`` s) for end-of-file on every pipe; whether it came."""
        done, _ = await asyncio.wait({self._drained}, timeout=timeout)
        return bool(done)

    def close(self) -> None:
        """Stop reading and close what is still open."""
        for fd in list(self._open):
            self._loop.remove_reader(fd)
            with contextlib.suppress(OSError):
                os.close(fd)
        self._open.clear()


async def read_json_doc(fd: int) -> tuple[dict | None, bytes]:
    """Read ``fd`` (a pipe) until it holds one whole JSON document; return it and the bytes read.

    Returns ``(None, bytes)`` when the pipe ends first (the writer exited).
    """
    os.set_blocking(fd, False)
    loop = asyncio.get_running_loop()
    data = bytearray()
    done: asyncio.Future[dict | None] = loop.create_future()
    decoder = json.JSONDecoder()

    def readable() -> None:
        try:
            chunk = os.read(fd, 65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if done.done():
            return
        if not chunk:
            done.set_result(None)
            return
        data.extend(chunk)
        try:
            doc, _ = decoder.raw_decode(data.decode("utf-8", "replace").lstrip())
        except ValueError:
            return  # not whole yet
        done.set_result(doc if isinstance(doc, dict) else None)

    loop.add_reader(fd, readable)
    try:
        return await done, bytes(data)
    finally:
        loop.remove_reader(fd)
