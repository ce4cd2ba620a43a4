"""Sandboxes over a host work dir (bubblewrap, unsafe-local): files, kills, and one host process per
call (unsafe-local; bubblewrap runs its calls through its agent instead)."""

from __future__ import annotations

import abc
import asyncio
import contextlib
import os
import shutil
import signal
import time
from dataclasses import dataclass, field

from agentscale.errors import SandboxError
from agentscale.sandboxes._base import BaseSandbox, finish
from agentscale.sandboxes._cgroup import Cgroup
from agentscale.sandboxes._files import Entry, read_host_file, write_host_entries
from agentscale.sandboxes._limits import SandboxLimits
from agentscale.sandboxes._output import CappedBuffer
from agentscale.sandboxes._spawn import Child
from agentscale.types import ExecResult

__all__ = ["HOST_ENV", "Launch", "ProcessSandbox", "wipe_dir"]

HOST_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}


def wipe_dir(path: str) -> None:
    """Remove everything inside ``path`` (never following symlinks), keeping ``path`` itself."""

    def fix_and_retry(func, p, _exc):
        # sandboxed code may have chmod 000'd a directory; as its owner (or root) we can undo that
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(p), 0o700)
            os.chmod(p, 0o700, follow_symlinks=False) if not os.path.islink(p) else None
            func(p)

    with os.scandir(path) as it:
        for entry in it:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, onerror=fix_and_retry)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)


@dataclass
class Launch:
    """How to start one call's host process."""

    cmd: list[str]
    cwd: str
    env: dict[str, str]
    pass_fds: list[int] = field(default_factory=list)
    """Descriptors the process inherits (at the same numbers)."""


class ProcessSandbox(BaseSandbox):
    """A work dir on the host plus one host process per call, killed by process group and cgroup."""

    def __init__(
        self, limits: SandboxLimits, host_dir: str, *, uid: int | None, cgroup: Cgroup | None
    ) -> None:
        super().__init__(limits)
        self.host_dir = host_dir
        """The work dir as the host sees it."""
        self._uid = uid
        self._cgroup = cgroup

    def alive(self) -> bool:
        return super().alive() and os.path.isdir(self.host_dir)

    @abc.abstractmethod
    def _launch(self, argv: list[str], env: dict[str, str]) -> Launch:
        """The host process for a call."""

    async def _exec(self, argv, entries, timeout, env, *, output_bytes) -> ExecResult:
        if not os.path.isdir(self.host_dir):
            self.broken = "its work dir is gone"
            raise SandboxError(f"{self!r} is broken: {self.broken}")
        if entries:
            await asyncio.to_thread(write_host_entries, self.host_dir, entries, uid=self._uid, gid=self._uid)
        launch = self._launch(argv, env)
        ooms_before = self._cgroup.oom_kills() if self._cgroup else None
        start = time.monotonic()
        out, err = CappedBuffer(output_bytes), CappedBuffer(output_bytes)
        try:
            proc = Child(
                launch.cmd,
                out=out,
                err=err,
                pass_fds=launch.pass_fds,
                start_new_session=True,
                env=launch.env,
                cwd=launch.cwd,
            )
        except OSError as exc:
            raise SandboxError(f"could not start {launch.cmd[0]}: {exc}") from exc
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
        ooms_after = self._cgroup.oom_kills() if self._cgroup else None
        return ExecResult(
            exit_code=code,
            stdout=out.text(),
            stderr=err.text(),
            truncated=out.truncated or err.truncated,
            timed_out=timed_out,
            oom_killed=ooms_before is not None and ooms_after is not None and ooms_after > ooms_before,
            duration=duration,
        )

    def _kill(self, pgid: int | None) -> None:
        if pgid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
        if self._cgroup is not None:
            self._cgroup.kill_all()

    async def _abandon(self, proc: Child) -> None:
        self._kill(proc.pid)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(proc.wait(), 5)
        await proc.drained(timeout=5)

    async def _write(self, entries: list[Entry]) -> None:
        await asyncio.to_thread(write_host_entries, self.host_dir, entries, uid=self._uid, gid=self._uid)

    async def _read(self, paths: list[str]) -> dict[str, bytes]:
        def read_all() -> dict[str, bytes]:
            found = {p: read_host_file(self.host_dir, p) for p in paths}
            return {p: data for p, data in found.items() if data is not None}

        return await asyncio.to_thread(read_all)

    async def _reset(self) -> None:
        self._kill(None)
        try:
            await asyncio.to_thread(wipe_dir, self.host_dir)
        except OSError as exc:
            self.broken = f"reset failed: {exc}"
            raise SandboxError(f"{self!r}: {self.broken}") from exc
