"""The warm pool on real backends: concurrency, resets, replacement, cleanup after crashes and Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from agentscale.errors import SandboxError
from agentscale.sandboxes import SandboxPool, make_backend

MARKER = "agentscale-owner-killed-marker"


def _host_procs_with(marker: str) -> list[int]:
    found = []
    for p in filter(str.isdigit, os.listdir("/proc")):
        try:
            if marker.encode() in Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0"):
                found.append(int(p))
        except OSError:
            pass
    return found


CHILD = textwrap.dedent(
    """
    import asyncio, faulthandler, signal, sys
    from agentscale.sandboxes import SandboxLimits, open_pool
    faulthandler.register(signal.SIGUSR1)  # the test asks for the stacks of a child that will not stop
    # Ctrl-C as a terminal delivers it: a suite started in the background (`cmd &` without job control)
    # hands its children SIGINT ignored, which is not what this test is about
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from agentscale.sandboxes._owner import Owner

    async def main():
        async with open_pool(sys.argv[1], size=2, limits=SandboxLimits(memory_mb=128)) as pool:
            async with pool.lease() as sb:
                await sb.run("echo hi > f")
                if sys.argv[2:3] == ["busy"]:  # a call still running when the owner dies
                    busy = asyncio.ensure_future(sb.run(sys.argv[3], timeout=3600))
                    await asyncio.sleep(1.0)
                    assert not busy.done(), busy
                print("READY", Owner.me().tag, flush=True)
                await asyncio.sleep(3600)

    asyncio.run(main())
    """
)


def _leftovers(backend: str, tag: str) -> list[str]:
    """What a process with owner tag ``tag`` left behind: containers, or work dirs and cgroups."""
    if backend == "docker":
        import docker

        client = docker.from_env()
        try:
            found = client.api.containers(all=True, filters={"label": f"agentscale.owner={tag}"})
            return [c["Names"][0] for c in found]
        finally:
            client.close()
    base = Path(tempfile.gettempdir()) / "agentscale-bwrap"
    dirs = [str(d) for d in base.iterdir() if f"-{tag}-" in d.name] if base.exists() else []
    cgroups = [str(d) for d in Path("/sys/fs/cgroup/pids").glob(f"**/agentscale-{tag}-*")]
    return dirs + cgroups


def _start_child(backend_name: str, *busy: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, backend_name, *busy], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    line = proc.stdout.readline()  # type: ignore[union-attr]
    assert line.startswith("READY"), (line, proc.stderr.read() if proc.poll() is not None else "")  # type: ignore[union-attr]
    return proc, line.split()[1]


async def _kill_from_outside(sb) -> None:
    """Make a sandbox die the way it can in real life: its container killed, its work dir removed."""
    if sb.backend == "docker":
        import docker

        client = docker.from_env()
        try:
            client.api.kill(sb.container_id)
        finally:
            client.close()
    else:
        subprocess.run(["umount", "-l", sb.host_dir], capture_output=True)
        subprocess.run(["rm", "-rf", sb.host_dir], check=True)


@pytest.fixture
async def pool_of(request, backend_name, limits):
    request.getfixturevalue(f"{backend_name}_ready")
    pools: list[SandboxPool] = []

    async def make(size: int) -> SandboxPool:
        pool = SandboxPool(make_backend(backend_name, limits=limits), size=size)
        await pool.start()
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        await pool.aclose()


async def test_eight_concurrent_leases(pool_of):
    pool = await pool_of(8)
    seen = []

    async def job(i: int) -> str:
        async with pool.lease() as sb:
            seen.append(sb)
            r = await sb.run(f"echo {i} > mine; sleep 0.3; cat mine", timeout=20)
            return r.stdout.strip()

    results = await asyncio.gather(*(job(i) for i in range(8)))
    assert results == [str(i) for i in range(8)]
    assert len({id(s) for s in seen}) == 8  # eight different sandboxes at once


async def test_leases_are_reset_between_uses(pool_of):
    pool = await pool_of(3)

    async def job(i: int) -> tuple[str, str]:
        async with pool.lease() as sb:
            before = await sb.run("ls -A /work /tmp | grep -v '^/' | grep -v '^$' | wc -l", timeout=20)
            await sb.run(f"echo {i} > left_behind; echo {i} > /tmp/also; (sleep 300 &)", timeout=20)
            return before.stdout.strip(), sb.backend

    results = await asyncio.gather(*(job(i) for i in range(12)))
    assert all(count == "0" for count, _ in results), results


async def test_sandbox_dies_mid_lease_is_replaced(pool_of):
    pool = await pool_of(2)
    async with pool.lease() as sb:
        await _kill_from_outside(sb)
        with pytest.raises(SandboxError):
            await sb.run("echo hi")
        dead = sb
    # every later lease gets a working sandbox, never the dead one
    for _ in range(4):
        async with pool.lease() as sb:
            assert sb is not dead
            assert (await sb.run("echo hi")).stdout == "hi\n"
    assert pool.replaced >= 1


async def test_sandbox_dying_while_idle_is_not_handed_out(pool_of):
    pool = await pool_of(1)
    async with pool.lease() as first:
        pass
    await asyncio.sleep(0.5)  # let the reset finish and the sandbox go back to the queue
    await _kill_from_outside(first)
    async with pool.lease() as sb:
        assert sb is not first
        assert (await sb.run("echo ok")).ok
    assert pool.replaced == 1


async def test_pool_exit_removes_everything(backend_name, request, limits):
    from agentscale.sandboxes._owner import Owner

    request.getfixturevalue(f"{backend_name}_ready")
    tag = Owner.me().tag
    before = set(_leftovers(backend_name, tag))
    async with SandboxPool(make_backend(backend_name, limits=limits), size=3) as pool:
        async with pool.lease() as sb:
            await sb.run("echo hi")
        assert len(set(_leftovers(backend_name, tag)) - before) >= 3
    assert set(_leftovers(backend_name, tag)) - before == set()


@pytest.mark.slow
async def test_leftovers_of_a_crashed_run_are_swept(backend_name, request, limits):
    request.getfixturevalue(f"{backend_name}_ready")
    proc, tag = _start_child(backend_name)
    proc.kill()  # SIGKILL: no cleanup runs
    proc.wait()
    if backend_name == "bwrap":
        # (containers stop and go by themselves: test_sandboxes_of_a_killed_owner_stop_on_their_own)
        assert _leftovers(backend_name, tag), "the crashed run left nothing to sweep (test is broken)"
    async with make_backend(backend_name, limits=limits):  # start() sweeps the dead owner's leftovers
        pass
    deadline = time.monotonic() + 10  # an engine may still be removing a container that stopped
    while _leftovers(backend_name, tag) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert _leftovers(backend_name, tag) == []


@pytest.mark.slow
async def test_ctrl_c_cleans_up(backend_name, request):
    request.getfixturevalue(f"{backend_name}_ready")
    proc, tag = _start_child(backend_name)
    assert _leftovers(backend_name, tag)
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGUSR1)
        time.sleep(2)
        proc.kill()
        pytest.fail(f"the child did not stop on SIGINT within 60 s; its stacks and stderr:\n{proc.stderr.read()}")
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _leftovers(backend_name, tag) == []
    assert os.path.exists("/proc/self")  # sanity: we are on Linux with /proc


async def test_reset_leaves_nothing_for_the_next_lease(pool_of):
    pool = await pool_of(1)
    plant = (
        "import ctypes\n"
        "libc = ctypes.CDLL(None)\n"
        "print(libc.shmget(0x4153, 1 << 20, 0o1600))\n"  # IPC_CREAT | 0600: a SysV segment that outlives us
        "open('/dev/shm/left', 'w').write('x')\n"
    )
    async with pool.lease() as sb:
        r = await sb.run(["python3", "-c", plant])
        assert r.ok and int(r.stdout) >= 0, r
    async with pool.lease() as sb:
        files = "ls -A /work /tmp /dev/shm | grep -v '^/' | grep -v '^$' | wc -l"
        r = await sb.run(f"{files}; ipcs -m | grep -c 0x00004153")
        assert r.stdout.split() == ["0", "0"], r


def _running(backend: str, tag: str, marker: str) -> list[str]:
    """What of a process with owner tag ``tag`` still runs: containers, or sandboxed processes."""
    found = [f"pid {p}" for p in _host_procs_with(marker)]
    if backend == "docker":
        import docker

        client = docker.from_env()
        try:
            running = client.api.containers(filters={"label": f"agentscale.owner={tag}", "status": "running"})
            found += [c["Names"][0] for c in running]
        finally:
            client.close()
    return found


@pytest.mark.slow
async def test_sandboxes_of_a_killed_owner_stop_on_their_own(backend_name, request):
    # no later backend start sweeps them: they must stop by themselves, within seconds
    request.getfixturevalue(f"{backend_name}_ready")
    marker = f"{MARKER}-{uuid.uuid4().hex[:8]}"
    proc, tag = _start_child(backend_name, "busy", f"python3 -c 'import time; time.sleep(3600)' {marker}")
    try:
        deadline = time.monotonic() + 20
        while not _host_procs_with(marker) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert _host_procs_with(marker), "nothing ran in the owner's sandbox (test is broken)"
    finally:
        proc.kill()  # SIGKILL: no cleanup of ours runs
        proc.wait()
    deadline = time.monotonic() + 5
    while (left := _running(backend_name, tag, marker)) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert left == [], f"still running 5 s after the owner died: {left}"
