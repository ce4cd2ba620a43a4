"""What ``run``, ``chat`` and ``serve-strategy`` share: the scaling and model options, ``-c key=value``
parsing, checks that fail before anything starts, and the runtime (model server or endpoint, LLM
clients, sandboxes) that a workflow's parts are built on.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentscale.errors import ConfigError

__all__ = [
    "STRATEGY_ALIASES",
    "Runtime",
    "add_model_options",
    "add_scaling_options",
    "build_runner",
    "check_endpoint",
    "check_names",
    "dry_build",
    "open_runtime",
    "options_text",
    "parse_assignments",
    "resolve_workflow",
    "settings_from_args",
    "strategy_name",
]

STRATEGY_ALIASES = {"vote": "majority", "bon": "best_of_n", "best-of-n": "best_of_n", "first-finish": "first_finish"}
"""Short names people type for registered strategies."""


def _names(group: str) -> str:
    from agentscale import registry

    return ", ".join(registry.available(group))


def add_scaling_options(parser: argparse.ArgumentParser) -> None:
    """``--strategy``, ``-n``, ``--selector``, budgets, ``-c`` and the sandbox backend."""
    parser.add_argument(
        "--strategy", default="best_of_n", help=f"a registered strategy: {_names('strategies')} (default best_of_n)"
    )
    parser.add_argument("-n", "--n", type=int, help="rollouts per task (default: the strategy's)")
    parser.add_argument("--selector", help=f"a registered selector: {_names('selectors')} (default: the strategy's)")
    parser.add_argument("--budget-tokens", type=int, metavar="N", help="token budget per task (every call counts)")
    parser.add_argument("--budget-seconds", type=float, metavar="S", help="wall-clock budget per task")
    parser.add_argument(
        "-c", "--config", action="append", default=[], metavar="KEY=VALUE",
        help="a workflow option (repeatable; values are JSON where they parse: -c max_tokens=256)",
    )  # fmt: skip
    parser.add_argument("--concurrency", type=int, default=8, help="rollouts of one task at once (default 8)")
    parser.add_argument("--rollout-timeout", type=float, metavar="S", help="seconds one rollout may take")
    parser.add_argument("--backend", default="auto", help="sandbox backend for workflows that run code (default auto)")


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """``--model``, ``--api-base``, ``--api-key``, ``--timeout`` and ``--cache-dir``."""
    parser.add_argument(
        "--model",
        help="any litellm model string (hosted_vllm/NAME with --api-base for vLLM, llama.cpp or any OpenAI-compatible "
        "server, or a hosted one); "
        "default: the embedded local model, started or reused",
    )
    parser.add_argument("--api-base", help="the model's OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1")
    parser.add_argument("--api-key", help="the endpoint's key, where it wants one")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per model request (default 600)")
    parser.add_argument(
        "--cache-dir", type=Path, help="builds, models, logs (default $AGENTSCALE_CACHE or ~/.cache/agentscale)"
    )


def parse_assignments(items: list[str]) -> dict[str, Any]:
    """``["max_tokens=256", "judge=true", "a.b=x"]`` -> ``{"max_tokens": 256, "judge": True, "a": {"b": "x"}}``.

    Raises:
        ConfigError: an item without ``=`` or with an empty key.
    """
    found: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"-c {item!r}: expected KEY=VALUE (e.g. -c max_tokens=256)")
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw  # not JSON: the text as it is
        *path, last = [k.strip() for k in key.split(".")]
        where = found
        for part in path:
            where = where.setdefault(part, {})
            if not isinstance(where, dict):
                raise ConfigError(f"-c {item!r}: {part!r} is already set to a value")
        where[last] = value
    return found


def strategy_name(name: str) -> str:
    """A strategy name with its aliases resolved (``vote`` -> ``majority``)."""
    return STRATEGY_ALIASES.get(name, name)


def resolve_workflow(name: str) -> Any:
    """The registered workflow ``name``, made.

    Raises:
        ConfigError: an unknown workflow (the message lists the registered ones).
    """
    from agentscale import registry

    return registry.create("workflows", name)


def check_names(args: argparse.Namespace) -> None:
    """Fail on an unknown strategy or selector, or a bad number, before anything starts.

    Raises:
        ConfigError: what is wrong, with the choices.
    """
    from agentscale import registry

    registry.load("strategies", strategy_name(args.strategy))
    if args.selector:
        registry.load("selectors", args.selector)
    for flag, value in (("-n", args.n), ("--concurrency", args.concurrency), ("--budget-tokens", args.budget_tokens)):
        if value is not None and value < 1:
            raise ConfigError(f"{flag} must be >= 1, got {value}")
    for flag, value in (("--budget-seconds", args.budget_seconds), ("--rollout-timeout", args.rollout_timeout)):
        if value is not None and value <= 0:
            raise ConfigError(f"{flag} must be > 0, got {value}")


def settings_from_args(args: argparse.Namespace, workflow: Any, *, model: str = "", api_base: str | None = None) -> Any:
    """The ``RunSettings`` the options describe."""
    from agentscale.evaluation import RunSettings

    return RunSettings(
        workflow=workflow.name,
        strategy=strategy_name(args.strategy),
        n=args.n,
        selector=args.selector,
        model=model,
        api_base=api_base,
        options=parse_assignments(args.config),
        max_tokens=args.budget_tokens,
        max_seconds=args.budget_seconds,
        max_concurrency=args.concurrency,
        rollout_timeout=args.rollout_timeout,
    )


class _NoModel:
    """Stands in for the model while options are checked (nothing is called)."""

    model = "unstarted"

    async def generate(self, prompt: Any, **options: Any) -> Any:  # pragma: no cover - never called
        raise ConfigError("no model yet")


def dry_build(workflow: Any, args: argparse.Namespace) -> None:
    """Build the workflow's parts and the strategy graph on a stand-in model, so a bad option, strategy
    or selector fails before a server, a download or a sandbox starts.

    Raises:
        ConfigError: what is wrong.
    """
    from agentscale.evaluation import ScaledRunner
    from agentscale.workflows import WorkflowEnv

    settings = settings_from_args(args, workflow)
    stand_in = _NoModel()
    parts = workflow.build(WorkflowEnv(model=stand_in, sandboxes=object(), options=settings.options))
    ScaledRunner(parts, settings, model=stand_in)


async def check_endpoint(api_base: str, *, timeout: float = 10.0) -> None:
    """Make sure something answers HTTP at ``api_base`` (any status will do).

    Raises:
        ConfigError: nothing answers: one line saying where and what to do.
    """
    import httpx

    url = api_base.rstrip("/") + "/models"
    try:
        async with httpx.AsyncClient(timeout=timeout, trust_env=False) as client:
            await client.get(url)
    except httpx.HTTPError as exc:
        why = str(exc) or type(exc).__name__
        raise ConfigError(
            f"cannot reach the model endpoint {api_base} ({why}); start the server or fix --api-base"
        ) from exc


@dataclass
class Runtime:
    """What a workflow runs on.

    Attributes:
        llm: the agent's model client (the workflow's profile).
        chat_llm: a chat-profile client on the same endpoint, for judges, selectors and reflection.
        sandboxes: a sandbox pool, for workflows that need one.
        model: the model string.
        api_base: the endpoint.
        note: how the model was reached (for the first line of output).
    """

    llm: Any
    chat_llm: Any
    sandboxes: Any
    model: str
    api_base: str | None
    note: str


@contextlib.asynccontextmanager
async def open_runtime(
    args: argparse.Namespace, workflow: Any, *, pool_size: int = 4, on_status: Any = None
) -> AsyncIterator[Runtime]:
    """Reach the model (``--model``/``--api-base``, else the embedded server, started or reused), and
    open sandboxes when the workflow needs them; everything is closed on exit.

    Raises:
        ConfigError: an unreachable endpoint.
        SandboxUnavailable: no sandbox backend for a workflow that runs code.
    """
    from agentscale.llm import LLM

    say = on_status or (lambda _msg: None)
    async with contextlib.AsyncExitStack() as stack:
        if args.model:
            if args.api_base:
                await check_endpoint(args.api_base)
            options: dict[str, Any] = {"api_base": args.api_base, "timeout": args.timeout, "max_retries": 1}
            if args.api_key:
                options["api_key"] = args.api_key
            llm = await stack.enter_async_context(LLM(args.model, profile=workflow.profile, **options))
            # judges and selectors talk chat on the same endpoint (its connections and concurrency limit)
            chat = llm
            if workflow.profile != "chat":
                chat = LLM(args.model, profile="chat", endpoint=llm.endpoint, timeout=args.timeout, max_retries=1)
            model, api_base = args.model, args.api_base
            note = f"model {model}" + (f" at {api_base}" if api_base else "")
        else:
            from agentscale.cli.serve import cache_dir
            from agentscale.servers import LlamaCppServer

            say("starting the embedded model server (the first time builds it: minutes)")
            started = time.monotonic()
            server = await stack.enter_async_context(LlamaCppServer(cache_dir=cache_dir(args)))
            how = "reused the running server" if server.reused else f"started in {time.monotonic() - started:.1f} s"
            endpoint = server.endpoint()
            stack.push_async_callback(endpoint.aclose)
            common = {"endpoint": endpoint, "timeout": args.timeout, "max_retries": 1}
            llm = LLM(server.model, profile=workflow.profile, **common)
            chat = llm if workflow.profile == "chat" else LLM(server.model, profile="chat", **common)
            model, api_base = server.model, server.api_base
            note = f"embedded model {model} at {api_base} ({how})"
        pool = None
        if getattr(workflow, "needs_sandbox", False):
            from agentscale.sandboxes import open_pool

            pool = await stack.enter_async_context(open_pool(args.backend, size=pool_size))
        yield Runtime(llm=llm, chat_llm=chat, sandboxes=pool, model=model, api_base=api_base, note=note)


def build_runner(
    args: argparse.Namespace, workflow: Any, runtime: Runtime, settings: Any = None, *, memory: Any = None
) -> Any:
    """The ``ScaledRunner`` for ``workflow`` on ``runtime`` with the options' (or the given) settings, and
    ``memory`` (a memory bank shared by every task the runner solves) when given."""
    from agentscale.evaluation import ScaledRunner
    from agentscale.workflows import WorkflowEnv

    settings = settings or settings_from_args(args, workflow, model=runtime.model, api_base=runtime.api_base)
    parts = workflow.build(WorkflowEnv(model=runtime.llm, sandboxes=runtime.sandboxes, options=settings.options))
    return ScaledRunner(parts, settings, model=runtime.chat_llm, sandboxes=runtime.sandboxes, memory=memory)


def options_text(options: Mapping[str, Any]) -> str:
    """``-c`` options as ``k=v`` words, for headers."""
    return " ".join(f"{k}={json.dumps(v)}" for k, v in options.items())
