"""NO ISOLATION: run model-written code directly on this host, as you. Only when you ask for it.

``UnsafeLocalBackend`` exists for hosts with neither Docker nor bubblewrap, for code you already
trust. The code can read your files, use your network and delete your home directory. It is never
chosen by ``backend="auto"``; you must name ``backend="unsafe-local"``. What it still does: a temp
work dir per sandbox, a clean environment, rlimits (CPU time, address space, file size), and a
timeout that kills the call's whole process group.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import tempfile
import warnings

from agentscale.errors import SandboxError
from agentscale.sandboxes._base import finish
from agentscale.sandboxes._limits import SandboxLimits
from agentscale.sandboxes._process import Launch, ProcessSandbox

__all__ = ["UnsafeLocalBackend", "UnsafeLocalSandbox"]

_WARNING = (
    "agentscale: the 'unsafe-local' sandbox runs model-written code on this host WITHOUT ISOLATION "
    "(your files, your network, your user). Use Docker or bubblewrap for anything you do not trust."
)


class UnsafeLocalBackend:
    """Makes ``UnsafeLocalSandbox``es. Warns (``RuntimeWarning``) once when started."""

    name = "unsafe-local"

    def __init__(self, *, limits: SandboxLimits | None = None) -> None:
        self.limits = limits or SandboxLimits()
        self._open: set[UnsafeLocalSandbox] = set()
        self._count = itertools.count()
        self._started = False

    async def start(self) -> None:
        if not self._started:
            warnings.warn(_WARNING, RuntimeWarning, stacklevel=2)
            self._started = True

    async def create(self) -> UnsafeLocalSandbox:
        if not self._started:
            raise SandboxError("UnsafeLocalBackend is not started (use `async with` or `await start()`)")
        host_dir = tempfile.mkdtemp(prefix=f"agentscale-unsafe-{next(self._count)}-")
        sandbox = UnsafeLocalSandbox(self, host_dir)
        self._open.add(sandbox)
        return sandbox

    async def aclose(self) -> None:
        await finish(asyncio.gather(*(s.aclose() for s in list(self._open)), return_exceptions=True))
        self._started = False

    async def __aenter__(self) -> UnsafeLocalBackend:
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()


class UnsafeLocalSandbox(ProcessSandbox):
    """Runs each call as a plain child process in a temp dir. NOT A SECURITY BOUNDARY.

    ``workdir`` is the real temp dir, not ``/work``.
    """

    backend = "unsafe-local"

    def __init__(self, owner: UnsafeLocalBackend, host_dir: str) -> None:
        super().__init__(owner.limits, host_dir, uid=None, cgroup=None)
        self._backend = owner
        self.workdir = host_dir  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"UnsafeLocalSandbox({self.host_dir})"

    def _launch(self, argv, env):
        lim = self.limits
        cmd = [
            "prlimit",
            f"--cpu={lim.cpu_seconds}",
            f"--as={lim.memory_mb << 21}",
            f"--fsize={lim.file_mb << 20}",
            "--core=0",
            "--",
            *argv,
        ]
        return Launch(cmd, self.host_dir, {**env, "HOME": self.host_dir})

    async def _close(self) -> None:
        self._backend._open.discard(self)
        await asyncio.to_thread(shutil.rmtree, self.host_dir, True)
