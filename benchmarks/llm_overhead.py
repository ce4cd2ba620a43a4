"""The model layer's cost over a raw HTTP client, against the same llama.cpp server in the same run.

    .venv/bin/python benchmarks/llm_overhead.py [--calls 100] [--tokens 32] [--requests 1] [--rounds 4]
    .venv/bin/python benchmarks/llm_overhead.py --paced 100      # a stand-in server at 100 tokens/s

It starts the embedded server (Qwen2.5-Coder-0.5B-Instruct, 8 slots) and compares four clients:
``raw`` (httpx posting JSON to ``/v1/chat/completions``, one pooled client), ``raw stream`` (the
same client reading the server-sent events line by line with ``json.loads``: the least a streaming
client can do in Python), ``LLM`` (agentscale's client with its default ``stream=True``, which is
what makes a cancelled request free its llama-server slot) and ``LLM nostream`` (``stream=False``).

(a) per-call overhead on short completions (``max_tokens=1``, a prompt the prefix cache holds):
    the clients take turns call by call (order shuffled each round); for each LLM variant the
    table gives the median and p95 of its latency minus the raw call's in the same round, and
    the client's CPU time per call (``time.process_time``, which load from other processes on the
    machine does not inflate the way it does wall time).
``--paced RATE`` replaces llama-server with ``_paced_server.py`` (its own process), which sends
``RATE`` tokens a second per request, as a GPU would: on a CPU-only machine that is the way to see
the client's CPU per token at GPU rates, and what it costs beside the server's.

(b) aggregate generated tokens/s at 1, 4 and 8 concurrent requests: each client runs
    ``concurrency`` workers that each send ``--requests`` requests generating exactly ``--tokens``
    tokens (``ignore_eos``), in ABBA order over ``--rounds`` rounds to cancel drift; each ratio is
    that client's tokens/s over raw's. Each row also gives each client's CPU time per generated
    token: on a CPU-bound machine that is what the client takes away from the server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

from agentscale.llm import LLM
from agentscale.servers import LlamaCppServer, free_port

SHORT = [{"role": "user", "content": "Reply with the single word: ok."}]
LONG = [
    {
        "role": "user",
        "content": "Write a Python function that checks whether a number is prime, "
        "with a docstring and three doctests.",
    }
]


def _p95(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(0.95 * (len(xs) - 1)))]


class Raw:
    """The baseline: one pooled httpx client, JSON in, JSON out."""

    def __init__(self, api_base: str) -> None:
        self.http = httpx.AsyncClient(base_url=api_base, timeout=900, limits=httpx.Limits(max_connections=16))

    async def call(self, messages, max_tokens: int, extra: dict) -> int:
        # llama-server closes connections idle for 5 s; httpx does not resend on one it reused.
        try:
            return await self._call(messages, max_tokens, extra)
        except httpx.RemoteProtocolError:
            return await self._call(messages, max_tokens, extra)

    async def _call(self, messages, max_tokens: int, extra: dict) -> int:
        r = await self.http.post(
            "/chat/completions",
            json={"model": "m", "messages": messages, "max_tokens": max_tokens, "temperature": 0.0, **extra},
        )
        r.raise_for_status()
        return r.json()["usage"]["completion_tokens"]


class RawStream(Raw):
    """The same pooled client, streaming: each event line parsed with ``json.loads``."""

    async def _call(self, messages, max_tokens: int, extra: dict) -> int:
        body = {
            "model": "m",
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": 0.0,
            "stream": True,
            "stream_options": {"include_usage": True},
            **extra,
        }
        tokens = 0
        async with self.http.stream("POST", "/chat/completions", json=body) as r:
            r.raise_for_status()
            async for line in r.aiter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    usage = json.loads(line[6:]).get("usage")
                    if usage:
                        tokens += usage["completion_tokens"]
        return tokens


class Layer:
    def __init__(self, llm: LLM) -> None:
        self.llm = llm

    async def call(self, messages, max_tokens: int, extra: dict) -> int:
        out = await self.llm.generate(messages, max_tokens=max_tokens, temperature=0.0)
        return out.usage.completion_tokens


async def overhead(clients: dict, calls: int) -> dict[str, dict[str, float]]:
    wall: dict[str, list[float]] = {k: [] for k in clients}
    cpu: dict[str, list[float]] = {k: [] for k in clients}
    for client in clients.values():  # warm up: connections, litellm's lazy imports, the prefix cache
        for _ in range(3):
            await client.call(SHORT, 1, {})
    names = list(clients)
    for _ in range(calls):
        random.shuffle(names)
        for name in names:
            c0, w0 = time.process_time(), time.perf_counter()
            await clients[name].call(SHORT, 1, {})
            wall[name].append(time.perf_counter() - w0)
            cpu[name].append(time.process_time() - c0)
    out = {}
    for name in clients:
        diffs = [a - b for a, b in zip(wall[name], wall["raw"], strict=True)]
        out[name] = {
            "median_ms": statistics.median(wall[name]) * 1e3,
            "over_median_ms": statistics.median(diffs) * 1e3,
            "over_p95_ms": _p95(diffs) * 1e3,
            "cpu_ms": statistics.mean(cpu[name]) * 1e3,
        }
    return out


async def throughput(client, concurrency: int, requests: int, tokens: int) -> tuple[float, float]:
    """(generated tokens/s, client CPU ms per generated token)."""
    extra = {"ignore_eos": True}

    async def worker() -> int:
        return sum([await client.call(LONG, tokens, extra) for _ in range(requests)])

    c0, t0 = time.process_time(), time.perf_counter()
    done = sum(await asyncio.gather(*(worker() for _ in range(concurrency))))
    return done / (time.perf_counter() - t0), (time.process_time() - c0) * 1e3 / done


@contextlib.asynccontextmanager
async def paced_server(rate: float):
    """``_paced_server.py`` in its own process; yields an object with ``api_base``, ``model``, ``profile``."""
    port = free_port()
    script = Path(__file__).with_name("_paced_server.py")
    proc = subprocess.Popen([sys.executable, str(script), str(port), str(rate)])
    try:
        async with httpx.AsyncClient(trust_env=False) as http:
            for _ in range(200):
                with contextlib.suppress(httpx.HTTPError):
                    await http.get(f"http://127.0.0.1:{port}/health")
                    break
                await asyncio.sleep(0.05)
        yield argparse.Namespace(
            api_base=f"http://127.0.0.1:{port}/v1", model=f"hosted_vllm/paced-{rate:g}-tok-s", profile="chat"
        )
    finally:
        proc.terminate()
        proc.wait(10)


async def main(args: argparse.Namespace) -> None:
    server = paced_server(args.paced) if args.paced else LlamaCppServer(parallel=8, ctx_size=16384, reuse=False)
    async with server as srv:
        raw, raw_stream = Raw(srv.api_base), RawStream(srv.api_base)
        # A long timeout: on a loaded machine 8 concurrent requests can take minutes.
        common = dict(api_base=srv.api_base, profile=srv.profile, extra_body={"ignore_eos": True}, timeout=900)
        layers = {
            "LLM": Layer(LLM(srv.model, **common)),
            "LLM nostream": Layer(LLM(srv.model, stream=False, **common)),
        }
        # ignore_eos rides in every LLM request; for max_tokens=1 calls it changes nothing.
        clients = {"raw": raw, "raw stream": raw_stream, **layers}
        print(
            f"server: {srv.model} at {srv.api_base}; load average {os.getloadavg()[0]:.1f}", flush=True
        )

        res = await overhead(clients, args.calls)
        print(f"\n(a) per-call overhead over raw httpx, max_tokens=1, {args.calls} interleaved calls each")
        head = f"{'client':<14}{'median ms':>10}{'over raw, median ms':>22}{'over raw, p95 ms':>19}"
        print(head + f"{'client CPU ms/call':>21}")
        for name, r in res.items():
            over = ("-", "-") if name == "raw" else (f"{r['over_median_ms']:.2f}", f"{r['over_p95_ms']:.2f}")
            print(f"{name:<14}{r['median_ms']:>10.2f}{over[0]:>22}{over[1]:>19}{r['cpu_ms']:>21.2f}", flush=True)

        print(
            f"\n(b) aggregate generated tokens/s ({args.tokens} tokens per request, "
            f"{args.requests} requests per worker, {args.rounds} ABBA rounds)"
        )
        others = [name for name in clients if name != "raw"]
        print(f"{'concurrency':<12}{'raw tok/s':>10}" + "".join(f"{n + ' tok/s':>20}{'ratio':>7}" for n in others))
        for concurrency in args.concurrency:
            rates: dict[str, list[float]] = {k: [] for k in clients}
            cpu: dict[str, list[float]] = {k: [] for k in clients}
            for rnd in range(args.rounds):
                order = list(clients) if rnd % 2 == 0 else list(reversed(clients))
                for name in order:
                    rate, cpu_ms = await throughput(clients[name], concurrency, args.requests, args.tokens)
                    rates[name].append(rate)
                    cpu[name].append(cpu_ms)
            base = statistics.mean(rates["raw"])
            row = f"{concurrency:<12}{base:>10.1f}"
            for name in others:
                rate = statistics.mean(rates[name])
                row += f"{rate:>20.1f}{rate / base:>7.3f}"
            cpus = "  ".join(f"{n} {statistics.mean(v):.3f}" for n, v in cpu.items())
            print(row + f"   client CPU ms/token: {cpus}", flush=True)
        load = os.getloadavg()[0]
        print(f"\nload average at the end {load:.1f} (2 cores; other work on the machine adds noise)")
        await raw.http.aclose()
        await raw_stream.http.aclose()
        for layer in layers.values():
            await layer.llm.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=100, help="short calls per client for (a)")
    parser.add_argument("--tokens", type=int, default=32, help="tokens generated per request for (b)")
    parser.add_argument("--requests", type=int, default=1, help="requests per worker for (b)")
    parser.add_argument("--rounds", type=int, default=4, help="ABBA rounds for (b)")
    parser.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[1, 4, 8])
    parser.add_argument("--paced", type=float, help="tokens/s of a stand-in server instead of llama-server")
    asyncio.run(main(parser.parse_args()))
