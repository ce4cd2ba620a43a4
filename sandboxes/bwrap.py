"""The bubblewrap backend, for hosts without Docker: one work dir per sandbox, one ``bwrap`` per call.

Each call runs in fresh namespaces (all unshared: no network, own pids, mounts, IPC, UTS, user,
cgroup), dies with its parent, sees a read-only root (the image recipe's rootfs, or the host's
``/usr`` with everything else hidden), a read-only ``/dev``, tmpfs ``/tmp`` and ``/dev/shm`` of
``tmp_mb`` each, and the work dir at ``/work``. A seccomp filter (``_seccomp``) denies what
container runtimes deny. As root, the call runs on the host as a uid of its own (one per
sandbox), so ``RLIMIT_NPROC`` binds and one sandbox's fork bomb cannot starve the others, and the
work dir is a size-limited tmpfs.

Two programs start per call: ``prlimit``, which sets the rlimits (CPU time, address space, file
size, open files, process count) on itself and becomes ``bwrap``. bwrap waits (``--block-fd``)
once its namespaces exist and before it runs anything of the caller's, while this process moves
it into the sandbox's cgroup; then it goes on. Where there is a cgroup to use (``_cgroup.find_cgroup_parent``: v1 as
root, or a delegated cgroup v2 subtree), each sandbox gets one with hard ``memory`` and ``pids``
limits and OOM detection; where there is none, only the per-process rlimits and the tmpfs sizes
hold, and ``enforced`` says so.

A timeout SIGKILLs bwrap's process group: with ``--unshare-pid --die-with-parent`` that ends the
whole tree, and the cgroup (when there is one) is swept as well. Between leases the work dir is
replaced by a new one (``_workdir``); everything else is made fresh by every call.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from agentscale.errors import ConfigError, SandboxError, SandboxUnavailable
from agentscale.sandboxes._base import finish
from agentscale.sandboxes._cgroup import Cgroup, CgroupParent, find_cgroup_parent
from agentscale.sandboxes._limits import EnforcedLimits, SandboxLimits
from agentscale.sandboxes._owner import Owner
from agentscale.sandboxes._process import HOST_ENV, Launch, ProcessSandbox, read_json_doc
from agentscale.sandboxes._workdir import make_workdir, remove_workdir, replace_workdir

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
        """Make one sandbox: its work dir (a tmpfs as root), its uid and its cgroup."""
        if not self._started:
            raise SandboxError("BwrapBackend is not started (use `async with` or `await start()`)")
        n = next(self._count)
        name = f"work-{self._owner.tag}-{self._id}-{n}"
        uid = _UID_BASE + (os.getpid() % 4_000_000) * 256 + n % 256 if self._root else None
        sandbox = await asyncio.to_thread(self._create_blocking, name, uid)
        self._open.add(sandbox)
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
    """A sandbox run by bubblewrap. Made by ``BwrapBackend.create()``."""

    backend = "bwrap"

    def __init__(self, owner: BwrapBackend, host_dir: str, *, uid: int | None, cgroup: Cgroup | None) -> None:
        super().__init__(owner.limits, host_dir, uid=uid, cgroup=cgroup)
        self._backend = owner
        self.enforced: EnforcedLimits = owner.enforced_limits()
        """Which limits hold for this sandbox, and how."""
        self._work_fd = os.open(host_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self._prlimit_cmd = self._prlimit(owner.limits)

    def __repr__(self) -> str:
        return f"BwrapSandbox({os.path.basename(self.host_dir)})"

    def _prlimit(self, lim: SandboxLimits) -> list[str]:
        # rlimits are set by prlimit(1) on itself before it becomes bwrap: this process may not set
        # them on another uid's process (that needs CAP_SYS_RESOURCE, which root may lack)
        # Address space is virtual: with a memory cgroup doing the real limiting, leave room for
        # runtimes that reserve more than they use; without one it is the only memory limit.
        memory_cgroup = self._cgroup is not None and self.enforced.memory_mb is not None
        cmd = [
            "prlimit",
            f"--cpu={lim.cpu_seconds}",
            f"--as={lim.memory_mb << (22 if memory_cgroup else 20)}",
            f"--fsize={lim.file_mb << 20}",
            "--nofile=1024",
            "--core=0",
        ]
        if self._uid is not None:
            # RLIMIT_NPROC counts every process of the real uid on the host: only meaningful for a
            # uid of our own (as a normal user it would count your whole session)
            cmd.append(f"--nproc={lim.pids}")
        return [*cmd, "--"]

    def _launch(self, argv, env, status_fd) -> Launch:
        lim = self.limits
        b = self._backend
        owned: list[int] = []
        cmd = [
            *self._prlimit_cmd,
            "bwrap",
            "--unshare-all",
            "--unshare-user",
            "--die-with-parent",
            "--new-session",
            "--disable-userns",
            "--uid",
            "65534",
            "--gid",
            "65534",
            "--cap-drop",
            "ALL",
            "--hostname",
            "sandbox",
        ]
        if lim.network:
            cmd += ["--share-net"]
        fds = [self._work_fd]
        if b.rootfs == "host":
            cmd += ["--ro-bind", "/usr", "/usr"]
            for top in ("bin", "lib", "lib64", "sbin"):
                host = Path("/") / top
                if host.is_symlink():
                    cmd += ["--symlink", os.readlink(host), f"/{top}"]
                elif host.is_dir():
                    cmd += ["--ro-bind", str(host), f"/{top}"]
            cmd += ["--ro-bind-fd", str(b._etc_fd), "/etc"]
            fds.append(b._etc_fd)
        else:
            cmd += ["--ro-bind-fd", str(b._rootfs_fd), "/"]
            fds.append(b._rootfs_fd)
        cmd += [
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--size",
            str(lim.tmp_mb << 20),
            "--tmpfs",
            "/tmp",
            "--size",
            str(lim.tmp_mb << 20),
            "--tmpfs",
            "/dev/shm",
            # /dev was a writable tmpfs as big as half the host's RAM: only /dev/shm (capped) stays writable
            "--remount-ro",
            "/dev",
            "--bind-fd",
            str(self._work_fd),
            self.workdir,
            "--chdir",
            self.workdir,
        ]
        if b.rootfs == "host":
            cmd += ["--remount-ro", "/"]
        cmd += ["--json-status-fd", str(status_fd)]
        block_w = -1
        if self._cgroup is not None:
            # wait, once the namespaces exist, until _confine has moved the sandbox into its cgroup
            block_r, block_w = os.pipe()
            owned.append(block_r)
            fds.append(block_r)
            cmd += ["--block-fd", str(block_r)]
        if b.seccomp_program:
            seccomp_r, seccomp_w = os.pipe()
            owned.append(seccomp_r)
            try:
                os.write(seccomp_w, b.seccomp_program)  # a few hundred bytes: the pipe holds them
            finally:
                os.close(seccomp_w)
            cmd += ["--seccomp", str(seccomp_r)]
            fds.append(seccomp_r)
        cmd += ["--clearenv"]
        for key, value in env.items():
            cmd += ["--setenv", key, value]
        cmd += ["--", *argv]
        return Launch(cmd, "/", HOST_ENV, pass_fds=fds, owned_fds=owned, user=self._uid, release_fd=block_w)

    async def _confine(self, proc, launch, status_fd) -> bytes:
        """Once bwrap's namespaces exist, and before it runs anything: into the cgroup, then go."""
        if launch.release_fd < 0:
            return b""
        try:
            status, head = await read_json_doc(status_fd)
            pid = (status or {}).get("child-pid")
            if isinstance(pid, int) and self._cgroup is not None:
                try:
                    self._cgroup.join(pid)
                except ProcessLookupError:
                    pass  # it died already: nothing to confine, its status tells
                except OSError as exc:
                    self.broken = f"could not move a call into its cgroup: {exc}"
                    raise SandboxError(f"{self!r}: {self.broken}") from exc
                os.write(launch.release_fd, b"x")
            return head
        except BaseException:
            # closing the block fd unread would let it run outside its cgroup: kill it first
            self._kill(proc.pid)
            raise
        finally:
            os.close(launch.release_fd)
            launch.release_fd = -1

    async def _reset(self) -> None:
        self._kill(None)
        try:
            await asyncio.to_thread(self._fresh_workdir)
        except OSError as exc:
            self.broken = f"reset failed: {exc}"
            raise SandboxError(f"{self!r}: {self.broken}") from exc

    def _fresh_workdir(self) -> None:
        os.close(self._work_fd)
        self._work_fd = -1
        replace_workdir(self.host_dir, size_mb=self.limits.workdir_mb, uid=self._uid)
        self._work_fd = os.open(self.host_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)

    async def _close(self) -> None:
        self._backend._open.discard(self)
        self._kill(None)
        await asyncio.to_thread(remove_workdir, self.host_dir)
        if self._work_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._work_fd)
        if self._cgroup is not None:
            self._cgroup.kill_all()
            self._cgroup.remove()
