"""``LLM``: the async model client every strategy uses (implements ``agentscale.protocols.Model``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential, wait_random

from agentscale.budget import Budget, record_usage
from agentscale.errors import ConfigError, ModelAPIError, ModelTimeout
from agentscale.llm import _direct
from agentscale.llm._direct import DIRECT_PROVIDERS
from agentscale.llm._endpoint import Endpoint
from agentscale.llm._profile import ModelProfile
from agentscale.llm._response import Parsed, StreamAccumulator, parse
from agentscale.llm._tools import bare_tool_calls
from agentscale.types import Completion, Message, Usage

__all__ = ["LLM", "LLMConfig"]


class LLMConfig(BaseModel):
    """Settings of one :class:`LLM` (all serialisable, so a run's config can be saved)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    """A litellm model string: ``"hosted_vllm/<served name>"`` for vLLM or llama.cpp servers,
    ``"openai/gpt-4o-mini"``, ... With an ``api_base``, ``hosted_vllm/`` and ``openai/`` models are
    sent by agentscale's own HTTP client; every other model goes through litellm."""
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
    tokens). Streaming costs some client CPU per token (see ``benchmarks/llm_overhead.py``); vLLM
    aborts a non-streamed request on a hang-up too, so ``False`` is an option there. Requests for
    ``n > 1`` samples to a self-hosted server are streamed either way: llama-server reports only
    the first sample's usage in a non-streamed answer."""
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
    bare_tool_calls: bool = True
    """When tools are offered, read a reply that is nothing but tool calls in the chat template's
    JSON shape (``{"name": ..., "arguments": {...}}``, naming an offered tool) as those calls,
    though the server did not: small models (Qwen2.5-Coder-0.5B) leave out the ``<tool_call>``
    tags the server's parser needs. See :func:`agentscale.llm._tools.bare_tool_calls`."""

    @field_validator("profile", mode="before")
    @classmethod
    def _profile(cls, value: Any) -> ModelProfile:
        return ModelProfile.of(value)


class LLM:
    """An async client for one model: self-hosted servers directly, everything else over litellm.

    Chat models get ``/chat/completions``, base models (``profile="completion"``) get
    ``/completions``. Every parameter reaches the server or the call fails naming it (no stop
    sequence is cut, no parameter dropped). Every request holds a slot of its :class:`Endpoint`, is bounded by a
    timeout, is retried with exponential backoff and jitter on transient failures only, and is
    counted: each :class:`~agentscale.types.Completion` carries its ``Usage``, and a
    :class:`~agentscale.budget.Budget` (given here or per call) is checked before each request
    and charged after it. Cancelling the awaiting task closes the HTTP connection, so the server
    stops generating.

    Example:
        ```python
        async with LlamaCppServer() as srv:
            llm = LLM(srv.model, endpoint=srv.endpoint(), profile=srv.profile, temperature=0.7)
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
        self._route_cache: _Route | None = None

    def __repr__(self) -> str:
        cfg = self.config
        return f"LLM({cfg.model!r}, endpoint={self.endpoint!r}, profile={cfg.profile.kind!r})"

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
        stop: Sequence[str] | str | None = None,
        logprobs: bool | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: str | Mapping[str, Any] | None = None,
        response_format: Mapping[str, Any] | None = None,
        json_schema: Mapping[str, Any] | type[BaseModel] | None = None,
        timeout: float | None = None,
        budget: Budget | None = None,
    ) -> Completion:
        """Return ``n`` samples for a chat (list of messages) or a plain text prompt.

        Every parameter given reaches the server, or the call fails naming it: nothing is cut
        (all stop sequences are sent) or dropped on the way.

        Args:
            prompt: messages (``[{"role": "user", "content": "..."}]``) or text. A chat profile
                sends text as one user message; a completion profile renders messages to text.
            n: number of samples.
            temperature: sampling temperature (default: the config's).
            max_tokens: cap on generated tokens per sample (default: the config's).
            seed: sampling seed. When ``n`` is served by concurrent requests, request ``i``
                uses ``seed + i`` so the samples differ.
            stop: stop sequences (as many as the server takes; llama-server and vLLM take any number).
            logprobs: report each sample's mean token logprob (default: the config's).
            tools: tools the model may call, in the OpenAI shape
                (``{"type": "function", "function": {"name", "description", "parameters"}}``);
                the calls come back in ``Completion.tool_calls`` (chat models only; llama-server
                and vLLM need tool calling switched on, see ``LlamaCppServer``/``VLLMServer``).
            tool_choice: ``"auto"``, ``"none"``, ``"required"`` or
                ``{"type": "function", "function": {"name": ...}}`` (llama-server takes the three
                words only).
            response_format: the OpenAI ``response_format`` object, sent as given.
            json_schema: constrain the reply to JSON matching this schema (a JSON schema dict or
                a pydantic model class); sent as ``response_format={"type": "json_schema", ...}``,
                which llama-server and vLLM enforce while generating.
            timeout: seconds per HTTP request (default: the config's).
            budget: charge this budget instead of the LLM's.

        Returns:
            The samples, their finish reasons and tool calls, mean logprobs (when asked) and their
            ``Usage`` (all samples' generated tokens, the prompt counted once per request).

        Raises:
            BudgetExhausted: the budget was spent before a request could start.
            ModelTimeout: a request got no answer within the timeout, on every attempt.
            ModelAPIError: the endpoint failed (says which model, endpoint and status).
            ServerError: the managed server behind the endpoint died again after its restart.
            ConfigError: a malformed prompt or option, or one the provider would not be sent.
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
        stops = [*_stops(stop), *extra_stop]
        if stops:
            params["stop"] = stops
        if cfg.logprobs if logprobs is None else logprobs:
            # chat takes a flag; legacy text completions take "how many top alternatives" (>= 1 to get any)
            params["logprobs"] = 1 if text_route else True
        params.update(_structured(text_route, tools, tool_choice, response_format, json_schema))
        timeout = cfg.timeout if timeout is None else timeout
        budget = self.budget if budget is None else budget

        route = self._route()
        if n == 1 or (cfg.native_n and route.takes_n):
            first = await self._request(route, text_route, body, params, n, seed, timeout, budget)
            parts = [first]
            missing = n - len(first.texts)
            if missing > 0:  # the server ignored n: ask for the rest one by one
                parts += await self._fan_out(route, text_route, body, params, missing, seed, 1, timeout, budget)
        else:
            parts = await self._fan_out(route, text_route, body, params, n, seed, 0, timeout, budget)
        if tools and tool_choice != "none" and cfg.bare_tool_calls:
            _read_bare_calls(parts, {t["function"]["name"] for t in params["tools"]})
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

    def _route(self) -> _Route:
        """How this LLM's requests travel (decided on the first call, when litellm may be needed)."""
        if self._route_cache is not None:
            return self._route_cache
        model = self.config.model
        if model.startswith(DIRECT_PROVIDERS) and self.endpoint.api_base is not None:
            served = model.split("/", 1)[1]
            unpriced = True
            if not model.startswith("hosted_vllm/"):  # a self-hosted "openai/" model litellm may price
                from agentscale.llm import _litellm

                unpriced = _litellm.price(model, 1000, 1000) is None
            route = _Route(provider=None, served=served, takes_n=True, unpriced=unpriced)
        else:
            from agentscale.llm import _litellm  # litellm loads on the first call, not at import

            try:
                provider = _litellm.route_provider(model)
            except Exception as exc:
                raise ConfigError(f"litellm cannot route the model string {model!r}: {exc}") from exc
            takes_n = _litellm.takes(model, provider, "n")
            # litellm does not price local models: they cost 0
            unpriced = _litellm.price(model, 1000, 1000) is None
            route = _Route(provider=provider, served=None, takes_n=takes_n, unpriced=unpriced)
        self._route_cache = route
        return route

    async def _fan_out(self, route, text_route, body, params, count, seed, offset, timeout, budget) -> list[Parsed]:
        tasks = [
            asyncio.create_task(
                self._request(
                    route, text_route, body, params, 1, None if seed is None else seed + offset + i, timeout, budget
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

    async def _request(self, route, text_route, body, params, n, seed, timeout, budget) -> Parsed:
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
                parsed = await self._send_recovering(route, text_route, body, call, timeout, start)
        if budget is not None:
            budget.charge(parsed.usage)  # once per request, for all its choices
        return parsed

    async def _send_recovering(self, route, text_route, body, call, timeout, start) -> Parsed:
        """Send; when the connection failed and the endpoint's managed server died, it is
        restarted (once, for every caller) and the request sent again without using up a retry."""
        while True:
            seen = self.endpoint.restarts
            try:
                return await self._send(route, text_route, body, call, timeout, start)
            except ModelAPIError as exc:
                if not _connection_failed(exc) or not await self.endpoint.recover(seen):
                    raise

    async def _send(self, route, text_route, body, call, timeout, start) -> Parsed:
        """One HTTP request, read to the end, with foreign errors translated."""
        endpoint = self.endpoint
        async with endpoint.slot():
            if route.provider is None:
                return await self._send_direct(route, text_route, body, call, timeout, start)
            return await self._send_litellm(route, text_route, body, call, timeout, start)

    async def _send_direct(self, route, text_route, body, call, timeout, start) -> Parsed:
        cfg = self.config
        payload = {"model": route.served, ("prompt" if text_route else "messages"): body, **call}
        if cfg.extra_body:
            payload.update(cfg.extra_body)
        # llama-server reports only the first choice's usage for a non-streamed n > 1 request.
        stream = cfg.stream or call.get("n", 1) > 1
        parsed = await _direct.send(
            self.endpoint,
            path="/completions" if text_route else "/chat/completions",
            body=payload,
            stream=stream,
            text_route=text_route,
            timeout=timeout,
            start=start,
            model=cfg.model,
        )
        if not route.unpriced and parsed.usage.total_tokens:
            from agentscale.llm import _litellm

            cost = _litellm.price(cfg.model, parsed.usage.prompt_tokens, parsed.usage.completion_tokens)
            parsed.usage = parsed.usage.model_copy(update={"cost_usd": cost or 0.0})
        return parsed

    async def _send_litellm(self, route, text_route, body, call, timeout, start) -> Parsed:
        from agentscale.llm import _litellm

        cfg, endpoint = self.config, self.endpoint
        model = cfg.model
        _litellm.check_params(model, route.provider, call)
        try:
            clients = endpoint.clients()
            client = clients.for_route(route.provider, text_route) if clients is not None else None
            send = _litellm.atext if text_route else _litellm.achat
            kwargs = dict(api_base=endpoint.api_base, api_key=endpoint.api_key, timeout=timeout, **call)
            if cfg.extra_body:
                kwargs["extra_body"] = dict(cfg.extra_body)
            # litellm's text streams drop logprobs: ask for those without streaming.
            if not cfg.stream or (text_route and "logprobs" in call):
                async with asyncio.timeout(timeout):
                    response = await send(model, body, client, **kwargs)
                return parse(response, text_route=text_route, seconds=time.perf_counter() - start)
            if route.unpriced:
                # Saying so spares litellm counting the prompt's tokens to price the stream
                # (about 1 ms a call here); for non-streamed calls it costs time instead.
                kwargs.update(input_cost_per_token=0.0, output_cost_per_token=0.0)
            reader = StreamAccumulator(text_route=text_route, max_tokens=call.get("max_tokens"))
            async with asyncio.timeout(timeout):
                async with _litellm.open_stream(send, model, body, client, **kwargs) as chunks:
                    async for chunk in chunks:
                        reader.add(chunk)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            from agentscale.llm._errors import translate  # imports openai: only on failure

            raise translate(exc, model=model, api_base=endpoint.api_base, timeout=timeout) from exc
        parsed = reader.parsed(time.perf_counter() - start, cost=0.0)
        if not route.unpriced and parsed.usage.total_tokens:
            cost = _litellm.price(model, parsed.usage.prompt_tokens, parsed.usage.completion_tokens)
            parsed.usage = parsed.usage.model_copy(update={"cost_usd": cost or 0.0})
        return parsed


@dataclass(frozen=True)
class _Route:
    provider: str | None
    """litellm's provider, or ``None`` for agentscale's own HTTP path (:mod:`agentscale.llm._direct`)."""
    served: str | None
    """The model name the server knows (direct path)."""
    takes_n: bool
    unpriced: bool


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, ModelAPIError) and exc.retryable


def _connection_failed(exc: ModelAPIError) -> bool:
    """No HTTP answer and no timeout: refused, reset, or cut off mid-body (a server that died)."""
    return exc.retryable and exc.status_code is None and not isinstance(exc, ModelTimeout)


def _stops(stop: Sequence[str] | str | None) -> list[str]:
    if stop is None:
        return []
    if isinstance(stop, str):
        return [stop]
    stops = list(stop)
    if not all(isinstance(s, str) and s for s in stops):
        raise ConfigError(f"stop sequences are non-empty strings, got {stops!r:.200}")
    return stops


def _structured(text_route, tools, tool_choice, response_format, json_schema) -> dict[str, Any]:
    """The request fields for tools and structured output, checked."""
    out: dict[str, Any] = {}
    if text_route and (tools or tool_choice is not None or response_format is not None or json_schema is not None):
        raise ConfigError(
            "tools, tool_choice, response_format and json_schema need a chat model (profile 'chat'); for "
            "a text completion pass the server's own field in extra_body (llama-server: json_schema or "
            "grammar; vLLM: guided_json)"
        )
    if tools is not None:
        out["tools"] = [_tool(t) for t in tools]
    if tool_choice is not None:
        if not tools:
            raise ConfigError("tool_choice without tools")
        if not (tool_choice in ("auto", "none", "required") or isinstance(tool_choice, Mapping)):
            raise ConfigError(
                f"tool_choice is 'auto', 'none', 'required' or a dict naming a function, got {tool_choice!r}"
            )
        out["tool_choice"] = tool_choice if isinstance(tool_choice, str) else dict(tool_choice)
    if json_schema is not None:
        if response_format is not None:
            raise ConfigError("give response_format or json_schema, not both")
        if isinstance(json_schema, type) and issubclass(json_schema, BaseModel):
            name, schema = json_schema.__name__, json_schema.model_json_schema()
        elif isinstance(json_schema, Mapping):
            name, schema = str(json_schema.get("title") or "response"), dict(json_schema)
        else:
            raise ConfigError(
                f"json_schema is a JSON schema dict or a pydantic model class, got {json_schema!r:.200}"
            )
        wrapped = {"name": _name(name), "schema": schema, "strict": True}
        response_format = {"type": "json_schema", "json_schema": wrapped}
    if response_format is not None:
        if not isinstance(response_format, Mapping) or "type" not in response_format:
            raise ConfigError(f"response_format is a dict with a 'type', got {response_format!r:.200}")
        out["response_format"] = dict(response_format)
    return out


def _tool(tool: Any) -> dict[str, Any]:
    function = tool.get("function") if isinstance(tool, Mapping) else None
    if not (isinstance(tool, Mapping) and tool.get("type") == "function" and isinstance(function, Mapping)
            and isinstance(function.get("name"), str) and function["name"]):
        raise ConfigError(
            'a tool is {"type": "function", "function": {"name": ..., "description": ..., "parameters": {...}}}, '
            f"got {tool!r:.200}"
        )
    return dict(tool)


def _name(text: str) -> str:
    # OpenAI wants ^[a-zA-Z0-9_-]{1,64}$ for a response format's name.
    return "".join(c if c.isalnum() or c in "_-" else "_" for c in text)[:64] or "response"


def _read_bare_calls(parts: list[Parsed], names: set[str]) -> None:
    for part in parts:
        for i, text in enumerate(part.texts):
            if part.tool_calls[i] or not text:
                continue
            calls = bare_tool_calls(text, names)
            if calls:
                part.tool_calls[i], part.texts[i], part.finish_reasons[i] = calls, "", "tool_calls"


def _merge(model: str, parts: list[Parsed], n: int) -> Completion:
    texts: list[str] = []
    reasons: list[str | None] = []
    logprobs: list[float | None] = []
    calls: list[list[dict[str, Any]]] = []
    usage = Usage()
    for part in parts:
        texts += part.texts
        reasons += part.finish_reasons
        logprobs += part.logprobs
        calls += part.tool_calls
        usage = usage + part.usage
    if all(lp is None for lp in logprobs):
        logprobs = []
    if not any(calls):
        calls = []
    return Completion(
        model=model,
        texts=texts[:n],
        finish_reasons=reasons[:n],
        usage=usage,
        logprobs=logprobs[:n],
        tool_calls=calls[:n],
    )
