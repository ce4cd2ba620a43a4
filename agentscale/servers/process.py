"""The lifecycle of one local model server process, shared by every kind of server.

:class:`ManagedServer` picks a free port, starts the server in its own process group with its
output in a log file, waits until ``GET /health`` answers 200, and stops the whole group
(SIGTERM, then SIGKILL) on exit, on Ctrl-C and on cancellation. If the process dies while
starting, or never becomes healthy, :class:`~agentscale.errors.ServerError` carries the log's
last lines and its path.

Reuse: a server started with ``reuse=True`` (the default) records itself in ``<cache>/servers/<key>.json``
(pid, port, log), where ``key`` hashes the kind of server and every setting that changes what it
serves (model, slots, context, ...). ``start()`` with ``reuse=True`` (the default) first looks
there: if that pid is alive, ``/health`` answers 200 and ``/v1/models`` lists the same served
name, it attaches to that server instead of starting a second one, and ``stop()`` then leaves it
running (its owner stops it). So ``agentscale serve llamacpp`` in one terminal serves every
``agentscale demo`` or ``LlamaCppServer(...)`` with the same settings started elsewhere. A file lock
around look-up-and-start keeps two processes from starting twin servers at once. ``reuse=False``
gives a private server: it neither attaches to a recorded one nor records itself.

Servers we start are bound to our process: on Linux they are started through
``setpriv --pdeathsig SIGTERM`` so that they end even if we are killed with SIGKILL.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Literal, Self

import httpx

from agentscale.errors import ServerError
from agentscale.servers._cache import async_file_lock, default_cache_dir

__all__ = ["ManagedServer", "free_port"]

_LOG_TAIL_LINES = 20


def free_port(host: str = "127.0.0.1") -> int:
    """Ask the kernel for a TCP port that is free right now on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class ManagedServer(abc.ABC):
    """Start, health-check, reuse and stop one OpenAI-compatible server process.

    Subclasses say what to run (:meth:`command`), under which name it serves the model
    (:attr:`served_name`), which settings identify it for reuse (:meth:`identity`), and what must
    exist before it can start (:meth:`prepare`, e.g. building a binary). Use it as an async
    context manager, or call :meth:`start` and :meth:`stop` yourself.

    Args:
        host: the address to listen on.
        port: a fixed port; default: a free one.
        cache_dir: holds ``logs/`` and the reuse records in ``servers/`` (default
            ``~/.cache/agentscale``).
        startup_timeout: seconds to wait for ``/health`` to answer 200.
        stop_timeout: seconds between SIGTERM and SIGKILL on stop.
        reuse: attach to a running server with the same settings instead of starting one, and
            offer a server we start to others. ``False``: a private server (as test suites want).
        env: extra environment variables for the server process.
    """

    kind: str = "server"
    profile: Literal["chat", "completion"] = "chat"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        cache_dir: Path | None = None,
        startup_timeout: float = 120.0,
        stop_timeout: float = 10.0,
        reuse: bool = True,
        env: dict[str, str] | None = None,
    ) -> None:
        self.host = host
        self.cache_dir = cache_dir or default_cache_dir()
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.reuse = reuse
        self.env = dict(env or {})
        self._requested_port = port
        self._port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._pid: int | None = None
        self._log_path: Path | None = None
        self._reused = False

    # -- what subclasses provide -------------------------------------------------------------

    @property
    @abc.abstractmethod
    def served_name(self) -> str:
        """The model name the server answers to (``model`` in requests)."""

    @abc.abstractmethod
    def command(self, port: int) -> list[str]:
        """The server's command line for ``port`` (call after :meth:`prepare`)."""

    @abc.abstractmethod
    def identity(self) -> dict[str, Any]:
        """Settings that must match for a running server to be reused (JSON-serialisable)."""

    async def prepare(self) -> None:  # noqa: B027 - optional hook, nothing to do by default
        """Make whatever the command needs (binaries, model files); called by :meth:`start`."""

    # -- what callers use --------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port the server listens on (after start)."""
        if self._port is None:
            raise ServerError(f"{self.kind} server is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT``: the server's root (``/health``, ``/slots``)."""
        return f"http://{self.host}:{self.port}"

    @property
    def api_base(self) -> str:
        """``http://HOST:PORT/v1``: what litellm's ``api_base`` needs."""
        return f"{self.base_url}/v1"

    @property
    def model(self) -> str:
        """The litellm model string; ``hosted_vllm/`` needs no API key."""
        return f"hosted_vllm/{self.served_name}"

    @property
    def pid(self) -> int | None:
        """The server's pid (also its process group id when we started it)."""
        return self._pid

    @property
    def log_path(self) -> Path | None:
        """The server's log file."""
        return self._log_path

    @property
    def reused(self) -> bool:
        """True when :meth:`start` attached to a server someone else started (and owns)."""
        return self._reused

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> Self:
        """Prepare, then reuse a matching running server or start one and wait for health.

        Returns:
            ``self``, started.

        Raises:
            ServerError: the server could not be started or never became healthy (the process is
                killed; the message has the log's tail and path).
        """
        if self._port is not None:
            return self
        await self.prepare()
        if not self.reuse:  # a private server: neither attaches to one nor offers itself
            await self._launch()
            return self
        record = self._record_path()
        async with async_file_lock(record.with_suffix(".lock")):
            if await self._attach(record):
                return self
            await self._launch()
            self._write_record(record)
        return self

    async def stop(self) -> None:
        """Stop the server if we started it (SIGTERM, then SIGKILL, to its whole process group).

        A reused server is left running. Safe to call twice, and finishes its job even when the
        calling task is being cancelled.
        """
        proc, self._proc = self._proc, None
        port, self._port = self._port, None
        if proc is None or port is None:
            self._reused = False
            return
        with contextlib.suppress(OSError, ValueError):
            record = self._record_path()
            if json.loads(record.read_text()).get("pid") == proc.pid:
                record.unlink()
        await _terminate_group(proc, self.stop_timeout)

    # -- internals ---------------------------------------------------------------------------

    def _record_path(self) -> Path:
        ident = {"kind": self.kind, "host": self.host, "served_name": self.served_name, **self.identity()}
        key = hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:16]
        return self.cache_dir / "servers" / f"{self.kind}-{key}.json"

    async def _attach(self, record: Path) -> bool:
        try:
            info = json.loads(record.read_text())
            pid, port = int(info["pid"]), int(info["port"])
        except (OSError, ValueError, KeyError, TypeError):
            return False
        if self._requested_port is not None and port != self._requested_port:
            return False
        base = f"http://{self.host}:{port}"
        if not (_pid_alive(pid) and await _healthy(base) and await _serves(base, self.served_name)):
            record.unlink(missing_ok=True)  # stale: its server is gone
            return False
        self._port, self._pid, self._reused = port, pid, True
        self._log_path = Path(info["log"]) if info.get("log") else None
        return True

    async def _launch(self) -> None:
        port = self._requested_port or free_port(self.host)
        argv = self.command(port)
        if shutil.which(argv[0]) is None:
            raise ServerError(f"{self.kind} server: executable {argv[0]!r} not found")
        log_path = self.cache_dir / "logs" / f"{self.kind}-{_safe(self.served_name)}-{port}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        if sys.platform.startswith("linux") and shutil.which("setpriv"):
            # The server dies with us even if we are SIGKILLed (no orphans holding CPU and RAM).
            argv = ["setpriv", "--pdeathsig", "SIGTERM", "--", *argv]
        with log_path.open("wb") as log:
            log.write(f"$ {' '.join(argv)}\n".encode())
            log.flush()
            try:
                proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # own process group: Ctrl-C is ours to handle, and stop kills all
                    env={**os.environ, **self.env},
                )
            except OSError as exc:
                raise ServerError(f"could not start {argv[0]}: {exc}", log_path=str(log_path)) from exc
        self._log_path, self._pid = log_path, proc.pid
        try:
            await self._wait_healthy(proc, f"http://{self.host}:{port}", log_path)
        except BaseException:
            await _terminate_group(proc, 2.0)  # failed or cancelled while starting: leave nothing behind
            raise
        self._proc, self._port, self._reused = proc, port, False

    async def _wait_healthy(self, proc: subprocess.Popen[bytes], base: str, log_path: Path) -> None:
        deadline = time.monotonic() + self.startup_timeout
        delay = 0.05
        async with httpx.AsyncClient(trust_env=False, timeout=2.0) as client:
            while True:
                code = proc.poll()
                if code is not None:
                    raise ServerError(
                        f"{self.kind} server exited with code {code} while starting:\n{_tail(log_path)}",
                        log_path=str(log_path),
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{base}/health")).status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise ServerError(
                        f"{self.kind} server did not become healthy within {self.startup_timeout:g} s:\n"
                        f"{_tail(log_path)}",
                        log_path=str(log_path),
                    )
                await asyncio.sleep(delay)
                delay = min(delay * 1.5, 0.5)

    def _write_record(self, record: Path) -> None:
        info = {
            "pid": self._pid,
            "port": self._port,
            "host": self.host,
            "served_name": self.served_name,
            "log": str(self._log_path),
            "owner_pid": os.getpid(),
            "started_at": time.time(),
            "identity": self.identity(),
        }
        record.parent.mkdir(parents=True, exist_ok=True)
        tmp = record.with_suffix(".tmp")
        tmp.write_text(json.dumps(info, indent=2, default=str))
        os.replace(tmp, record)


async def _terminate_group(proc: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM the process group, wait up to ``grace`` s, then SIGKILL it; survives cancellation."""
    pgid = proc.pid  # start_new_session made the server its group's leader
    try:
        _killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    finally:
        # Also reached when cancelled mid-wait: never leave the group behind. SIGKILL the group even
        # if the leader exited, since children that ignored SIGTERM would otherwise survive it.
        _killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)


def _killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def _healthy(base: str) -> bool:
    try:
        async with httpx.AsyncClient(trust_env=False, timeout=2.0) as client:
            return (await client.get(f"{base}/health")).status_code == 200
    except httpx.HTTPError:
        return False


async def _serves(base: str, served_name: str) -> bool:
    try:
        async with httpx.AsyncClient(trust_env=False, timeout=2.0) as client:
            data = (await client.get(f"{base}/v1/models")).json().get("data", [])
    except (httpx.HTTPError, ValueError, AttributeError):
        return False
    return any(isinstance(m, dict) and m.get("id") == served_name for m in data)


def _tail(log_path: Path) -> str:
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(lines[-_LOG_TAIL_LINES:]) or "(log is empty)"


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)
