"""Read texts, finish reasons, usage and logprobs out of a litellm response.

litellm hands back pydantic-ish objects whose nested fields are sometimes objects and sometimes
plain dicts (depending on the route and the server), so every read goes through :func:`_get`.
"""

from __future__ import annotations

import math
from typing import Any

from agentscale.types import Usage

__all__ = ["Parsed", "parse"]


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


def _usage(response: Any, seconds: float) -> Usage:
    usage = _get(response, "usage")
    cached = _get(_get(usage, "prompt_tokens_details"), "cached_tokens")
    if cached is None:
        # llama-server reports its prefix-cache hits in "timings" (cache_n) on some versions.
        cached = _get(_get(response, "timings"), "cache_n")
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
    values = [v for v in values if math.isfinite(v)]
    return sum(values) / len(values) if values else None


def _get(obj: Any, key: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, key, None)


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) else 0
