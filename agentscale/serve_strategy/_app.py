"""``StrategyServer``: an OpenAI-compatible ``/v1/chat/completions`` (and ``/v1/models``) that answers
each request by running a strategy over an upstream model (aiohttp)."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from agentscale.agents import ChatAgent
from agentscale.budget import Budget
from agentscale.errors import AgentScaleError, ConfigError
from agentscale.protocols import Model
from agentscale.serve_strategy._protocol import (
    APIError,
    ScaledRequest,
    completion,
    completion_chunks,
    error_body,
    new_id,
    parse_request,
)
from agentscale.strategies import Diversity, ScaleContext, make_selector, scale
from agentscale.types import Task, Usage

__all__ = ["Answer", "StrategyServer"]

log = logging.getLogger(__name__)

_KEEPALIVE = 5.0  # seconds between SSE comments while the strategy runs, so idle-timeouts stay quiet


@dataclass(frozen=True)
class Answer:
    """The chosen completion of one request and what the whole run cost."""

    message: dict[str, Any]
    finish_reason: str | None
    usage: Usage
    info: dict[str, Any]


class StrategyServer:
    """Serves OpenAI's chat-completions API; each request is a scaled run over ``upstream``.

    Each request runs ``ChatAgent`` (the messages and tools as the client sent them, each rollout
    with its own seed and temperature) under the request's strategy, then returns the chosen
    rollout's message (its text or its ``tool_calls``). ``usage`` counts every upstream call of the
    run: rollouts, verifiers, judges and selectors (the run's budget). The strategy comes from the
    model name (``best_of_n-4/NAME``) or the body's ``agentscale`` field, else the defaults here.

    Args:
        upstream: the model rollouts call (an ``agentscale.llm.LLM``: chat profile, tools).
        name: the model name clients use (default: the upstream's, after its provider prefix).
        strategy: the default strategy's registry name.
        n: the default rollouts per request.
        selector: the default selector's registry name (``None``: the strategy's).
        max_n: the most rollouts a request may ask for.
        budget_tokens: each request's token budget (``None``: unlimited).
        rollout_timeout: seconds one rollout may take.

    Example:
        ```python
        async with LLM("hosted_vllm/qwen", api_base=UPSTREAM) as llm, StrategyServer(llm, n=4) as server:
            url = await server.start(port=8000)      # then: OpenAI(base_url=url).chat.completions.create(...)
        ```
    """

    def __init__(
        self,
        upstream: Model,
        *,
        name: str | None = None,
        strategy: str = "majority",
        n: int = 4,
        selector: str | None = None,
        max_n: int = 16,
        budget_tokens: int | None = None,
        rollout_timeout: float | None = None,
    ) -> None:
        from agentscale import registry

        model = str(getattr(upstream, "model", "") or "upstream")
        self.upstream = upstream
        self.name = name or model.rsplit("/", 1)[-1]
        self.served = tuple(dict.fromkeys([self.name, model]))
        self.strategies = tuple(registry.available("strategies"))
        self.default = (strategy, n, selector)
        self.max_n = max_n
        self.budget_tokens = budget_tokens
        self.rollout_timeout = rollout_timeout
        self._graphs: dict[tuple[Any, ...], Any] = {}
        self._runner: web.AppRunner | None = None
        self.graph(strategy, n, selector, None)  # a bad default fails now, not on the first request

    # -- running a request ------------------------------------------------------------------------

    def graph(self, strategy: str, n: int, selector: str | None, temperature: float | None) -> Any:
        """The compiled scale graph for these settings (built once, then reused).

        Raises:
            ConfigError: an unknown strategy or selector, or a strategy that takes no ``n``.
        """
        key = (strategy, n, selector, temperature)
        if key not in self._graphs:
            from agentscale import registry

            options: dict[str, Any] = {}
            params = inspect.signature(registry.load("strategies", strategy)).parameters
            if temperature is not None and "diversity" in params:
                options["diversity"] = Diversity(temperatures=(temperature,))  # the client's temperature, every seed
            chosen = make_selector(selector, self.upstream) if selector else None
            agent = ChatAgent(self.upstream)
            self._graphs[key] = scale(agent, strategy, n=n, selector=chosen, **options)
        return self._graphs[key]

    async def answer(self, request: ScaledRequest) -> Answer:
        """Run the request's strategy and return the chosen message.

        Raises:
            APIError: a bad strategy or selector (400), or no rollout succeeded (502).
        """
        strategy, n, selector = self.default
        strategy = request.strategy or strategy
        n = request.n or n
        selector = request.selector or selector
        try:
            graph = self.graph(strategy, n, selector, request.temperature)
        except ConfigError as exc:
            raise APIError(str(exc), param="agentscale") from exc
        task = Task(
            prompt=_last_user(request.messages), metadata={"messages": request.messages, "params": request.params}
        )
        ctx = ScaleContext(
            model=self.upstream, budget=Budget(max_tokens=self.budget_tokens), max_concurrency=n,
            rollout_timeout=self.rollout_timeout,
        )  # fmt: skip
        started = time.monotonic()
        state = await graph.ainvoke({"task": task}, context=ctx)
        selection = state.get("selected")
        rollouts = list(state.get("rollouts") or [])
        chosen = next((r for r in rollouts if selection is not None and r.id == selection.rollout_id), None)
        if chosen is None or not chosen.ok:
            errors = [r.error for r in rollouts if r.error]
            why = errors[0] if errors else (selection.reason if selection is not None else "nothing was chosen")
            raise APIError(f"no rollout of the upstream model succeeded: {why}", status=502, type="api_error",
                           code="upstream_failed")  # fmt: skip
        calls = list(chosen.metadata.get("tool_calls") or [])
        message: dict[str, Any] = {
            "role": "assistant",
            "content": chosen.output if not calls else chosen.output or None,
        }
        if calls:
            message["tool_calls"] = calls
        finish = "tool_calls" if calls else (chosen.metadata.get("finish_reason") or "stop")
        info = {
            "strategy": strategy, "n": n, "selector": selector, "rollouts": len(rollouts),
            "ok": sum(r.ok for r in rollouts), "chosen": int(chosen.metadata.get("index", 0)),
            "status": selection.status, "reason": selection.reason, "calls": ctx.budget.spent.calls,
            "seconds": round(time.monotonic() - started, 3),
        }  # fmt: skip
        return Answer(message=message, finish_reason=finish, usage=ctx.budget.spent, info=info)

    # -- HTTP -----------------------------------------------------------------------------------

    def app(self) -> web.Application:
        """The aiohttp application: ``POST /v1/chat/completions``, ``GET /v1/models``."""
        app = web.Application(middlewares=[_openai_errors], client_max_size=32 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/health", _health)
        return app

    async def _models(self, _request: web.Request) -> web.Response:
        ids = [self.name] + [f"{s}/{self.name}" for s in self.strategies]
        data = [{"id": i, "object": "model", "created": 0, "owned_by": "agentscale"} for i in ids]
        return web.json_response({"object": "list", "data": data})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json(loads=json.loads)
        except ValueError as exc:
            raise APIError(f"We could not parse the JSON body of your request ({exc}).") from exc
        parsed = parse_request(body, served=self.served, strategies=self.strategies, max_n=self.max_n)
        if not parsed.stream:
            answer = await self.answer(parsed)
            return web.json_response(completion(id=new_id(), model=parsed.model, message=answer.message,
                                                finish_reason=answer.finish_reason, usage=answer.usage,
                                                info=answer.info))  # fmt: skip
        return await self._stream(request, parsed)

    async def _stream(self, request: web.Request, parsed: ScaledRequest) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        run = asyncio.create_task(self.answer(parsed), name="serve-strategy-run")
        try:
            while True:
                done, _ = await asyncio.wait({run}, timeout=_KEEPALIVE)
                if done:
                    break
                await response.write(b": agentscale is running the strategy\n\n")
            try:
                answer = run.result()
            except APIError as exc:
                await _event(response, exc.body())
                return response
            chunks = completion_chunks(id=new_id(), model=parsed.model, message=answer.message,
                                       finish_reason=answer.finish_reason, info=answer.info,
                                       usage=answer.usage if parsed.include_usage else None)  # fmt: skip
            # The answer is whole already: one write sends every chunk (the client still reads them one by one).
            await response.write(b"".join(_sse(chunk) for chunk in chunks) + b"data: [DONE]\n\n")
            await response.write_eof()
            return response
        finally:
            run.cancel()  # the client went away: stop the rollouts (their upstream requests close)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on ``host:port`` (``0``: a free port); returns the base URL (``http://host:port/v1``)."""
        runner = web.AppRunner(self.app(), handler_cancellation=True, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        bound = runner.addresses[0]
        return f"http://{host}:{bound[1]}/v1"

    async def aclose(self) -> None:
        """Stop listening; requests in flight are cancelled."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> StrategyServer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


async def _health(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def _sse(data: Mapping[str, Any]) -> bytes:
    return b"data: " + json.dumps(data).encode() + b"\n\n"


async def _event(response: web.StreamResponse, data: Mapping[str, Any]) -> None:
    await response.write(_sse(data))


def _last_user(messages: list[dict[str, Any]]) -> str:
    for m in reversed(messages):
        if m.get("role") == "user" and m.get("content"):
            return str(m["content"])
    return str(messages[-1].get("content") or "")


@web.middleware
async def _openai_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Every error as OpenAI shapes it: ``{"error": {"message", "type", "param", "code"}}``."""
    try:
        return await handler(request)
    except APIError as exc:
        return web.json_response(exc.body(), status=exc.status)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        kind = "invalid_request_error" if exc.status < 500 else "server_error"
        return web.json_response(error_body(f"{request.method} {request.path}: {exc.reason}", type=kind,
                                            code=str(exc.status)), status=exc.status)  # fmt: skip
    except AgentScaleError as exc:
        return web.json_response(error_body(str(exc), type="server_error"), status=500)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a bug of ours: one line for the client, the traceback in our log
        log.exception("serve-strategy failed on %s", request.path)
        return web.json_response(error_body(f"{type(exc).__name__}: {exc}", type="server_error"), status=500)
