"""The one place that talks to litellm: quiet, offline set-up, pooled clients, the two calls, and
the check that litellm will send every parameter it is given.

litellm serves the providers agentscale does not speak to itself (hosted APIs, routing, cost);
self-hosted OpenAI-compatible servers (``hosted_vllm/`` and ``openai/`` with an ``api_base``) go
through :mod:`agentscale.llm._direct` instead. Importing this module imports litellm (about
1.5 s), so the rest of agentscale imports it only when the first such call is made.

Why each setting:

- ``LITELLM_LOCAL_MODEL_COST_MAP=True`` before the import: litellm otherwise fetches its model
  cost map from the internet at import time (and, offline, retries in the background and
  prints warnings).
- ``suppress_debug_info``: litellm prints "Give Feedback / Get Help" banners on every error.
- Pooled clients: without an explicit ``client=``, litellm builds its own HTTP clients and, for
  some routes, a new aiohttp session per call (a new TCP connection each time, plus "Unclosed
  client session" warnings). Each :class:`~agentscale.llm.Endpoint` owns one ``httpx`` connection
  pool per event loop and hands it to litellm in the form each route expects.
- :func:`check_params`: litellm cuts stop sequences to OpenAI's 4 for every provider, and with
  ``drop_params`` (settable from the environment) drops what a provider does not take. Both
  happen silently; agentscale refuses such a call instead, naming the parameter.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextlib import asynccontextmanager

# Must precede `import litellm`: no network at import (see the module docstring).
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

import httpx  # noqa: E402
import litellm  # noqa: E402
import openai  # noqa: E402

from agentscale.errors import ConfigError  # noqa: E402

litellm.suppress_debug_info = True
litellm.set_verbose = False

__all__ = ["Clients", "achat", "atext", "check_params", "open_stream", "price", "route_provider", "takes"]

# What we pass that is not a model parameter a provider must support.
_NOT_PARAMS = frozenset({"extra_body", "stream", "stream_options", "timeout", "api_base", "api_key"})


def route_provider(model: str) -> str:
    """litellm's provider for a model string (``"anthropic/claude-x"`` -> ``"anthropic"``).

    Raises:
        ValueError: litellm does not know how to route the model string.
    """
    return litellm.get_llm_provider(model)[1]


def check_params(model: str, provider: str, params: Mapping[str, object]) -> None:
    """Refuse a call litellm would not send whole.

    Raises:
        ConfigError: more than 4 stop sequences (litellm keeps the first 4 for every provider
            unless ``litellm.disable_stop_sequence_limit`` is set), or a parameter litellm says the
            provider does not take (it would drop it when ``drop_params`` is on, else fail later).
    """
    stop = params.get("stop")
    if isinstance(stop, list | tuple) and len(stop) > 4 and not litellm.disable_stop_sequence_limit:
        raise ConfigError(
            f"{len(stop)} stop sequences for {model!r}: litellm sends only the first 4 to {provider!r} "
            f"and would drop {list(stop[4:])!r}. Use at most 4, serve the model behind an api_base "
            "(agentscale then sends every stop itself), or set litellm.disable_stop_sequence_limit = True "
            "if the provider takes more."
        )
    try:
        supported = litellm.get_supported_openai_params(model=model, custom_llm_provider=provider)
    except Exception:  # a provider litellm has no parameter table for: it will say so itself
        return
    if supported is None:
        return
    missing = sorted(k for k in params if k not in _NOT_PARAMS and k not in supported)
    if missing:
        raise ConfigError(
            f"{provider!r} does not take {', '.join(repr(k) for k in missing)} (model {model!r}, per litellm); "
            "agentscale does not drop parameters silently: leave them out for this model"
        )


class Clients:
    """litellm's view of one endpoint's pooled ``httpx`` client, on one event loop.

    Only used for self-hosted endpoints (an explicit ``api_base``) that litellm serves; hosted
    providers keep litellm's own client handling.
    """

    def __init__(self, api_base: str, api_key: str | None, http: httpx.AsyncClient) -> None:
        # The OpenAI SDK insists on a key; local servers ignore it.
        self.openai = openai.AsyncOpenAI(base_url=api_base, api_key=api_key or "EMPTY", http_client=http, max_retries=0)

    def for_route(self, provider: str, text: bool) -> object | None:
        """The client litellm expects for this provider and route, or ``None`` to let it choose."""
        if text and (
            provider in ("openai", "text-completion-openai")
            or provider in litellm.openai_text_completion_compatible_providers
        ):
            return self.openai
        return None


@asynccontextmanager
async def open_stream(send, model: str, body: object, client: object | None, **params):
    """Start a streamed request (``send`` is :func:`achat` or :func:`atext`) and yield the async
    iterator of its chunks; the HTTP response is closed on the way out, however the reading
    ended, so the connection goes back to the pool (or, mid-stream, is closed).
    """
    stream = await send(model, body, client, stream=True, stream_options={"include_usage": True}, **params)
    try:
        yield stream
    finally:
        # Reading stops at the "[DONE]" event, before the HTTP body's end: without this the
        # response stays open and its pooled connection is never released.
        aclose = getattr(stream, "aclose", None) or getattr(getattr(stream, "completion_stream", None), "aclose", None)
        if aclose is not None:
            await aclose()


async def achat(model: str, messages: list, client: object | None, **params: object):
    """``litellm.acompletion`` with retries off (ours are in the caller) and nothing dropped."""
    return await litellm.acompletion(
        model=model, messages=messages, client=client, max_retries=0, drop_params=False, **params
    )


async def atext(model: str, prompt: str, client: object | None, **params: object):
    """``litellm.atext_completion`` with retries off (ours are in the caller) and nothing dropped."""
    return await litellm.atext_completion(
        model=model, prompt=prompt, client=client, max_retries=0, drop_params=False, **params
    )


def price(model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
    """USD for a call by litellm's (local) cost map, or ``None`` when it does not price the model."""
    try:
        prompt_cost, completion_cost = litellm.cost_per_token(
            model=model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
        )
    except Exception:  # ModelNotMappedError and friends: local and unknown models
        return None
    total = prompt_cost + completion_cost
    return total if total > 0 else None


def takes(model: str, provider: str, param: str) -> bool:
    """Whether litellm sends ``param`` to this provider (``True`` where it has no table to say)."""
    try:
        supported = litellm.get_supported_openai_params(model=model, custom_llm_provider=provider)
    except Exception:
        return True
    return supported is None or param in supported
