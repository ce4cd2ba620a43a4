"""``agentscale serve-strategy``: an OpenAI-compatible endpoint that answers by running a strategy over
an upstream model, so any OpenAI client gains scaling without code changes.

The upstream is ``--model`` (with ``--api-base``), or the embedded local model, started or reused.
Clients pick the strategy per request in the model name (``majority-5/NAME``) or the body
(``"agentscale": {"strategy": "best_of_n", "n": 4}``); the defaults are ``--strategy`` and ``-n``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from agentscale.cli._common import add_model_options, check_names, open_runtime, strategy_name

__all__ = ["register"]

EXAMPLES = """examples:
  agentscale serve-strategy --port 8000                       # the embedded model, majority of 4
  agentscale serve-strategy --model hosted_vllm/coder --api-base http://gpu:8000/v1 --strategy best_of_n -n 8

then, from any OpenAI client:
  OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="-").chat.completions.create(
      model="majority-5/qwen2.5-coder-0.5b", messages=[...], tools=[...], stream=True)
  # or model="qwen2.5-coder-0.5b" (the defaults), extra_body={"agentscale": {"strategy": "best_of_n", "n": 8}}
"""


class _Chat:
    """The upstream is spoken to with the chat profile (messages, tools)."""

    name = "serve-strategy"
    profile = "chat"
    needs_sandbox = False


def register(subparsers) -> None:
    """Add ``serve-strategy`` to the CLI."""
    parser = subparsers.add_parser(
        "serve-strategy",
        help="an OpenAI-compatible endpoint that answers with a strategy over an upstream model",
        description=__doc__.split("\n\n")[0].replace("``", "'"),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: a free one)")
    parser.add_argument("--strategy", default="majority", help="the default strategy (default majority)")
    parser.add_argument("-n", "--n", type=int, default=4, help="the default rollouts per request (default 4)")
    parser.add_argument("--selector", help="the default selector (default: the strategy's)")
    parser.add_argument("--max-n", type=int, default=16, help="the most rollouts a request may ask for (default 16)")
    parser.add_argument("--budget-tokens", type=int, metavar="N", help="token budget of each request")
    parser.add_argument("--rollout-timeout", type=float, metavar="S", help="seconds one rollout may take")
    parser.add_argument("--name", help="the model name clients use (default: the upstream's)")
    add_model_options(parser)
    parser.set_defaults(handler=_serve, concurrency=None, budget_seconds=None)


async def _serve(args: argparse.Namespace) -> int:
    from agentscale.serve_strategy import StrategyServer

    check_names(args)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGTERM, stop.set)  # `kill PID` stops as cleanly as Ctrl-C
    status = lambda m: print(f"agentscale: {m}", file=sys.stderr, flush=True)  # noqa: E731
    async with open_runtime(args, _Chat(), on_status=status) as runtime:
        server = StrategyServer(
            runtime.llm, name=args.name, strategy=strategy_name(args.strategy), n=args.n, selector=args.selector,
            max_n=args.max_n, budget_tokens=args.budget_tokens, rollout_timeout=args.rollout_timeout,
        )  # fmt: skip
        async with server:
            url = await server.start(args.host, args.port)
            print(f"upstream: {runtime.note}", file=sys.stderr)
            print(f"serving:  {url}  (default {server.default[0]}, n={server.default[1]})")
            print(f"models:   {server.name}, STRATEGY/{server.name}, STRATEGY-N/{server.name}")
            print("press Ctrl-C to stop", file=sys.stderr, flush=True)
            sys.stdout.flush()
            await stop.wait()
    return 0
