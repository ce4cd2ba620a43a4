from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from agentscale.types import ExecResult

__all__ = ["FakeRepoSandbox", "FakeSandbox", "FakeSandboxProvider"]


@dataclass
class FakeSandbox:
    """A sandbox that runs nothing: ``handler(argv, files) -> ExecResult`` decides each result.

    Files written with ``run(files=...)`` are kept in ``files`` and can be read back.
    """

    __test__ = False

    handler: Callable[[list[str], dict[str, bytes]], ExecResult] = field(
        default=lambda argv, files: ExecResult(exit_code=0)
    )
    files: dict[str, bytes] = field(default_factory=dict)
    commands: list[list[str]] = field(default_factory=list)

    async def run(
        self,
        command: str | Sequence[str],
        *,
        files: Mapping[str, str | bytes] | None = None,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
    ) -> ExecResult:
        for path, data in (files or {}).items():
            self.files[path] = data.encode() if isinstance(data, str) else bytes(data)
        argv = ["bash", "-c", command] if isinstance(command, str) else list(command)
        self.commands.append(argv)
        start = time.monotonic()
        result = self.handler(argv, self.files)
        return result.model_copy(update={"duration": time.monotonic() - start})

    async def read_files(self, paths: Sequence[str]) -> dict[str, bytes]:
        return {p: self.files[p] for p in paths if p in self.files}

    def __repr__(self) -> str:
        return f"FakeSandbox(files={sorted(self.files)}, commands={len(self.commands)})"


@dataclass
class FakeRepoSandbox(FakeSandbox):
    """A ``FakeSandbox`` that also takes a checkout (``put_archive``, kept as ``files["<checkout>"]``)
    and records ``commit_baseline`` as a ``["<commit>", message]`` command; its diff is empty."""

    __test__ = False

    async def put_archive(self, archive: bytes) -> None:
        self.files["<checkout>"] = archive

    async def commit_baseline(self, message: str = "baseline") -> None:
        self.commands.append(["<commit>", message])

    async def git_diff(self) -> str:
        return ""


@dataclass
class FakeSandboxProvider:
    """Leases a fresh ``FakeSandbox`` per lease, all sharing one handler; records every sandbox."""

    __test__ = False

    handler: Callable[[list[str], dict[str, bytes]], ExecResult] = field(
        default=lambda argv, files: ExecResult(exit_code=0)
    )
    leased: list[FakeSandbox] = field(default_factory=list)

    @asynccontextmanager
    async def lease(self) -> AsyncIterator[FakeSandbox]:
        sandbox = FakeSandbox(handler=self.handler)
        self.leased.append(sandbox)
        yield sandbox


