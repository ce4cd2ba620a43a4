"""Who created a sandbox resource, so leftovers of a dead process can be swept safely.

Every container, work dir and cgroup carries its creator's host name, pid and the pid's start
time (pids get reused). A sweep removes only what belongs to a process on this host that is
gone, never what a live process (another test run, another user's pool) still uses.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

__all__ = ["Owner"]


def _start_time(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            # field 22; the command name (field 2) may hold spaces, so split after its ')'
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


@dataclass(frozen=True)
class Owner:
    """The identity of the process that created a resource."""

    host: str
    pid: int
    started: str

    @classmethod
    def me(cls) -> Owner:
        return cls(socket.gethostname(), os.getpid(), _start_time(os.getpid()) or "0")

    @property
    def tag(self) -> str:
        """A short string naming this owner, safe in file names: ``pid-starttime``."""
        return f"{self.pid}-{self.started}"

    @classmethod
    def from_tag(cls, tag: str, host: str) -> Owner | None:
        pid, _, started = tag.partition("-")
        if not pid.isdigit() or not started:
            return None
        return cls(host, int(pid), started)

    def is_gone(self) -> bool:
        """True when this owner is a process of this host that no longer exists."""
        if self.host != socket.gethostname():
            return False  # another machine's (remote engine): not ours to judge
        return _start_time(self.pid) != self.started
