"""Sandboxes for model-written code: Docker and bubblewrap backends, a warm pool, image recipes.

Quick start::

    from agentscale.sandboxes import open_pool

    async with open_pool(backend="auto", size=8) as pool:
        async with pool.lease() as sandbox:
            result = await sandbox.run(["python3", "check.py"], files={"check.py": src}, timeout=10)
    result.ok, result.exit_code, result.stdout, result.timed_out, result.oom_killed

``auto`` uses Docker when an engine answers, else bubblewrap. Both run code as an unprivileged
user with no network, a read-only root, tmpfs work dir and ``/tmp``, a seccomp filter, and
limits on memory, processes, CPU, output and disk (``SandboxLimits``); ``sandbox.enforced``
(``EnforcedLimits``) says which of them hold on this host, and ``auto`` warns
(``UnenforcedLimitsWarning``) when memory or processes are not limited. Nothing one lease leaves
reaches the next. ``unsafe-local`` runs code without isolation and is only used when named.
Every sandbox and pool is an async context manager.
"""

from agentscale.sandboxes._base import BaseSandbox, SandboxBackend
from agentscale.sandboxes._factory import AutoBackend, make_backend, open_pool, open_sandbox
from agentscale.sandboxes._limits import EnforcedLimits, SandboxLimits, UnenforcedLimitsWarning
from agentscale.sandboxes.bwrap import BwrapBackend, BwrapSandbox
from agentscale.sandboxes.docker import DockerBackend, DockerSandbox
from agentscale.sandboxes.image import ensure_image, ensure_rootfs, image_tag
from agentscale.sandboxes.pool import SandboxPool
from agentscale.sandboxes.unsafe import UnsafeLocalBackend, UnsafeLocalSandbox

__all__ = [
    "AutoBackend",
    "BaseSandbox",
    "BwrapBackend",
    "BwrapSandbox",
    "DockerBackend",
    "DockerSandbox",
    "EnforcedLimits",
    "SandboxBackend",
    "SandboxLimits",
    "SandboxPool",
    "UnsafeLocalBackend",
    "UnenforcedLimitsWarning",
    "UnsafeLocalSandbox",
    "ensure_image",
    "ensure_rootfs",
    "image_tag",
    "make_backend",
    "open_pool",
    "open_sandbox",
]
