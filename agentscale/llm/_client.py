"""``LLM``: the async model client every strategy uses (implements ``agentscale.protocols.Model``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential, wait_random

from agentscale.budget import Budget, record_usage
from agentscale.errors import ConfigError, ModelAPIError
from agentscale.llm._endpoint import Endpoint
from agentscale.llm._profile import ModelProfile
from agentscale.llm._response import Parsed, StreamAccumulator, parse
from agentscale.types import Completion, Message, Usage

__all__ = ["LLM", "LLMConfig"]


class LLMConfig(BaseModel):
    """Settings of one :class:`LLM` (all serialisable, so a run's config can be saved)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    """A litellm model string: ``"hosted_vllm/<served name>"`` for vLLM or llama.cpp servers,
    ``"openai/gpt-4o-mini"``, ..."""
    api_base: str | None = None
    """The server's OpenAI-compatible base URL (``http://127.0.0.1:8080/v1``); ``None`` for a
    hosted provider. Ignored when an :class:`Endpoint` is passed (the endpoint's wins)."""
    api_key: str | None = Field(default=None, repr=False)
    """Sent to the server; local servers need none. Ignored when an :class:`Endpoint` is passed."""
    profile: ModelProfile = Field(default_factory=ModelProfile)
    """``"chat"`` (instruct model: messages) or ``"completion"`` (base model: plain text)."""
    timeout: float = Field(default=120.0, gt=0)
    """Seconds one HTTP request may take before it is abandoned (and retried)."""
    max_retries: int = Field(default=3, ge=0)
    """Retries after the first attempt, on transient failures only (timeouts, connection
    errors, HTTP 408/429/5xx)."""
    retry_initial_wait: float = Field(default=0.5, ge=0)
    """Seconds before the first retry; doubles each time, plus up to as much random jitter."""
    retry_max_wait: float = Field(default=8.0, ge=0)
    """Cap on the wait between retries."""
    native_n: bool = True
    """Ask for ``n`` samples in one request (vLLM and llama-server honour it; the prompt is
    processed once). ``False`` sends ``n`` concurrent requests instead. Either way, a server that
    returns fewer than ``n`` choices gets the rest asked for concurrently."""
    stream: bool = True
    """Stream responses internally (callers still get whole completions). llama-server notices
    that a client hung up only while streaming to it: without streaming, a cancelled request
    keeps its slot busy until it finishes (it checks only while no other request is producing
    tokens). Streaming costs the client CPU per token (about 0.5 ms on a slow 2-core machine,
    mostly Python's HTTP stack): vLLM aborts a non-streamed request on a hang-up too, so use
    ``False`` there, where tokens come fast."""
    max_concurrency: int = Field(default=16, ge=1)
    """Requests in flight at once when the LLM makes its own :class:`Endpoint`."""
    temperature: float | None = None
    """Default sampling temperature (``None``: the server's default)."""
    max_tokens: int | None = Field(default=None, ge=1)
    """Default cap on generated tokens per sample."""
    logprobs: bool = False
    """Ask for token logprobs by default, and report each sample's mean in ``Completion.logprobs``."""
    extra_body: dict[str, Any] = Field(default_factory=dict)
    """Extra JSON fields for every request, for server-specific options (``{"top_k": 20}``)."""

    @field_validator("profile", mode="before")
    @classmethod
    def _profile(cls, value: Any) -> ModelProfile:
        return ModelProfile.of(value)


class LLM:
    """An async client for one model, over litellm.

    Chat models get ``/chat/completions``, base models (``profile="completion"``) get
    ``/completions``. Every request holds a slot of its :class:`Endpoint`, is bounded by a
    timeout, is retried with exponential backoff and jitter on transient failures only, and is
    counted: each :class:`~agentscale.types.Completion` carries its ``Usage``, and a
    :class:`~agentscale.budget.Budget` (given here or per call) is checked before each request
    and charged after it. Cancelling the awaiting task closes the HTTP connection, so the server
    stops generating.

    Example:
        ```python
        async with LlamaCppServer() as srv:
            llm = LLM(srv.model, api_base=srv.api_base, profile=srv.profile, temperature=0.7)
            out = await llm.generate("Write a haiku about caches.", n=4, max_tokens=64)
            print(out.texts, out.usage)
        ```

    Args:
        model: a litellm model string, or a whole :class:`LLMConfig`.
        endpoint: share a server's concurrency limit and connections with other LLMs.
        budget: charged by every call of this LLM (a per-call ``budget=`` overrides it).
        **options: any :class:`LLMConfig` field (``api_base=``, ``profile=``, ``timeout=``...).

    Raises:
        ConfigError: an unknown or invalid option.
    """

    def __init__(
        self,
        model: str | LLMConfig,
        *,
        endpoint: Endpoint | None = None,
        budget: Budget | None = None,
        **options: Any,
    ) -> None:
        try:
            if isinstance(model, LLMConfig):
                config = model.model_copy(update=options) if options else model
                if options:
                    config = LLMConfig.model_validate(config.model_dump())
            else:
                config = LLMConfig(model=model, **options)
        except ValidationError as exc:
            raise ConfigError(f"bad LLM options: {exc}") from exc
        self.config = config
        self._owns_endpoint = endpoint is None
        self.endpoint = endpoint or Endpoint(
            config.api_base, api_key=config.api_key, max_concurrency=config.max_concurrency
        )
        self.budget = budget
        self._provider: str | None = None
        self._unpriced = False

    def __repr__(self) -> str:
        cfg = self.config
        return f"LLM({cfg.model!r}, api_base={self.endpoint.api_base!r}, profile={cfg.profile.kind!r})"

    @property
    def model(self) -> str:
        return self.config.model

    async def aclose(self) -> None:
        """Close the connections of the endpoint this LLM made (a shared one stays open)."""
        if self._owns_endpoint:
            await self.endpoint.aclose()

    async def __aenter__(self) -> LLM:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def generate(
        self,
        prompt: Sequence[Message] | str,
        *,
        n: int = 1,
        temperature: float | None = None,
        max_tokens: int | None = None,
        seed: int | None = None,
        stop: Sequence[str] | None = None,
        logprobs: bool | None = None,
        timeout: float | None = None,
        budget: Budget | None = None,
    ) -> Completion:
        """Return ``n`` samples for a chat (list of messages) or a plain text prompt.

        Args:
            prompt: messages (``[{"role": "user", "content": "..."}]``) or text. A chat profile
                sends text as one user message; a completion profile renders messages to text.
            n: number of samples.
            temperature: sampling temperature (default: the config's).
            max_tokens: cap on generated tokens per sample (default: the config's).
            seed: sampling seed. When ``n`` is served by concurrent requests, request ``i``
                uses ``seed + i`` so the samples differ.
            stop: stop sequences.
            logprobs: report each sample's mean token logprob (default: the config's).
            timeout: seconds per HTTP request (default: the config's).
            budget: charge this budget instead of the LLM's.

        Returns:
            The samples, their finish reasons, mean logprobs (when asked) and their ``Usage``.

        Raises:
            BudgetExhausted: the budget was spent before a request could start.
            ModelTimeout: a request got no answer within the timeout, on every attempt.
            ModelAPIError: the endpoint failed (says which model, endpoint and status).
            ConfigError: a malformed prompt or option.
        """
        cfg = self.config
        if not isinstance(n, int) or n < 1:
            raise ConfigError(f"n must be a positive int, got {n!r}")
        text_route, body, extra_stop = self._prepare(prompt)
        params: dict[str, Any] = {}
        temperature = cfg.temperature if temperature is None else temperature
        if temperature is not None:
            params["temperature"] = temperature
        max_tokens = cfg.max_tokens if max_tokens is None else max_tokens
        if max_tokens is not None:
            params["max_tokens"] = max_tokens
        stops = [*(stop or ()), *extra_stop]
        if stops:
            params["stop"] = stops
        if cfg.logprobs if logprobs is None else logprobs:
            # chat takes a flag; legacy text completions take "how many top alternatives" (>= 1 to get any)
            params["logprobs"] = 1 if text_route else True
        if cfg.extra_body:
            params["extra_body"] = dict(cfg.extra_body)
        timeout = cfg.timeout if timeout is None else timeout
        budget = self.budget if budget is None else budget

        if n == 1 or cfg.native_n:
            first = await self._request(text_route, body, params, n, seed, timeout, budget)
            parts = [first]
            missing = n - len(first.texts)
            if missing > 0:  # the server ignored n: ask for the rest one by one
                parts += await self._fan_out(text_route, body, params, missing, seed, 1, timeout, budget)
        else:
            parts = await self._fan_out(text_route, body, params, n, seed, 0, timeout, budget)
        completion = _merge(cfg.model, parts, n)
        record_usage(completion.usage)  # the rollout's ledger: what it spent, budget or not
        return completion

    # -- internals ---------------------------------------------------------------------------

    def _prepare(self, prompt: Sequence[Message] | str) -> tuple[bool, Any, tuple[str, ...]]:
        """(text route?, messages or text, extra stop sequences) for the profile."""
        profile = self.config.profile
        if isinstance(prompt, str):
            if profile.kind == "completion":
                return True, prompt, ()
            return False, [{"role": "user", "content": prompt}], ()
        if not isinstance(prompt, Sequence) or not prompt or not all(isinstance(m, Mapping) for m in prompt):
            raise ConfigError(f"a prompt is a str or a non-empty list of message dicts, got {prompt!r:.200}")
        if profile.kind == "completion":
            return True, profile.render(prompt), profile.stop
        return False, list(prompt), ()

    async def _fan_out(self, text_route, body, params, count, seed, offset, timeout, budget) -> list[Parsed]:
        tasks = [
            asyncio.create_task(
                self._request(
                    text_route, body, params, 1, None if seed is None else seed + offset + i, timeout, budget
                ),
                name=f"llm-sample-{offset + i}",
            )
            for i in range(count)
        ]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            # One failed (or we were cancelled): stop the others and wait for them to let go of
            # their connections before raising. Each finished request has charged the budget.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    async def _request(self, text_route, body, params, n, seed, timeout, budget) -> Parsed:
        if budget is not None:
            budget.check()
        call = dict(params)
        if n > 1:
            call["n"] = n
        if seed is not None:
            call["seed"] = seed
        cfg = self.config
        start = time.perf_counter()
        retrying = AsyncRetrying(
            stop=stop_after_attempt(cfg.max_retries + 1),
            # exponential backoff plus jitter, so clients that failed together do not retry in lockstep
            wait=wait_exponential(multiplier=cfg.retry_initial_wait, max=cfg.retry_max_wait)
            + wait_random(0, cfg.retry_initial_wait),
            retry=retry_if_exception(_is_transient),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                parsed = await self._send(text_route, body, call, timeout, start)
        if budget is not None:
            budget.charge(parsed.usage)
        return parsed

    async def _send(
        self, text_route: bool, body: Any, call: dict[str, Any], timeout: float, start: float
    ) -> Parsed:
        """One HTTP request through litellm, read to the end, with foreign errors translated."""
        from agentscale.llm import _litellm  # litellm loads on the first call, not at import

        endpoint = self.endpoint
        model = self.config.model
        async with endpoint.slot():
            if self._provider is None:
                try:
                    self._provider = _litellm.route_provider(model)
                except Exception as exc:
                    raise ConfigError(f"litellm cannot route the model string {model!r}: {exc}") from exc
                # litellm does not price local models: they cost 0
                self._unpriced = _litellm.price(model, 1000, 1000) is None
            try:
                clients = endpoint.clients()
                client = clients.for_route(self._provider, text_route) if clients is not None else None
                send = _litellm.atext if text_route else _litellm.achat
                kwargs = dict(api_base=endpoint.api_base, api_key=endpoint.api_key, timeout=timeout, **call)
                # litellm's text streams drop logprobs: ask for those without streaming.
                if not self.config.stream or (text_route and "logprobs" in call):
                    async with asyncio.timeout(timeout):
                        response = await send(model, body, client, **kwargs)
                    return parse(response, text_route=text_route, seconds=time.perf_counter() - start)
                if self._unpriced:
                    # Saying so spares litellm counting the prompt's tokens to price the stream
                    # (about 1 ms a call here); for non-streamed calls it costs time instead.
                    kwargs.update(input_cost_per_token=0.0, output_cost_per_token=0.0)
                reader = StreamAccumulator(text_route=text_route, max_tokens=call.get("max_tokens"))
                async with asyncio.timeout(timeout):
                    opened = _litellm.open_stream(
                        send, model, body, client, self._provider, text_route, **kwargs
                    )
                    async with opened as chunks:
                        async for chunk in chunks:
                            reader.add(chunk)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                from agentscale.llm._errors import translate  # imports openai: only on failure

                raise translate(exc, model=model, api_base=endpoint.api_base, timeout=timeout) from exc
        parsed = reader.parsed(time.perf_counter() - start, cost=0.0)
        if not self._unpriced and parsed.usage.total_tokens:
            cost = _litellm.price(model, parsed.usage.prompt_tokens, parsed.usage.completion_tokens)
            parsed.usage = parsed.usage.model_copy(update={"cost_usd": cost or 0.0})
        return parsed


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, ModelAPIError) and exc.retryable


def _merge(model: str, parts: list[Parsed], n: int) -> Completion:
    texts: list[str] = []
    reasons: list[str | None] = []
    logprobs: list[float | None] = []
    usage = Usage()
    for part in parts:
        texts += part.texts
        reasons += part.finish_reasons
        logprobs += part.logprobs
        usage = usage + part.usage
    if all(lp is None for lp in logprobs):
        logprobs = []
    return Completion(
        model=model, texts=texts[:n], finish_reasons=reasons[:n], usage=usage, logprobs=logprobs[:n]
    )
