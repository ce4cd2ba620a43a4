"""The command line of one bubblewrap sandbox instance: rlimits (``prlimit``), then ``bwrap``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from agentscale.sandboxes._limits import SandboxLimits

__all__ = ["Mounts", "bwrap_command", "prlimit_command"]

WORKDIR = "/work"


@dataclass(frozen=True)
class Mounts:
    """What a sandbox sees as its root: the host's ``/usr`` (with ``etc_fd`` as ``/etc``) or a rootfs."""

    host_usr: bool
    root_fd: int
    """The rootfs directory (``host_usr=False``) or the minimal ``/etc`` (``host_usr=True``), as an fd."""


def prlimit_command(lim: SandboxLimits, *, memory_cgroup: bool, own_uid: bool) -> list[str]:
    """``prlimit`` sets the rlimits on itself and becomes what follows (bwrap).

    This process may not set them on another uid's process (that needs ``CAP_SYS_RESOURCE``,
    which root may lack), so the sandbox sets them on itself before it starts.
    """
    # Address space is virtual: with a memory cgroup doing the real limiting, leave room for
    # runtimes that reserve more than they use; without one it is the only memory limit.
    cmd = [
        "prlimit",
        f"--cpu={lim.cpu_seconds}",
        f"--as={lim.memory_mb << (22 if memory_cgroup else 20)}",
        f"--fsize={lim.file_mb << 20}",
        "--nofile=1024",
        "--core=0",
    ]
    if own_uid:
        # RLIMIT_NPROC counts every process of the real uid on the host: only meaningful for a
        # uid of our own (as a normal user it would count your whole session)
        cmd.append(f"--nproc={lim.pids}")
    return [*cmd, "--"]


def bwrap_command(
    lim: SandboxLimits,
    mounts: Mounts,
    *,
    work_fd: int,
    status_fd: int = -1,
    block_fd: int = -1,
    seccomp_fd: int = -1,
) -> tuple[list[str], list[int]]:
    """The ``bwrap`` arguments up to (not including) ``--`` and the command, and the fds it reads.

    ``status_fd`` and ``block_fd`` (``--json-status-fd``, ``--block-fd``) let the caller move the
    sandbox into its cgroup before anything runs; ``seccomp_fd`` holds the BPF program.
    """
    cmd = [
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
    fds = [work_fd, mounts.root_fd]
    if mounts.host_usr:
        cmd += ["--ro-bind", "/usr", "/usr"]
        for top in ("bin", "lib", "lib64", "sbin"):
            host = Path("/") / top
            if host.is_symlink():
                cmd += ["--symlink", os.readlink(host), f"/{top}"]
            elif host.is_dir():
                cmd += ["--ro-bind", str(host), f"/{top}"]
        cmd += ["--ro-bind-fd", str(mounts.root_fd), "/etc"]
    else:
        cmd += ["--ro-bind-fd", str(mounts.root_fd), "/"]
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
        str(work_fd),
        WORKDIR,
        "--chdir",
        WORKDIR,
    ]
    if mounts.host_usr:
        cmd += ["--remount-ro", "/"]
    for flag, fd in (("--json-status-fd", status_fd), ("--block-fd", block_fd), ("--seccomp", seccomp_fd)):
        if fd >= 0:
            cmd += [flag, str(fd)]
            fds.append(fd)
    return cmd, fds
