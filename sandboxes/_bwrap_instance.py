"""One running ``bwrap`` with the agent (``_agent``) in it, seen from the host: its process, and the
host's end of the agent's socket."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket

from agentscale.errors import SandboxError
from agentscale.sandboxes._output import CappedBuffer
from agentscale.sandboxes._spawn import Child

__all__ = ["Instance"]

_INLINE_MAX = 32 << 10  # larger requests go to the agent as a memfd


class Instance:
    """One running ``bwrap`` with the agent in it, and the host's end of the agent's socket."""

    def __init__(self, child: Child, sock: socket.socket, status_fd: int, stderr: CappedBuffer) -> None:
        self.child = child
        self.sock = sock
        sock.setblocking(False)
        self.status_fd = status_fd
        self.init_pid: int | None = None
        """The sandbox's pid 1, as the host sees it."""
        self.stderr = stderr

    def running(self) -> bool:
        return self.child.returncode is None and self.sock.fileno() >= 0

    def send(self, message: dict, fds: list[int] | None = None) -> None:
        """Send one message (a few KB at most: it fits the socket's buffer, so it never blocks).

        Raises:
            SandboxError: the agent is gone.
        """
        data = json.dumps(message).encode()
        fds = list(fds or [])
        memfd = -1
        if len(data) > _INLINE_MAX:
            # a long argv or environment: it goes as a file, a socket message holds only so much
            memfd = os.memfd_create("agentscale-request", os.MFD_CLOEXEC)
            os.write(memfd, data)
            os.lseek(memfd, 0, os.SEEK_SET)
            data, fds = b'{"memfd": true}', [*fds, memfd]
        try:
            socket.send_fds(self.sock, [data], fds)
        except OSError as exc:
            raise SandboxError(f"the sandbox's agent is gone: {exc}") from exc
        finally:
            if memfd >= 0:
                os.close(memfd)

    async def receive(self) -> dict | None:
        """The agent's next message, or ``None`` once it has gone."""
        try:
            data = await asyncio.get_running_loop().sock_recv(self.sock, 1 << 16)
        except OSError:
            return None
        try:
            return json.loads(data) if data else None
        except ValueError:
            return None

    async def kill_and_wait(self) -> dict | None:
        """Have the agent kill the running command (and all else); its exit message, or ``None``."""
        try:
            self.send({"kill": True})
            return await asyncio.wait_for(self.receive(), 5)
        except (SandboxError, TimeoutError):
            return None

    async def stop(self, kill) -> None:
        """End the whole bwrap tree (its pid namespace dies with it) and release everything."""
        if self.init_pid is not None and self.child.returncode is None:
            # (while bwrap lives, its child's pid cannot have gone to another process)
            # The sandbox's init first: the kernel ends every process of its namespace, and bwrap
            # outside reaps it and exits. Killing bwrap first would orphan them to the host's init.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(self.init_pid, signal.SIGKILL)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.child.wait(), 5)
        kill(self.child.pid)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.child.wait(), 5)
        self.child.close()
        self.sock.close()
        if self.status_fd >= 0:
            os.close(self.status_fd)
            self.status_fd = -1
