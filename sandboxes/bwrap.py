"""The bubblewrap backend, for hosts without Docker: one work dir per sandbox, one ``bwrap`` per call.

Each call runs in fresh namespaces (all unshared: no network, own pids, mounts, IPC, UTS, user),
dies with its parent, sees a read-only root (the image recipe's rootfs, or the host's ``/usr``
with everything else hidden), tmpfs ``/tmp`` and ``/dev/shm``, and the work dir at ``/work``. It
runs as uid 65534 inside and, on the host, as a uid of its own (``setpriv``): ``RLIMIT_NPROC``
binds only for a non-root uid, and a uid per sandbox keeps one sandbox's fork bomb from starving
the others. rlimits cap CPU time, address space, file size and process count; where the host has
v1 cgroups, a ``pids`` and a ``memory`` cgroup per sandbox add hard limits and OOM detection.
As root, the work dir is a size-limited tmpfs, so filling it cannot fill the host's disk.
A timeout SIGKILLs bwrap's process group: with ``--unshare-pid --die-with-parent`` that ends the
whole tree, and the cgroup (when there is one) is swept as well.
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

from agentscale.errors import SandboxError, SandboxUnavailable
from agentscale.sandboxes._base import finish
from agentscale.sandboxes._cgroup import Cgroup, child_cgroup_roots, make_child_cgroups
from agentscale.sandboxes._limits import SandboxLimits
from agentscale.sandboxes._owner import Owner
from agentscale.sandboxes._process import HOST_ENV, ProcessSandbox, wipe_dir

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
    """

    name = "bwrap"

    def __init__(
        self,
        *,
        limits: SandboxLimits | None = None,
        rootfs: str | Path | None = None,
        base_dir: Path | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        self.limits = limits or SandboxLimits()
        self._rootfs_arg = rootfs
        self.rootfs: Path | str | None = None
        self.base_dir = Path(base_dir) if base_dir else Path(tempfile.gettempdir()) / "agentscale-bwrap"
        self._cache_dir = cache_dir
        self._owner = Owner.me()
        self._id = uuid.uuid4().hex[:8]
        self._count = itertools.count()
        self._open: set[BwrapSandbox] = set()
        self._root = os.geteuid() == 0
        self._started = False
        self._rootfs_fd = -1
        self._etc_fd = -1
        self._rootfs_mount: Path | None = None

    async def start(self) -> None:
        """Find bwrap, prepare the rootfs, sweep leftovers of dead processes, and check a sandbox starts.

        Raises:
            SandboxUnavailable: bubblewrap is missing or cannot create namespaces here.
        """
        if self._started:
            return
        if shutil.which("bwrap") is None:
            raise SandboxUnavailable(
                "bubblewrap is not installed: `apt-get install bubblewrap` (or run scripts/docker-engine.sh)"
            )
        if self._root and shutil.which("setpriv") is None:
            raise SandboxUnavailable("running as root, bwrap needs `setpriv` (util-linux) to drop to a user")
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
            if self.rootfs == "host":
                etc = self.base_dir / f"etc-{self._owner.tag}-{self._id}"
                etc.mkdir(mode=0o755, exist_ok=True)
                for name, text in _ETC.items():
                    (etc / name).write_text(text)
                    (etc / name).chmod(0o644)
                self._etc_fd = os.open(etc, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            else:
                if not (Path(self.rootfs) / "usr").is_dir():
                    raise SandboxUnavailable(f"{self.rootfs} does not look like a root filesystem")
                source = Path(self.rootfs)
                if self._root:
                    # bwrap runs as the sandbox's uid, which cannot traverse root's home (the cache):
                    # give it a read-only bind of the rootfs under the traversable base dir.
                    source = self.base_dir / f"rootfs-{self._owner.tag}-{self._id}"
                    source.mkdir(mode=0o755, exist_ok=True)
                    subprocess.run(
                        ["mount", "--bind", "-o", "ro", str(self.rootfs), str(source)],
                        check=True,
                        capture_output=True,
                    )
                    self._rootfs_mount = source
                self._rootfs_fd = os.open(source, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            self._started = True
            async with await self.create() as probe:
                result = await probe.run(["true"], timeout=30)
            if result.exit_code != 0:
                await self.aclose()
                raise SandboxUnavailable(
                    f"bubblewrap cannot create a sandbox here: {result.stderr.strip()[:500]}"
                )
        except BaseException:
            await self.aclose()  # a half-made start (a rootfs bind, an fd) must not linger
            raise

    def _sweep_dead(self) -> int:
        """Remove work dirs and cgroups whose creating process is gone."""
        removed = 0
        for d in self.base_dir.iterdir():
            kind, _, rest = d.name.partition("-")
            if kind not in ("etc", "rootfs", "work"):
                continue
            owner = Owner.from_tag("-".join(rest.split("-")[:2]), self._owner.host)
            if owner is not None and owner.is_gone():
                (_remove_mount if kind == "rootfs" else _remove_workdir)(str(d))
                removed += 1
        for root in child_cgroup_roots():
            for d in root.glob("agentscale-*"):
                owner = Owner.from_tag("-".join(d.name.split("-")[1:3]), self._owner.host)
                if owner is not None and owner.is_gone():
                    Cgroup(d, None, v2=False).kill_all()
                    with contextlib.suppress(OSError):
                        d.rmdir()
                        removed += 1
        return removed

    async def create(self) -> BwrapSandbox:
        """Make one sandbox: its work dir (a tmpfs as root), its uid and its cgroups."""
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
        host_dir = self.base_dir / name
        host_dir.mkdir(mode=0o700)
        cgroup = None
        try:
            if uid is not None:
                subprocess.run(
                    [
                        "mount",
                        "-t",
                        "tmpfs",
                        "-o",
                        f"size={lim.workdir_mb}m,uid={uid},gid={uid},mode=0700,nosuid,nodev",
                        "tmpfs",
                        str(host_dir),
                    ],
                    check=True,
                    capture_output=True,
                )
                cgroup = make_child_cgroups(
                    f"agentscale-{name.removeprefix('work-')}",
                    memory_bytes=lim.memory_mb << 20,
                    pids=lim.pids,
                )
            return BwrapSandbox(self, str(host_dir), uid=uid, cgroup=cgroup)
        except Exception as exc:
            if cgroup is not None:
                cgroup.remove()
            _remove_workdir(str(host_dir))
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


def _remove_workdir(path: str) -> None:
    if os.path.ismount(path):
        subprocess.run(["umount", "-l", path], capture_output=True)
    with contextlib.suppress(OSError):
        wipe_dir(path)
    shutil.rmtree(path, ignore_errors=True)


class BwrapSandbox(ProcessSandbox):
    """A sandbox run by bubblewrap. Made by ``BwrapBackend.create()``."""

    backend = "bwrap"

    def __init__(self, owner: BwrapBackend, host_dir: str, *, uid: int | None, cgroup: Cgroup | None) -> None:
        super().__init__(owner.limits, host_dir, uid=uid, cgroup=cgroup)
        self._backend = owner
        self._work_fd = os.open(host_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)

    def __repr__(self) -> str:
        return f"BwrapSandbox({os.path.basename(self.host_dir)})"

    def _command(self, argv, env, status_fd):
        lim = self.limits
        b = self._backend
        # Address space is virtual: with a memory cgroup doing the real limiting, leave room for
        # runtimes that reserve more than they use; without one it is the only memory limit.
        address = lim.memory_mb << 22 if self._cgroup else lim.memory_mb << 20
        cmd: list[str] = []
        if self._cgroup is not None:
            # join the cgroups before anything forks, then become the rest of the command
            cmd += [
                "/bin/sh",
                "-c",
                'echo $$ > "$1" && echo $$ > "$2" && shift 2 && exec "$@"',
                "sh",
                str(self._cgroup.pids_dir / "cgroup.procs"),
                str(self._cgroup.memory_dir / "cgroup.procs"),
            ]
        cmd += [
            "prlimit",
            f"--cpu={lim.cpu_seconds}",
            f"--as={address}",
            f"--fsize={lim.file_mb << 20}",
            "--nofile=1024",
            "--core=0",
        ]
        if self._uid is not None:
            # RLIMIT_NPROC counts every process of the real uid on the host: only meaningful for a
            # uid of our own (as a normal user it would count your whole session)
            cmd += [f"--nproc={lim.pids}"]
        cmd += ["--"]
        if self._uid is not None:
            cmd += [
                "setpriv",
                f"--reuid={self._uid}",
                f"--regid={self._uid}",
                "--clear-groups",
                "--inh-caps=-all",
                "--bounding-set=-all",
                "--",
            ]
        cmd += [
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
            "--bind-fd",
            str(self._work_fd),
            self.workdir,
            "--chdir",
            self.workdir,
        ]
        if b.rootfs == "host":
            cmd += ["--remount-ro", "/"]
        cmd += ["--json-status-fd", str(status_fd), "--clearenv"]
        for key, value in env.items():
            cmd += ["--setenv", key, value]
        cmd += ["--", *argv]
        return cmd, fds, "/", HOST_ENV

    async def _close(self) -> None:
        self._backend._open.discard(self)
        self._kill(None)
        await asyncio.to_thread(_remove_workdir, self.host_dir)
        with contextlib.suppress(OSError):
            os.close(self._work_fd)
        if self._cgroup is not None:
            self._cgroup.kill_all()
            self._cgroup.remove()
