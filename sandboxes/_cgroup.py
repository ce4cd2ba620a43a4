"""Reading and driving Linux cgroups (v1 and v2) from the host.

Docker's ``exec_run`` has no timeout and killing an exec's own pid leaves its children running,
so the Docker backend kills by cgroup: every pid in the container's cgroup except the ones it
must keep. The memory cgroup's ``oom_kill`` counter tells whether the kernel killed something for
memory (Docker's ``State.OOMKilled`` stays False when an exec'd process, not the main one, dies).
The bubblewrap backend makes one v1 cgroup per sandbox, when the host has v1 controllers.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

__all__ = ["Cgroup", "cgroup_of", "make_child_cgroups"]


def _mounts() -> tuple[dict[str, Path], Path | None]:
    """Map each v1 controller to its mount point, and find the v2 mount (if any)."""
    v1: dict[str, Path] = {}
    v2: Path | None = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            fstype, opts, mountpoint, root = fields[sep + 1], fields[sep + 3], fields[4], fields[3]
            if root != "/":
                continue  # a bind of a sub-tree: paths from /proc/PID/cgroup would not line up
            if fstype == "cgroup":
                for opt in opts.split(","):
                    v1.setdefault(opt, Path(mountpoint))
            elif fstype == "cgroup2" and v2 is None:
                v2 = Path(mountpoint)
    return v1, v2


class Cgroup:
    """The cgroup directories of one group of processes, per controller (v1) or unified (v2)."""

    def __init__(self, pids_dir: Path | None, memory_dir: Path | None, *, v2: bool) -> None:
        self.pids_dir = pids_dir
        self.memory_dir = memory_dir
        self.v2 = v2

    def procs(self) -> list[int]:
        """Pids of every process in the group (empty if it cannot be read)."""
        d = self.pids_dir or self.memory_dir
        if d is None:
            return []
        try:
            return [int(x) for x in (d / "cgroup.procs").read_text().split()]
        except (OSError, ValueError):
            return []

    def kill_all(self, keep: frozenset[int] = frozenset(), *, rounds: int = 100) -> int:
        """SIGKILL every process in the group but ``keep``; repeat while new ones appear (fork bombs).

        Returns:
            How many processes were still there after the last round (0 means the group is clean).
        """
        left = 0
        for _ in range(rounds):
            victims = [p for p in self.procs() if p not in keep]
            left = len(victims)
            if not victims:
                return 0
            for pid in victims:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        return left

    def oom_kills(self) -> int | None:
        """The kernel's count of processes killed for memory in this group, or ``None`` if unknown."""
        if self.memory_dir is None:
            return None
        name = "memory.events" if self.v2 else "memory.oom_control"
        try:
            for line in (self.memory_dir / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            return None
        return None

    def remove(self) -> None:
        """Remove the group's directories (they must be empty of processes)."""
        for d in {self.pids_dir, self.memory_dir} - {None}:
            with contextlib.suppress(OSError):
                d.rmdir()  # type: ignore[union-attr]


def cgroup_of(pid: int) -> Cgroup | None:
    """The cgroup of a host process, or ``None`` if it cannot be seen (remote engine, no /proc)."""
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return None
    v1, v2mount = _mounts()
    found: dict[str, Path] = {}
    unified: Path | None = None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "" and v2mount is not None:
            unified = v2mount / path.lstrip("/")
        for ctl in controllers.split(","):
            if ctl in ("pids", "memory") and ctl in v1:
                found[ctl] = v1[ctl] / path.lstrip("/")
    if found:
        return Cgroup(found.get("pids"), found.get("memory"), v2=False)
    if unified is not None and (unified / "cgroup.procs").exists():
        return Cgroup(unified, unified, v2=True)
    return None


def make_child_cgroups(name: str, *, memory_bytes: int, pids: int) -> Cgroup | None:
    """Create v1 ``pids`` and ``memory`` cgroups named ``name`` under this process's own, with limits.

    Returns ``None`` where that is not possible (no v1 controllers, not root): the caller then
    relies on rlimits alone.
    """
    v1, _ = _mounts()
    if "pids" not in v1 or "memory" not in v1:
        return None
    mine = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for ctl in controllers.split(","):
                mine[ctl] = path.lstrip("/")
    made: list[Path] = []
    try:
        pdir = v1["pids"] / mine.get("pids", "") / name
        mdir = v1["memory"] / mine.get("memory", "") / name
        for d in (pdir, mdir):
            d.mkdir()
            made.append(d)
        (pdir / "pids.max").write_text(str(pids))
        (mdir / "memory.limit_in_bytes").write_text(str(memory_bytes))
        swap = mdir / "memory.memsw.limit_in_bytes"
        if swap.exists():  # memory+swap equal to memory: no swapping past the limit
            swap.write_text(str(memory_bytes))
        return Cgroup(pdir, mdir, v2=False)
    except OSError:
        for d in made:
            with contextlib.suppress(OSError):
                d.rmdir()
        return None


def child_cgroup_roots() -> list[Path]:
    """Where ``make_child_cgroups`` puts groups (for sweeping leftovers)."""
    v1, _ = _mounts()
    roots = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for ctl in controllers.split(","):
                if ctl in ("pids", "memory") and ctl in v1:
                    roots.append(v1[ctl] / path.lstrip("/"))
    return roots
