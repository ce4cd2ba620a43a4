"""The Docker backend: one long-lived, locked-down container per sandbox, commands run by ``exec``.

Defaults (each a ``SandboxLimits`` field or constructor argument you may change on purpose): no
network; read-only root with tmpfs ``/tmp``, ``/dev/shm`` and work dir ``/work``; memory limit with
swap equal to it; pids limit; CPU quota; CPU-time and file-size rlimits; every capability dropped;
no-new-privileges; Docker's default seccomp profile; code runs as uid 65534 (nobody) while the
container's init runs as another uid, so sandboxed code cannot kill it.

A container lives only as long as the process that made it: its main process is ``cat`` reading
a stdin that this backend holds open (an attach, made before the start). When the owner dies,
however it dies, the kernel closes that connection, ``cat`` reads end-of-file, the container stops
and the engine removes it (``AutoRemove``): nothing waits for the next backend start to sweep it.

Between leases a reset kills every process but init's, and empties every place the sandbox user
may write: ``/work``, ``/tmp``, ``/dev/shm``, POSIX message queues (``/dev/mqueue``) and SysV IPC;
it restores the work dir's mode.

The docker SDK is synchronous: every call runs on this backend's own thread pool, so the event
loop stays free and eight concurrent execs never queue behind the default executor's few threads.
``exec`` has no timeout of its own, and killing an exec's pid leaves its children running, so a
timeout kills every process in the container's cgroup except init (see ``_cgroup``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import secrets
import socket
import struct
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from agentscale.errors import ConfigError, SandboxError, SandboxTimeout, SandboxUnavailable
from agentscale.sandboxes._base import BaseSandbox, finish
from agentscale.sandboxes._cgroup import Cgroup, cgroup_of
from agentscale.sandboxes._files import Entry, entries_to_tar, tar_to_files
from agentscale.sandboxes._limits import EnforcedLimits, SandboxLimits
from agentscale.sandboxes._output import CappedBuffer
from agentscale.sandboxes._owner import Owner
from agentscale.types import ExecResult

__all__ = ["LABEL", "DockerBackend", "DockerSandbox"]

LABEL = "agentscale.sandbox"
"""Every container this backend creates carries this label (and owner labels beside it)."""
_USER = (65534, 65534)  # nobody:nogroup, who runs the sandboxed code
_INIT_USER = "65533:65533"  # a different uid for the container's init: code running as 65534 cannot signal it
_WRITE_FAILED = 125
_WORK_MODE = "755"
_RESET = (
    # SysV IPC objects and POSIX message queues outlive processes in the container's IPC namespace
    "ipcrm --all 2>/dev/null; "
    "for d in /work /tmp /dev/shm /dev/mqueue; do [ -d $d ] || continue; "
    "chmod -R u+rwX $d 2>/dev/null; find $d -mindepth 1 -maxdepth 1 -exec rm -rf -- {} + ; done; "
    # a lease may have changed the work dir's own mode (chmod 500 /work): the next one gets it as new
    f"chmod {_WORK_MODE} /work && [ \"$(stat -c %a /work)\" = {_WORK_MODE} ] && "
    "[ -z \"$(find /work /tmp /dev/shm $( [ -d /dev/mqueue ] && echo /dev/mqueue) -mindepth 1 -print -quit)\" ]"
)


class DockerBackend:
    """Creates ``DockerSandbox``es on a Docker engine.

    Args:
        limits: resource limits for every sandbox it makes.
        image: the image to use; by default the one built from ``sandboxes/rootfs.sh`` (built or
            loaded from the cache on ``start()``). An image of your own needs ``sh``, ``tar``,
            ``cat``, ``find``, ``stat`` and ``ipcrm``, a uid 65534 and a ``/work`` directory.
        client: a ``docker.DockerClient``; by default one from the environment (``DOCKER_HOST``...).
        cache_dir: where the built image is cached (default ``~/.cache/agentscale``).
    """

    name = "docker"

    def __init__(
        self,
        *,
        limits: SandboxLimits | None = None,
        image: str | None = None,
        client: Any = None,
        cache_dir: Path | None = None,
    ) -> None:
        self.limits = limits or SandboxLimits()
        self.image = image
        self._client = client
        self._own_client = client is None
        self._cache_dir = cache_dir
        self._executor: ThreadPoolExecutor | None = None
        self._owner = Owner.me()
        self._id = uuid.uuid4().hex[:12]
        self._count = itertools.count()
        self._open: set[DockerSandbox] = set()
        self._started = False
        self._enforced = EnforcedLimits()

    async def call(self, fn, /, *args, **kwargs):
        """Run a blocking docker SDK call on this backend's threads."""
        if self._executor is None:
            raise SandboxError("DockerBackend is not started (use `async with` or `await start()`)")
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, functools.partial(fn, *args, **kwargs)
        )

    async def start(self) -> None:
        """Connect, sweep containers left by dead processes, and make sure the image is there.

        Raises:
            SandboxUnavailable: no Docker engine answers.
        """
        if self._started:
            return
        import docker
        import docker.errors
        import requests

        self._executor = ThreadPoolExecutor(max_workers=64, thread_name_prefix="agentscale-docker")
        try:
            try:
                if self._client is None:
                    self._client = await self.call(docker.from_env, max_pool_size=64, timeout=120)
                await self.call(self._client.ping)
            except (docker.errors.DockerException, requests.exceptions.RequestException, OSError) as exc:
                raise SandboxUnavailable(
                    f"no Docker engine answers ({exc}); start one with scripts/docker-engine.sh (as root), "
                    "or use backend='bwrap'"
                ) from exc
            self._started = True
            security = (await self.call(self._client.api.info)).get("SecurityOptions") or []
            self._enforced = self._report(any("name=seccomp" in opt for opt in security))
            await self.sweep()
            if self.image is None:
                from agentscale.sandboxes.image import ensure_image

                self.image = await self.call(ensure_image, self._client, self._cache_dir)
        except BaseException:
            await self.aclose()
            raise

    def enforced_limits(self) -> EnforcedLimits:
        """Which limits hold for this backend's sandboxes, and how (after ``start()``)."""
        return self._enforced

    def _report(self, seccomp: bool) -> EnforcedLimits:
        return EnforcedLimits(
            timeout="SIGKILL of the call's processes",
            memory_mb="cgroup (Docker)",
            pids="cgroup (Docker)",
            cpus="CPU quota (Docker)",
            cpu_seconds="RLIMIT_CPU",
            output_bytes="capped reads",
            workdir_mb="tmpfs size",
            tmp_mb="tmpfs size",
            file_mb="RLIMIT_FSIZE",
            network=None if self.limits.network else "network none",
            syscall_filter="seccomp (Docker's default profile)" if seccomp else None,
        )

    async def sweep(self) -> int:
        """Remove agentscale containers whose creating process is gone. Returns how many.

        Containers stop (and are removed) on their own when their owner dies; this catches what an
        engine restart or an older version left behind.
        """
        return await self.call(self._sweep_dead)

    def _sweep_dead(self) -> int:
        removed = 0
        for c in self._client.api.containers(all=True, filters={"label": LABEL}):
            labels = c.get("Labels") or {}
            owner = Owner.from_tag(labels.get("agentscale.owner", ""), labels.get("agentscale.host", ""))
            if owner is not None and owner.is_gone():
                with contextlib.suppress(Exception):
                    self._client.api.remove_container(c["Id"], force=True, v=True)
                    removed += 1
        return removed

    async def create(self) -> DockerSandbox:
        """Create and start one sandbox container (about 0.1-0.2 s)."""
        if not self._started:
            raise SandboxError("DockerBackend is not started (use `async with` or `await start()`)")
        name = f"agentscale-{self._owner.tag}-{self._id}-{next(self._count)}"
        cid, cgroup, keep, lifeline = await self.call(self._create_blocking, name)
        sandbox = DockerSandbox(self, cid, name, cgroup, keep, lifeline)
        self._open.add(sandbox)
        return sandbox

    def _create_blocking(self, name: str) -> tuple[str, Cgroup | None, frozenset[int], Any]:
        import docker.errors
        import docker.types

        lim = self.limits
        api = self._client.api
        host_config = api.create_host_config(
            network_mode="bridge" if lim.network else "none",
            read_only=True,
            tmpfs={
                "/tmp": f"rw,exec,nosuid,nodev,size={lim.tmp_mb}m,mode=1777",
                # a tmpfs that is the working dir ignores mode=: uid/gid make it writable for the user
                "/work": f"rw,exec,nosuid,nodev,size={lim.workdir_mb}m,uid={_USER[0]},gid={_USER[1]},mode={_WORK_MODE}",
            },
            shm_size=f"{lim.tmp_mb}m",
            mem_limit=f"{lim.memory_mb}m",
            memswap_limit=f"{lim.memory_mb}m",
            pids_limit=lim.pids,
            nano_cpus=int(lim.cpus * 1e9),
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            init=True,
            # stopped (its owner died, or it was killed): the engine removes it
            auto_remove=True,
            ulimits=[
                docker.types.Ulimit(name="cpu", soft=lim.cpu_seconds, hard=lim.cpu_seconds),
                docker.types.Ulimit(name="fsize", soft=lim.file_mb << 20, hard=lim.file_mb << 20),
                docker.types.Ulimit(name="core", soft=0, hard=0),
            ],
        )
        labels = {
            LABEL: "1",
            "agentscale.owner": self._owner.tag,
            "agentscale.host": self._owner.host,
            "agentscale.backend": self._id,
        }
        try:
            cid = api.create_container(
                self.image,
                # lives while its stdin (held by this process, see `lifeline` below) stays open
                command=["cat"],
                stdin_open=True,
                user=_INIT_USER,
                working_dir="/work",
                hostname="sandbox",
                labels=labels,
                host_config=host_config,
                name=name,
                network_disabled=not lim.network,
            )["Id"]
        except docker.errors.ImageNotFound as exc:
            raise ConfigError(f"Docker image {self.image!r} not found") from exc
        except docker.errors.APIError as exc:
            raise SandboxError(f"could not create a sandbox container: {exc}") from exc
        lifeline = None
        try:
            # Attached before the start, so there is no moment when the owner could die unnoticed;
            # stdin closes (StdinOnce) when this connection does, and with it the container.
            lifeline = api.attach_socket(cid, params={"stdin": 1, "stream": 1})
            api.start(cid)
            pid = api.inspect_container(cid)["State"]["Pid"]
            cgroup = cgroup_of(pid)
            keep = {pid}
            if cgroup is not None:
                # init's child (`cat`) starts a moment after init: keep both.
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline:
                    procs = set(cgroup.procs())
                    if len(procs) >= 2:
                        keep = procs
                        break
                    time.sleep(0.005)
            return cid, cgroup, frozenset(keep), lifeline
        except Exception as exc:
            with contextlib.suppress(Exception):
                api.remove_container(cid, force=True, v=True)
            _cut(lifeline)
            raise SandboxError(f"could not start a sandbox container: {exc}") from exc

    async def aclose(self) -> None:
        """Remove every container this backend made, then close the client. Survives cancellation."""
        await finish(self._aclose())

    async def _aclose(self) -> None:
        if self._executor is None:
            return
        try:
            await asyncio.gather(*(s.aclose() for s in list(self._open)), return_exceptions=True)
            if self._started:
                # a create() cancelled half-way leaves a container nobody holds: the label finds it
                await self.call(self._remove_labelled, {"agentscale.backend": self._id})
        finally:
            if self._own_client and self._client is not None:
                with contextlib.suppress(Exception):
                    await self.call(self._client.close)
            # never block the event loop on a straggling thread: removed containers end their streams
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
            self._started = False

    def _remove_labelled(self, extra: dict[str, str]) -> None:
        wanted = [LABEL] + [f"{k}={v}" for k, v in extra.items()]
        for c in self._client.api.containers(all=True, filters={"label": wanted}):
            with contextlib.suppress(Exception):
                self._client.api.remove_container(c["Id"], force=True, v=True)

    async def __aenter__(self) -> DockerBackend:
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()


class _ExecState:
    __slots__ = ("exec_id", "pid", "sock")

    def __init__(self) -> None:
        self.exec_id: str | None = None
        self.pid: int | None = None
        self.sock: Any = None


class DockerSandbox(BaseSandbox):
    """A sandbox in one Docker container. Made by ``DockerBackend.create()``."""

    backend = "docker"

    def __init__(
        self,
        owner: DockerBackend,
        container_id: str,
        name: str,
        cgroup: Cgroup | None,
        keep: frozenset[int],
        lifeline: Any = None,
    ) -> None:
        super().__init__(owner.limits)
        self._backend = owner
        self.container_id = container_id
        self.name = name
        self.enforced: EnforcedLimits = owner.enforced_limits()
        """Which limits hold for this sandbox, and how."""
        self._cgroup = cgroup
        self._keep = keep
        self._lifeline = lifeline

    def __repr__(self) -> str:
        return f"DockerSandbox({self.name})"

    def alive(self) -> bool:
        if not super().alive():
            return False
        # With the cgroup visible, init's host pid tells at no cost; otherwise assume so (a dead
        # container shows on the next call, which marks it broken).
        return self._cgroup is None or all(Path(f"/proc/{pid}").exists() for pid in self._keep)

    # --- exec ---

    async def _exec(self, argv, entries, timeout, env, *, output_bytes) -> ExecResult:
        stdin = None
        marker = None
        if entries:
            # Write the files and run the command in one exec: tar reads them from stdin first.
            marker = f"agentscale-write-failed-{secrets.token_hex(8)}"
            stdin = entries_to_tar(entries, uid=_USER[0], gid=_USER[1])
            script = f'tar -x -f - -C {self.workdir} || {{ echo "$0" >&2; exit {_WRITE_FAILED}; }}; exec "$@"'
            argv = ["/bin/sh", "-c", script, marker, *argv]
        result = await self._exec_raw(argv, env, timeout, output_bytes, stdin)
        if marker and result.exit_code == _WRITE_FAILED and result.stderr.rstrip().endswith(marker):
            raise SandboxError(f"could not write files into the sandbox: {result.stderr[:2000]}")
        return result

    async def _exec_raw(self, argv, env, timeout, output_bytes, stdin: bytes | None) -> ExecResult:
        out, err = CappedBuffer(output_bytes), CappedBuffer(output_bytes)
        state = _ExecState()
        ooms_before = self._cgroup.oom_kills() if self._cgroup else None
        start = time.monotonic()
        job = asyncio.ensure_future(
            self._backend.call(self._exec_blocking, argv, env, stdin, out, err, state)
        )
        timed_out = False
        try:
            timed_out = await self._supervise(job, state, start + timeout)
            exit_code = await job
        except asyncio.CancelledError:
            # The caller gave up (first-finish cancelled its siblings): the code must stop too.
            await finish(self._abandon(job, state))
            raise
        except SandboxError:
            raise
        except Exception as exc:
            await finish(self._abandon(job, state))
            await self._diagnose(exc)
            raise SandboxError(f"{self!r}: exec failed: {exc}") from exc
        duration = time.monotonic() - start
        await self._kill_stragglers()
        ooms_after = self._cgroup.oom_kills() if self._cgroup else None
        oom = ooms_before is not None and ooms_after is not None and ooms_after > ooms_before
        return ExecResult(
            exit_code=exit_code if exit_code is not None else -1,
            stdout=out.text(),
            stderr=err.text(),
            truncated=out.truncated or err.truncated,
            timed_out=timed_out,
            oom_killed=oom,
            duration=duration,
        )

    async def _supervise(self, job: asyncio.Future, state: _ExecState, deadline: float) -> bool:
        """Wait for the exec; kill its tree at the deadline. Returns whether it timed out."""
        # Fast calls finish well inside this first wait and cost no extra API calls.
        first = min(0.5, max(0.0, deadline - time.monotonic()))
        done, _ = await asyncio.wait({job}, timeout=first)
        while not done:
            now = time.monotonic()
            if now >= deadline:
                await self._kill_tree(job, state)
                return True
            # The main process may have exited while a background child keeps stdout open (the exec
            # stream then never ends): notice, and end the stragglers ourselves.
            if state.exec_id is not None and await self._main_exited(state) and not job.done():
                await self._kill_stragglers()
            done, _ = await asyncio.wait({job}, timeout=min(0.25, max(0.0, deadline - time.monotonic())))
        return False

    async def _main_exited(self, state: _ExecState) -> bool:
        if state.pid is not None:
            return not Path(f"/proc/{state.pid}").exists()  # local engine: free to check
        try:
            info = await self._backend.call(self._backend._client.api.exec_inspect, state.exec_id)
        except Exception:
            return False
        if self._cgroup is not None and info.get("Pid") and info.get("Running"):
            state.pid = info["Pid"]  # from now on, watch the host pid instead of asking the engine
        return not info.get("Running", True)

    async def _kill_tree(self, job: asyncio.Future, state: _ExecState) -> None:
        await self._kill_stragglers()
        done, _ = await asyncio.wait({job}, timeout=10)
        if not done:
            # Could not end it (no cgroup access and the in-container kill failed): cut the stream
            # and give the sandbox up, so a pool replaces it.
            self.broken = "a timed-out exec could not be killed"
            self._close_socket(state)
            done, _ = await asyncio.wait({job}, timeout=5)
            if not done:
                raise SandboxTimeout(f"{self!r}: a timed-out exec could not be stopped")

    async def _abandon(self, job: asyncio.Future, state: _ExecState) -> None:
        await self._kill_stragglers()
        done, _ = await asyncio.wait({job}, timeout=5)
        if not done:
            self._close_socket(state)
            await asyncio.wait({job}, timeout=5)

    @staticmethod
    def _close_socket(state: _ExecState) -> None:
        if state.sock is not None:
            with contextlib.suppress(Exception):
                getattr(state.sock, "_sock", state.sock).shutdown(socket.SHUT_RDWR)

    async def _kill_stragglers(self) -> None:
        """Kill every process but the container's init and main process."""
        if self._cgroup is not None:
            for _ in range(3):
                if self._cgroup.kill_all(self._keep) == 0:
                    return
                await asyncio.sleep(0.01)
        # No cgroup access (a remote engine): kill from inside, as the sandbox user. `kill -1` reaches
        # every process that user may signal; init runs as another uid and survives.
        api = self._backend._client.api
        with contextlib.suppress(Exception):
            exec_id = (
                await self._backend.call(
                    api.exec_create, self.container_id, ["kill", "-9", "-1"], user=f"{_USER[0]}:{_USER[1]}"
                )
            )["Id"]
            await self._backend.call(api.exec_start, exec_id)

    async def _diagnose(self, exc: Exception) -> None:
        with contextlib.suppress(Exception):
            info = await self._backend.call(self._backend._client.api.inspect_container, self.container_id)
            if not info["State"]["Running"]:
                self.broken = f"its container stopped (exit {info['State'].get('ExitCode')})"
                return
        if "No such container" in str(exc) or "is not running" in str(exc):
            self.broken = "its container is gone"

    def _exec_blocking(self, argv, env, stdin, out: CappedBuffer, err: CappedBuffer, state: _ExecState):
        api = self._backend._client.api
        exec_id = api.exec_create(
            self.container_id,
            argv,
            stdout=True,
            stderr=True,
            stdin=stdin is not None,
            user=f"{_USER[0]}:{_USER[1]}",
            workdir=self.workdir,
            environment=env,
        )["Id"]
        state.exec_id = exec_id
        sock = api.exec_start(exec_id, socket=True)
        state.sock = sock
        raw = getattr(sock, "_sock", sock)
        # the client's API timeout must not cut a quiet, long call short: the caller's timeout rules
        raw.settimeout(None)
        try:
            if stdin is not None:
                raw.sendall(stdin)
                raw.shutdown(socket.SHUT_WR)  # EOF on the exec's stdin
            _read_frames(raw, out, err)
        finally:
            with contextlib.suppress(Exception):
                sock.close()
            with contextlib.suppress(Exception):
                sock._response.close()
        # The stream ends when every holder of stdout/stderr has closed it, which the main process
        # may do long before it exits: wait for the exit itself (the supervisor enforces the deadline).
        pause = 0.002
        while True:
            info = api.exec_inspect(exec_id)
            if not info.get("Running"):
                return info.get("ExitCode")
            time.sleep(pause)
            pause = min(pause * 2, 0.1)

    # --- files ---

    async def _write(self, entries: list[Entry]) -> None:
        tar = entries_to_tar(entries, uid=_USER[0], gid=_USER[1])
        env = {"PATH": "/usr/bin:/bin"}
        result = await self._exec_raw(["tar", "-x", "-f", "-", "-C", self.workdir], env, 120, 1 << 16, tar)
        if not result.ok:
            raise SandboxError(f"could not write files into the sandbox: {result.stderr[:2000]}")

    async def _read(self, paths: list[str]) -> dict[str, bytes]:
        env = {"PATH": "/usr/bin:/bin"}
        # Only regular files reached without any symlink (as on the other backends): a path whose
        # real path differs from its name goes through a link and is left out.
        script = (
            'for p; do r=$(realpath -e -- "$p" 2>/dev/null) && [ "$r" = "$0/$p" ] && [ -f "$p" ] '
            "&& printf '%s\\0' \"$p\"; done | tar -c -f - --null --no-recursion -T -"
        )
        argv = ["/bin/sh", "-c", script, self.workdir, *paths]
        out, err = CappedBuffer(1 << 30), CappedBuffer(1 << 16)
        state = _ExecState()
        job = asyncio.ensure_future(self._backend.call(self._exec_blocking, argv, env, None, out, err, state))
        try:
            await asyncio.wait_for(asyncio.shield(job), 120)
        except (TimeoutError, asyncio.CancelledError):
            await finish(self._abandon(job, state))
            raise
        except Exception as exc:
            await self._diagnose(exc)
            raise SandboxError(f"{self!r}: reading files failed: {exc}") from exc
        await self._kill_stragglers()
        try:
            return tar_to_files(out.getvalue())
        except Exception as exc:
            raise SandboxError(f"reading files failed: {err.text()[:2000]}") from exc

    # --- lifecycle ---

    async def _reset(self) -> None:
        await self._kill_stragglers()
        result = await self._exec_raw(["/bin/sh", "-c", _RESET], {"PATH": "/usr/bin:/bin"}, 60, 1 << 16, None)
        if not result.ok:
            self.broken = f"reset failed: {result.stderr[:500]}"
            raise SandboxError(f"{self!r}: {self.broken}")

    async def _close(self) -> None:
        self._backend._open.discard(self)
        with contextlib.suppress(Exception):
            await self._backend.call(
                self._backend._client.api.remove_container, self.container_id, force=True, v=True
            )
        _cut(self._lifeline)
        self._lifeline = None


def _cut(lifeline: Any) -> None:
    """Close the attach connection that keeps a container alive (it then stops on its own)."""
    if lifeline is None:
        return
    raw = getattr(lifeline, "_sock", lifeline)
    with contextlib.suppress(Exception):
        raw.shutdown(socket.SHUT_RDWR)
    for closable in (lifeline, raw, getattr(lifeline, "_response", None)):
        with contextlib.suppress(Exception):
            closable.close()  # type: ignore[union-attr]


def _read_frames(raw, out: CappedBuffer, err: CappedBuffer) -> None:
    """Read Docker's multiplexed stream until EOF: frames of an 8-byte header (stream id, length) + data."""
    buf = bytearray()
    stream, left = 0, 0  # the current frame's stream and how many of its bytes are still to come
    while True:
        try:
            chunk = raw.recv(1 << 16)
        except InterruptedError:
            continue
        except OSError:
            return
        if not chunk:
            return
        buf += chunk
        while buf:
            if left == 0:
                if len(buf) < 8:
                    break
                stream, left = struct.unpack(">BxxxL", bytes(buf[:8]))
                del buf[:8]
                continue
            take = bytes(buf[:left])
            del buf[: len(take)]
            left -= len(take)
            (err if stream == 2 else out).write(take)
