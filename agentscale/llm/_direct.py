"""Requests to self-hosted OpenAI-compatible servers (llama-server, vLLM), sent by agentscale itself.

For ``hosted_vllm/<name>`` and ``openai/<name>`` with an explicit ``api_base``, the request body is
built here and sent on the endpoint's kept-alive connections (:mod:`agentscale.llm._sse`), and the
answer (server-sent events, parsed as they arrive, or JSON) read there too. Two reasons:

- **Nothing is lost on the way.** litellm applies OpenAI's own limits to every OpenAI-compatible
  provider (it sends only the first 4 stop sequences) and drops parameters it thinks a provider does
  not take. Here every parameter the caller gave reaches the server, and the server judges it.
- **Client CPU.** litellm's stream handling costs about ten times what reading the events costs; on
  a fast server the client would need cores of its own. Here one event costs a network read, a
  ``json.loads`` and a few dict reads (see ``benchmarks/llm_overhead.py``).

However the reading of a stream ends early (the caller cancelled, a timeout, an error), the
connection is aborted, which is how llama-server learns to stop generating and free its slot.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agentscale.errors import ModelAPIError, ModelTimeout
from agentscale.llm._response import Parsed, StreamAccumulator, parse
from agentscale.llm._sse import HTTPError

if TYPE_CHECKING:
    from agentscale.llm._endpoint import Endpoint

__all__ = ["DIRECT_PROVIDERS", "send"]

DIRECT_PROVIDERS = ("hosted_vllm/", "openai/")
"""Model-string prefixes sent directly when the LLM has an ``api_base``."""

_MAX_MESSAGE = 400
_STREAM_OPTIONS = {"include_usage": True}


async def send(
    endpoint: Endpoint,
    *,
    path: str,
    body: dict[str, Any],
    stream: bool,
    text_route: bool,
    timeout: float,
    start: float,
    model: str,
) -> Parsed:
    """POST one completion request and read the whole answer.

    Args:
        endpoint: the server (its pooled connections and key).
        path: ``/chat/completions`` or ``/completions``.
        body: the JSON body, ``stream`` fields excluded.
        stream: ask for server-sent events (parsed as they arrive) rather than one JSON answer.
        text_route: a text completion (``choices[].text``) rather than a chat one.
        timeout: seconds for the whole request.
        start: ``time.perf_counter()`` when the call began (for ``Usage.seconds``).
        model: named in errors.

    Raises:
        ModelTimeout: no whole answer within ``timeout``.
        ModelAPIError: an HTTP error status, an error event in the stream, a connection that
            failed or broke off (``status_code=None``, ``retryable=True``), or an unreadable body.
    """
    api_base = endpoint.api_base or ""
    headers = {"Content-Type": "application/json"}
    if endpoint.api_key:
        headers["Authorization"] = f"Bearer {endpoint.api_key}"
    if stream:
        body = {**body, "stream": True, "stream_options": _STREAM_OPTIONS}
    content = json.dumps(body, ensure_ascii=False).encode()
    reader = StreamAccumulator(text_route=text_route, max_tokens=body.get("max_tokens"))
    on_event = _event_reader(reader, model, api_base)
    try:
        async with asyncio.timeout(timeout):
            answer = await endpoint.connections().post(path, content, headers, on_event)
    except TimeoutError as exc:
        raise ModelTimeout(
            f"no answer within {timeout:g} s", model=model, api_base=api_base, retryable=True
        ) from exc
    except HTTPError as exc:  # refused, reset, or cut off mid-body: worth another try
        raise ModelAPIError(
            f"connection failed: {type(exc).__name__}: {exc or 'no details'}",
            model=model,
            api_base=api_base,
            retryable=True,
        ) from exc
    except ModelAPIError:
        raise
    except ValueError as exc:  # an event that is not JSON, or a malformed HTTP answer
        raise ModelAPIError(f"unreadable answer: {exc}", model=model, api_base=api_base) from exc
    if answer.status >= 400:
        raise _status_error(answer.status, answer.body, model, api_base)
    if answer.events:
        return reader.parsed(time.perf_counter() - start, cost=None)
    # A plain JSON answer (asked for, or sent by a server that does not stream).
    data = _loads(answer.body, model, api_base)
    return parse(data, text_route=text_route, seconds=time.perf_counter() - start)


def _event_reader(reader: StreamAccumulator, model: str, api_base: str) -> Callable[[bytes], None]:
    """What to do with each event's data: one ``json.loads`` and the reader's ``add``."""
    add = reader.add
    loads = json.loads

    def on_event(payload: bytes) -> None:
        data = loads(payload)
        if type(data) is not dict:
            raise ValueError(f"an event that is not an object: {payload[:200]!r}")
        if "error" in data and "choices" not in data:
            raise _error_event(data["error"], model, api_base)
        add(data)

    return on_event


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
