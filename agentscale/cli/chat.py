"""``agentscale chat [WORKFLOW]``: an interactive session where every turn is a scaled run, shown live.

Each question runs the workflow with the session's strategy: the rollouts in flight with their
latest step, verdicts as they come, the vote or the choice, and the budget left; then the chosen
answer is printed and the conversation continues from it (the next turn's task carries the
history: as messages for conversational workflows like ``chat``, as a transcript otherwise).
Ctrl-C during a turn cancels that turn (its model requests are closed) and keeps the session;
slash commands change the settings between turns.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.panel import Panel
from rich.text import Text

from agentscale.cli._common import (
    add_model_options,
    add_scaling_options,
    build_runner,
    check_names,
    dry_build,
    open_runtime,
    parse_assignments,
    resolve_workflow,
    settings_from_args,
    strategy_name,
)
from agentscale.errors import AgentScaleError, ConfigError

__all__ = ["COMMANDS", "ChatSession", "register"]

EXAMPLES = """examples:
  agentscale chat                                   # the chat workflow on the embedded local model
  agentscale chat --strategy majority -n 5 --budget-tokens 4000
  agentscale chat --model hosted_vllm/qwen --api-base http://127.0.0.1:8080/v1

in the session:  /n 8   /strategy vote   /selector listwise   /budget tokens 5000   /set max_tokens=128
                 /settings   /history   /clear   /help   /quit        (Ctrl-C cancels the turn in progress)
"""

COMMANDS = {
    "/n N": "rollouts per turn",
    "/strategy NAME": "a registered strategy (vote = majority)",
    "/selector NAME|none": "a registered selector, or the strategy's own",
    "/budget tokens N | seconds S | off": "the budget of each turn",
    "/set KEY=VALUE": "a workflow option (like -c)",
    "/settings": "show the settings",
    "/history": "show the conversation so far",
    "/clear": "forget the conversation",
    "/help": "this list",
    "/quit": "leave (also Ctrl-D)",
}


def register(subparsers) -> None:
    """Add ``chat`` to the CLI."""
    parser = subparsers.add_parser(
        "chat",
        help="an interactive session: every turn is a scaled run, shown live",
        description=__doc__.split("\n\n")[0].replace("``", "'"),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("workflow", nargs="?", default="chat", help="a registered workflow (default chat)")
    add_scaling_options(parser)
    add_model_options(parser)
    parser.set_defaults(handler=_chat)


class ChatSession:
    """A conversation and its settings; ``turn`` runs one question, ``command`` one slash command."""

    def __init__(self, args: argparse.Namespace, workflow: Any, runtime: Any, console: Console) -> None:
        self.args = args
        self.workflow = workflow
        self.runtime = runtime
        self.console = console
        self.settings = settings_from_args(args, workflow, model=runtime.model, api_base=runtime.api_base)
        self.runner = build_runner(args, workflow, runtime, self.settings)
        self.history: list[dict[str, Any]] = []

    # -- turns ----------------------------------------------------------------------------------

    def task_for(self, question: str) -> Any:
        """The task of the next turn: the question with the conversation so far."""
        if getattr(self.workflow, "conversational", False):
            messages = [*self.history, {"role": "user", "content": question}]
            return self.workflow.task({"prompt": question, "messages": messages})
        if not self.history:
            return self.workflow.task(question)
        said = "\n\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in self.history)
        return self.workflow.task(f"The conversation so far:\n\n{said}\n\nUser: {question}")

    async def turn(self, question: str) -> None:
        """Run one question scaled and live; on success the answer joins the history."""
        from agentscale.cli._live import RunView

        task = self.task_for(question)
        view = RunView(title=self.title(), verified=self.runner.parts.verifier is not None)
        view.begin(task.id, self.settings)
        with Live(view, console=self.console, refresh_per_second=4, transient=True):
            record = await self.runner.run(task, on_event=view.handle)
        if record.answer is None:
            self.console.print(f"[red]no answer[/red]: {escape(str(record.error or record.reason))}")
            return
        chosen = record.chosen
        ok = sum(r.status == "ok" for r in record.rollouts)
        title = f"answer (#{chosen.index if chosen else '?'} of {len(record.rollouts)})"
        self.console.print(Panel(Text(record.answer.strip() or "(empty)"), title=title, border_style="green"))
        left = view.remaining.get("tokens")
        self.console.print(
            f"[dim]{ok}/{len(record.rollouts)} candidates ok; {record.status}: {escape(record.reason)}; "
            f"{record.usage.total_tokens} tokens, {record.seconds:.1f} s"
            + (f"; {left:.0f} tokens of budget left" if left is not None else "")
            + "[/dim]"
        )
        self.history += [{"role": "user", "content": question}, {"role": "assistant", "content": record.answer}]

    def title(self) -> str:
        s = self.settings
        return f"{self.workflow.name}: {s.strategy}, n={self.runner.n}" + (
            f", selector {s.selector}" if s.selector else ""
        )

    # -- commands -------------------------------------------------------------------------------

    def command(self, line: str) -> bool:
        """Do one slash command; ``False`` means leave the session."""
        name, _, rest = line.strip().partition(" ")
        rest = rest.strip()
        if name in ("/quit", "/exit", "/q"):
            return False
        try:
            self._command(name, rest)
        except AgentScaleError as exc:
            self.console.print(f"[red]{escape(str(exc))}[/red] (settings unchanged)")
        return True

    def _command(self, name: str, rest: str) -> None:
        say = self.console.print
        if name == "/help":
            for usage, what in COMMANDS.items():
                say(f"  {usage:<38} {what}", markup=False)
        elif name == "/settings":
            s = self.settings
            say(f"strategy = {s.strategy}, n = {self.runner.n}, selector = {s.selector or 'default'}, "
                f"budget = {s.max_tokens or '-'} tokens / {s.max_seconds or '-'} s, options = {s.options}",
                markup=False)  # fmt: skip
        elif name == "/history":
            for m in self.history or [{"role": "(empty)", "content": ""}]:
                say(f"[bold]{m['role']}[/bold]: {escape(str(m['content']))}")
        elif name == "/clear":
            self.history = []
            say("conversation cleared")
        elif name == "/n":
            self._change(n=_int(rest, "/n"))
        elif name == "/strategy":
            self._change(strategy=strategy_name(rest or "?"))
        elif name == "/selector":
            self._change(selector=None if rest in ("", "none", "default") else rest)
        elif name == "/budget":
            self._change(**_budget(rest))
        elif name == "/set":
            self._change(options={**self.settings.options, **parse_assignments([rest])})
        else:
            raise ConfigError(f"unknown command {name}; /help lists them")

    def _change(self, **changes: Any) -> None:
        settings = self.settings.model_copy(update=changes)
        settings = type(settings).model_validate(settings.model_dump())  # checks the new values
        self.runner = build_runner(self.args, self.workflow, self.runtime, settings)
        self.settings = settings
        shown = ", ".join(f"{k} = {v}" for k, v in changes.items())
        self.console.print(f"{shown} (from the next turn)", markup=False)


def _int(text: str, command: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"{command} takes a whole number, e.g. {command} 8") from None


def _budget(text: str) -> dict[str, Any]:
    kind, _, value = text.partition(" ")
    if kind == "off":
        return {"max_tokens": None, "max_seconds": None}
    try:
        if kind == "tokens":
            return {"max_tokens": int(value)}
        if kind == "seconds":
            return {"max_seconds": float(value)}
    except ValueError:
        pass
    raise ConfigError("/budget takes 'tokens N', 'seconds S' or 'off'")


def _chat(args: argparse.Namespace) -> int:
    workflow = resolve_workflow(args.workflow)
    check_names(args)
    dry_build(workflow, args)
    console = Console(highlight=False)
    with asyncio.Runner() as loop:
        stack = contextlib.AsyncExitStack()
        status = lambda m: console.print(f"[dim]{escape(m)}[/dim]")  # noqa: E731
        runtime = loop.run(stack.enter_async_context(open_runtime(args, workflow, on_status=status)))
        try:
            session = ChatSession(args, workflow, runtime, console)
            console.print(f"[bold]agentscale chat[/bold]: {escape(session.title())}; {escape(runtime.note)}")
            console.print("[dim]ask anything; /help lists the commands, Ctrl-C cancels a turn, /quit leaves[/dim]")
            _loop(loop, session, console)
        finally:
            loop.run(stack.aclose())
    console.print("bye")
    return 0


def _loop(loop: asyncio.Runner, session: ChatSession, console: Console) -> None:
    while True:
        try:
            line = console.input("[bold cyan]you>[/bold cyan] ").strip()
        except EOFError:
            return
        except KeyboardInterrupt:
            console.print("\n[dim](no turn is running; /quit leaves)[/dim]")
            continue
        if not line:
            continue
        if line.startswith("/"):
            if not session.command(line):
                return
            continue
        try:
            loop.run(session.turn(line))
        except KeyboardInterrupt:
            # asyncio.Runner cancelled the turn: LangGraph cancelled the rollouts, which hung up on the model.
            console.print("[yellow]turn cancelled[/yellow]: its model requests were closed; ask again or /quit")
        except AgentScaleError as exc:
            console.print(f"[red]error[/red]: {escape(str(exc))}")
