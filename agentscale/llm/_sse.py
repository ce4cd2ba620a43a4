"""The hot path to self-hosted servers: POST a JSON body over HTTP/1.1, read the JSON or the
server-sent events that come back.

Why not httpx here (litellm's requests use it): a streamed completion arrives one token per
network read, and each read through httpx/httpcore/h11/anyio costs about twice what the event loop
itself costs to deliver it (measured in ``benchmarks/llm_overhead.py``: with httpx, client CPU per
streamed token was 2-4x a non-streamed request's). Here the bytes are parsed where asyncio hands
them over (:meth:`_Exchange.data_received`): chunked framing, SSE lines and ``json.loads`` run in
the transport's callback and the waiting task wakes once, when the response is complete. Nothing
else is done: no redirects, proxies, cookies, compression or HTTP/2 (self-hosted model servers
need none of them).

Connections are kept alive and reused (:class:`Connections`, one per endpoint and event loop). A
reused connection the server had already closed fails before any answer arrives; the request is
then sent once more on a fresh one. Cancelling the waiting task (or a timeout) aborts the
connection, which is how llama-server learns to stop generating and free its slot.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from urllib.parse import urlsplit

__all__ = ["Answer", "Connections", "HTTPError"]

_MAX_HEAD = 64 * 1024


class HTTPError(Exception):
    """The exchange failed below HTTP semantics: refused, reset, cut off, or not HTTP.

    Attributes:
        answered: whether any byte of a response had arrived (if not, resending is safe).
    """

    def __init__(self, message: str, *, answered: bool) -> None:
        super().__init__(message)
        self.answered = answered


class Answer:
    """How an exchange ended: the status, whether the body was an event stream (its events went to
    ``on_event``), and the body when it was not."""

    __slots__ = ("body", "events", "status")

    def __init__(self, status: int, events: bool, body: bytes) -> None:
        self.status = status
        self.events = events
        self.body = body


class Connections:
    """Kept-alive HTTP/1.1 connections to one server, for one event loop.

    Args:
        base_url: ``http://host:port/prefix`` or ``https://...``.
        max_idle: connections kept open between requests.
    """

    def __init__(self, base_url: str, *, max_idle: int) -> None:
        self.base_url = base_url
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.prefix = parts.path.rstrip("/")
        self.ssl = ssl.create_default_context() if parts.scheme == "https" else None
        self.authority = parts.netloc.rpartition("@")[2]  # as written, brackets of IPv6 included
        self.max_idle = max_idle
        self._idle: list[_Exchange] = []

    async def post(
        self,
        path: str,
        body: bytes,
        headers: dict[str, str],
        on_event: Callable[[bytes], None],
    ) -> Answer:
        """POST ``body`` to ``prefix + path``; feed each event's data of a 200 event stream to ``on_event``.

        Returns when the response is complete: its status, and the body of an answer that was not
        an event stream (JSON, an error page). An exception raised by ``on_event`` (an unreadable
        event, an error event) ends the exchange with that exception.

        Raises:
            HTTPError: the connection failed or the answer was not HTTP.
        """
        head = _request_head(self.prefix + path, self.authority, headers, len(body))
        for attempt in range(2):
            exchange = await self._connection(fresh=attempt > 0)
            try:
                answer = await exchange.run(head + body, on_event)
            except HTTPError as exc:
                exchange.abort()
                # A kept-alive connection the server closed while it was idle: resend once.
                if exchange.reused and not exc.answered and attempt == 0:
                    continue
                raise
            except BaseException:
                exchange.abort()  # cancelled or failed mid-answer: hang up, so the server stops
                raise
            if exchange.keep_alive and len(self._idle) < self.max_idle:
                self._idle.append(exchange)
            else:
                exchange.abort()
            return answer
        raise AssertionError("unreachable")

    async def _connection(self, *, fresh: bool) -> _Exchange:
        while self._idle and not fresh:
            exchange = self._idle.pop()
            if exchange.usable():
                exchange.reused = True
                return exchange
            exchange.abort()
        loop = asyncio.get_running_loop()
        try:
            _, exchange = await loop.create_connection(
                _Exchange, self.host, self.port, ssl=self.ssl, server_hostname=self.host if self.ssl else None
            )
        except OSError as exc:
            raise HTTPError(f"{type(exc).__name__}: {exc}", answered=False) from exc
        return exchange

    def aclose(self) -> None:
        """Close the idle connections."""
        idle, self._idle = self._idle, []
        for exchange in idle:
            exchange.abort()


def _request_head(target: str, authority: str, headers: dict[str, str], length: int) -> bytes:
    lines = [f"POST {target} HTTP/1.1", f"Host: {authority}", f"Content-Length: {length}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class _Exchange(asyncio.Protocol):
    """One connection, answering one request at a time; the parsing happens in ``data_received``."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.reused = False
        self.keep_alive = True
        self._closed = False
        self._done: asyncio.Future[Answer] | None = None

    # -- asyncio callbacks -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._done is None or self._done.done():
            self._closed = True  # bytes nobody asked for: this connection is not reusable
            return
        try:
            self._feed(data)
        except Exception as exc:  # a malformed answer, or on_event's own error (an error event)
            self._finish(exc)

    def eof_received(self) -> bool:
        self._lost("the server closed the connection")
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost(f"connection lost: {exc}" if exc else "the server closed the connection")

    # -- one request -------------------------------------------------------------------------

    def usable(self) -> bool:
        return not self._closed and self.transport is not None and not self.transport.is_closing()

    def abort(self) -> None:
        self._closed = True
        if self.transport is not None:
            self.transport.abort()

    async def run(self, request: bytes, on_event: Callable[[bytes], None]) -> Answer:
        self._on_event = on_event
        self._buf = b""
        self._state = "head"
        self._status = 0
        self._events = False
        self._length = -1  # body bytes still due: -1 chunked, -2 until the connection closes
        self._body: list[bytes] = []
        self._sse = b""
        self._answered = False
        self._done = asyncio.get_running_loop().create_future()
        assert self.transport is not None
        self.transport.write(request)
        return await self._done

    def _lost(self, why: str) -> None:
        self._closed = True
        done = self._done
        if done is None or done.done():
            return
        if self._state == "body" and self._length == -2:  # a body framed by the close: complete
            self.keep_alive = False
            self._complete()
            return
        self._finish(HTTPError(why, answered=self._answered))

    def _finish(self, result: BaseException | Answer) -> None:
        if self._done is not None and not self._done.done():
            if isinstance(result, BaseException):
                self.keep_alive = False
                self._done.set_exception(result)
            else:
                self._done.set_result(result)

    def _complete(self) -> None:
        self._state = "done"
        self._finish(Answer(self._status, self._events, b"".join(self._body)))

    # -- parsing -----------------------------------------------------------------------------

    def _feed(self, data: bytes) -> None:
        self._answered = True
        buf = self._buf + data if self._buf else data
        self._buf = b""
        if self._state == "head":
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > _MAX_HEAD:
                    raise HTTPError("response head too long", answered=True)
                self._buf = buf
                return
            self._head(buf[:end])
            buf = buf[end + 4 :]
            self._state = "body"
        if self._length == -1:
            self._chunks(buf)
        elif self._length == -2:
            self._data(buf)
        else:
            take = buf[: self._length]
            self._length -= len(take)
            self._data(take)
            if self._length == 0:
                self._complete()

    def _head(self, head: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        if not version.startswith("HTTP/1.") or not rest[:3].isdigit():
            raise HTTPError(f"not an HTTP/1.x answer: {lines[0][:80]!r}", answered=True)
        self._status = int(rest[:3])
        fields: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        connection = fields.get("connection", "").lower()
        self.keep_alive = "close" not in connection and (version != "HTTP/1.0" or "keep-alive" in connection)
        self._events = self._status == 200 and fields.get("content-type", "").startswith("text/event-stream")
        if "chunked" in fields.get("transfer-encoding", "").lower():
            self._length = -1
        elif "content-length" in fields:
            self._length = int(fields["content-length"])
            if self._length == 0:
                self._complete()
        else:
            self._length = -2

    def _chunks(self, buf: bytes) -> None:
        """Chunked transfer coding: ``SIZE\\r\\nDATA\\r\\n`` ... ``0\\r\\n\\r\\n``."""
        at = 0
        while True:
            line_end = buf.find(b"\r\n", at)
            if line_end < 0:
                break
            size = int(buf[at:line_end].split(b";", 1)[0], 16)
            if size == 0:
                if buf.find(b"\r\n", line_end + 2) < 0:  # the empty line after the last chunk
                    break
                self._complete()
                return
            start = line_end + 2
            if len(buf) < start + size + 2:
                break
            self._data(buf[start : start + size])
            at = start + size + 2
        self._buf = buf[at:]

    def _data(self, data: bytes) -> None:
        if not self._events:
            self._body.append(data)
            return
        sse = self._sse + data if self._sse else data
        if b"\r" in sse:
            sse = sse.replace(b"\r\n", b"\n")
        *events, self._sse = sse.split(b"\n\n")
        for event in events:
            for line in event.split(b"\n"):
                if line[:5] != b"data:":
                    continue  # comments (": ping"), "event:" and "id:" lines
                payload = line[5:].strip()
                if payload != b"[DONE]":  # after [DONE], only the end of the body follows
                    self._on_event(payload)
