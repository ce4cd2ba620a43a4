"""Requests to self-hosted OpenAI-compatible servers (llama-server, vLLM), sent by agentscale itself.

For ``hosted_vllm/<name>`` and ``openai/<name>`` with an explicit ``api_base``, the request body is
built here and posted with the endpoint's pooled ``httpx`` client; the answer (JSON, or server-sent
events) is parsed here too. Two reasons:

- **Nothing is lost on the way.** litellm applies OpenAI's own limits to every OpenAI-compatible
  provider (it sends only the first 4 stop sequences) and drops parameters it thinks a provider does
  not take. Here every parameter the caller gave reaches the server, and the server judges it.
- **Client CPU.** litellm's stream handling costs about ten times what reading the events costs; on
  a fast server the client would need cores of its own. Here one event costs a ``json.loads`` and a
  few dict reads (see ``benchmarks/llm_overhead.py``).

A streamed response is read inside ``async with client.stream(...)``: however the reading ends (the
caller cancelled, a timeout, an error), leaving that block closes the connection mid-body, which is
how llama-server learns to stop generating and free its slot.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx

from agentscale.errors import ModelAPIError, ModelTimeout
from agentscale.llm._response import Parsed, StreamAccumulator, parse

__all__ = ["DIRECT_PROVIDERS", "send"]

DIRECT_PROVIDERS = ("hosted_vllm/", "openai/")
"""Model-string prefixes sent directly when the LLM has an ``api_base``."""

_MAX_MESSAGE = 400
_STREAM_OPTIONS = {"include_usage": True}


async def send(
    http: httpx.AsyncClient,
    *,
    url: str,
    api_key: str | None,
    body: dict[str, Any],
    stream: bool,
    text_route: bool,
    timeout: float,
    start: float,
    model: str,
    api_base: str,
) -> Parsed:
    """POST one completion request and read the whole answer.

    Args:
        http: the endpoint's pooled client.
        url: ``{api_base}/chat/completions`` or ``{api_base}/completions``.
        api_key: sent as a bearer token when given.
        body: the JSON body, ``stream`` fields excluded.
        stream: ask for server-sent events.
        text_route: a text completion (``choices[].text``) rather than a chat one.
        timeout: seconds for the whole request.
        start: ``time.perf_counter()`` when the call began (for ``Usage.seconds``).
        model: named in errors.
        api_base: named in errors.

    Raises:
        ModelTimeout: no whole answer within ``timeout``.
        ModelAPIError: an HTTP error status, an error event in the stream, a connection that
            failed or broke off (``status_code=None``, ``retryable=True``), or an unreadable body.
    """
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    if stream:
        body = {**body, "stream": True, "stream_options": _STREAM_OPTIONS}
    content = json.dumps(body, ensure_ascii=False).encode()
    try:
        async with asyncio.timeout(timeout):
            if not stream:
                response = await http.post(url, content=content, headers=headers)
                if response.status_code >= 400:
                    raise _status_error(response.status_code, response.content, model, api_base)
                data = _loads(response.content, model, api_base)
                return parse(data, text_route=text_route, seconds=time.perf_counter() - start)
            reader = StreamAccumulator(text_route=text_route, max_tokens=body.get("max_tokens"))
            async with http.stream("POST", url, content=content, headers=headers) as response:
                if response.status_code >= 400:
                    raise _status_error(response.status_code, await response.aread(), model, api_base)
                await _read_events(response, reader, model, api_base)
    except TimeoutError as exc:
        raise ModelTimeout(
            f"no answer within {timeout:g} s", model=model, api_base=api_base, retryable=True
        ) from exc
    except httpx.TransportError as exc:  # refused, reset, or cut off mid-body: worth another try
        raise ModelAPIError(
            f"connection failed: {type(exc).__name__}: {exc or 'no details'}",
            model=model,
            api_base=api_base,
            retryable=True,
        ) from exc
    return reader.parsed(time.perf_counter() - start, cost=None)


async def _read_events(
    response: httpx.Response, reader: StreamAccumulator, model: str, api_base: str
) -> None:
    """Feed each ``data:`` event to ``reader`` until ``[DONE]``; an error event raises.

    The body is read to its end even after ``[DONE]`` (only the chunked encoding's last empty
    chunk is left by then): a response read whole gives its connection back to the pool.
    """
    add = reader.add
    rest = b""
    done = False
    async for block in response.aiter_bytes():
        if done:
            continue
        if rest:
            block = rest + block
        # Events end with a blank line; servers write "\n\n" (the SSE spec also allows "\r\n").
        if b"\r" in block:
            block = block.replace(b"\r\n", b"\n")
        *events, rest = block.split(b"\n\n")
        for event in events:
            for line in event.split(b"\n"):
                if not line.startswith(b"data:"):
                    continue  # comments (": ping"), "event:" and "id:" lines
                payload = line[5:].strip()
                if payload == b"[DONE]":
                    done = True
                    break
                data = _loads(payload, model, api_base)
                if "error" in data and "choices" not in data:
                    raise _error_event(data["error"], model, api_base)
                add(data)
            if done:
                break
    if not done and rest.strip():
        raise ModelAPIError(
            "connection failed: the event stream ended mid-event", model=model, api_base=api_base, retryable=True
        )


def _loads(content: bytes, model: str, api_base: str) -> dict[str, Any]:
    try:
        data = json.loads(content)
    except ValueError as exc:
        raise ModelAPIError(
            f"the server sent something that is not JSON: {content[:200]!r}", model=model, api_base=api_base
        ) from exc
    if not isinstance(data, dict):
        raise ModelAPIError(f"the server sent {type(data).__name__}, not an object", model=model, api_base=api_base)
    return data


def _status_error(status: int, content: bytes, model: str, api_base: str) -> ModelAPIError:
    """An HTTP error answer, with the server's own words; transient ones (408, 429, 5xx) retryable."""
    message = content.decode("utf-8", "replace").strip()
    try:
        error = json.loads(content).get("error")
        if isinstance(error, dict) and error.get("message"):
            message = str(error["message"])
        elif isinstance(error, str):
            message = error
    except (ValueError, AttributeError):
        pass
    message = _cap(message or f"HTTP {status}")
    if status == 408:
        return ModelTimeout(message, model=model, api_base=api_base, status_code=status, retryable=True)
    return ModelAPIError(
        message, model=model, api_base=api_base, status_code=status, retryable=status == 429 or status >= 500
    )


def _error_event(error: Any, model: str, api_base: str) -> ModelAPIError:
    """An error reported inside the stream, after the 200 went out (llama-server does this)."""
    if isinstance(error, dict):
        code = error.get("code")
        status = code if isinstance(code, int) and 400 <= code < 600 else None
        message = str(error.get("message") or error)
    else:
        status, message = None, str(error)
    return ModelAPIError(
        _cap(message),
        model=model,
        api_base=api_base,
        status_code=status,
        retryable=status is not None and (status == 429 or status >= 500),
    )


def _cap(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."
