"""A small, real OpenAI-compatible HTTP/1.1 server on loopback that can be told to misbehave.

It speaks just enough HTTP (keep-alive, ``Content-Length`` bodies, chunked SSE streams) for
``/v1/chat/completions`` and ``/v1/completions``, and it is written on raw asyncio streams so it
can do what a well-behaved framework will not: hang, drop the connection mid-response, and
notice the moment a client hangs up.

Each request takes the next action from ``server.script`` (``server.default``, ``"ok"`` unless
set, once the script is empty); ``GET`` requests (``/health``, ``/v1/models``) are always answered:

- ``"ok"``: answer normally (``n`` choices, usage with cached tokens, logprobs when asked);
- an ``int`` such as ``500``/``429``/``400``: answer with that HTTP status and an error body;
- ``"hang"``: read the request and never answer (until the client disconnects);
- ``"slow"``: like ``"ok"`` but generate for ``slow_seconds`` first (streamed requests send a
  token every 50 ms), watching for the client to disconnect;
- ``"drop"``: close the connection without a response;
- ``"drop_mid"``: send the status line, headers and half of the body, then close;
- ``"error_event"``: start a stream, then send an error event (llama-server's way of failing late);
- ``"fragmented"``: answer normally, but a few bytes per write, with ``\r\n`` line ends.

Run as a program (``python scripted_server.py PORT [DEFAULT_ACTION [SLOW_SECONDS]]``) it serves
until killed: a stand-in for a model server process in lifecycle tests.

``honour_n=False`` makes it answer one choice whatever ``n`` asks. ``usage_per_choice=True`` reports
usage the way llama-server does: a streamed answer gets one usage event per choice (its own
tokens), a non-streamed one the first choice's usage only. ``tool_calls`` (a list of
``(name, arguments JSON)``) makes it answer a request that offers ``tools`` with those calls
(streamed: the id and name first, the arguments in pieces), and a request whose last message is a
tool result with ``"result: <content>"``. Every request is recorded in
``server.requests`` (``peak_active`` is the most answered at once); every client disconnect seen
while a request was still being answered is recorded in ``server.disconnects`` (and sets
``disconnected``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

Action = str | int


@dataclass
class Request:
    path: str
    body: dict[str, Any]
    action: Action


@dataclass
class ScriptedServer:
    script: list[Action] = field(default_factory=list)
    default: Action = "ok"
    slow_seconds: float = 30.0
    reply: str = "hello world"
    honour_n: bool = True
    usage_per_choice: bool = False
    tool_calls: list[tuple[str, str]] = field(default_factory=list)
    active: int = 0
    connections: int = 0
    peak_active: int = 0
    requests: list[Request] = field(default_factory=list)
    disconnects: list[str] = field(default_factory=list)
    disconnected: asyncio.Event = field(default_factory=asyncio.Event)
    port: int = 0
    host_port: int = 0
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task] = field(default_factory=set)

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def start(self) -> ScriptedServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.host_port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    # -- HTTP ------------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {
                    k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:] if ln)
                }
                body = json.loads(await reader.readexactly(int(headers.get("content-length", 0))) or b"{}")
                if method == "GET":
                    payload = json.dumps({"status": "ok", "data": [{"id": "test-model"}]}).encode()
                    writer.write(_head(200, len(payload)) + payload)
                    await writer.drain()
                    continue
                action = self.script.pop(0) if self.script else self.default
                self.requests.append(Request(path, body, action))
                self.active += 1
                self.peak_active = max(self.peak_active, self.active)
                try:
                    if not await self._answer(action, path, body, reader, writer):
                        return
                finally:
                    self.active -= 1
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # the client left, or the server is stopping
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _answer(self, action, path, body, reader, writer) -> bool:
        """Answer one request; ``False`` when the connection is finished."""
        if isinstance(action, int):
            payload = json.dumps(
                {"error": {"message": f"scripted failure {action}", "code": action}}
            ).encode()
            writer.write(_head(action, len(payload)) + payload)
            await writer.drain()
            return True
        if action == "hang":
            await self._until_client_leaves(reader, path, timeout=None)
            return False
        if action == "drop":
            return False
        if action == "error_event":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
            await self._event(writer, path, {"choices": [{"index": 0, "delta": {"content": "hel"}}]})
            error = {"error": {"code": 500, "message": "scripted late failure", "type": "server_error"}}
            writer.write(_chunk(b"data: " + json.dumps(error).encode() + b"\n\n") + b"0\r\n\r\n")
            await writer.drain()
            return True
        if action == "slow" and not body.get("stream"):
            if await self._until_client_leaves(reader, path, timeout=self.slow_seconds):
                return False
        if body.get("stream"):
            return await self._stream(action, path, body, reader, writer)
        payload = json.dumps(self._completion(path, body)).encode()
        if action == "drop_mid":
            writer.write(_head(200, len(payload)) + payload[: len(payload) // 2])
            await writer.drain()
            return False
        writer.write(_head(200, len(payload)) + payload)
        await writer.drain()
        return True

    async def _until_client_leaves(self, reader, path: str, timeout: float | None) -> bool:
        """Wait for the client to hang up (EOF); ``True`` if it did within ``timeout``."""
        try:
            data = await asyncio.wait_for(reader.read(1), timeout)
        except TimeoutError:
            return False
        except ConnectionError:
            data = b""
        if data == b"":
            self.disconnects.append(path)
            self.disconnected.set()
            return True
        return False

    async def _stream(self, action, path, body, reader, writer) -> bool:
        """Server-sent events the way llama-server sends them: a chunk per token per choice
        (round robin), a finish chunk per choice, then usage (one event for the request, or one
        per choice after its finish chunk)."""
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        chat = path.endswith("/chat/completions")
        whole = self._completion(path, body)
        texts = [(c["message"]["content"] or "") if chat else c["text"] for c in whole["choices"]]
        pieces = [
            (i, tok)
            for step in range(max(len(t.split(" ")) for t in texts))
            for i, t in enumerate(texts)
            if step < len(t.split(" "))
            for tok in [(" " if step else "") + t.split(" ")[step]]
            if tok
        ]
        if action == "slow":
            pieces = [(0, " tok")] * int(self.slow_seconds / 0.05)
        for index, token in pieces:
            choice: dict[str, Any] = {"index": index, "finish_reason": None}
            if chat:
                choice["delta"] = {"content": token}
                if body.get("logprobs"):
                    choice["logprobs"] = {
                        "content": [{"token": token, "logprob": -1.0, "bytes": None, "top_logprobs": []}]
                    }
            else:
                choice["text"] = token
                if body.get("logprobs") is not None:  # vLLM's legacy shape
                    choice["logprobs"] = {"tokens": [token], "token_logprobs": [-0.5], "top_logprobs": None}
            if not await self._event(writer, path, {"choices": [choice]}, fragmented=action == "fragmented"):
                return False
            if action == "drop_mid":
                return False
            if action == "slow" and await self._until_client_leaves(reader, path, timeout=0.05):
                return False
        for index, choice in enumerate(whole["choices"]):
            for k, call in enumerate(choice.get("message", {}).get("tool_calls") or ()):
                args = call["function"]["arguments"]
                name = {"name": call["function"]["name"]}
                head = {"index": k, "id": call["id"], "type": "function", "function": name}
                await self._event(writer, path, {"choices": [{"index": index, "delta": {"tool_calls": [head]}}]})
                for piece in (args[: len(args) // 2], args[len(args) // 2 :]):
                    delta = {"tool_calls": [{"index": k, "function": {"arguments": piece}}]}
                    await self._event(writer, path, {"choices": [{"index": index, "delta": delta}]})
        for index, choice in enumerate(whole["choices"]):
            finish = {"index": index, "finish_reason": choice["finish_reason"]}
            finish.update({"delta": {}} if chat else {"text": ""})
            await self._event(writer, path, {"choices": [finish]}, fragmented=action == "fragmented")
            if self.usage_per_choice:
                await self._event(writer, path, {"choices": [], "usage": _usage(2)})
        if not self.usage_per_choice:
            await self._event(writer, path, {"choices": [], "usage": whole["usage"]})
        writer.write(_chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")
        await writer.drain()
        return True

    async def _event(self, writer, path: str, payload: dict[str, Any], fragmented: bool = False) -> bool:
        event = {"id": "s", "object": "chunk", "created": 0, "model": "m", **payload}
        data = b"data: " + json.dumps(event).encode() + b"\n\n"
        try:
            if fragmented:  # a few bytes per HTTP chunk, CRLF line ends: events split anywhere
                data = data.replace(b"\n", b"\r\n")
                for at in range(0, len(data), 7):
                    writer.write(_chunk(data[at : at + 7]))
                    await writer.drain()
                return True
            writer.write(_chunk(data))
            await writer.drain()
        except ConnectionError:
            self.disconnects.append(path)
            self.disconnected.set()
            return False
        return True

    def _completion(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        n = int(body.get("n") or 1) if self.honour_n else 1
        chat = path.endswith("/chat/completions")
        messages = body.get("messages") or [{}]
        calling = chat and self.tool_calls and body.get("tools") and messages[-1].get("role") != "tool"
        choices = []
        for i in range(n):
            text = f"{self.reply} {i}" if n > 1 else self.reply
            if chat and messages[-1].get("role") == "tool":
                text = f"result: {messages[-1].get('content')}"
            choice: dict[str, Any] = {"index": i, "finish_reason": "stop"}
            if calling:
                calls = [
                    {"id": f"call_{i}_{k}", "type": "function", "function": {"name": name, "arguments": args}}
                    for k, (name, args) in enumerate(self.tool_calls)
                ]
                choice["message"] = {"role": "assistant", "content": None, "tool_calls": calls}
                choice["finish_reason"] = "tool_calls"
            elif chat:
                choice["message"] = {"role": "assistant", "content": text}
                if body.get("logprobs"):
                    choice["logprobs"] = {
                        "content": [
                            {"token": "a", "logprob": -0.5, "bytes": None, "top_logprobs": []},
                            {"token": "b", "logprob": -1.5, "bytes": None, "top_logprobs": []},
                        ]
                    }
            else:
                choice["text"] = text
                choice["logprobs"] = (
                    {
                        "tokens": ["a", "b"],
                        "token_logprobs": [-0.25, -0.75],
                        "top_logprobs": None,
                        "text_offset": [0, 1],
                    }
                    if body.get("logprobs") is not None
                    else None
                )
            choices.append(choice)
        return {
            "id": "x",
            "object": "chat.completion" if chat else "text_completion",
            "created": 0,
            "model": body.get("model"),
            "choices": choices,
            # llama-server keeps only the first choice's usage in a non-streamed answer
            "usage": _usage(2 if self.usage_per_choice else 2 * n),
        }


def _usage(completion_tokens: int) -> dict[str, Any]:
    return {
        "prompt_tokens": 7,
        "completion_tokens": completion_tokens,
        "total_tokens": 7 + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 3},
    }


def _head(status: int, length: int) -> bytes:
    reason = {200: "OK", 400: "Bad Request", 429: "Too Many Requests", 500: "Internal Server Error"}.get(
        status, "X"
    )
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


@contextlib.asynccontextmanager
async def scripted_server(**kwargs):
    server = await ScriptedServer(**kwargs).start()
    try:
        yield server
    finally:
        await server.stop()


async def _main(argv: list[str]) -> None:
    port = int(argv[0])
    server = ScriptedServer(host_port=port)
    if len(argv) > 1:
        server.default = argv[1]
    if len(argv) > 2:
        server.slow_seconds = float(argv[2])
    await server.start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    import sys

    asyncio.run(_main(sys.argv[1:]))
