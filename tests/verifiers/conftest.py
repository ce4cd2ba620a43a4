"""A plain-subprocess sandbox (no isolation) so the harness is tested with real processes even
where neither Docker nor bubblewrap is available. Only trusted test code runs in it."""

from __future__ import annotations

import asyncio
import os
import signal
import tempfile
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from agentscale.types import ExecResult

PYTHON = "/usr/bin/python3"


class SubprocessSandbox:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.runs = 0

    async def run(
        self,
        command: str | Sequence[str],
        *,
        files: Mapping[str, str | bytes] | None = None,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
    ) -> ExecResult:
        self.runs += 1
        for name, data in (files or {}).items():
            path = self.workdir / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data.encode() if isinstance(data, str) else data)
        argv = ["bash", "-c", command] if isinstance(command, str) else list(command)
        started = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=self.workdir,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(self.workdir), **(env or {})},
        )
        # read the pipes in tasks so a timeout keeps what was written before it
        out_task = asyncio.ensure_future(proc.stdout.read())
        err_task = asyncio.ensure_future(proc.stderr.read())
        timed_out = False
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            timed_out = True
        finally:
            if proc.returncode is None:
                os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
        out, err = await out_task, await err_task
        return ExecResult(
            exit_code=proc.returncode if proc.returncode is not None else -9,
            stdout=out.decode("utf-8", "replace"),
            stderr=err.decode("utf-8", "replace"),
            timed_out=timed_out,
            duration=time.monotonic() - started,
        )

    async def read_files(self, paths: Sequence[str]) -> dict[str, bytes]:
        return {p: (self.workdir / p).read_bytes() for p in paths if (self.workdir / p).is_file()}


class SubprocessSandboxes:
    """Leases a fresh temporary directory per lease."""

    def __init__(self) -> None:
        self.leases = 0
        self.sandboxes: list[SubprocessSandbox] = []

    @asynccontextmanager
    async def lease(self) -> AsyncIterator[SubprocessSandbox]:
        self.leases += 1
        with tempfile.TemporaryDirectory(prefix="agentscale-test-") as tmp:
            sandbox = SubprocessSandbox(Path(tmp))
            self.sandboxes.append(sandbox)
            yield sandbox


@pytest.fixture
def local_sandboxes() -> SubprocessSandboxes:
    return SubprocessSandboxes()
