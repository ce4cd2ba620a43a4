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

Death mid-run: :meth:`ManagedServer.endpoint` gives LLMs an endpoint that knows its server. When a
request's connection fails and the process we started has exited, the server is restarted on the
same port (another free one if that is taken) under a lock, once for all callers, and the
interrupted requests are sent again; a ``{"event": "server_restarted", ...}`` progress event goes
to the LangGraph run's custom stream when there is one. After ``max_restarts`` restarts (default
1) a server that dies again is reported (:class:`~agentscale.errors.ServerError` naming it and its
log), never restarted in a loop.
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
from typing import TYPE_CHECKING, Any, Literal, Self

import httpx

from agentscale.errors import ConfigError, ServerError
from agentscale.servers._cache import async_file_lock, default_cache_dir

if TYPE_CHECKING:
    from agentscale.llm import Endpoint

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
        max_restarts: how many times a server we started that died is restarted when a request
            through :meth:`endpoint` finds it dead; 0 never restarts it.
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
        max_restarts: int = 1,
    ) -> None:
        if max_restarts < 0:
            raise ConfigError(f"max_restarts must be >= 0, got {max_restarts}")
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
        self.max_restarts = max_restarts
        self._restarts = 0
        self._restart_lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        where = f"port={self._port}, pid={self._pid}" if self._port is not None else "not started"
        return f"{type(self).__name__}({self.served_name!r}, {where})"

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

    @property
    def restarts(self) -> int:
        """How many times the server was restarted after it died."""
        return self._restarts

    def endpoint(self, *, max_concurrency: int | None = None, api_key: str | None = None) -> Endpoint:
        """An :class:`~agentscale.llm.Endpoint` for LLMs on this server that restarts it if it dies.

        Example:
            ```python
            async with LlamaCppServer() as srv:
                llm = LLM(srv.model, endpoint=srv.endpoint(), profile=srv.profile)
            ```

        Args:
            max_concurrency: requests in flight at once (default: the server's slots where it
                has them, else 16).
            api_key: sent to the server.
        """
        from agentscale.llm import Endpoint

        limit = max_concurrency or getattr(self, "parallel", None) or getattr(self, "max_num_seqs", None) or 16
        return Endpoint(api_key=api_key, max_concurrency=limit, server=self)

    async def recover(self, seen_restarts: int) -> bool:
        """Restart the server if it died; called by an endpoint after a connection to it failed.

        One restart serves every caller whose request failed before it: they pass the
        ``restarts`` count they saw, and a caller that finds it moved on just sends again.

        Args:
            seen_restarts: :attr:`restarts` when the failed request was sent.

        Returns:
            ``True`` when the server was restarted since (send the request again); ``False`` when
            it is running, or not ours to restart (a reused server, or one not started).

        Raises:
            ServerError: it died and has used up ``max_restarts`` (the message names the server,
                its exit status and log), or the restart itself failed.
        """
        async with self._lock():
            if self._restarts != seen_restarts:
                return True
            proc = self._proc
            if proc is None or self._port is None:
                return False
            code = await _exit_code(proc, f"http://{self.host}:{self._port}")
            if code is None:
                return False
            old_pid, port, log = proc.pid, self._port, self._log_path
            what = f"{self.kind} server {self.served_name!r} (pid {old_pid}, port {port})"
            if self._restarts >= self.max_restarts:
                raise ServerError(
                    f"{what} died (exit status {code}) after {self._restarts} restart(s); "
                    f"not restarting it again (max_restarts={self.max_restarts})",
                    log_path=str(log) if log else None,
                )
            await _terminate_group(proc, 1.0)  # its children, if any survived it
            self._proc = self._port = None
            # The same port if it is free (endpoints follow the server either way).
            note = f"--- restarted: the server (pid {old_pid}) exited with status {code} ---"
            await self._launch(port=port if _port_free(self.host, port) else free_port(self.host), note=note)
            self._restarts += 1
            if self.reuse:
                self._write_record(self._record_path())
            _emit(
                {
                    "event": "server_restarted",
                    "server": self.kind,
                    "model": self.served_name,
                    "exit_status": code,
                    "old_pid": old_pid,
                    "pid": self._pid,
                    "api_base": self.api_base,
                    "restarts": self._restarts,
                    "log": str(self._log_path),
                }
            )
            return True

    def _lock(self) -> asyncio.Lock:
        # An asyncio lock belongs to one loop; the server may be started on another (test fixtures).
        loop = asyncio.get_running_loop()
        if self._restart_lock is None or self._lock_loop is not loop:
            self._restart_lock, self._lock_loop = asyncio.Lock(), loop
        return self._restart_lock

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

    async def _launch(self, port: int | None = None, *, note: str | None = None) -> None:
        port = port or self._requested_port or free_port(self.host)
        argv = self.command(port)
        if shutil.which(argv[0]) is None:
            raise ServerError(f"{self.kind} server: executable {argv[0]!r} not found")
        log_path = self.cache_dir / "logs" / f"{self.kind}-{_safe(self.served_name)}-{port}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        if sys.platform.startswith("linux") and shutil.which("setpriv"):
            # The server dies with us even if we are SIGKILLed (no orphans holding CPU and RAM).
            argv = ["setpriv", "--pdeathsig", "SIGTERM", "--", *argv]
        # A restart on the same port appends to the log: what the dead server wrote stays readable.
        with log_path.open("ab" if note else "wb") as log:
            if note:
                log.write(f"\n{note}\n".encode())
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


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As servers bind: connections of the dead server in TIME_WAIT do not block the port.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


async def _exit_code(proc: subprocess.Popen[bytes], base: str) -> int | None:
    """The server's exit status if it died, ``None`` if it is running.

    A killed server's sockets close a moment before the process can be reaped, so a failed
    connection from a process still listed as running is checked again (health, then exit) for
    up to 2 s before it is judged alive.
    """
    code = proc.poll()
    if code is not None or await _healthy(base):
        return code
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        code = proc.poll()
        if code is not None:
            return code
    return None


def _emit(event: dict[str, Any]) -> None:
    """Send a progress event to the LangGraph run this call is part of, if any."""
    try:
        from langgraph.config import get_stream_writer

        writer = get_stream_writer()
    except Exception:  # not inside a graph run (or no langgraph): nobody to tell
        return
    with contextlib.suppress(Exception):
        writer(event)
