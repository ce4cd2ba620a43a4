"""Sandboxes that run each call as a host process over a host work dir (bubblewrap, unsafe-local)."""

from __future__ import annotations

import abc
import asyncio
import contextlib
import json
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
from agentscale.types import ExecResult

__all__ = ["HOST_ENV", "Launch", "ProcessSandbox", "read_json_doc", "wipe_dir"]

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
    owned_fds: list[int] = field(default_factory=list)
    """Descriptors made for this call: closed here once the process started (or could not)."""
    user: int | None = None
    """Host uid (and gid) to run as; needs root."""
    release_fd: int = -1
    """Write end of ``bwrap --block-fd``: the sandbox waits on it until ``_confine`` is done."""


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
    def _launch(self, argv: list[str], env: dict[str, str], status_fd: int) -> Launch:
        """The host process for a call; ``status_fd`` is for bubblewrap's ``--json-status-fd``."""

    async def _confine(self, proc: asyncio.subprocess.Process, launch: Launch, status_fd: int) -> bytes:
        """Confine the started process before it runs the command; return what it read of ``status_fd``."""
        return b""

    async def _exec(self, argv, entries, timeout, env, *, output_bytes) -> ExecResult:
        if not os.path.isdir(self.host_dir):
            self.broken = "its work dir is gone"
            raise SandboxError(f"{self!r} is broken: {self.broken}")
        if entries:
            await asyncio.to_thread(write_host_entries, self.host_dir, entries, uid=self._uid, gid=self._uid)
        status_r, status_w = os.pipe()
        launch: Launch | None = None
        try:
            launch = self._launch(argv, env, status_w)
            ooms_before = self._cgroup.oom_kills() if self._cgroup else None
            start = time.monotonic()
            try:
                proc = await asyncio.create_subprocess_exec(
                    *launch.cmd,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                    pass_fds=[*launch.pass_fds, status_w],
                    start_new_session=True,
                    env=launch.env,
                    cwd=launch.cwd,
                    user=launch.user,
                    group=launch.user,
                    extra_groups=None if launch.user is None else [],
                )
            except OSError as exc:
                raise SandboxError(f"could not start {launch.cmd[0]}: {exc}") from exc
            finally:
                _close(launch.owned_fds)
                launch.owned_fds = []
            os.close(status_w)
            status_w = -1
            out, err = CappedBuffer(output_bytes), CappedBuffer(output_bytes)
            readers = [
                asyncio.ensure_future(_drain(proc.stdout, out)),
                asyncio.ensure_future(_drain(proc.stderr, err)),
            ]
            timed_out = False
            status_head = b""

            async def confined_run() -> None:
                nonlocal status_head
                status_head = await self._confine(proc, launch, status_r)
                await proc.wait()

            try:
                try:
                    await asyncio.wait_for(confined_run(), timeout)
                except TimeoutError:
                    timed_out = True
                    self._kill(proc.pid)
                    await proc.wait()
                # Background jobs die with the call: bubblewrap's pid namespace ends with its init;
                # without one (unsafe-local) the process group is all there is.
                self._kill(proc.pid)
                # pipes close when the namespace dies; a grace period covers anything that lingers
                await asyncio.wait(readers, timeout=5)
            except BaseException:
                # cancelled, or the sandbox could not be confined: the code must not run on
                await finish(self._abandon(proc, readers))
                raise
            finally:
                for r in readers:
                    r.cancel()
            duration = time.monotonic() - start
            self._kill(None)
            status = _read_status(status_r, status_head)
            if status is not None and "child-pid" not in status and not timed_out:
                raise SandboxError(f"the sandbox could not start the command: {err.text()[-2000:]}")
            code = status.get("exit-code") if status else None
            if code is None:
                code = proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
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
        finally:
            os.close(status_r)
            if status_w >= 0:
                os.close(status_w)
            if launch is not None:
                _close([*launch.owned_fds, launch.release_fd])

    def _kill(self, pgid: int | None) -> None:
        if pgid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
        if self._cgroup is not None:
            self._cgroup.kill_all()

    async def _abandon(self, proc, readers) -> None:
        self._kill(proc.pid)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(proc.wait(), 5)
        await asyncio.wait(readers, timeout=5)

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


async def _drain(stream: asyncio.StreamReader | None, buf: CappedBuffer) -> None:
    if stream is None:
        return
    while chunk := await stream.read(1 << 16):
        buf.write(chunk)


def _close(fds: list[int]) -> None:
    for fd in fds:
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)


def _read_status(fd: int, head: bytes = b"") -> dict | None:
    """Merge the JSON documents bubblewrap wrote to ``--json-status-fd`` (``head``: what was read
    of it already); ``None`` if there were none."""
    os.set_blocking(fd, False)
    data = head
    with contextlib.suppress(BlockingIOError, OSError):
        while chunk := os.read(fd, 65536):
            data += chunk
    if not data:
        return None
    merged: dict = {}
    decoder = json.JSONDecoder()
    text, pos = data.decode("utf-8", "replace"), 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            break
        try:
            doc, pos = decoder.raw_decode(text, pos)
        except ValueError:
            break
        if isinstance(doc, dict):
            merged.update(doc)
    return merged


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
