"""NO ISOLATION: run model-written code directly on this host, as you. Only when you ask for it.

``UnsafeLocalBackend`` exists for hosts with neither Docker nor bubblewrap, for code you already
trust. The code can read your files, use your network and delete your home directory. It is never
chosen by ``backend="auto"``; you must name ``backend="unsafe-local"``. What it still does: a temp
work dir per sandbox, a clean environment, rlimits (CPU time, address space, file size), and a
timeout that kills the call's whole process group.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import tempfile
import time
import warnings

from agentscale.errors import SandboxError
from agentscale.sandboxes._base import finish
from agentscale.sandboxes._files import write_host_entries
from agentscale.sandboxes._limits import SandboxLimits
from agentscale.sandboxes._output import CappedBuffer
from agentscale.sandboxes._process import ProcessSandbox
from agentscale.sandboxes._spawn import Child
from agentscale.types import ExecResult

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

    def _launch(self, argv: list[str], env: dict[str, str]) -> list[str]:
        """The call's command under ``prlimit`` (its only limits)."""
        lim = self.limits
        return [
            "prlimit",
            f"--cpu={lim.cpu_seconds}",
            f"--as={lim.memory_mb << 21}",
            f"--fsize={lim.file_mb << 20}",
            "--core=0",
            "--",
            *argv,
        ]

    async def _exec(self, argv, entries, timeout, env, *, output_bytes) -> ExecResult:
        if not os.path.isdir(self.host_dir):
            self.broken = "its work dir is gone"
            raise SandboxError(f"{self!r} is broken: {self.broken}")
        if entries:
            await asyncio.to_thread(write_host_entries, self.host_dir, entries, uid=self._uid, gid=self._uid)
        cmd = self._launch(argv, env)
        start = time.monotonic()
        out, err = CappedBuffer(output_bytes), CappedBuffer(output_bytes)
        try:
            home = {**env, "HOME": self.host_dir}
            proc = Child(cmd, out=out, err=err, start_new_session=True, env=home, cwd=self.host_dir)
        except OSError as exc:
            raise SandboxError(f"could not start {cmd[0]}: {exc}") from exc
        timed_out = False
        try:
            try:
                await asyncio.wait_for(proc.wait(), timeout)
            except TimeoutError:
                timed_out = True
                self._kill(proc.pid)
                await proc.wait()
            # background jobs die with the call: the process group is all there is to find them by
            self._kill(proc.pid)
            await proc.drained(timeout=5)
        except BaseException:
            # cancelled: the code must not run on
            await finish(self._abandon(proc))
            raise
        finally:
            proc.close()
        duration = time.monotonic() - start
        self._kill(None)
        status = proc.returncode or 0
        code = status if status >= 0 else 128 - status  # killed by signal N: 128+N, as shells say
        return ExecResult(
            exit_code=code,
            stdout=out.text(),
            stderr=err.text(),
            truncated=out.truncated or err.truncated,
            timed_out=timed_out,
            duration=duration,
        )

    async def _abandon(self, proc: Child) -> None:
        self._kill(proc.pid)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(proc.wait(), 5)
        await proc.drained(timeout=5)

    async def _close(self) -> None:
        self._backend._open.discard(self)
        await asyncio.to_thread(shutil.rmtree, self.host_dir, True)
