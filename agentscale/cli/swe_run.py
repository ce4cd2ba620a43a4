"""``agentscale swe run TASKS --out PREDS``: SWE-bench predictions from the scaled SWE agent.

Each instance of the task file runs the ``swe`` workflow (``agentscale.graphs.swe.workflow``) with
``--strategy`` (``best_of_n`` by default, ``evolve`` for evolution over patches) and ``-n``
rollouts, each in its own sandbox, selected by the visible tests; ``--workers`` instances at a
time. The chosen patches are appended to ``--out`` in SWE-bench's format as they finish (a rerun
skips the instances already there); the per-task report goes to ``--runs`` (default
``PREDS.runs.jsonl``); a summary table ends the run. Score them with ``agentscale swe eval``.
With ``--memory BANK`` a memory bank (a SQLite file) lives across the tasks: lessons are recalled
into every rollout of a task and distilled from its rollouts and verdicts after it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from agentscale.cli._common import (
    add_model_options,
    add_scaling_options,
    build_runner,
    check_names,
    dry_build,
    open_runtime,
    parse_assignments,
    settings_from_args,
)
from agentscale.errors import ConfigError

__all__ = ["add_run_command"]

EXAMPLES = """examples:
  agentscale swe run tests/fixtures/swe/tasks.jsonl --out preds.jsonl -n 4 --workers 2
  agentscale swe run tasks.jsonl --out preds.jsonl --strategy evolve -n 4 -c max_steps=20
  agentscale swe run tasks.jsonl --out preds.jsonl -n 4 --memory swe-bank.db -c selection=repro
  agentscale swe eval preds.jsonl --tasks tasks.jsonl
"""


def add_run_command(commands: Any) -> None:
    """Add ``run`` to ``agentscale swe``."""
    cmd = commands.add_parser(
        "run",
        help="solve tasks with the scaled SWE agent, writing SWE-bench predictions",
        description=__doc__.split("\n\n")[0].replace("``", "'"),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cmd.add_argument("task_file", nargs="?", type=Path, help="task instances (SWE-bench JSONL); or --tasks")
    cmd.add_argument("--tasks", type=Path, help="task instances (SWE-bench JSONL)")
    cmd.add_argument("--out", type=Path, required=True, help="predictions (JSONL); continued if it exists")
    cmd.add_argument("--runs", type=Path, help="per-task report (JSONL; default OUT.runs.jsonl)")
    cmd.add_argument("--workers", type=int, default=1, help="instances run at once (default 1)")
    cmd.add_argument("--model-name", help="model_name_or_path in the predictions (default: the model string)")
    cmd.add_argument(
        "--memory", type=Path, metavar="BANK",
        help="a memory bank (SQLite file, created if missing) on across tasks: lessons recalled into each "
        "rollout, distilled after each task",
    )  # fmt: skip
    add_scaling_options(cmd)
    add_model_options(cmd)
    # --cache-dir comes with the model options; the repository options without it
    cmd.add_argument(
        "--repo", action="append", default=[], metavar="NAME=PATH_OR_URL", help="where a repository is (repeatable)"
    )
    cmd.add_argument("--repos-dir", type=Path, help="folder of owner__name repositories (default CACHE/swe/repos)")
    cmd.set_defaults(handler=_run)


def _options(args: argparse.Namespace) -> None:
    """Put where repositories are into the workflow's options (``-c`` wins)."""
    from agentscale.cli.swe import _cache, _mapping, _repos_dir

    given = parse_assignments(args.config)
    extra = []
    if "repos_dir" not in given:
        extra.append(f"repos_dir={_repos_dir(args)}")
    if "deps_dir" not in given:
        extra.append(f"deps_dir={_cache(args) / 'swe' / 'deps'}")
    mapping = _mapping(args.repo)
    if mapping and "repos" not in given:
        extra.append("repos=" + json.dumps(mapping))
    args.config = [*args.config, *extra]


async def _run(args: argparse.Namespace) -> int:
    from agentscale.cli._batch_view import BatchView
    from agentscale.cli.swe import _cache
    from agentscale.graphs.swe import load_instances
    from agentscale.graphs.swe.batch import run_predictions
    from agentscale.graphs.swe.workflow import SWEOptions, SWEWorkflow

    tasks_path = args.tasks or args.task_file
    if tasks_path is None or (args.tasks and args.task_file):
        raise ConfigError("give the task file once: agentscale swe run TASKS --out PREDS (or --tasks TASKS)")
    if args.workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {args.workers}")
    if args.cache_dir is None:
        args.cache_dir = _cache(args)
    check_names(args)
    _options(args)
    workflow = SWEWorkflow()
    dry_build(workflow, args)
    err = Console(stderr=True, highlight=False)
    instances = load_instances(tasks_path)
    for bad in instances.errors:
        err.print(f"{tasks_path}:{bad.line}: {bad.instance_id or '?'}: {bad.error}", soft_wrap=True, markup=False)
    if not instances.instances:
        raise ConfigError(f"{tasks_path} holds no valid instance ({len(instances.errors)} bad lines)")
    runs = args.runs or args.out.with_name(args.out.name.removesuffix(".jsonl") + ".runs.jsonl")
    started = time.monotonic()
    pool = max(2, min(16, args.workers * min(args.n or 4, 8)))
    async with contextlib.AsyncExitStack() as stack:
        # the bank first: a file that is not one fails before a server or a sandbox starts
        memory = await stack.enter_async_context(await _open_memory(args.memory)) if args.memory else None
        runtime = await stack.enter_async_context(open_runtime(
            args, workflow, pool_size=pool, on_status=lambda m: err.print(f"[dim]{escape(m)}[/dim]")))  # fmt: skip
        settings = settings_from_args(args, workflow, model=runtime.model, api_base=runtime.api_base)
        runner = build_runner(args, workflow, runtime, settings, memory=memory)
        repos, _ = SWEOptions(**settings.options).sources()
        title = f"swe with {settings.strategy}, n={runner.n}, {args.workers} at a time; {runtime.note}"
        lessons = await memory.store.count() if memory is not None else 0
        if memory is not None:
            title += f"; memory bank {args.memory} ({lessons} lessons)"
        err.print(f"[bold]agentscale swe run[/bold] {escape(title)}; predictions: {escape(str(args.out))}")
        view = BatchView(total=len(instances.instances), title=title, workers=args.workers)
        live = Live(view, console=err, refresh_per_second=2, transient=True) if err.is_terminal else None
        with live or contextlib.nullcontext():
            report = await run_predictions(instances, runner, out=args.out, runs=runs, repos=repos,
                                           model_name=args.model_name or runtime.model, workers=args.workers,
                                           on_event=view.handle)  # fmt: skip
        if memory is not None:
            now = await memory.store.count()
            err.print(f"memory bank {args.memory}: {now} lessons ({now - lessons:+d} in this run)", markup=False)
    Console(highlight=False).print(summary_table(report.records, title=f"swe: {settings.strategy}, n={runner.n}"))
    for key, error in report.errors:
        err.print(f"{key}: {error}", soft_wrap=True, markup=False)
    err.print(
        f"{len(report.written)} predictions written, {len(report.skipped)} already in {args.out}, "
        f"{len(report.errors)} errors; {time.monotonic() - started:.0f} s; per-task report: {runs}",
        markup=False,
    )
    return 1 if report.errors else 0


async def _open_memory(path: Path) -> Any:
    """The memory bank at ``path`` (created when missing; sentence embeddings where installed, else BM25).

    Raises:
        MemoryBankError: the file cannot be opened or is not a memory bank.
    """
    from agentscale.memory import MemoryBank

    path = path.expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    return await MemoryBank.open(path)


def summary_table(records: list[Any], *, title: str) -> Table:
    """One row per instance: outcome, patch size, visible tests of the chosen patch, resolved, tokens, seconds."""
    table = Table(title=title, title_justify="left")
    for name in ("instance", "status", "patch lines", "visible tests", "resolved", "tokens", "seconds"):
        table.add_column(name, overflow="fold")
    for r in records:
        chosen = next((x for x in r.get("rollouts") or [] if x.get("id") == r.get("selected")), None)
        verdict = (chosen or {}).get("verdict") or {}
        visible = f"{'pass' if verdict.get('passed') else 'fail'} {verdict.get('score', 0):.2f}" if verdict else "-"
        score = r.get("score")
        resolved = "-" if not isinstance(score, dict) else ("yes" if score.get("passed") else "no")
        usage = r.get("usage") or {}
        tokens = int(usage.get("prompt_tokens") or 0) + int(usage.get("completion_tokens") or 0)
        lines = len((r.get("answer") or "").splitlines())
        table.add_row(str(r.get("task_id")), str(r.get("status")), str(lines), visible, resolved, str(tokens),
                      f"{float(r.get('seconds') or 0):.0f}")  # fmt: skip
    return table
