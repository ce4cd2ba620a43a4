"""bubblewrap on the hosts people have: no usable cgroups (simulated here: this machine has v1
cgroups), a cgroup v2 hierarchy, and the limits each sandbox reports it enforces."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pathlib
import subprocess
import time
import uuid
import warnings

import pytest

from agentscale.errors import ConfigError
from agentscale.sandboxes import SandboxLimits, UnenforcedLimitsWarning, _cgroup, make_backend, open_sandbox

pytestmark = pytest.mark.bwrap


@pytest.fixture
def no_cgroup_host(monkeypatch):
    """The host as a sandbox backend sees it shows no cgroup mounts at all."""
    monkeypatch.setattr(_cgroup, "_mounts", lambda: ({}, None))


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


async def test_no_cgroup_host_reports_and_auto_warns(bwrap_ready, no_cgroup_host):
    import docker

    no_engine = docker.DockerClient(base_url="unix:///nonexistent/docker.sock", version="1.41")
    # as root each sandbox still has a uid of its own, so RLIMIT_NPROC limits its processes
    missing = "memory_mb" if os.geteuid() == 0 else "memory_mb and pids"
    with pytest.warns(UnenforcedLimitsWarning, match=f"cannot enforce {missing} here"):
        backend = make_backend("auto", limits=SandboxLimits(), client=no_engine)
        await backend.start()
    try:
        report = backend.enforced_limits()
        assert backend.name == "bwrap" and report.memory_mb is None and report.syscall_filter == "seccomp"
        assert "no usable cgroups" in backend.chosen.cgroups
        async with await backend.create() as sb:
            assert sb.enforced == report
            # what still holds: each process's address space (the only memory limit left)
            r = await sb.run(["python3", "-c", "bytearray(600 << 20)"])
            assert r.exit_code != 0 and "MemoryError" in r.stderr, r
    finally:
        await backend.aclose()


async def test_v1_host_enforces_memory_and_processes(bwrap_ready):
    # this machine: cgroup v1 with pids and memory, as root
    if os.geteuid() != 0 or not pathlib.Path("/sys/fs/cgroup/memory").is_dir():
        pytest.skip("needs root on a host with v1 pids and memory controllers")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnenforcedLimitsWarning)
        async with open_sandbox("bwrap", limits=SandboxLimits()) as sb:
            assert sb.enforced.memory_mb == "cgroup v1" and sb.enforced.pids == "cgroup v1"


@pytest.fixture
def cgroup2_mount(tmp_path):
    """A real cgroup2 filesystem mounted for the test (the kernel allows it as root), and a
    subtree in it delegated to the backend, as ``cgroup_parent=`` takes it."""
    if os.geteuid() != 0:
        pytest.skip("mounting cgroup2 needs root")
    mnt = tmp_path / "cgroup2"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "cgroup2", "none", str(mnt)], capture_output=True).returncode != 0:
        pytest.skip("this kernel does not let us mount cgroup2")
    sub = mnt / f"agentscale-test-{uuid.uuid4().hex[:8]}"
    sub.mkdir()
    try:
        yield mnt, sub
    finally:
        for d in sorted(sub.rglob("*"), reverse=True):
            if d.is_dir():
                with contextlib.suppress(OSError):
                    d.rmdir()
        with contextlib.suppress(OSError):
            sub.rmdir()
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


async def test_cgroup_v2_subtree_for_real(bwrap_ready, cgroup2_mount):
    # Real cgroup v2: each sandbox gets a cgroup of its own under the delegated subtree, its calls
    # run in it, a timeout ends everything in it, and closing removes it. Which controllers the
    # subtree offers decides what is enforced (this host binds memory and pids to v1: none here).
    mnt, sub = cgroup2_mount
    offered = set((sub / "cgroup.controllers").read_text().split())
    async with open_sandbox("bwrap", limits=SandboxLimits(), cgroup_parent=sub) as sb:
        leaf = sb._cgroup.pids_dir
        assert leaf.parent == sub and leaf.name.startswith("agentscale-")
        assert (sb.enforced.memory_mb == "cgroup v2") == ("memory" in offered)
        assert (sb.enforced.pids == "cgroup v2") == ("pids" in offered)
        if "memory" in offered:
            assert (leaf / "memory.max").read_text().strip() == str(SandboxLimits().memory_mb << 20)
        await sb.run("true")
        resident = (leaf / "cgroup.procs").read_text().split()  # bwrap's init and the agent
        call = asyncio.ensure_future(
            sb.run("sleep 300 & sleep 300 & python3 -c 'import time; time.sleep(300)'", timeout=3)
        )
        deadline = time.monotonic() + 20
        while len((leaf / "cgroup.procs").read_text().split()) < len(resident) + 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        inside = (leaf / "cgroup.procs").read_text().split()
        assert len(inside) >= len(resident) + 3, inside  # the call's processes, all in the sandbox's cgroup
        r = await call
        assert r.timed_out, r
        assert (leaf / "cgroup.procs").read_text().split() == resident
    assert not leaf.exists()


async def test_cgroup_v2_found_by_itself_on_a_v2_host(bwrap_ready, cgroup2_mount, monkeypatch):
    # A host with only cgroup v2 (simulated by hiding the v1 mounts; the v2 one is real) and this
    # process in a cgroup of it: as root the backend makes `agentscale` under the hierarchy's root.
    mnt, sub = cgroup2_mount
    monkeypatch.setattr(_cgroup, "_mounts", lambda: ({}, mnt))
    monkeypatch.setattr(_cgroup, "_own_paths", lambda: {"": sub.name})
    backend = make_backend("bwrap", limits=SandboxLimits())
    try:
        await backend.start()
        assert backend.cgroups == f"cgroup v2 under {mnt / 'agentscale'}"
        async with await backend.create() as sb:
            assert sb._cgroup.pids_dir.parent == mnt / "agentscale"
            assert (await sb.run("echo ok")).stdout == "ok\n"
    finally:
        await backend.aclose()
        with contextlib.suppress(OSError):
            (mnt / "agentscale").rmdir()


async def test_bad_cgroup_parent_is_a_config_error(bwrap_ready, tmp_path):
    with pytest.raises(ConfigError, match="not a cgroup v2 directory"):
        await make_backend("bwrap", cgroup_parent=tmp_path).start()
