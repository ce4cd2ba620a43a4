"""A stand-in for a fast model server (run as its own process): it answers ``/v1/chat/completions``
like llama-server (JSON, or one server-sent event per token), generating ``max_tokens`` tokens at a
fixed rate per request. Lets ``llm_overhead.py --paced`` measure client CPU at GPU-like token rates
on a machine without a GPU.

    python benchmarks/_paced_server.py PORT TOKENS_PER_SECOND
"""

from __future__ import annotations

import asyncio
import json
import sys


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _event(payload: dict) -> bytes:
    return _chunk(b"data: " + json.dumps(payload).encode() + b"\n\n")


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, rate: float) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            fields = dict(line.lower().split(b":", 1) for line in head.split(b"\r\n")[1:] if b":" in line)
            body = json.loads(await reader.readexactly(int(fields.get(b"content-length", b"0"))) or b"{}")
            if head.startswith(b"GET"):
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                continue
            n = int(body.get("max_tokens") or 16)
            usage = {"prompt_tokens": 20, "completion_tokens": n, "total_tokens": 20 + n}
            common = {"id": "chatcmpl-paced", "created": 0, "model": "paced", "system_fingerprint": "b1-paced"}
            if not body.get("stream"):
                await asyncio.sleep(n / rate)
                message = {"role": "assistant", "content": " tok" * n}
                answer = {**common, "object": "chat.completion", "usage": usage,
                          "choices": [{"index": 0, "finish_reason": "length", "message": message}]}  # fmt: skip
                data = json.dumps(answer).encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
                writer.write(b"Content-Length: %d\r\n\r\n" % len(data) + data)
                await writer.drain()
                continue
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
            chunk = {**common, "object": "chat.completion.chunk"}
            token = {**chunk, "choices": [{"index": 0, "finish_reason": None, "delta": {"content": " tok"}}]}
            for _ in range(n):
                await asyncio.sleep(1 / rate)
                writer.write(_event(token))
                await writer.drain()
            writer.write(_event({**chunk, "choices": [{"index": 0, "finish_reason": "length", "delta": {}}]}))
            writer.write(_event({**chunk, "choices": [], "usage": usage}) + _chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(port: int, rate: float) -> None:
    server = await asyncio.start_server(lambda r, w: _serve(r, w, rate), "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), float(sys.argv[2])))
