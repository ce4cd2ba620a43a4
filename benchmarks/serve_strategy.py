"""What ``agentscale serve-strategy`` adds to a request, over running the same strategy in Python.

    .venv/bin/python benchmarks/serve_strategy.py [--requests 200] [--n 4] [--strategy majority] [--llamacpp]

Both paths run the same strategy graph over the same upstream model with ``ChatAgent``:

- ``python``: ``scale(ChatAgent(llm), strategy, n).ainvoke(...)`` in this process;
- ``served``: the official ``openai`` client posting to a ``StrategyServer`` on loopback (in this
  process too, so the Python work of both paths shares one interpreter), plain and streamed.

They take turns request by request, in shuffled order, and the table gives each path's median and
p95 and, for the served paths, the median of (served - python) over the rounds: the milliseconds
the HTTP hop, the request checks, the response (or its SSE chunks) and the openai client add. The
same for this process's CPU time per request, which other load on the machine inflates less than
wall time.

The upstream is, by default, a minimal OpenAI-compatible server in a child process that answers at
once ("hello world", streamed like llama-server), so the model's own time does not drown the
overhead; ``--llamacpp`` uses the embedded llama.cpp model instead (``max_tokens=4``; noisier).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time

MESSAGES = [{"role": "user", "content": "Reply with one word: ok."}]


# ---- the instant upstream (child process) ---------------------------------------------------


async def _upstream(port: int) -> None:
    from aiohttp import web

    async def chat(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        usage = {"prompt_tokens": 12, "completion_tokens": 2, "total_tokens": 14}
        head = {"id": "u", "created": 0, "model": body.get("model")}
        if not body.get("stream"):
            choice = {"index": 0, "message": {"role": "assistant", "content": "hello world"}, "finish_reason": "stop"}
            return web.json_response({**head, "object": "chat.completion", "choices": [choice], "usage": usage})
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for delta, finish in (({"content": "hello"}, None), ({"content": " world"}, None), ({}, "stop")):
            chunk = {**head, "object": "chat.completion.chunk",
                     "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}  # fmt: skip
            await resp.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
        await resp.write(b"data: " + json.dumps({**head, "choices": [], "usage": usage}).encode() + b"\n\n")
        await resp.write(b"data: [DONE]\n\n")
        return resp

    async def models(_request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "instant"}]})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/v1/models", models)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("ready", flush=True)
    await asyncio.Event().wait()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- the measurement ------------------------------------------------------------------------


def _p95(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(0.95 * (len(xs) - 1)))]


async def _measure(llm, args: argparse.Namespace) -> dict[str, list[float]]:
    import openai

    from agentscale import Task, scale
    from agentscale.agents import ChatAgent
    from agentscale.serve_strategy import StrategyServer
    from agentscale.strategies import ScaleContext

    params = {"max_tokens": args.max_tokens}
    graph = scale(ChatAgent(llm), args.strategy, n=args.n)

    async def python() -> None:
        task = Task(prompt=MESSAGES[-1]["content"], metadata={"messages": MESSAGES, "params": params})
        state = await graph.ainvoke({"task": task}, context=ScaleContext(model=llm, max_concurrency=args.n))
        assert state["selected"].rollout_id is not None

    async with StrategyServer(llm, strategy=args.strategy, n=args.n) as server:
        url = await server.start()
        client = openai.AsyncOpenAI(base_url=url, api_key="-", max_retries=0, timeout=600)
        model = f"{args.strategy}-{args.n}/{server.name}"

        async def served() -> None:
            reply = await client.chat.completions.create(model=model, messages=MESSAGES, **params)
            assert reply.choices[0].message.content

        async def streamed() -> None:
            stream = await client.chat.completions.create(model=model, messages=MESSAGES, stream=True, **params)
            text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
            assert text

        paths = {"python": python, "served": served, "served, streamed": streamed}
        times: dict[str, list[float]] = {name: [] for name in paths}
        cpu: dict[str, list[float]] = {name: [] for name in paths}
        for _ in range(args.warmup):
            for fn in paths.values():
                await fn()
        for _ in range(args.requests):
            order = list(paths.items())
            random.shuffle(order)
            for name, fn in order:
                started, used = time.perf_counter(), time.process_time()
                await fn()
                times[name].append((time.perf_counter() - started) * 1000)
                cpu[name].append((time.process_time() - used) * 1000)
        await client.close()
    return {**times, **{f"cpu:{k}": v for k, v in cpu.items()}}


def _table(measured: dict[str, list[float]], args: argparse.Namespace, upstream: str) -> str:
    base, cpu_base = measured["python"], measured["cpu:python"]
    rows = [
        f"serve-strategy overhead: {args.strategy}, n={args.n}, {args.requests} requests per path, upstream {upstream}",
        f"load average at the end: {' '.join(open('/proc/loadavg').read().split()[:3])}",
        "",
        f"{'path':<18} {'median ms':>10} {'p95 ms':>8} {'added ms':>9} {'CPU ms':>7} {'added CPU ms':>13}",
    ]
    for name in ("python", "served", "served, streamed"):
        xs, cpu = measured[name], measured[f"cpu:{name}"]
        added = added_cpu = ""
        if name != "python":  # medians of the paired differences, request by request in the same round
            added = f"{statistics.median(a - b for a, b in zip(xs, base, strict=True)):+.2f}"
            added_cpu = f"{statistics.median(a - b for a, b in zip(cpu, cpu_base, strict=True)):+.2f}"
        rows.append(
            f"{name:<18} {statistics.median(xs):>10.2f} {_p95(xs):>8.2f} {added:>9} "
            f"{statistics.median(cpu):>7.2f} {added_cpu:>13}"
        )
    rows.append("(CPU ms: this process's CPU time per request, server and client together; the upstream is apart)")
    return "\n".join(rows)


async def main(args: argparse.Namespace) -> None:
    from agentscale.llm import LLM

    if args.llamacpp:
        from agentscale.servers import LlamaCppServer

        async with LlamaCppServer() as srv, LLM(srv.model, endpoint=srv.endpoint(), timeout=600) as llm:
            times = await _measure(llm, args)
        print(_table(times, args, f"llama.cpp {srv.model}, max_tokens={args.max_tokens}"))
        return
    port = _free_port()
    command = [sys.executable, __file__, "--upstream-only", str(port)]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        async with LLM("hosted_vllm/instant", api_base=f"http://127.0.0.1:{port}/v1", timeout=60) as llm:
            times = await _measure(llm, args)
    finally:
        child.terminate()
        child.wait()
    print(_table(times, args, "an instant OpenAI-compatible stub (child process)"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="measured requests per path (default 200)")
    parser.add_argument("--warmup", type=int, default=5, help="unmeasured requests per path first (default 5)")
    parser.add_argument("--n", type=int, default=4, help="rollouts per request (default 4)")
    parser.add_argument("--strategy", default="majority", help="default majority")
    parser.add_argument("--max-tokens", type=int, default=4, help="each rollout's max_tokens (default 4)")
    parser.add_argument("--llamacpp", action="store_true", help="the embedded llama.cpp model as the upstream")
    parser.add_argument("--upstream-only", type=int, metavar="PORT", help=argparse.SUPPRESS)
    cli = parser.parse_args()
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    if cli.upstream_only:
        asyncio.run(_upstream(cli.upstream_only))
    else:
        asyncio.run(main(cli))
