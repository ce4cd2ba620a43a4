"""The bubblewrap backend, for hosts without Docker: one work dir per sandbox, one ``bwrap`` per lease.

Each sandbox runs in its own namespaces (all unshared: no network, own pids, mounts, IPC, UTS,
user, cgroup), dies with its parent, sees a read-only root (the image recipe's rootfs, or the
host's ``/usr`` with everything else hidden), a read-only ``/dev``, tmpfs ``/tmp`` and ``/dev/shm``
of ``tmp_mb`` each, and the work dir at ``/work``. A seccomp filter (``_seccomp``) denies what
container runtimes deny. As root it runs on the host as a uid of its own (one per sandbox), so
``RLIMIT_NPROC`` binds and one sandbox's fork bomb cannot starve the others, and the work dir is
a size-limited tmpfs.

Like a Docker container, a sandbox is started once and then runs calls: ``prlimit`` sets the
rlimits (CPU time, address space, file size, open files, processes) and becomes ``bwrap``, which
waits (``--block-fd``) once its namespaces exist until this process has moved it into the
sandbox's cgroup, then starts a small agent (``_agent``) that spawns each call's command inside
(about the cost of a bare ``bwrap`` per call instead of twice it) and kills whatever a call
leaves running. Where there is a cgroup to use (``_cgroup.find_cgroup_parent``: v1 as root, or a
delegated cgroup v2 subtree), each sandbox gets one with hard ``memory`` and ``pids`` limits and
OOM detection; where there is none, only the per-process rlimits and the tmpfs sizes hold, and
``enforced`` says so.

A timeout makes the agent SIGKILL everything of the sandbox; if the agent is gone (sandboxed code
may kill it), the whole bwrap is ended and the next call starts a new one. A reset (between
leases) ends the bwrap and starts a new one over a new work dir (``_workdir``): nothing of a lease
survives it, neither files anywhere nor IPC objects nor processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from agentscale.errors import ConfigError, SandboxError, SandboxUnavailable
from agentscale.sandboxes._agent import AGENT
from agentscale.sandboxes._base import finish
from agentscale.sandboxes._bwrap_args import Mounts, bwrap_command, prlimit_command
from agentscale.sandboxes._bwrap_instance import Instance
from agentscale.sandboxes._cgroup import Cgroup, CgroupParent, find_cgroup_parent
from agentscale.sandboxes._files import write_host_entries
from agentscale.sandboxes._limits import EnforcedLimits, SandboxLimits
from agentscale.sandboxes._output import CappedBuffer
from agentscale.sandboxes._owner import Owner
from agentscale.sandboxes._process import HOST_ENV, ProcessSandbox
from agentscale.sandboxes._spawn import Child, PipeReader, read_json_doc
from agentscale.sandboxes._workdir import make_workdir, remove_workdir, replace_workdir
from agentscale.types import ExecResult

__all__ = ["BwrapBackend", "BwrapSandbox"]

_UID_BASE = 100_000_000  # far above any real account; one uid per sandbox from here
_ETC = {
    "passwd": (
        "root:x:0:0::/nonexistent:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/tmp:/usr/sbin/nologin\n"
    ),
    "group": "root:x:0:\nnogroup:x:65534:\n",
    "hosts": "127.0.0.1 localhost sandbox\n",
}


class BwrapBackend:
    """Creates ``BwrapSandbox``es.

    Args:
        limits: resource limits for every sandbox it makes.
        rootfs: the root filesystem: ``None`` for the image recipe's (built on ``start()`` if
            needed, cached), ``"host"`` to bind the host's ``/usr`` read-only with a minimal
            ``/etc`` (nothing else of the host is visible), or a path to a root filesystem.
        base_dir: where work dirs live on the host (default ``$TMPDIR/agentscale-bwrap``).
        cache_dir: where the recipe's rootfs is cached (default ``~/.cache/agentscale``).
        cgroup_parent: a cgroup v2 directory delegated to you, to make each sandbox's cgroup in
            (default: found by itself, see ``enforced_limits()``).
        seccomp: install the system-call filter (default on; off only to measure what it costs).
    """

    name = "bwrap"

    def __init__(
        self,
        *,
        limits: SandboxLimits | None = None,
        rootfs: str | Path | None = None,
        base_dir: Path | None = None,
        cache_dir: Path | None = None,
        cgroup_parent: str | Path | None = None,
        seccomp: bool = True,
    ) -> None:
        self.limits = limits or SandboxLimits()
        self._rootfs_arg = rootfs
        self.rootfs: Path | str | None = None
        self.base_dir = Path(base_dir) if base_dir else Path(tempfile.gettempdir()) / "agentscale-bwrap"
        self._cache_dir = cache_dir
        self._cgroup_arg = Path(cgroup_parent) if cgroup_parent is not None else None
        self._seccomp = seccomp
        self._owner = Owner.me()
        self._id = uuid.uuid4().hex[:8]
        self._count = itertools.count()
        self._open: set[BwrapSandbox] = set()
        self._root = os.geteuid() == 0
        self._started = False
        self._rootfs_fd = -1
        self._etc_fd = -1
        self._rootfs_mount: Path | None = None
        self._cgroups: CgroupParent | None = None
        self.cgroups = "not started"
        """How sandboxes get cgroups here, or why they get none (known after ``start()``)."""
        self.seccomp_program = b""
        self._enforced = EnforcedLimits()

    async def start(self) -> None:
        """Find bwrap, prepare the rootfs, sweep leftovers of dead processes, and check a sandbox starts.

        Raises:
            SandboxUnavailable: bubblewrap is missing or cannot create namespaces here.
            ConfigError: ``cgroup_parent`` is not a cgroup v2 directory this user may write.
        """
        if self._started:
            return
        if shutil.which("bwrap") is None:
            raise SandboxUnavailable(
                "bubblewrap is not installed: `apt-get install bubblewrap` (or run scripts/sandbox-deps.sh)"
            )
        if shutil.which("prlimit") is None:
            raise SandboxUnavailable("bubblewrap sandboxes need `prlimit` (util-linux) to set their rlimits")
        if self._seccomp:
            from agentscale.sandboxes._seccomp import build_filter

            self.seccomp_program = build_filter()
        try:
            self._cgroups, self.cgroups = find_cgroup_parent(self._cgroup_arg)
        except OSError as exc:
            raise ConfigError(f"cgroup_parent={str(self._cgroup_arg)!r} cannot be used: {exc}") from exc
        self._enforced = self._report()
        if self._rootfs_arg is None:
            from agentscale.sandboxes.image import ensure_rootfs

            try:
                self.rootfs = await asyncio.to_thread(ensure_rootfs, self._cache_dir)
            except SandboxUnavailable:
                self.rootfs = "host"  # cannot build the recipe here: hide the host behind /usr binds
        else:
            self.rootfs = self._rootfs_arg if self._rootfs_arg == "host" else Path(self._rootfs_arg)
        # traversable but not listable: sandbox uids reach their own work dir by path, nothing else
        self.base_dir.mkdir(mode=0o711, parents=True, exist_ok=True)
        self.base_dir.chmod(0o711)
        await asyncio.to_thread(self._sweep_dead)
        try:
            await asyncio.to_thread(self._prepare_root)
            self._started = True
            async with await self.create() as probe:
                result = await probe.run(["true"], timeout=30)
            if result.exit_code != 0:
                raise SandboxUnavailable(f"bubblewrap cannot create a sandbox here: {result.stderr.strip()[:500]}")
        except BaseException:
            await self.aclose()  # a half-made start (a rootfs bind, an fd) must not linger
            raise

    def enforced_limits(self) -> EnforcedLimits:
        """Which limits hold for this backend's sandboxes on this host, and how (after ``start()``)."""
        return self._enforced

    def _report(self) -> EnforcedLimits:
        cg = self._cgroups
        own_uid = self._root
        return EnforcedLimits(
            timeout="SIGKILL of the whole tree",
            memory_mb=cg.how if cg and cg.memory else None,
            pids=cg.how if cg and cg.pids else ("RLIMIT_NPROC of a uid of its own" if own_uid else None),
            cpus=None,
            cpu_seconds="RLIMIT_CPU",
            output_bytes="capped reads",
            workdir_mb="tmpfs size" if own_uid else None,
            tmp_mb="tmpfs size",
            file_mb="RLIMIT_FSIZE",
            network=None if self.limits.network else "network namespace without interfaces",
            syscall_filter="seccomp" if self._seccomp else None,
        )

    def _prepare_root(self) -> None:
        if self.rootfs == "host":
            etc = self.base_dir / f"etc-{self._owner.tag}-{self._id}"
            etc.mkdir(mode=0o755, exist_ok=True)
            for name, text in _ETC.items():
                (etc / name).write_text(text)
                (etc / name).chmod(0o644)
            self._etc_fd = os.open(etc, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            return
        if not (Path(self.rootfs) / "usr").is_dir():
            raise SandboxUnavailable(f"{self.rootfs} does not look like a root filesystem")
        source = Path(self.rootfs)
        if self._root:
            # bwrap runs as the sandbox's uid, which cannot traverse root's home (the cache):
            # give it a read-only bind of the rootfs under the traversable base dir.
            source = self.base_dir / f"rootfs-{self._owner.tag}-{self._id}"
            source.mkdir(mode=0o755, exist_ok=True)
            subprocess.run(
                ["mount", "--bind", "-o", "ro", str(self.rootfs), str(source)], check=True, capture_output=True
            )
            self._rootfs_mount = source
        self._rootfs_fd = os.open(source, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)

    def _sweep_dead(self) -> int:
        """Remove work dirs and cgroups whose creating process is gone."""
        removed = 0
        for d in self.base_dir.iterdir():
            kind, _, rest = d.name.partition("-")
            if kind not in ("etc", "rootfs", "work"):
                continue
            owner = Owner.from_tag("-".join(rest.split("-")[:2]), self._owner.host)
            if owner is not None and owner.is_gone():
                (_remove_mount if kind == "rootfs" else remove_workdir)(str(d))
                removed += 1
        for d in self._cgroups.leaves() if self._cgroups else []:
            owner = Owner.from_tag("-".join(d.name.split("-")[1:3]), self._owner.host)
            if owner is not None and owner.is_gone():
                group = Cgroup(d, d, v2=self._cgroups.version == 2)  # type: ignore[union-attr]
                group.kill_all()
                with contextlib.suppress(OSError):
                    d.rmdir()
                    removed += 1
        return removed

    async def create(self) -> BwrapSandbox:
        """Make one sandbox: its work dir (a tmpfs as root), its uid, its cgroup, and start its bwrap."""
        if not self._started:
            raise SandboxError("BwrapBackend is not started (use `async with` or `await start()`)")
        n = next(self._count)
        name = f"work-{self._owner.tag}-{self._id}-{n}"
        uid = _UID_BASE + (os.getpid() % 4_000_000) * 256 + n % 256 if self._root else None
        sandbox = await asyncio.to_thread(self._create_blocking, name, uid)
        self._open.add(sandbox)
        try:
            # its bwrap starts here, on this thread: bwrap dies with the thread that started it
            await sandbox._ensure_instance()
        except BaseException:
            await sandbox.aclose()
            raise
        return sandbox

    def _create_blocking(self, name: str, uid: int | None) -> BwrapSandbox:
        lim = self.limits
        host_dir = str(self.base_dir / name)
        cgroup = None
        try:
            make_workdir(host_dir, size_mb=lim.workdir_mb, uid=uid)
            if self._cgroups is not None:
                cgroup = self._cgroups.make(
                    f"agentscale-{name.removeprefix('work-')}", memory_bytes=lim.memory_mb << 20, pids=lim.pids
                )
            return BwrapSandbox(self, host_dir, uid=uid, cgroup=cgroup)
        except Exception as exc:
            if cgroup is not None:
                cgroup.remove()
            remove_workdir(host_dir)
            raise SandboxError(f"could not create a bwrap sandbox: {exc}") from exc

    async def aclose(self) -> None:
        """Remove every sandbox this backend made. Survives cancellation."""
        await finish(self._aclose())

    async def _aclose(self) -> None:
        await asyncio.gather(*(s.aclose() for s in list(self._open)), return_exceptions=True)
        for fd in (self._rootfs_fd, self._etc_fd):
            if fd >= 0:
                os.close(fd)
        if self._etc_fd >= 0:
            shutil.rmtree(self.base_dir / f"etc-{self._owner.tag}-{self._id}", ignore_errors=True)
        self._rootfs_fd = self._etc_fd = -1
        if self._rootfs_mount is not None:
            await asyncio.to_thread(_remove_mount, str(self._rootfs_mount))
            self._rootfs_mount = None
        self._started = False

    async def __aenter__(self) -> BwrapBackend:
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()


def _remove_mount(path: str) -> None:
    # never wipe a rootfs bind: only unmount it and remove the empty mount point
    subprocess.run(["umount", "-l", path], capture_output=True)
    with contextlib.suppress(OSError):
        os.rmdir(path)


class BwrapSandbox(ProcessSandbox):
    """A sandbox run by bubblewrap. Made by ``BwrapBackend.create()``.

    One ``bwrap`` runs per lease, with the agent (``_agent``) in it, which starts each call's
    command inside the sandbox; ``/tmp``, ``/dev/shm`` and IPC objects persist between the calls
    of a lease (as in a Docker container) and are gone at the reset, which starts a new bwrap.
    """

    backend = "bwrap"

    def __init__(self, owner: BwrapBackend, host_dir: str, *, uid: int | None, cgroup: Cgroup | None) -> None:
        super().__init__(owner.limits, host_dir, uid=uid, cgroup=cgroup)
        self._backend = owner
        self.enforced: EnforcedLimits = owner.enforced_limits()
        """Which limits hold for this sandbox, and how."""
        self._work_fd = os.open(host_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self._instance: Instance | None = None

    def __repr__(self) -> str:
        return f"BwrapSandbox({os.path.basename(self.host_dir)})"

    # --- the running bwrap ---

    async def _ensure_instance(self) -> Instance:
        if self._instance is not None and self._instance.running():
            return self._instance
        if self._instance is not None:  # the agent died (sandboxed code can kill it): start anew
            await self._stop_instance()
        self._instance = await self._start_instance()
        return self._instance

    async def _start_instance(self) -> Instance:
        b = self._backend
        lim = self.limits
        host_sock, sandbox_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        owned: list[int] = [sandbox_sock.fileno()]
        # bwrap tells the pid of the sandbox's init (to end it cleanly) on the status pipe
        status_r, status_w = os.pipe()
        owned.append(status_w)
        block_w = -1
        try:
            block_r = seccomp_r = -1
            if self._cgroup is not None:
                # bwrap waits, once its namespaces exist, until it is in the sandbox's cgroup
                block_r, block_w = os.pipe()
                owned.append(block_r)
            if b.seccomp_program:
                seccomp_r, seccomp_w = os.pipe()
                owned.append(seccomp_r)
                try:
                    os.write(seccomp_w, b.seccomp_program)  # a few hundred bytes: the pipe holds them
                finally:
                    os.close(seccomp_w)
            mounts = Mounts(host_usr=b.rootfs == "host", root_fd=b._etc_fd if b.rootfs == "host" else b._rootfs_fd)
            cmd, fds = bwrap_command(
                lim, mounts, work_fd=self._work_fd, status_fd=status_w, block_fd=block_r, seccomp_fd=seccomp_r
            )
            prlimit = prlimit_command(
                lim, memory_cgroup=self.enforced.memory_mb is not None, own_uid=self._uid is not None
            )
            agent_env = ["--clearenv", "--setenv", "PATH", HOST_ENV["PATH"], "--setenv", "LANG", "C.UTF-8"]
            fd = sandbox_sock.fileno()
            argv = [*prlimit, *cmd, *agent_env, "--", "python3", "-I", "-S", "-c", AGENT, str(fd)]
            out, err = CappedBuffer(1 << 16), CappedBuffer(1 << 16)
            try:
                child = Child(
                    argv,
                    out=out,
                    err=err,
                    pass_fds=[*fds, fd],
                    start_new_session=True,
                    env=HOST_ENV,
                    cwd="/",
                    user=self._uid,
                    group=self._uid,
                    extra_groups=None if self._uid is None else [],
                )
            except OSError as exc:
                raise SandboxError(f"could not start bwrap: {exc}") from exc
        except BaseException:
            host_sock.close()
            for fd in (status_r, block_w):
                if fd >= 0:
                    os.close(fd)
            raise
        finally:
            sandbox_sock.close()
            for fd in owned[1:]:
                os.close(fd)
        instance = Instance(child, host_sock, status_r, err)
        try:
            status, _ = await asyncio.wait_for(read_json_doc(status_r), 30)
            pid = (status or {}).get("child-pid")
            instance.init_pid = pid if isinstance(pid, int) else None
            if self._cgroup is not None and instance.init_pid is not None:
                try:
                    self._cgroup.join(instance.init_pid)
                except ProcessLookupError:
                    pass  # it died already: the agent never says it is ready
                except OSError as exc:
                    raise SandboxError(f"could not move the sandbox into its cgroup: {exc}") from exc
                os.write(block_w, b"x")
            ready = await asyncio.wait_for(instance.receive(), 30)
            if ready != {"ready": True}:
                raise SandboxError(f"bubblewrap did not start its sandbox: {err.text()[-2000:] or ready}")
            return instance
        except BaseException:
            # never let it go on unconfined (a closed block fd reads as "go"): kill it first
            await finish(instance.stop(self._kill))
            raise
        finally:
            if block_w >= 0:
                os.close(block_w)

    async def _stop_instance(self) -> None:
        if self._instance is not None:
            instance, self._instance = self._instance, None
            await instance.stop(self._kill)

    # --- calls ---

    async def _exec(self, argv, entries, timeout, env, *, output_bytes) -> ExecResult:
        if not os.path.isdir(self.host_dir):
            self.broken = "its work dir is gone"
            raise SandboxError(f"{self!r} is broken: {self.broken}")
        instance = await self._ensure_instance()
        if entries:
            await asyncio.to_thread(write_host_entries, self.host_dir, entries, uid=self._uid, gid=self._uid)
        out, err = CappedBuffer(output_bytes), CappedBuffer(output_bytes)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            pipes = PipeReader({out_r: out, err_r: err})
        except BaseException:
            for fd in (out_r, out_w, err_r, err_w):
                os.close(fd)
            raise
        ooms_before = self._cgroup.oom_kills() if self._cgroup else None
        start = time.monotonic()
        timed_out = False
        code: int | None = None
        try:
            try:
                try:
                    instance.send({"argv": argv, "env": env}, [out_w, err_w])
                except SandboxError:
                    # the agent went away since the last call (it exits when its socket breaks): anew
                    await self._stop_instance()
                    instance = await self._ensure_instance()
                    instance.send({"argv": argv, "env": env}, [out_w, err_w])
            finally:
                os.close(out_w)
                os.close(err_w)
            try:
                reply = await asyncio.wait_for(instance.receive(), timeout)
            except TimeoutError:
                timed_out = True
                reply = await instance.kill_and_wait()
            if reply is None or "exit" not in reply:
                # the agent is gone (sandboxed code killed it) or confused: end this bwrap; the next
                # call starts a new one
                await self._stop_instance()
                code = 137
            else:
                code = int(reply["exit"])
            if not await pipes.drained(5):
                await self._stop_instance()  # something still holds the pipes: nothing of it may live on
                await pipes.drained(5)
        except BaseException:
            # cancelled (first-finish strategies cancel the losers): their code must stop
            await finish(self._abandon_call(instance))
            raise
        finally:
            pipes.close()
        duration = time.monotonic() - start
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

    async def _abandon_call(self, instance: Instance) -> None:
        if instance is self._instance and await instance.kill_and_wait() is not None:
            return
        await self._stop_instance()

    # --- lifecycle ---

    def alive(self) -> bool:
        return super().alive() and self._work_fd >= 0

    async def _reset(self) -> None:
        # a new bwrap: new /tmp, /dev/shm, IPC namespace, processes; and a new work dir
        await self._stop_instance()
        self._kill(None)
        try:
            await asyncio.to_thread(self._fresh_workdir)
            self._instance = await self._start_instance()
        except (OSError, SandboxError) as exc:
            self.broken = f"reset failed: {exc}"
            raise SandboxError(f"{self!r}: {self.broken}") from exc

    def _fresh_workdir(self) -> None:
        os.close(self._work_fd)
        self._work_fd = -1
        replace_workdir(self.host_dir, size_mb=self.limits.workdir_mb, uid=self._uid)
        self._work_fd = os.open(self.host_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)

    async def _close(self) -> None:
        self._backend._open.discard(self)
        await self._stop_instance()
        self._kill(None)
        await asyncio.to_thread(remove_workdir, self.host_dir)
        if self._work_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._work_fd)
            self._work_fd = -1
        if self._cgroup is not None:
            self._cgroup.kill_all()
            self._cgroup.remove()
