"""Choosing a backend by name, ``auto`` included, and the two entry points users call."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import AsyncIterator
from typing import Any

from agentscale.errors import ConfigError, SandboxUnavailable
from agentscale.sandboxes._base import BaseSandbox, SandboxBackend, finish
from agentscale.sandboxes._limits import EnforcedLimits, SandboxLimits, UnenforcedLimitsWarning
from agentscale.sandboxes.pool import SandboxPool

__all__ = ["AutoBackend", "make_backend", "open_pool", "open_sandbox"]

_OPTIONS = {
    "docker": {"image", "client", "cache_dir"},
    "bwrap": {"rootfs", "base_dir", "cache_dir", "cgroup_parent", "seccomp"},
    "unsafe-local": set(),
}


class AutoBackend:
    """Docker when an engine answers, else bubblewrap, else ``SandboxUnavailable`` saying how to get either.

    Takes the options of both (``image``, ``rootfs``...) and passes each backend its own. Warns
    (``UnenforcedLimitsWarning``) when the chosen one cannot limit memory or processes here.
    """

    def __init__(self, *, limits: SandboxLimits | None = None, **options: Any) -> None:
        unknown = set(options) - _OPTIONS["docker"] - _OPTIONS["bwrap"]
        if unknown:
            raise ConfigError(f"unknown sandbox option(s) {sorted(unknown)}")
        self.limits = limits or SandboxLimits()
        self._options = options
        self.chosen: SandboxBackend | None = None

    @property
    def name(self) -> str:
        return self.chosen.name if self.chosen is not None else "auto"

    async def start(self) -> None:
        if self.chosen is not None:
            return
        reasons = []
        for name in ("docker", "bwrap"):
            backend = _make(
                name, self.limits, {k: v for k, v in self._options.items() if k in _OPTIONS[name]}
            )
            try:
                await backend.start()
            except SandboxUnavailable as exc:
                reasons.append(f"{name}: {exc}")
                continue
            self.chosen = backend
            _warn_unenforced(backend)
            return
        raise SandboxUnavailable(
            "no sandbox backend can run here. Get one of: a Docker engine (as root: scripts/docker-engine.sh "
            "installs Debian's docker.io and starts dockerd) or bubblewrap (`apt-get install bubblewrap`). "
            "Details: " + "; ".join(reasons)
        )

    def enforced_limits(self) -> EnforcedLimits:
        """What the chosen backend enforces (all ``None`` before ``start()``)."""
        report = getattr(self.chosen, "enforced_limits", None)
        return report() if report is not None else EnforcedLimits()

    async def create(self) -> BaseSandbox:
        if self.chosen is None:
            raise SandboxUnavailable("AutoBackend is not started")
        return await self.chosen.create()

    async def aclose(self) -> None:
        if self.chosen is not None:
            await self.chosen.aclose()

    async def __aenter__(self) -> AutoBackend:
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()


def _warn_unenforced(backend: SandboxBackend) -> None:
    report = getattr(backend, "enforced_limits", None)
    if report is None:
        return
    missing = report().missing(["memory_mb", "pids"])
    if missing:
        warnings.warn(
            f"agentscale: the {backend.name!r} sandbox backend cannot enforce {' and '.join(missing)} here "
            f"({getattr(backend, 'cgroups', 'no cgroup')}): only per-process limits and tmpfs sizes hold. "
            "Use a Docker engine, or give bubblewrap a cgroup (run as root on a cgroup v1 host, or delegate a "
            "cgroup v2 subtree: systemd-run --user --scope -p Delegate=yes ..., or cgroup_parent=).",
            UnenforcedLimitsWarning,
            stacklevel=3,
        )


def _make(name: str, limits: SandboxLimits, options: dict[str, Any]) -> SandboxBackend:
    from agentscale import registry

    return registry.create("sandboxes", name, limits=limits, **options)


def make_backend(
    backend: str = "auto", *, limits: SandboxLimits | None = None, **options: Any
) -> SandboxBackend:
    """Build (not start) a backend by its name in ``agentscale.registry`` (plugins included).

    Args:
        backend: ``"auto"``, ``"docker"``, ``"bwrap"``, ``"unsafe-local"`` (no isolation: only
            when you mean it), or a plugin's name (entry-point group ``agentscale.sandboxes``).
        limits: resource limits (default ``SandboxLimits()``).
        **options: backend options: ``image``, ``client``, ``cache_dir`` (docker); ``rootfs``,
            ``base_dir``, ``cache_dir`` (bwrap).

    Raises:
        ConfigError: an unknown backend name (the message lists the choices) or an option the
            backend does not take.
    """
    return _make(backend, limits or SandboxLimits(), options)


def open_pool(
    backend: str = "auto", size: int = 8, *, limits: SandboxLimits | None = None, **options: Any
) -> SandboxPool:
    """A warm pool of ``size`` sandboxes; use it with ``async with``.

    Example:
        >>> async def main(src):  # doctest: +SKIP
        ...     async with open_pool(size=8) as pool:
        ...         async with pool.lease() as sandbox:
        ...             return await sandbox.run(["python3", "check.py"], files={"check.py": src}, timeout=10)

    Args:
        backend: see ``make_backend``.
        size: sandboxes kept ready (the most leases out at once).
        limits: resource limits for each sandbox.
        **options: backend options (see ``make_backend``).
    """
    return SandboxPool(make_backend(backend, limits=limits, **options), size=size)


@contextlib.asynccontextmanager
async def open_sandbox(
    backend: str = "auto", *, limits: SandboxLimits | None = None, **options: Any
) -> AsyncIterator[BaseSandbox]:
    """One sandbox (and its backend) for the duration of an ``async with`` block.

    Args:
        backend: see ``make_backend``.
        limits: resource limits.
        **options: backend options (see ``make_backend``).

    Raises:
        SandboxUnavailable: the backend cannot run here (the message says how to get one).

    Example:
        >>> async def main():  # doctest: +SKIP
        ...     async with open_sandbox("docker") as sandbox:
        ...         return (await sandbox.run("echo hi")).stdout
    """
    made = make_backend(backend, limits=limits, **options)
    await made.start()
    try:
        async with await made.create() as sandbox:
            yield sandbox
    finally:
        await finish(made.aclose())
