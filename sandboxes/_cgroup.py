"""Reading and driving Linux cgroups (v1 and v2) from the host.

Docker's ``exec_run`` has no timeout and killing an exec's own pid leaves its children running,
so the Docker backend kills by cgroup: every pid in the container's cgroup except the ones it
must keep. The memory cgroup's ``oom_kill`` counter tells whether the kernel killed something for
memory (Docker's ``State.OOMKilled`` stays False when an exec'd process, not the main one, dies).

The bubblewrap backend makes one cgroup per sandbox where it may (``find_cgroup_parent``): under
its own v1 ``pids`` and ``memory`` cgroups (as root on a v1 host), or in a cgroup v2 subtree
delegated to it (systemd's user delegation, a writable cgroup2 mount, root on a v2 host). Each
place says which controllers it really has, so the backend can report what it enforces.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Cgroup", "CgroupParent", "cgroup_of", "find_cgroup_parent"]

V2_PARENT = "agentscale"
"""The directory made under a delegated v2 subtree to hold one cgroup per sandbox."""


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


def _own_paths() -> dict[str, str]:
    """This process's cgroup path per v1 controller, and under ``""`` its v2 path."""
    mine: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for ctl in controllers.split(",") if controllers else [""]:
                mine[ctl] = path.lstrip("/")
    return mine


def _words(path: Path) -> set[str]:
    try:
        return set(path.read_text().split())
    except OSError:
        return set()


class Cgroup:
    """The cgroup directories of one group of processes, per controller (v1) or unified (v2)."""

    def __init__(self, pids_dir: Path | None, memory_dir: Path | None, *, v2: bool) -> None:
        self.pids_dir = pids_dir
        self.memory_dir = memory_dir
        self.v2 = v2

    @property
    def dirs(self) -> list[Path]:
        """Each distinct directory of the group (one on v2)."""
        return list(dict.fromkeys(d for d in (self.pids_dir, self.memory_dir) if d is not None))

    def procs(self) -> list[int]:
        """Pids of every process in the group (empty if it cannot be read)."""
        d = self.pids_dir or self.memory_dir
        if d is None:
            return []
        try:
            return [int(x) for x in (d / "cgroup.procs").read_text().split()]
        except (OSError, ValueError):
            return []

    def join(self, pid: int) -> None:
        """Move process ``pid`` into the group (every controller's directory).

        Raises:
            OSError: the kernel refused (the group is gone, or we may not move that process).
        """
        for d in self.dirs:
            (d / "cgroup.procs").write_text(str(pid))

    def kill_all(self, keep: frozenset[int] = frozenset(), *, rounds: int = 100) -> int:
        """SIGKILL every process in the group but ``keep``; repeat while new ones appear (fork bombs).

        On v2 with nothing to keep, ``cgroup.kill`` ends the whole group in one atomic step.

        Returns:
            How many processes were still there after the last round (0 means the group is clean).
        """
        if self.v2 and not keep and self.pids_dir is not None:
            with contextlib.suppress(OSError):
                (self.pids_dir / "cgroup.kill").write_text("1")
                # the kernel signals them all at once; they leave the group as they exit
                for _ in range(rounds):
                    if not self.procs():
                        return 0
                    time.sleep(0.001)
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
        for d in self.dirs:
            with contextlib.suppress(OSError):
                d.rmdir()


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


@dataclass(frozen=True)
class CgroupParent:
    """Where a backend makes one cgroup per sandbox, and which of their limits the kernel enforces.

    On v1, ``pids_dir`` and ``memory_dir`` are this process's own cgroups of each controller; on
    v2 both are the one parent directory (``agentscale`` under the delegated subtree, or the
    directory the user named).
    """

    version: int
    pids_dir: Path
    memory_dir: Path
    memory: bool
    """The memory controller is on: ``memory_mb`` holds for the sandbox as a whole."""
    pids: bool
    """The pids controller is on: ``pids`` holds for the sandbox as a whole."""

    @property
    def how(self) -> str:
        return f"cgroup v{self.version}"

    def make(self, name: str, *, memory_bytes: int, pids: int) -> Cgroup:
        """Create the group ``name`` with its limits.

        Raises:
            OSError: it could not be made (it is removed again).
        """
        pdir, mdir = self.pids_dir / name, self.memory_dir / name
        made: list[Path] = []
        try:
            for d in dict.fromkeys((pdir, mdir)):
                d.mkdir()
                made.append(d)
            if self.version == 1:
                (pdir / "pids.max").write_text(str(pids))
                (mdir / "memory.limit_in_bytes").write_text(str(memory_bytes))
                swap = mdir / "memory.memsw.limit_in_bytes"
                if swap.exists():  # memory+swap equal to memory: no swapping past the limit
                    swap.write_text(str(memory_bytes))
            else:
                if self.pids:
                    (pdir / "pids.max").write_text(str(pids))
                if self.memory:
                    (mdir / "memory.max").write_text(str(memory_bytes))
                    swap = mdir / "memory.swap.max"
                    if swap.exists():  # no swap at all: the limit is RAM
                        swap.write_text("0")
            return Cgroup(pdir, mdir, v2=self.version == 2)
        except OSError:
            for d in made:
                with contextlib.suppress(OSError):
                    d.rmdir()
            raise

    def leaves(self, prefix: str = "agentscale-") -> list[Path]:
        """The groups made here whose name starts with ``prefix`` (to sweep those of dead owners)."""
        found: list[Path] = []
        for parent in dict.fromkeys((self.pids_dir, self.memory_dir)):
            with contextlib.suppress(OSError):
                found += [d for d in parent.iterdir() if d.is_dir() and d.name.startswith(prefix)]
        return found


def _may_write(d: Path) -> bool:
    return os.access(d, os.W_OK | os.X_OK) and os.access(d / "cgroup.procs", os.W_OK)


def _v1_parent(v1: dict[str, Path], mine: dict[str, str]) -> CgroupParent | None:
    if "pids" not in v1 or "memory" not in v1:
        return None
    pdir = v1["pids"] / mine.get("pids", "")
    mdir = v1["memory"] / mine.get("memory", "")
    if not (_may_write(pdir) and _may_write(mdir)):
        return None
    return CgroupParent(1, pdir, mdir, memory=True, pids=True)


def _enable(parent: Path, wanted: set[str]) -> None:
    """Turn on the ``wanted`` controllers for ``parent``'s children, as far as they are offered."""
    missing = (wanted & _words(parent / "cgroup.controllers")) - _words(parent / "cgroup.subtree_control")
    for ctl in sorted(missing):
        # one at a time: a controller that cannot be enabled must not keep the others off
        with contextlib.suppress(OSError):
            (parent / "cgroup.subtree_control").write_text(f"+{ctl}")


def v2_parent(directory: Path) -> CgroupParent:
    """A v2 parent at ``directory`` (a cgroup2 directory that holds no processes of its own).

    Raises:
        OSError: it is not a cgroup v2 directory, or it may not be written.
    """
    if not (directory / "cgroup.controllers").is_file():
        raise OSError(f"{directory} is not a cgroup v2 directory (no cgroup.controllers)")
    if not _may_write(directory):
        raise PermissionError(f"{directory}: no permission to create cgroups there")
    _enable(directory, {"memory", "pids"})
    on = _words(directory / "cgroup.subtree_control")
    return CgroupParent(2, directory, directory, memory="memory" in on, pids="pids" in on)


def _delegated_v2_parent(v2: Path, mine: dict[str, str]) -> CgroupParent | None:
    """``agentscale`` under the highest cgroup above (or at) our own that we may write.

    As root on a v2 host that is the hierarchy's root; under systemd's user delegation it is the
    delegated unit (``user@UID.service`` or a scope made with ``Delegate=yes``). The new directory
    holds no processes, so controllers can be enabled for its children.
    """
    own = mine.get("")
    if own is None:
        return None
    chain = [v2]
    for part in Path(own).parts:
        chain.append(chain[-1] / part)
    top = next((d for d in chain if _may_write(d)), None)
    if top is None:
        return None
    _enable(top, {"memory", "pids"})  # a no-op where they are on already (systemd's delegation)
    parent = top / V2_PARENT
    try:
        parent.mkdir(exist_ok=True)
        return v2_parent(parent)
    except OSError:
        return None


def find_cgroup_parent(explicit: Path | None = None) -> tuple[CgroupParent | None, str]:
    """Where this process can make per-sandbox cgroups, preferring v1 (as root), then v2.

    Args:
        explicit: a cgroup v2 directory delegated to this user (``cgroup_parent=``); used as is.

    Returns:
        The place, and a sentence on it: how it was found, or why there is none.

    Raises:
        OSError: ``explicit`` is not a usable cgroup v2 directory.
    """
    if explicit is not None:
        parent = v2_parent(Path(explicit))
        return parent, f"cgroup v2 under {explicit}"
    v1, v2 = _mounts()
    mine = _own_paths()
    parent = _v1_parent(v1, mine)
    if parent is not None:
        return parent, "cgroup v1 (pids, memory)"
    if v2 is not None:
        parent = _delegated_v2_parent(v2, mine)
        if parent is not None:
            return parent, f"cgroup v2 under {parent.pids_dir}"
        return None, (
            "no cgroup v2 subtree is delegated to this user (run under `systemd-run --user --scope -p Delegate=yes`, "
            "or pass cgroup_parent= a writable cgroup2 directory)"
        )
    return None, "this host has no usable cgroups (no v1 pids/memory controllers we may write, no cgroup2 mount)"
