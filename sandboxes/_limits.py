"""The limits every sandbox enforces, in one small config model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["SandboxLimits"]


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
