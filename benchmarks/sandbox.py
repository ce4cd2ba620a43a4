"""Sandbox backends, measured: cold start, warm exec latency, throughput of 8 concurrent execs.

    .venv/bin/python benchmarks/sandbox.py [--backends docker,bwrap] [--n 50] [--seconds 5]

Per backend it prints:
- cold start: backend start (engine connection, image or rootfs ready; built images come from the
  cache), one sandbox created, its first ``python3 -c 'print(1)'``;
- warm exec: ``python3 -c 'print(1)'`` in one sandbox, median and p95 over ``--n`` runs;
- warm exec with a file: what a HumanEval check does (``run(["python3", "check.py"], files=...)``
  on a leased pool sandbox, lease and reset included), median and p95;
- throughput: 8 concurrent workers on a pool of 8, each exec'ing ``print(1)`` for ``--seconds``.
Needs a Docker engine (scripts/docker-engine.sh) and bubblewrap; a backend that cannot run is
reported as such.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from agentscale.errors import SandboxUnavailable
from agentscale.sandboxes import SandboxPool, make_backend

PRINT1 = ["python3", "-c", "print(1)"]
CHECK = "def add(a, b):\n    return a + b\n\nassert add(2, 3) == 5\nprint('ok')\n"


def _p95(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]


async def bench(name: str, n: int, seconds: float) -> dict[str, str]:
    t0 = time.perf_counter()
    backend = make_backend(name)
    await backend.start()
    t_start = time.perf_counter() - t0
    try:
        t1 = time.perf_counter()
        sb = await backend.create()
        t_create = time.perf_counter() - t1
        async with sb:
            t2 = time.perf_counter()
            first = await sb.run(PRINT1)
            t_first = time.perf_counter() - t2
            assert first.ok, first
            lat = []
            for _ in range(n):
                t = time.perf_counter()
                r = await sb.run(PRINT1)
                lat.append(time.perf_counter() - t)
                assert r.ok, r
    finally:
        await backend.aclose()

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

    ms = lambda s: f"{s * 1000:.0f} ms"  # noqa: E731
    return {
        "backend": name,
        "cold: start": ms(t_start),
        "cold: create": ms(t_create),
        "cold: first exec": ms(t_first),
        "warm exec median": ms(statistics.median(lat)),
        "warm exec p95": ms(_p95(lat)),
        "lease+file+run median": ms(statistics.median(lease_lat)),
        "lease+file+run p95": ms(_p95(lease_lat)),
        "8 concurrent execs/s": f"{throughput:.1f}",
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="docker,bwrap")
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    rows = []
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


if __name__ == "__main__":
    asyncio.run(main())
