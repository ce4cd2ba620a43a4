"""What sandboxes over a host work dir share (bubblewrap, unsafe-local): files in and out, kills, reset."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal

from agentscale.errors import SandboxError
from agentscale.sandboxes._base import BaseSandbox
from agentscale.sandboxes._cgroup import Cgroup
from agentscale.sandboxes._files import Entry, read_host_file, write_host_entries
from agentscale.sandboxes._limits import SandboxLimits

__all__ = ["HOST_ENV", "ProcessSandbox", "wipe_dir"]

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


class ProcessSandbox(BaseSandbox):
    """A work dir on the host, and processes killed by process group and cgroup; a backend adds ``_exec``."""

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

    def _kill(self, pgid: int | None) -> None:
        if pgid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
        if self._cgroup is not None:
            self._cgroup.kill_all()

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
