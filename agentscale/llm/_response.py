"""Read texts, finish reasons, usage and logprobs out of a litellm response.

litellm hands back pydantic-ish objects whose nested fields are sometimes objects and sometimes
plain dicts (depending on the route and the server), so every read goes through :func:`_get`.
"""

from __future__ import annotations

import math
from typing import Any

from agentscale.types import Usage

__all__ = ["Parsed", "StreamAccumulator", "parse"]


class Parsed:
    """What one HTTP response held."""

    __slots__ = ("finish_reasons", "logprobs", "texts", "usage")

    def __init__(self, texts, finish_reasons, logprobs, usage) -> None:
        self.texts: list[str] = texts
        self.finish_reasons: list[str | None] = finish_reasons
        self.logprobs: list[float | None] = logprobs
        self.usage: Usage = usage


def parse(response: Any, *, text_route: bool, seconds: float) -> Parsed:
    """Parse a chat or text completion response (choices in index order)."""
    choices = sorted(_get(response, "choices") or [], key=lambda c: _get(c, "index") or 0)
    texts, reasons, logprobs = [], [], []
    for choice in choices:
        if text_route:
            text = _get(choice, "text")
        else:
            text = _get(_get(choice, "message"), "content")
        texts.append(text or "")
        reasons.append(_get(choice, "finish_reason"))
        logprobs.append(_mean_logprob(_get(choice, "logprobs")))
    return Parsed(texts, reasons, logprobs, _usage(response, seconds))


class StreamAccumulator:
    """Builds one :class:`Parsed` from a stream of chunks (choices interleave by ``index``)."""

    def __init__(self, *, text_route: bool, max_tokens: int | None) -> None:
        self._text_route = text_route
        self._max_tokens = max_tokens
        self._pieces: dict[int, list[str]] = {}
        self._chunks: dict[int, int] = {}
        self._reasons: dict[int, str] = {}
        self._logprobs: dict[int, list[float]] = {}
        self._usage: Any = None
        self._timings: Any = None

    def add(self, chunk: Any) -> None:
        for choice in _get(chunk, "choices") or ():
            index = _get(choice, "index") or 0
            piece = _get(choice, "text") if self._text_route else _get(_get(choice, "delta"), "content")
            if piece:
                self._pieces.setdefault(index, []).append(piece)
                self._chunks[index] = self._chunks.get(index, 0) + 1
            elif index not in self._pieces:
                self._pieces[index] = []
            if reason := _get(choice, "finish_reason"):
                self._reasons[index] = reason
            content = _get(_get(choice, "logprobs"), "content")
            if content:
                values = self._logprobs.setdefault(index, [])
                values.extend(v for v in (_get(t, "logprob") for t in content) if isinstance(v, int | float))
        usage = _get(chunk, "usage")
        if usage is not None:
            self._usage = usage
        timings = _get(chunk, "timings")
        if timings is not None:
            self._timings = timings

    def parsed(self, seconds: float, cost: float | None) -> Parsed:
        indices = sorted(self._pieces)
        texts = ["".join(self._pieces[i]) for i in indices]
        reasons = [self._reasons.get(i) or self._inferred_reason(i) for i in indices]
        logprobs = [_mean(self._logprobs.get(i)) for i in indices]
        response = {"usage": self._usage, "timings": self._timings}
        return Parsed(texts, reasons, logprobs, _usage(response, seconds, cost))

    def _inferred_reason(self, index: int) -> str:
        # litellm's chat stream drops the finish chunk of every choice but the first when n > 1.
        # The stream did end normally, so the choice finished: by length if it produced
        # max_tokens chunks (servers send one token per chunk), else at a stop.
        if self._max_tokens is not None and self._chunks.get(index, 0) >= self._max_tokens:
            return "length"
        return "stop"


def _usage(response: Any, seconds: float, cost: float | None = None) -> Usage:
    usage = _get(response, "usage")
    cached = _get(_get(usage, "prompt_tokens_details"), "cached_tokens")
    if cached is None:
        # llama-server also reports its prefix-cache hits in "timings" (cache_n).
        cached = _get(_get(response, "timings"), "cache_n")
    if cost is None:
        hidden = getattr(response, "_hidden_params", None) or {}
        cost = hidden.get("response_cost") if isinstance(hidden, dict) else None
    return Usage(
        prompt_tokens=_int(_get(usage, "prompt_tokens")),
        completion_tokens=_int(_get(usage, "completion_tokens")),
        cached_tokens=_int(cached),
        calls=1,
        seconds=seconds,
        # litellm prices models it knows; local models are unknown to it and cost 0.
        cost_usd=float(cost) if isinstance(cost, int | float) and math.isfinite(cost) else 0.0,
    )


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
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, key, None)


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) else 0
