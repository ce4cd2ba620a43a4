"""bubblewrap on the hosts people have: no usable cgroups (simulated here: this machine has v1
cgroups), a cgroup v2 hierarchy, and the limits each sandbox reports it enforces."""

from __future__ import annotations

import pytest

from agentscale.sandboxes import SandboxLimits, _cgroup, open_sandbox

pytestmark = pytest.mark.bwrap


@pytest.fixture
def no_cgroup_host(monkeypatch):
    """The host as a sandbox backend sees it shows no cgroup mounts at all."""
    monkeypatch.setattr(_cgroup, "_mounts", lambda: ({}, None))


@pytest.mark.xfail(strict=True, reason="issue 14: /dev is a writable tmpfs of half the host's RAM")
async def test_no_cgroup_host_dev_is_read_only_and_shm_capped(bwrap_ready, no_cgroup_host):
    # Without a memory cgroup, tmpfs writes are limited only by each mount's size: /dev must take
    # none (it was a tmpfs of half the host's RAM) and /dev/shm no more than its cap.
    limits = SandboxLimits(memory_mb=256, tmp_mb=16, timeout=60)
    async with open_sandbox("bwrap", limits=limits) as sb:
        r = await sb.run(
            # four files of 250 MiB: 1000 MiB in all, each under the file-size rlimit
            "for i in 1 2 3 4; do dd if=/dev/zero of=/dev/fill$i bs=1M count=250 2>&1; done; "
            "dd if=/dev/zero of=/dev/shm/fill bs=1M count=1000 2>&1; "
            "echo dev=$(cat /dev/fill* 2>/dev/null | wc -c) shm=$(stat -c %s /dev/shm/fill)"
        )
    sizes = dict(kv.split("=") for kv in r.stdout.split()[-2:])
    assert int(sizes["dev"]) == 0 and "Read-only file system" in r.stdout, r
    assert 0 < int(sizes["shm"]) <= limits.tmp_mb << 20, r
