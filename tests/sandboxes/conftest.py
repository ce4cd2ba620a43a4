"""Fixtures for the sandbox tests: real backends (a real Docker engine, real bubblewrap).

Locally, tests needing an engine or bubblewrap skip with a message saying how to enable them;
in CI (``CI=true``) they fail instead: the sandbox is the security boundary, it must be tested.
``make test`` runs scripts/docker-engine.sh first, which installs and starts what they need.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from agentscale.sandboxes import SandboxLimits, make_backend

ENABLE = "run scripts/docker-engine.sh (as root) to install bubblewrap/debootstrap and start a Docker engine"
LIMITS = SandboxLimits(timeout=20, memory_mb=256, pids=64, workdir_mb=64, tmp_mb=16, output_bytes=256_000)
"""Small limits keep the hostile cases quick."""
BACKENDS = [
    pytest.param("docker", marks=pytest.mark.docker, id="docker"),
    pytest.param("bwrap", marks=pytest.mark.bwrap, id="bwrap"),
]


def _cache_dir() -> Path | None:
    # the built image is worth keeping between runs; CI may point this elsewhere
    value = os.environ.get("AGENTSCALE_CACHE")
    return Path(value) if value else None


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} -- CI=true, so sandbox tests must not skip ({ENABLE})")
    pytest.skip(f"{reason}; to enable: {ENABLE}")


@pytest.fixture(scope="session")
def docker_ready() -> None:
    """A Docker engine answers and has the sandbox image (built once, then loaded from the cache)."""
    import docker

    from agentscale.sandboxes import ensure_image

    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:
        _unavailable(f"no Docker engine answers ({type(exc).__name__})")
    try:
        ensure_image(client, _cache_dir())
    finally:
        client.close()


@pytest.fixture(scope="session")
def bwrap_ready() -> None:
    """bubblewrap is installed and the recipe's rootfs is built (cached)."""
    from agentscale.sandboxes import ensure_rootfs

    if shutil.which("bwrap") is None:
        _unavailable("bubblewrap is not installed")
    if os.geteuid() == 0:
        ensure_rootfs(_cache_dir())


@pytest.fixture
def limits() -> SandboxLimits:
    return LIMITS


@pytest.fixture(params=BACKENDS)
def backend_name(request) -> str:
    """Every test that uses a sandbox runs once per real backend."""
    return request.param


@pytest.fixture
async def backend(request, backend_name):
    request.getfixturevalue(f"{backend_name}_ready")
    made = make_backend(backend_name, limits=LIMITS, cache_dir=_cache_dir())
    async with made:
        yield made


@pytest.fixture
async def sandbox(backend):
    async with await backend.create() as sb:
        yield sb
