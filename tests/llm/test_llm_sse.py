"""The HTTP/1.1 reader under the model layer (``agentscale.llm._sse``), against raw servers that
frame answers every way HTTP allows and split them anywhere."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest

from agentscale import ModelAPIError
from agentscale.llm import LLM

EVENTS = [
    {"choices": [{"index": 0, "delta": {"content": "hel"}}]},
    {"choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop"}]},
    {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}},
]


def _sse(events, *, crlf: bool = False) -> bytes:
    out = b": ping\n\nevent: message\n"  # a comment and a field that is not data
    out += b"".join(b"data:" + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"
    return out.replace(b"\n", b"\r\n") if crlf else out


def _chunked(body: bytes, size: int = 5) -> bytes:
    parts = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(f"{len(p):x};ext=1\r\n".encode() + p + b"\r\n" for p in parts) + b"0\r\n\r\n"


async def _serve(answer: bytes, *, piece: int, close: bool):
    """A server that answers every request with ``answer``, written ``piece`` bytes at a time."""
    seen: list[bytes] = []

    async def handle(reader, writer):
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                fields = dict(ln.lower().split(b":", 1) for ln in head.split(b"\r\n")[1:] if b":" in ln)
                length = int(fields[b"content-length"])
                seen.append(head + await reader.readexactly(length))
                for at in range(0, len(answer), piece):
                    writer.write(answer[at : at + piece])
                    await writer.drain()
                    await asyncio.sleep(0.001)
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, seen


def _head(status: int, fields: str) -> bytes:
    return f"HTTP/1.1 {status} X\r\n{fields}\r\n".encode()


@pytest.mark.parametrize("piece", [3, 1000])
@pytest.mark.parametrize("crlf", [False, True])
async def test_a_chunked_event_stream_split_anywhere(piece, crlf):
    answer = _head(200, "Content-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n") + _chunked(
        _sse(EVENTS, crlf=crlf), size=7
    )
    server, seen = await _serve(answer, piece=piece, close=False)
    port = server.sockets[0].getsockname()[1]
    async with LLM("hosted_vllm/m", api_base=f"http://127.0.0.1:{port}/v1", max_retries=0) as llm:
        for _ in range(2):
            out = await llm.generate("hi")
            assert out.text == "hello" and out.finish_reasons == ["stop"] and out.usage.completion_tokens == 2
    server.close()
    assert len(seen) == 2 and seen[0].startswith(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:")
    assert json.loads(seen[0].split(b"\r\n\r\n", 1)[1])["stream"] is True


@pytest.mark.parametrize("framing", ["length", "close"])
async def test_a_json_answer_framed_by_length_or_by_closing(framing):
    body = json.dumps(
        {"choices": [{"index": 0, "message": {"content": "hi"}, "finish_reason": "stop"}], "usage": {}}
    ).encode()
    fields = f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n" if framing == "length" else ""
    server, seen = await _serve(_head(200, fields) + body, piece=4, close=framing == "close")
    port = server.sockets[0].getsockname()[1]
    async with LLM("hosted_vllm/m", api_base=f"http://127.0.0.1:{port}/v1", stream=False, max_retries=0) as llm:
        assert (await llm.generate("hi")).text == "hi"
        assert (await llm.generate("hi")).text == "hi"  # on a kept-alive or a new connection
    server.close()


async def test_an_error_status_with_a_chunked_body():
    body = _chunked(json.dumps({"error": {"message": "model overloaded"}}).encode())
    answer = _head(503, "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n") + body
    server, _ = await _serve(answer, piece=10, close=False)
    port = server.sockets[0].getsockname()[1]
    async with LLM("hosted_vllm/m", api_base=f"http://127.0.0.1:{port}/v1", max_retries=0) as llm:
        with pytest.raises(ModelAPIError, match="model overloaded") as info:
            await llm.generate("hi")
    assert info.value.status_code == 503 and info.value.retryable
    server.close()


@pytest.mark.parametrize(
    "answer",
    [
        b"SSH-2.0-OpenSSH\r\n\r\n",
        _head(200, "Content-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n") + _chunked(b"data: {oops\n\n"),
        _head(200, "Content-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n") + b"zz\r\n",
    ],
)
async def test_answers_that_cannot_be_read_are_clear_errors(answer):
    server, _ = await _serve(answer, piece=100, close=True)
    port = server.sockets[0].getsockname()[1]
    async with LLM("hosted_vllm/m", api_base=f"http://127.0.0.1:{port}/v1", max_retries=0) as llm:
        with pytest.raises(ModelAPIError) as info:
            await llm.generate("hi")
    assert f"127.0.0.1:{port}" in str(info.value)
    server.close()


async def test_a_kept_alive_connection_the_server_dropped_is_resent_once(server, make_llm):
    # The first answer leaves the connection open; the server then drops the next request on it
    # without a word, as a server that closed an idle connection does: it goes again on a new one.
    server.script = ["ok", "drop"]
    llm = make_llm(max_retries=0)
    assert (await llm.generate("hi")).text == "hello world"
    assert (await llm.generate("hi")).text == "hello world"
    assert len(server.requests) == 3 and server.connections == 2


def test_base_urls_are_split_into_where_and_what():
    from agentscale.llm._sse import Connections

    cases = {
        "http://127.0.0.1:8080/v1": ("127.0.0.1", 8080, "/v1", "127.0.0.1:8080", False),
        "https://models.example.com/v1/": ("models.example.com", 443, "/v1", "models.example.com", True),
        "http://[::1]:9000/v1": ("::1", 9000, "/v1", "[::1]:9000", False),
    }
    for url, want in cases.items():
        c = Connections(url, max_idle=1)
        assert (c.host, c.port, c.prefix, c.authority, c.ssl is not None) == want
    with pytest.raises(ValueError):
        Connections("ftp://x/v1", max_idle=1)
