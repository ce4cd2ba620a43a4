"""A sandbox made ready for one task: the checkout at the base commit, its deps, a git baseline.

After ``prepare_repo`` the sandbox's work dir holds the repository's files at ``base_commit``
(no history), a fresh git repository with them as its one commit, and ``.swe/`` beside them for
our own files (vendored deps, the test-report plugin), which git ignores. So ``git_diff()`` is the
model's patch in the form SWE-bench expects (``a/path`` against the base commit).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from agentscale.errors import ConfigError, SandboxError
from agentscale.graphs.swe.deps import PythonDeps
from agentscale.graphs.swe.instances import SWEInstance
from agentscale.graphs.swe.repos import RepoSource
from agentscale.types import ExecResult

__all__ = ["SWE_DIR", "PreparedRepo", "RepoSandbox", "prepare_repo"]

SWE_DIR = ".swe"
"""Our folder inside the work dir (git ignores it): deps, the test plugin, its results."""


class RepoSandbox(Protocol):
    """The part of the sandbox API a SWE task needs (``agentscale.sandboxes.BaseSandbox`` has it all)."""

    async def run(self, command: str | Sequence[str], *, files=None, timeout=None, env=None) -> ExecResult: ...

    async def read_files(self, paths: Sequence[str]) -> dict[str, bytes]: ...

    async def put_archive(self, archive: bytes) -> None: ...

    async def commit_baseline(self, message: str = "baseline") -> None: ...

    async def git_diff(self) -> str: ...


@dataclass(frozen=True)
class PreparedRepo:
    """What a prepared sandbox's commands need.

    Attributes:
        instance_id: the task it was prepared for.
        workdir: the checkout's absolute path inside the sandbox.
        env: environment for running the project's code and tests (``PYTHONPATH`` with the vendored
            deps and the instance's ``pythonpath`` folders; ``PYTHONHASHSEED=0`` so set and dict
            reprs in test output do not change between runs).
    """

    instance_id: str
    workdir: str = "/work"
    env: dict[str, str] = field(default_factory=dict)


def repo_env(instance: SWEInstance, workdir: str = "/work") -> dict[str, str]:
    """The environment commands in the checkout of ``instance`` run with."""
    paths = [f"{workdir}/{SWE_DIR}/deps", *(f"{workdir}/{p.strip('/')}" for p in instance.pythonpath)]
    return {"PYTHONPATH": ":".join(paths), "PYTHONHASHSEED": "0"}


async def prepare_repo(
    sandbox: RepoSandbox,
    instance: SWEInstance,
    repos: RepoSource,
    deps: PythonDeps | None = None,
) -> PreparedRepo:
    """Put the checkout of ``instance`` at its base commit into an empty sandbox, ready for an agent.

    Args:
        sandbox: a fresh sandbox (its work dir empty).
        instance: the task.
        repos: where its repository comes from.
        deps: where its ``python_deps`` come from (required when it has any).

    Returns:
        The environment for commands in that checkout.

    Raises:
        RepoNotFound, CommitNotFound: the repository or its base commit cannot be found.
        DependencyError: a ``python_deps`` entry cannot be fetched.
        SandboxError: the sandbox failed.
    """
    archive = await repos.archive(instance.repo, instance.base_commit)
    await sandbox.put_archive(archive)
    if instance.python_deps:
        if deps is None:
            raise ConfigError(f"{instance.instance_id} needs python_deps {instance.python_deps}: pass deps=")
        await sandbox.put_archive(await deps.archive(instance.python_deps, prefix=f"{SWE_DIR}/deps"))
    # Our folder stays out of every diff: excluded before the baseline commit is made.
    setup = await sandbox.run(
        f"git init -q . && mkdir -p .git/info && echo '/{SWE_DIR}/' >> .git/info/exclude && pwd", timeout=60
    )
    if not setup.ok:
        raise SandboxError(f"git init failed ({setup.exit_code}): {setup.stderr[-1000:]}")
    await sandbox.commit_baseline(f"{instance.instance_id} at {instance.base_commit}")
    # the work dir as the sandbox's processes see it (/work in Docker and bubblewrap)
    workdir = setup.stdout.strip().splitlines()[-1] if setup.stdout.strip() else "/work"
    return PreparedRepo(instance.instance_id, workdir, repo_env(instance, workdir))
