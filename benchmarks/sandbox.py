"""Sandbox backends, measured beside a bare exec of the same image, in the same run.

    .venv/bin/python benchmarks/sandbox.py [--backends docker,bwrap] [--n 60] [--seconds 5]

Per backend it prints:
- cold start: backend start (engine connection, image or rootfs ready; built images come from the
  cache), one sandbox created, its first ``python3 -c 'print(1)'``;
- warm exec: ``python3 -c 'print(1)'`` in one sandbox, median and p95 over ``--n`` runs, beside the
  bare exec of the same image: Docker's ``exec_run`` in a plain container of the image, and
  ``bwrap --ro-bind ROOTFS / python3 ...`` (nothing but the rootfs bind). Rounds interleave (bare,
  sandbox, and for bwrap the sandbox without its seccomp filter), so a loaded machine slows all
  of them alike; the ratio is what to read;
- reset: what one lease's reset costs, now and done the old way (bwrap: wiping the work dir in
  place instead of a fresh tmpfs; Docker: the reset script without message queues and modes);
- warm exec with a file: what a HumanEval check does (``run(["python3", "check.py"], files=...)``
  on a leased pool sandbox, lease and reset included), median and p95;
- throughput: 8 concurrent workers on a pool of 8, each exec'ing ``print(1)`` for ``--seconds``.
Needs a Docker engine (scripts/docker-engine.sh) and bubblewrap; a backend that cannot run is
reported as such. Print ``/proc/loadavg`` with the numbers: the machine may be shared.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import time
from collections.abc import Awaitable, Callable

from agentscale.errors import SandboxUnavailable
from agentscale.sandboxes import SandboxPool, make_backend
from agentscale.sandboxes._process import wipe_dir

PRINT1 = ["python3", "-c", "print(1)"]
CHECK = "def add(a, b):\n    return a + b\n\nassert add(2, 3) == 5\nprint('ok')\n"
# the Docker reset as it was before it emptied /dev/mqueue and restored /work's mode
OLD_DOCKER_RESET = (
    "ipcrm --all 2>/dev/null; chmod -R u+rwX /work /tmp /dev/shm 2>/dev/null; "
    "find /work /tmp /dev/shm -mindepth 1 -maxdepth 1 -exec rm -rf -- {} + ; "
    '[ -z "$(find /work /tmp /dev/shm -mindepth 1 -print -quit)" ]'
)


def _p95(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]


def ms(s: float) -> str:
    return f"{s * 1000:.1f} ms"


async def _timed(fn: Callable[[], Awaitable[object]]) -> float:
    t = time.perf_counter()
    await fn()
    return time.perf_counter() - t


class _BareDocker:
    """A plain container of the same image: no limits, no lifeline, exec'd with ``exec_run``."""

    def __init__(self, image: str) -> None:
        import docker

        self.client = docker.from_env()
        self.container = self.client.containers.run(
            image, ["sleep", "infinity"], detach=True, network_mode="none", labels={"agentscale.bench": "bare"}
        )

    async def run(self) -> None:
        code, out = self.container.exec_run(PRINT1)
        assert code == 0 and out == b"1\n", (code, out)

    def close(self) -> None:
        self.container.remove(force=True)
        self.client.close()


class _BareBwrap:
    """``bwrap`` with the rootfs bind and nothing else."""

    def __init__(self, rootfs: str) -> None:
        self.rootfs = rootfs

    async def run(self) -> None:
        proc = subprocess.run(["bwrap", "--ro-bind", self.rootfs, "/", *PRINT1], capture_output=True)
        assert proc.returncode == 0 and proc.stdout == b"1\n", proc

    def close(self) -> None:
        pass


async def bench(name: str, n: int, seconds: float) -> dict[str, str]:
    t0 = time.perf_counter()
    backend = make_backend(name)
    await backend.start()
    t_start = time.perf_counter() - t0
    plain = make_backend(name, seccomp=False) if name == "bwrap" else None
    row: dict[str, str] = {"backend": name}
    try:
        if plain is not None:
            await plain.start()
        t1 = time.perf_counter()
        sb = await backend.create()
        t_create = time.perf_counter() - t1
        bare = _BareDocker(backend.image) if name == "docker" else _BareBwrap(str(backend.rootfs))
        try:
            async with sb:
                t2 = time.perf_counter()
                first = await sb.run(PRINT1)
                t_first = time.perf_counter() - t2
                assert first.ok, first
                variants: dict[str, Callable[[], Awaitable[object]]] = {
                    "bare": bare.run,
                    "sandbox": lambda: sb.run(PRINT1),
                }
                if plain is not None:
                    unfiltered = await plain.create()
                    variants["no seccomp"] = lambda: unfiltered.run(PRINT1)
                lat: dict[str, list[float]] = {k: [] for k in variants}
                for fn in variants.values():  # warm each once
                    await fn()
                for _ in range(n):
                    for key, fn in variants.items():
                        lat[key].append(await _timed(fn))
                resets = await _resets(name, sb, n)
        finally:
            bare.close()
    finally:
        await backend.aclose()
        if plain is not None:
            await plain.aclose()
    bare_med, sb_med = statistics.median(lat["bare"]), statistics.median(lat["sandbox"])
    row |= {
        "cold: start": ms(t_start),
        "cold: create": ms(t_create),
        "cold: first exec": ms(t_first),
        "bare exec median": ms(bare_med),
        "warm exec median": ms(sb_med),
        "warm / bare": f"{sb_med / bare_med:.2f}x",
        "warm exec p95": ms(_p95(lat["sandbox"])),
        "warm, seccomp off": ms(statistics.median(lat["no seccomp"])) if "no seccomp" in lat else "-",
        "reset median (now)": ms(statistics.median(resets["now"])),
        "reset median (old way)": ms(statistics.median(resets["old"])),
    }
    row |= await _pool(name, n, seconds)
    return row


async def _resets(name: str, sb, n: int) -> dict[str, list[float]]:
    """Each reset after a call that left a few files behind, interleaved with the old way."""
    out: dict[str, list[float]] = {"now": [], "old": []}
    litter = "mkdir -p d && for i in 1 2 3 4 5; do echo x > d/$i; done; echo y > /tmp/t"
    for _ in range(max(10, n // 3)):
        await sb.run(litter)
        out["now"].append(await _timed(sb.reset))
        await sb.run(litter)
        if name == "bwrap":
            out["old"].append(await _timed(lambda: asyncio.to_thread(wipe_dir, sb.host_dir)))
        else:
            out["old"].append(await _timed(lambda: sb.run(["/bin/sh", "-c", OLD_DOCKER_RESET])))
    return out


async def _pool(name: str, n: int, seconds: float) -> dict[str, str]:
    async with SandboxPool(make_backend(name), size=8) as pool:
        lease_lat = []
        for _ in range(n):
            t = time.perf_counter()
            async with pool.lease() as leased:
                r = await leased.run(["python3", "check.py"], files={"check.py": CHECK}, timeout=10)
            lease_lat.append(time.perf_counter() - t)
            assert r.stdout == "ok\n", r
        await asyncio.sleep(0.5)  # let resets settle
        done = 0
        stop = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal done
            async with pool.lease() as s:
                while time.perf_counter() < stop:
                    r = await s.run(PRINT1)
                    assert r.ok, r
                    done += 1

        t3 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(8)))
        throughput = done / (time.perf_counter() - t3)
    return {
        "lease+file+run median": ms(statistics.median(lease_lat)),
        "lease+file+run p95": ms(_p95(lease_lat)),
        "8 concurrent execs/s": f"{throughput:.1f}",
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="docker,bwrap")
    parser.add_argument("--n", type=int, default=60)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    rows = []
    load_before = os.getloadavg()
    for name in args.backends.split(","):
        try:
            rows.append(await bench(name, args.n, args.seconds))
        except SandboxUnavailable as exc:
            print(f"{name}: unavailable: {exc}")
    if not rows:
        return
    keys = list(rows[0])
    width = max(len(k) for k in keys)
    for key in keys:
        print(f"{key:<{width}}  " + "  ".join(f"{row[key]:>12}" for row in rows))
    after = os.getloadavg()
    print(f"load average before {load_before[0]:.2f}, after {after[0]:.2f} (1 min), {os.cpu_count()} CPUs")


if __name__ == "__main__":
    asyncio.run(main())
