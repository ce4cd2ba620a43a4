"""The cache folder shared by server builds, model files, logs and state files, and a file lock so
that two processes never build or assemble the same thing at once."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

__all__ = ["Progress", "async_file_lock", "default_cache_dir", "file_lock", "stderr_progress"]

Progress = Callable[[str], None]


def default_cache_dir() -> Path:
    """Where agentscale keeps what it builds and downloads: ``~/.cache/agentscale``.

    Library functions take the folder as an argument; only the CLI reads ``AGENTSCALE_CACHE``.
    """
    return Path.home() / ".cache" / "agentscale"


def stderr_progress(message: str) -> None:
    """Default progress sink: one line on stderr (stdout stays free for results)."""
    print(f"agentscale: {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def file_lock(path: Path, *, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing) for the ``with`` block.

    The kernel drops the lock when the process dies, so a crashed build never leaves a stale lock.

    Args:
        path: the lock file.
        on_wait: called once if another process holds the lock and we have to wait.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


@contextlib.asynccontextmanager
async def async_file_lock(path: Path, *, poll: float = 0.1) -> AsyncIterator[None]:
    """Like :func:`file_lock`, but waits without blocking the event loop (and can be cancelled)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                await asyncio.sleep(poll)
        yield
    finally:
        os.close(fd)
