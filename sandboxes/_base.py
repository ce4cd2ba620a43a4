"""What every sandbox backend shares: argument checks, the lock, git helpers, async-with."""

from __future__ import annotations

import abc
import asyncio
import io
import re
import shlex
import tarfile
from collections.abc import Awaitable, Mapping, Sequence
from pathlib import Path
from typing import ClassVar, TypeVar

from agentscale.errors import ConfigError, SandboxError
from agentscale.protocols import SandboxBackend  # the Protocol lives with the others; re-exported here
from agentscale.sandboxes._files import Entry, check_relpath, entries_from_archive, entries_from_files
from agentscale.sandboxes._limits import SandboxLimits
from agentscale.types import ExecResult

__all__ = ["BaseSandbox", "SandboxBackend", "finish"]

T = TypeVar("T")

BASE_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/tmp",
    "TMPDIR": "/tmp",
    "LANG": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
}
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# git refuses to commit without an identity; the sandbox has no config of its own.
_GIT_ENV = {
    "GIT_AUTHOR_NAME": "agentscale",
    "GIT_AUTHOR_EMAIL": "agentscale@localhost",
    "GIT_COMMITTER_NAME": "agentscale",
    "GIT_COMMITTER_EMAIL": "agentscale@localhost",
    "GIT_CONFIG_NOSYSTEM": "1",
}


async def finish(aw: Awaitable[T]) -> T:
    """Await cleanup to the end even if the caller is cancelled meanwhile; then re-raise the cancel.

    Cleanup (kill the container, remove the work dir) that stopped half-way on Ctrl-C would leave
    exactly the leftovers it exists to prevent.
    """
    task = asyncio.ensure_future(aw)
    cancelled = False
    while True:
        try:
            result = await asyncio.shield(task)
            break
        except asyncio.CancelledError:
            if task.done():
                raise
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    return result


def check_env(env: Mapping[str, str] | None) -> dict[str, str]:
    """The environment for one call: a clean base plus ``env`` (validated)."""
    merged = dict(BASE_ENV)
    for key, value in (env or {}).items():
        if not isinstance(key, str) or not _ENV_NAME.match(key):
            raise ConfigError(f"bad environment variable name {key!r}")
        if not isinstance(value, str) or "\x00" in value:
            raise ConfigError(f"environment variable {key}: value must be a str without NUL")
        merged[key] = value
    return merged


def check_argv(command: str | Sequence[str]) -> list[str]:
    """A shell string runs under ``bash -c``; a sequence is an argv run as is."""
    if isinstance(command, str):
        if not command.strip():
            raise ConfigError("empty command")
        return ["bash", "-c", command]
    argv = list(command)
    if not argv or not all(isinstance(a, str) for a in argv):
        raise ConfigError(f"command must be a non-empty list of strings, got {command!r}")
    if any("\x00" in a for a in argv):
        raise ConfigError("command arguments must not contain NUL")
    return argv


class BaseSandbox(abc.ABC):
    """Shared behaviour of the backends; implements the ``agentscale.protocols.Sandbox`` protocol.

    One call runs at a time per sandbox (calls queue on a lock): the work dir persists between
    calls, so an agent can edit files and re-run. Processes still running when a call returns
    (background jobs) are killed, so every call starts from a quiet sandbox.
    """

    backend: ClassVar[str]
    workdir: ClassVar[str] = "/work"
    """The working directory, as the sandboxed code sees it."""

    def __init__(self, limits: SandboxLimits) -> None:
        self.limits = limits
        self._lock = asyncio.Lock()
        self._closed = False
        self.broken: str | None = None
        """Why the sandbox can no longer be used (e.g. its container died), or ``None``."""

    # --- the protocol ---

    async def run(
        self,
        command: str | Sequence[str],
        *,
        files: Mapping[str, str | bytes] | None = None,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
    ) -> ExecResult:
        """Write ``files`` into the work dir, then run ``command`` there.

        Args:
            command: a shell string (run with ``bash -c``) or an argv.
            files: ``{relative path: content}`` to write first; str content is UTF-8.
            timeout: wall seconds for this call (default ``limits.timeout``). When it runs out the
                whole process tree of the call is killed and ``timed_out`` is set.
            env: extra environment variables (the base environment is clean: PATH, HOME=/tmp, LANG).

        Returns:
            What happened. A non-zero exit, a timeout or an OOM kill is a result, not an exception.

        Raises:
            ConfigError: bad file names, command or environment.
            SandboxError: the sandbox itself failed (e.g. its container was removed).
        """
        return await self._run_checked(command, files=files, timeout=timeout, env=env)

    async def read_files(self, paths: Sequence[str]) -> dict[str, bytes]:
        """Read files (relative to the work dir) back out.

        Args:
            paths: relative paths, as given to ``run(files=...)``.

        Returns:
            ``{path: content}`` for the regular files found. Missing paths, directories and
            symlinks are left out: a link is never followed, so sandboxed code cannot make the
            host read its files through one.

        Raises:
            ConfigError: an absolute path or one with ``..``.
        """
        checked = {check_relpath(p): p for p in paths}
        async with self._lock:
            self._check_usable()
            found = await self._read(list(checked))
        return {checked[k]: v for k, v in found.items() if k in checked}

    # --- more than the protocol ---

    async def put_archive(self, archive: bytes) -> None:
        """Unpack a tar archive (plain, gz, bz2, xz) into the work dir.

        Raises:
            ConfigError: the archive holds absolute names, ``..``, links pointing out, hard links or
                special files. It is refused whole: nothing is written.
        """
        entries = entries_from_archive(archive)
        async with self._lock:
            self._check_usable()
            await self._write(entries)

    async def upload_dir(self, source: str | Path, *, exclude: Sequence[str] = (".git",)) -> None:
        """Copy a host directory's contents into the work dir (e.g. a repository for a SWE task)."""
        src = Path(source)
        if not src.is_dir():
            raise ConfigError(f"not a directory: {src}")
        buf = io.BytesIO()
        skip = set(exclude)
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for child in sorted(src.iterdir()):
                if child.name not in skip:
                    tar.add(
                        child, arcname=child.name, filter=lambda t: None if Path(t.name).name in skip else t
                    )
        await self.put_archive(buf.getvalue())

    async def run_python(
        self,
        code: str,
        *,
        files: Mapping[str, str | bytes] | None = None,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
    ) -> ExecResult:
        """Run a piece of Python source (written to ``.agentscale_main.py`` in the work dir)."""
        return await self.run(
            ["python3", ".agentscale_main.py"],
            files={**(files or {}), ".agentscale_main.py": code},
            timeout=timeout,
            env=env,
        )

    async def commit_baseline(self, message: str = "baseline") -> None:
        """Make the work dir a git repository and commit everything in it: ``git_diff`` is relative to it."""
        script = (
            "git init -q . 2>/dev/null; git add -A && "
            f"git -c commit.gpgsign=false commit -q --allow-empty -m {shlex.quote(message)}"
        )
        result = await self.run(script, env=_GIT_ENV, timeout=max(self.limits.timeout, 60))
        if not result.ok:
            raise SandboxError(f"git baseline commit failed ({result.exit_code}): {result.stderr[-2000:]}")

    async def git_diff(self) -> str:
        """The patch from the baseline commit to the work dir now, new files included (``--binary``)."""
        script = "git add -A && git diff --cached --binary HEAD"
        async with self._lock:
            self._check_usable()
            result = await self._exec(
                check_argv(script),
                [],
                max(self.limits.timeout, 60),
                check_env(_GIT_ENV),
                output_bytes=max(self.limits.output_bytes, 64 << 20),
            )
        if not result.ok:
            raise SandboxError(f"git diff failed ({result.exit_code}): {result.stderr[-2000:]}")
        if result.truncated:
            raise SandboxError("the diff is larger than 64 MiB")
        return result.stdout

    def alive(self) -> bool:
        """A cheap check that the sandbox still exists (its container runs, its work dir is there)."""
        return not self._closed and self.broken is None

    async def reset(self) -> None:
        """Return to a fresh state: no processes, an empty work dir and /tmp (used by the pool)."""
        async with self._lock:
            self._check_usable()
            await self._reset()

    async def aclose(self) -> None:
        """Stop everything and remove what the sandbox made. Safe to call twice; survives cancellation."""
        if self._closed:
            return
        self._closed = True
        await finish(self._close())

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    # --- helpers ---

    async def _run_checked(self, command, *, files, timeout, env) -> ExecResult:
        argv = check_argv(command)
        merged_env = check_env(env)
        limit = self.limits.timeout if timeout is None else float(timeout)
        if limit <= 0:
            raise ConfigError(f"timeout must be positive, got {timeout}")
        entries = entries_from_files(files) if files else []
        async with self._lock:
            self._check_usable()
            return await self._exec(argv, entries, limit, merged_env, output_bytes=self.limits.output_bytes)

    def _check_usable(self) -> None:
        if self._closed:
            raise SandboxError(f"{self!r} is closed")
        if self.broken:
            raise SandboxError(f"{self!r} is broken: {self.broken}")

    # --- what a backend implements (called with the lock held) ---

    @abc.abstractmethod
    async def _exec(
        self, argv: list[str], entries: list[Entry], timeout: float, env: dict[str, str], *, output_bytes: int
    ) -> ExecResult: ...

    @abc.abstractmethod
    async def _write(self, entries: list[Entry]) -> None: ...

    @abc.abstractmethod
    async def _read(self, paths: list[str]) -> dict[str, bytes]: ...

    @abc.abstractmethod
    async def _reset(self) -> None: ...

    @abc.abstractmethod
    async def _close(self) -> None: ...
