"""Running host-side git with a fixed configuration, so results never depend on the user's gitconfig."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

__all__ = ["FIXED_IDENTITY", "GitFailed", "git"]

# Deterministic commits: the same tree, parent, identity, date and message give the same hash anywhere.
FIXED_IDENTITY = {
    "GIT_AUTHOR_NAME": "agentscale",
    "GIT_AUTHOR_EMAIL": "swe@agentscale.invalid",
    "GIT_AUTHOR_DATE": "2000-01-01T00:00:00+0000",
    "GIT_COMMITTER_NAME": "agentscale",
    "GIT_COMMITTER_EMAIL": "swe@agentscale.invalid",
    "GIT_COMMITTER_DATE": "2000-01-01T00:00:00+0000",
}
_OPTIONS = (
    "-c", "core.autocrlf=false", "-c", "core.fileMode=true", "-c", "core.symlinks=true",
    "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main", "-c", "advice.detachedHead=false",
)  # fmt: skip


class GitFailed(Exception):
    """A git command exited non-zero; ``stderr`` holds its words."""

    def __init__(self, args: list[str], code: int, stderr: str) -> None:
        self.args_ = args
        self.code = code
        self.stderr = stderr
        super().__init__(f"git {' '.join(args)} failed ({code}): {stderr.strip()[-1000:]}")


def git(
    *args: str,
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    input: bytes | None = None,
    timeout: float = 600,
) -> str:
    """Run git; return its stdout (text). Raises ``GitFailed`` on a non-zero exit."""
    full_env = {
        **os.environ,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",  # a URL that wants a password fails instead of hanging
        "LC_ALL": "C",
        **(env or {}),
    }
    argv = ["git", *_OPTIONS, *args]
    try:
        proc = subprocess.run(
            argv, cwd=cwd, env=full_env, input=input, capture_output=True, timeout=timeout, check=False
        )
    except FileNotFoundError as exc:
        raise GitFailed(list(args), 127, "git is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise GitFailed(list(args), -1, f"timed out after {timeout} s") from exc
    if proc.returncode != 0:
        raise GitFailed(list(args), proc.returncode, proc.stderr.decode("utf-8", "replace"))
    return proc.stdout.decode("utf-8", "replace")
