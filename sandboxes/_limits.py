"""The limits every sandbox enforces, in one small config model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["EnforcedLimits", "SandboxLimits", "UnenforcedLimitsWarning"]


class SandboxLimits(BaseModel):
    """Resource limits and defaults for a sandbox. Every field is a safe default you may override.

    Example:
        >>> SandboxLimits(memory_mb=1024, timeout=5).pids
        128
    """

    model_config = ConfigDict(frozen=True)

    timeout: float = Field(default=30.0, gt=0)
    """Default per-call wall-clock limit in seconds (``run(timeout=...)`` overrides it per call)."""
    memory_mb: int = Field(default=512, ge=16)
    """Memory limit (RAM; swap is not allowed beyond it). Files in the tmpfs work dir count too."""
    pids: int = Field(default=128, ge=8)
    """Most processes and threads alive at once."""
    cpus: float = Field(default=1.0, gt=0)
    """CPU quota, in cores (Docker); bubblewrap has no quota, only ``cpu_seconds``."""
    cpu_seconds: int = Field(default=600, ge=1)
    """CPU time one process may use (``RLIMIT_CPU``, bubblewrap)."""
    output_bytes: int = Field(default=1_000_000, ge=1024)
    """Cap on each of stdout and stderr; the rest is read and thrown away, and ``truncated`` is set."""
    workdir_mb: int = Field(default=256, ge=1)
    """Size of the work dir (a tmpfs)."""
    tmp_mb: int = Field(default=64, ge=1)
    """Size of ``/tmp`` and ``/dev/shm`` (each a tmpfs)."""
    file_mb: int = Field(default=256, ge=1)
    """Largest file a process may write (``RLIMIT_FSIZE``, bubblewrap)."""
    network: bool = False
    """Give the sandbox a network. Off by default: model-written code has no business calling out."""


class EnforcedLimits(BaseModel):
    """Which of a sandbox's limits actually hold, and by what: ``None`` means not enforced.

    A backend reports this (``backend.enforced_limits()``, ``sandbox.enforced``) because what it
    can enforce depends on the host: bubblewrap without a cgroup it may use has no memory limit
    for the sandbox as a whole, only per process. ``auto`` warns when memory or processes are not
    limited.

    Example:
        >>> EnforcedLimits(memory_mb="cgroup v2", pids=None).missing(["memory_mb", "pids"])
        ['pids']
    """

    model_config = ConfigDict(frozen=True)

    timeout: str | None = None
    memory_mb: str | None = None
    pids: str | None = None
    cpus: str | None = None
    cpu_seconds: str | None = None
    output_bytes: str | None = None
    workdir_mb: str | None = None
    tmp_mb: str | None = None
    file_mb: str | None = None
    network: str | None = None
    syscall_filter: str | None = None
    """Not a ``SandboxLimits`` field: the system-call filter in place (seccomp), if any."""

    def missing(self, names: list[str] | None = None) -> list[str]:
        """The names (of ``names``, default all) that are not enforced."""
        return [n for n in names or list(type(self).model_fields) if getattr(self, n) is None]

    def __str__(self) -> str:
        return ", ".join(f"{k}: {v or 'NOT ENFORCED'}" for k, v in self.model_dump().items())


class UnenforcedLimitsWarning(RuntimeWarning):
    """A chosen sandbox backend cannot enforce some limits here (``EnforcedLimits`` says which)."""
