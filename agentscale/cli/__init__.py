"""The ``agentscale`` command. Each subcommand lives in its own module exposing
``register(subparsers)``; commands call library functions and hold no logic of their own.

Errors are one line saying what is wrong and what to do; ``agentscale --debug COMMAND ...`` (or
``AGENTSCALE_DEBUG=1``) shows the traceback instead."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import sys
import traceback

__all__ = ["main"]

# Subcommand modules under agentscale.cli, imported when the parser is built.
_COMMANDS: tuple[str, ...] = ("setup", "serve", "demo", "run", "chat", "serve_strategy", "memory", "swe")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agentscale", description="Test-time scaling for LLM agents.")
    parser.add_argument("--version", action="version", version=f"agentscale {_version()}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMANDS:
        importlib.import_module(f"agentscale.cli.{name}").register(subparsers)
    return parser


def _version() -> str:
    from agentscale import __version__

    return __version__


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    from agentscale.errors import AgentScaleError

    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get("AGENTSCALE_DEBUG", "") not in ("", "0")
    argv = [a for a in argv if a != "--debug"]  # accepted anywhere on the line, not only before the command
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        result = args.handler(args)
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
        return int(result or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except AgentScaleError as exc:
        if debug:
            traceback.print_exc()
        print(f"agentscale: error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # anything else is still one line, unless --debug asks for the traceback
        if debug:
            traceback.print_exc()
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(f"agentscale: error: {type(exc).__name__}: {first} (run with --debug for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
