"""Read texts, finish reasons, tool calls, usage and logprobs out of a response or a stream of chunks.

Responses come as plain dicts (agentscale's own HTTP path) or as litellm's pydantic-ish objects
whose nested fields are sometimes objects and sometimes dicts, so every read goes through
:func:`_get`.

Usage with ``n > 1``: a request's usage must cover every choice. vLLM sends one usage for the
request (all choices' tokens). llama-server answers a streamed request with one usage per choice
(right after that choice's finish chunk, or on it for text completions), and a non-streamed one with
the *first* choice's usage only, so agentscale streams ``n > 1`` requests to self-hosted servers.
:class:`StreamAccumulator` keeps the latest usage per choice and adds them up: the generated
tokens summed, the prompt (processed once) counted once.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

from agentscale.types import Usage

__all__ = ["Parsed", "StreamAccumulator", "parse"]


class Parsed:
    """What one HTTP response held."""

    __slots__ = ("finish_reasons", "logprobs", "texts", "tool_calls", "usage")

    def __init__(self, texts, finish_reasons, logprobs, usage, tool_calls=None) -> None:
        self.texts: list[str] = texts
        self.finish_reasons: list[str | None] = finish_reasons
        self.logprobs: list[float | None] = logprobs
        self.usage: Usage = usage
        self.tool_calls: list[list[dict[str, Any]]] = tool_calls or [[] for _ in texts]


def parse(response: Any, *, text_route: bool, seconds: float) -> Parsed:
    """Parse a chat or text completion response (choices in index order)."""
    choices = sorted(_get(response, "choices") or [], key=lambda c: _get(c, "index") or 0)
    texts, reasons, logprobs, calls = [], [], [], []
    for choice in choices:
        if text_route:
            text = _get(choice, "text")
            calls.append([])
        else:
            message = _get(choice, "message")
            text = _get(message, "content")
            calls.append([_tool_call(c) for c in _get(message, "tool_calls") or ()])
        texts.append(text or "")
        reasons.append(_get(choice, "finish_reason"))
        logprobs.append(_mean_logprob(_get(choice, "logprobs")))
    usage = _usage([_get(response, "usage")], [_get(response, "timings")], seconds, _hidden_cost(response))
    return Parsed(texts, reasons, logprobs, usage, calls)


class StreamAccumulator:
    """Builds one :class:`Parsed` from a stream of chunks (choices interleave by ``index``).

    ``add`` runs once per streamed token: it does no more than read the few fields it needs.
    """

    def __init__(self, *, text_route: bool, max_tokens: int | None) -> None:
        self._text_route = text_route
        self._max_tokens = max_tokens
        self._pieces: dict[int, list[str]] = {}
        self._chunks: dict[int, int] = {}
        self._reasons: dict[int, str] = {}
        self._logprobs: dict[int, list[float]] = {}
        self._calls: dict[int, dict[int, dict[str, Any]]] = {}
        self._usages: dict[int | None, Any] = {}
        self._timings: dict[int | None, Any] = {}
        self._last_finished: int | None = None

    def add(self, chunk: Any) -> None:
        choices = _get(chunk, "choices")
        index: int | None = None
        for choice in choices or ():
            index = _get(choice, "index") or 0
            if self._text_route:
                piece = _get(choice, "text")
            else:
                delta = _get(choice, "delta")
                piece = _get(delta, "content")
                tool_calls = _get(delta, "tool_calls")
                if tool_calls:
                    self._add_tool_calls(index, tool_calls)
            pieces = self._pieces.get(index)
            if pieces is None:
                pieces = self._pieces[index] = []
            if piece:
                pieces.append(piece)
                self._chunks[index] = self._chunks.get(index, 0) + 1
            if reason := _get(choice, "finish_reason"):
                self._reasons[index] = reason
                self._last_finished = index
            logprobs = _get(choice, "logprobs")
            if logprobs:
                self._add_logprobs(index, logprobs)
        usage = _get(chunk, "usage")
        if usage is not None:
            # A usage on a chunk with choices is that choice's; one on a chunk without (the
            # OpenAI shape) follows the finish of the choice it belongs to (llama-server), or
            # of the last choice (vLLM: the whole request's).
            key = index if index is not None else self._last_finished
            self._usages[key] = usage
            timings = _get(chunk, "timings")
            if timings is not None:
                self._timings[key] = timings

    def _add_tool_calls(self, index: int, deltas: Any) -> None:
        calls = self._calls.setdefault(index, {})
        for delta in deltas:
            at = _get(delta, "index")
            if at is None:  # servers that number no calls: an id starts one, no id continues the last
                at = len(calls) if _get(delta, "id") is not None or not calls else max(calls)
            call = calls.get(at)
            if call is None:
                call = calls[at] = {"id": None, "type": "function", "function": {"name": "", "arguments": ""}}
            if call_id := _get(delta, "id"):
                call["id"] = call_id
            function = _get(delta, "function")
            if function is not None:
                if name := _get(function, "name"):
                    call["function"]["name"] += name
                if arguments := _get(function, "arguments"):
                    call["function"]["arguments"] += arguments

    def _add_logprobs(self, index: int, logprobs: Any) -> None:
        values = self._logprobs.setdefault(index, [])
        content = _get(logprobs, "content")
        if content:
            values.extend(v for v in (_get(t, "logprob") for t in content) if isinstance(v, int | float))
        else:  # text completions in the legacy shape (vLLM)
            values.extend(v for v in _get(logprobs, "token_logprobs") or () if isinstance(v, int | float))

    def parsed(self, seconds: float, cost: float | None) -> Parsed:
        indices = sorted(self._pieces.keys() | self._calls.keys())
        texts = ["".join(self._pieces.get(i, ())) for i in indices]
        reasons = [self._reasons.get(i) or self._inferred_reason(i) for i in indices]
        logprobs = [_mean(self._logprobs.get(i)) for i in indices]
        calls = [[_tool_call(c) for _, c in sorted(self._calls.get(i, {}).items())] for i in indices]
        usage = _usage(list(self._usages.values()), list(self._timings.values()), seconds, cost)
        return Parsed(texts, reasons, logprobs, usage, calls)

    def _inferred_reason(self, index: int) -> str:
        # litellm's chat stream drops the finish chunk of every choice but the first when n > 1.
        # The stream did end normally, so the choice finished: by length if it produced
        # max_tokens chunks (servers send one token per chunk), else at a stop.
        if self._max_tokens is not None and self._chunks.get(index, 0) >= self._max_tokens:
            return "length"
        return "stop"


def _tool_call(call: Any) -> dict[str, Any]:
    """One tool call in the OpenAI shape, whatever shape it came in; an id is made up if missing."""
    function = _get(call, "function")
    arguments = _get(function, "arguments")
    if arguments is not None and not isinstance(arguments, str):  # some servers send an object
        import json

        arguments = json.dumps(arguments)
    return {
        "id": _get(call, "id") or f"call_{uuid.uuid4().hex[:24]}",
        "type": "function",
        "function": {"name": _get(function, "name") or "", "arguments": arguments or "{}"},
    }


def _usage(usages: list[Any], timings: list[Any], seconds: float, cost: float | None) -> Usage:
    """One request's usage from the usage reports of its choices (see the module docstring)."""
    prompt = completion = cached = 0
    for usage, timing in zip(usages, timings + [None] * (len(usages) - len(timings)), strict=False):
        prompt = max(prompt, _int(_get(usage, "prompt_tokens")))
        completion += _int(_get(usage, "completion_tokens"))
        hit = _get(_get(usage, "prompt_tokens_details"), "cached_tokens")
        if hit is None:
            # llama-server also reports its prefix-cache hits in "timings" (cache_n).
            hit = _get(timing, "cache_n")
        cached = max(cached, _int(hit))
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        cached_tokens=cached,
        calls=1,
        seconds=seconds,
        # litellm prices models it knows; local models are unknown to it and cost 0.
        cost_usd=float(cost) if isinstance(cost, int | float) and math.isfinite(cost) else 0.0,
    )


def _hidden_cost(response: Any) -> float | None:
    hidden = getattr(response, "_hidden_params", None) or {}
    return hidden.get("response_cost") if isinstance(hidden, dict) else None


def _mean_logprob(logprobs: Any) -> float | None:
    """Mean token logprob from either shape servers use.

    Chat: ``{"content": [{"token": ..., "logprob": -0.1}, ...]}``; legacy text completions:
    ``{"token_logprobs": [-0.1, ...]}``.
    """
    if logprobs is None:
        return None
    values: list[float] = []
    content = _get(logprobs, "content")
    if content:
        values = [v for v in (_get(t, "logprob") for t in content) if isinstance(v, int | float)]
    else:
        token_logprobs = _get(logprobs, "token_logprobs")
        if token_logprobs:
            values = [v for v in token_logprobs if isinstance(v, int | float)]
    return _mean(values)


def _mean(values: list[float] | None) -> float | None:
    values = [v for v in values or () if math.isfinite(v)]
    return sum(values) / len(values) if values else None


def _get(obj: Any, key: str) -> Any:
    if obj is None:
        return None
    if type(obj) is dict:
        return obj.get(key)
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, key, None)


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) else 0
