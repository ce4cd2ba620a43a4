"""The one place that talks to litellm: quiet, offline set-up, pooled clients, and the two calls.

Importing this module imports litellm (about 1.5 s), so the rest of agentscale imports it only
when the first model call is made.

Why each setting:

- ``LITELLM_LOCAL_MODEL_COST_MAP=True`` before the import: litellm otherwise fetches its model
  cost map from the internet at import time (and, offline, retries in the background and
  prints warnings).
- ``suppress_debug_info``: litellm prints "Give Feedback / Get Help" banners on every error.
- Pooled clients: without an explicit ``client=``, litellm builds its own HTTP clients and, for
  some routes, a new aiohttp session per call (a new TCP connection each time, plus "Unclosed
  client session" warnings). Each :class:`~agentscale.llm.Endpoint` owns one ``httpx`` connection
  pool per event loop and hands it to litellm in the form each route expects.
"""

from __future__ import annotations

import os
from contextlib import asynccontextmanager

# Must precede `import litellm`: no network at import (see the module docstring).
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

import httpx  # noqa: E402
import litellm  # noqa: E402
import openai  # noqa: E402
from litellm.llms.custom_httpx.http_handler import AsyncHTTPHandler  # noqa: E402

litellm.suppress_debug_info = True
litellm.set_verbose = False

__all__ = ["Clients", "achat", "atext", "open_stream", "price", "route_provider"]

# Providers whose chat route goes through litellm's own HTTP handler (it accepts an AsyncHTTPHandler).
_HANDLER_CHAT = frozenset({"hosted_vllm"})
# Providers whose chat route goes through the OpenAI SDK (it accepts an AsyncOpenAI client).
_OPENAI_CHAT = frozenset({"openai"})
# Providers whose provider-level chat stream yields OpenAI-shaped chunks (checked on llama-server
# and vLLM): read those directly (see `chunks`).
_DIRECT_CHAT_STREAM = frozenset({"hosted_vllm"})


def route_provider(model: str) -> str:
    """litellm's provider for a model string (``"hosted_vllm/qwen"`` -> ``"hosted_vllm"``).

    Raises:
        ValueError: litellm does not know how to route the model string.
    """
    return litellm.get_llm_provider(model)[1]


class Clients:
    """The HTTP clients of one endpoint on one event loop, shared by every call to it.

    Only used for self-hosted endpoints (an explicit ``api_base``); hosted providers keep
    litellm's own client handling.
    """

    def __init__(self, api_base: str, api_key: str | None, max_connections: int) -> None:
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        # trust_env=False: a loopback model server must not be sent through the user's HTTP proxy.
        self.http = httpx.AsyncClient(limits=limits, timeout=None, trust_env=False)
        self.handler = AsyncHTTPHandler(timeout=None, transport=httpx.AsyncHTTPTransport())
        self.handler.client = self.http
        # The OpenAI SDK insists on a key; local servers ignore it.
        self.openai = openai.AsyncOpenAI(
            base_url=api_base, api_key=api_key or "EMPTY", http_client=self.http, max_retries=0
        )

    def for_route(self, provider: str, text: bool) -> object | None:
        """The client litellm expects for this provider and route, or ``None`` to let it choose."""
        if text:
            if provider in ("openai", "text-completion-openai") or (
                provider in litellm.openai_text_completion_compatible_providers
            ):
                return self.openai
            return None
        if provider in _HANDLER_CHAT:
            return self.handler
        if provider in _OPENAI_CHAT:
            return self.openai
        return None

    async def aclose(self) -> None:
        await self.http.aclose()


@asynccontextmanager
async def open_stream(
    send, model: str, body: object, client: object | None, provider: str, text: bool, **params
):
    """Start a streamed request (``send`` is :func:`achat` or :func:`atext`) and yield the async
    iterator to read its chunks from; the HTTP response is closed on the way out, however the
    reading ended, so the connection goes back to the pool (or, mid-stream, is closed).

    litellm's stream wrapper re-processes every chunk (about 0.5 ms of CPU each here: five times
    what reading the provider's own chunk iterator costs) and, for ``n > 1`` chat streams, drops
    the finish chunk of every choice but the first. For providers whose provider-level chunks are
    known to be OpenAI-shaped, the provider's iterator is read instead; litellm still does the
    HTTP, the SSE parsing and the provider's chunk transformation.
    """
    stream = await send(model, body, client, stream=True, stream_options={"include_usage": True}, **params)
    inner = getattr(stream, "completion_stream", None)
    direct = not text and provider in _DIRECT_CHAT_STREAM and hasattr(inner, "__aiter__")
    try:
        yield inner if direct else stream
    finally:
        # Reading stops at the "[DONE]" event, before the HTTP body's end: without this the
        # response stays open and its pooled connection is never released.
        aclose = getattr(stream, "aclose", None) or getattr(inner, "aclose", None)
        if aclose is not None:
            await aclose()


async def achat(model: str, messages: list, client: object | None, **params: object):
    """``litellm.acompletion`` with retries off (ours are in the caller)."""
    return await litellm.acompletion(model=model, messages=messages, client=client, max_retries=0, **params)


async def atext(model: str, prompt: str, client: object | None, **params: object):
    """``litellm.atext_completion`` with retries off (ours are in the caller)."""
    return await litellm.atext_completion(model=model, prompt=prompt, client=client, max_retries=0, **params)


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
