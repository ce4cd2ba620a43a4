"""``agentscale swe run | eval | build-tasks | build-repos``: SWE-bench style tasks, predictions, scoring.

- ``run TASKS --out PREDS``: the scaled SWE agent writes SWE-bench predictions (``swe_run.py``);
- ``eval PREDS --tasks TASKS``: score predictions in fresh sandboxes like SWE-bench's harness;
  the report (``--out``, default ``PREDS`` with ``.report.json``) is rewritten after each instance.
- ``build-tasks``: generate tasks from PyPI packages (``agentscale.graphs.swe.generate``).
- ``build-repos --tasks TASKS``: rebuild the repositories of generated tasks from PyPI (fast: no
  tests run), checking every base commit by its hash.

Repositories are looked up in ``--repo NAME=PATH_OR_URL`` mappings first, then under
``--repos-dir`` (default ``$AGENTSCALE_CACHE/swe/repos``, where ``build-*`` put them).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from agentscale.errors import ConfigError

__all__ = ["register"]


def _cache(args: argparse.Namespace) -> Path:
    if getattr(args, "cache_dir", None):
        return Path(args.cache_dir).expanduser()
    env = os.environ.get("AGENTSCALE_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "agentscale"


def _repos_dir(args: argparse.Namespace) -> Path:
    return Path(args.repos_dir).expanduser() if args.repos_dir else _cache(args) / "swe" / "repos"


def register(subparsers) -> None:
    """Add ``swe`` and its subcommands to the CLI."""
    from agentscale.cli.swe_run import add_run_command
    from agentscale.graphs.swe.generate import add_arguments

    parser = subparsers.add_parser("swe", help="SWE-bench style tasks: solve them, score predictions, build tasks")
    commands = parser.add_subparsers(dest="swe_command", metavar="COMMAND", required=True)
    add_run_command(commands)

    cmd = commands.add_parser("eval", help="score predictions in fresh sandboxes (SWE-bench harness style)")
    cmd.add_argument("predictions", type=Path, help="predictions file (JSONL: instance_id, model_patch, ...)")
    cmd.add_argument("--tasks", type=Path, required=True, help="task instances (SWE-bench JSONL)")
    cmd.add_argument("--out", type=Path, help="report file (default: PREDICTIONS.report.json)")
    cmd.add_argument("--backend", default="auto", help="sandbox backend: auto, docker, bwrap (default auto)")
    cmd.add_argument("--workers", type=int, default=2, help="instances scored at once (default 2)")
    cmd.add_argument("--image", help="evaluation image: Docker tag (--backend docker) or rootfs folder (bwrap)")
    cmd.add_argument("--timeout", type=float, default=900, help="seconds for one instance's tests (default 900)")
    _repo_options(cmd)
    cmd.set_defaults(handler=_eval)

    cmd = commands.add_parser("build-tasks", help="generate tasks from PyPI packages (injected bugs, real tests)")
    add_arguments(cmd)
    cmd.set_defaults(handler=_build_tasks)

    cmd = commands.add_parser("build-repos", help="rebuild the repositories of generated tasks from PyPI")
    cmd.add_argument("--tasks", type=Path, required=True, help="task instances made by build-tasks")
    cmd.add_argument("--repos-dir", type=Path, help="where repositories go (default CACHE/swe/repos)")
    cmd.add_argument("--cache-dir", type=Path, help="cache (default $AGENTSCALE_CACHE or ~/.cache/agentscale)")
    cmd.set_defaults(handler=_build_repos)


def _repo_options(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument(
        "--repo", action="append", default=[], metavar="NAME=PATH_OR_URL", help="where a repository is (repeatable)"
    )
    cmd.add_argument("--repos-dir", type=Path, help="folder of owner__name repositories (default CACHE/swe/repos)")
    cmd.add_argument("--cache-dir", type=Path, help="cache (default $AGENTSCALE_CACHE or ~/.cache/agentscale)")


def _mapping(items: list[str]) -> dict[str, str]:
    found = {}
    for item in items:
        name, sep, where = item.partition("=")
        if not sep or not name.strip() or not where.strip():
            raise ConfigError(f"--repo {item!r}: expected NAME=PATH_OR_URL")
        found[name.strip()] = where.strip()
    return found


async def _eval(args: argparse.Namespace) -> int:
    from agentscale.graphs.swe import PythonDeps, RepoSource, SWEEvaluator, evaluate_files

    for path in (args.predictions, args.tasks):
        if not path.is_file():
            raise ConfigError(f"no such file: {path}")
    out = args.out or args.predictions.with_suffix(".report.json")
    repos = RepoSource(_mapping(args.repo), root=_repos_dir(args))
    deps = PythonDeps(_cache(args) / "swe" / "deps")

    def show(result) -> None:
        detail = f": {result.error.splitlines()[0][:160]}" if result.error else ""
        print(f"{result.instance_id}: {result.status}{detail}", file=sys.stderr, flush=True)

    async with SWEEvaluator(
        repos, deps=deps, backend=args.backend, workers=args.workers, image=args.image, timeout=args.timeout
    ) as evaluator:
        report = await evaluate_files(args.predictions, args.tasks, evaluator, out=out, on_result=show)
    for err in report.input_errors:
        where = f"{err['file']}:{err['line']}" if err.get("line") else err["file"]
        print(f"{where}: {err.get('instance_id') or '?'}: {err['error']}", file=sys.stderr)
    print(
        f"{report.resolved_instances} resolved, {report.unresolved_instances} unresolved, "
        f"{report.error_instances} errors, {report.empty_patch_instances} empty patches "
        f"of {report.submitted_instances} submitted ({report.total_instances} tasks); report: {out}"
    )
    return 0


async def _build_tasks(args: argparse.Namespace) -> int:
    from agentscale.graphs.swe.generate import generate_tasks, specs_from_args

    cache = _cache(args)
    made = await generate_tasks(
        specs_from_args(args),
        out=args.out,
        repos_root=_repos_dir(args),
        cache_dir=cache / "swe",
        backend=args.backend,
        seed=args.seed,
        progress=lambda msg: print(msg, file=sys.stderr, flush=True),
    )
    print(f"{len(made)} tasks written to {args.out}")
    return 0


def _build_repos(args: argparse.Namespace) -> int:
    from agentscale.graphs.swe import load_instances, materialize_repos

    tasks = load_instances(args.tasks)
    for bad in tasks.errors:
        print(f"{args.tasks}:{bad.line}: {bad.error}", file=sys.stderr)
    errors = materialize_repos(
        tasks.instances.values(),
        _repos_dir(args),
        _cache(args) / "swe",
        progress=lambda msg: print(msg, file=sys.stderr, flush=True),
    )
    ready = len(tasks.instances) - len(errors)
    print(f"{ready} of {len(tasks.instances)} task repositories ready in {_repos_dir(args)}")
    return 1 if errors or tasks.errors else 0
