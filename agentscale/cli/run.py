"""``agentscale run WORKFLOW "task"`` and ``agentscale run WORKFLOW --tasks FILE``: any registered
workflow, scaled with any registered strategy.

One task shows its rollouts live (latest step, verdicts, votes, budget left), then prints the
answer and a summary: the candidates, their verdicts, the choice and why, tokens and seconds.
A tasks file runs as a batch into a JSONL results file (one line per task, with full provenance),
``--workers`` at a time, with a progress view; run it again and the finished tasks are not redone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from agentscale.cli._common import (
    add_model_options,
    add_scaling_options,
    build_runner,
    check_names,
    dry_build,
    open_runtime,
    options_text,
    resolve_workflow,
)
from agentscale.errors import ConfigError

__all__ = ["register"]

EXAMPLES = """examples:
  agentscale run chat "What is the capital of Australia?" --strategy majority -n 5
  agentscale run humaneval 12 -n 8 --selector behaviour_vote --budget-tokens 20000
  agentscale run chat "Name a prime over 100" --model hosted_vllm/qwen --api-base http://127.0.0.1:8080/v1
  agentscale run humaneval --tasks tasks.jsonl --out results.jsonl --workers 2   # rerun to resume
  agentscale run chat "Say hi" -c max_tokens=64 -c judge=true --json
"""


def register(subparsers) -> None:
    """Add ``run`` to the CLI."""
    from agentscale import registry

    parser = subparsers.add_parser(
        "run",
        help="run a workflow on one task, or a batch of tasks, with a scaling strategy",
        description=__doc__.split("\n\n")[0].replace("``", "'"),
        epilog=f"workflows: {', '.join(registry.available('workflows'))}\n\n{EXAMPLES}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("workflow", help="a registered workflow (chat, humaneval, ...)")
    parser.add_argument(
        "task", nargs="?", help="the task: a question, a problem number, a JSON record... (or --tasks FILE)"
    )
    parser.add_argument("--tasks", type=Path, help="a JSONL file of tasks (a JSON string or object per line)")
    parser.add_argument(
        "--out", type=Path, help="batch results (JSONL; default TASKS.results.jsonl); continued if it exists"
    )
    parser.add_argument("--workers", type=int, default=1, help="batch tasks run at once (default 1)")
    parser.add_argument("--json", action="store_true", help="print the task's whole record as JSON")
    add_scaling_options(parser)
    add_model_options(parser)
    parser.set_defaults(handler=_run)


async def _run(args: argparse.Namespace) -> int:
    workflow = resolve_workflow(args.workflow)
    check_names(args)
    if (args.task is None) == (args.tasks is None):
        raise ConfigError('give one task ("agentscale run chat \\"question\\"") or a tasks file (--tasks FILE)')
    if args.workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {args.workers}")
    if args.tasks is not None:
        return await _batch(args, workflow)
    task = workflow.task(_source(args.task))
    dry_build(workflow, args)
    return await _single(args, workflow, task)


# ---- one task ------------------------------------------------------------------------------


def _source(text: str) -> Any:
    """The task as the workflow takes it: a JSON object when the text is one (a record, as in a tasks
    file), else the text itself."""
    if text.lstrip().startswith("{"):
        try:
            value = json.loads(text)
        except ValueError:
            return text
        if isinstance(value, dict):
            return value
    return text


async def _single(args: argparse.Namespace, workflow: Any, task: Any) -> int:
    from agentscale.cli._live import RunView

    err = Console(stderr=True, highlight=False)
    out = Console(highlight=False)
    async with open_runtime(args, workflow, on_status=lambda m: err.print(f"[dim]{escape(m)}[/dim]")) as runtime:
        runner = build_runner(args, workflow, runtime)
        title = f"{workflow.name} with {runner.settings.strategy}, n={runner.n}"
        if runner.settings.options:
            title += f" ({options_text(runner.settings.options)})"
        err.print(f"[bold]agentscale run[/bold] {escape(title)}; {escape(runtime.note)}")
        view = RunView(title=title, verified=runner.parts.verifier is not None)
        view.begin(task.id, runner.settings)
        # The live view is for terminals; piped output gets the result only.
        live = Live(view, console=err, refresh_per_second=4, transient=True) if err.is_terminal else None
        with live or contextlib.nullcontext():
            record = await runner.run(task, on_event=view.handle)
    if args.json:
        out.print_json(record.model_dump_json())
    else:
        show_record(out, record)
    if record.status in ("none_ran", "error"):
        raise ConfigError(f"no answer: {record.error or record.reason}")
    return 0


def show_record(console: Console, record: Any) -> None:
    """The answer, the candidates with their verdicts, the choice and why, tokens and seconds."""
    table = Table(title="candidates", title_justify="left")
    for name, justify in (("#", "right"), ("status", "left"), ("tokens", "right"), ("seconds", "right"),
                          ("verdict", "left"), ("output", "left")):  # fmt: skip
        table.add_column(name, justify=justify, overflow="fold")
    for r in record.rollouts:
        verdict = ""
        if r.verdict is not None:
            verdict = f"{'pass' if r.verdict.passed else 'fail'} {r.verdict.score:.2f}"
        text = (r.output or r.error or "").strip().replace("\n", " ")
        if r.tool_calls:
            text = "tool calls: " + (r.answer or "")
        table.add_row(
            f"{r.index}{' *' if r.id == record.selected else ''}", r.status, str(r.usage.total_tokens),
            f"{r.seconds:.1f}", verdict, Text(text[:80]),
        )  # fmt: skip
    console.print(table)
    chosen = record.chosen
    which = f"#{chosen.index}" if chosen is not None else "nothing"
    # Model text and reasons are printed as they are (markup=False): a "[b]" in an answer is not a style.
    console.print(f"choice: {which} ({record.status}): {record.reason}", markup=False)
    if record.score is not None:
        passed = "passed" if record.score.passed else "failed"
        console.print(f"score: {passed} ({record.score.feedback[:100]})", markup=False)
    u = record.usage
    console.print(
        f"tokens: {u.total_tokens} ({u.prompt_tokens} prompt + {u.completion_tokens} generated, "
        f"{u.calls} calls, every judge and selector included); seconds: {record.seconds:.1f}"
    )
    if record.answer is not None:
        console.print(Panel(Text(record.answer.strip() or "(empty answer)"), title="answer", border_style="green"))


# ---- a batch -------------------------------------------------------------------------------


async def _batch(args: argparse.Namespace, workflow: Any) -> int:
    from agentscale.cli._batch_view import BatchView, batch_summary
    from agentscale.evaluation import read_tasks, run_batch

    err = Console(stderr=True, highlight=False)
    tasks = read_tasks(args.tasks, workflow.task)
    for bad in tasks.errors:
        err.print(f"{args.tasks}:{bad.line}: {bad.error}", soft_wrap=True, markup=False)
    if not tasks.tasks:
        raise ConfigError(f"{args.tasks} holds no task ({len(tasks.errors)} bad lines)")
    dry_build(workflow, args)
    out_path = args.out or args.tasks.with_suffix(".results.jsonl")
    started = time.monotonic()
    async with open_runtime(args, workflow, pool_size=max(2, min(8, 2 * args.workers)),
                            on_status=lambda m: err.print(f"[dim]{escape(m)}[/dim]")) as runtime:  # fmt: skip
        runner = build_runner(args, workflow, runtime)
        settings = runner.settings
        title = f"{workflow.name} with {settings.strategy}, n={runner.n}, {args.workers} at a time; {runtime.note}"
        err.print(f"[bold]agentscale run[/bold] {escape(title)}; results: {escape(str(out_path))}")
        view = BatchView(total=len(tasks.tasks), title=title, workers=args.workers)
        expected = _provenance(settings, runner.n)
        live = Live(view, console=err, refresh_per_second=2, transient=True) if err.is_terminal else None
        with live or contextlib.nullcontext(), _on_interrupt(err, out_path):
            report = await run_batch(
                [(t.key, t.task) for t in tasks.tasks],
                runner.run,
                out=out_path,
                workers=args.workers,
                on_event=view.handle,
                same_run=lambda record: _differs(record, expected),
                stop_after=max(3, 2 * args.workers),
            )
    Console(highlight=False).print(
        batch_summary(
            report,
            tasks.errors,
            title=f"{workflow.name}: {settings.strategy}, n={runner.n}",
            seconds=time.monotonic() - started,
            out=str(out_path),
        )  # fmt: skip
    )
    if report.stopped:
        raise ConfigError(f"the batch stopped: {report.stopped}; finished tasks are in {out_path}, rerun to continue")
    unfinished = [r for r in report.records if r.get("status") in ("error", "none_ran")]
    return 1 if tasks.errors or report.failed or unfinished else 0


@contextlib.contextmanager
def _on_interrupt(err: Console, out_path: Path) -> Any:
    try:
        yield
    except asyncio.CancelledError:  # Ctrl-C: every finished task is already a line of the results file
        err.print(f"interrupted: the finished tasks are in {escape(str(out_path))}; run the same command to continue")
        raise


def _provenance(settings: Any, n: int | None) -> dict[str, Any]:
    return {"workflow": settings.workflow, "strategy": settings.strategy, "n": n, "model": settings.model,
            "options": settings.options}  # fmt: skip


def _differs(record: dict[str, Any], expected: dict[str, Any]) -> str | None:
    for key, want in expected.items():
        if record.get(key, want) != want:
            return f"{key}={record.get(key)!r}, this run {key}={want!r}"
    return None
