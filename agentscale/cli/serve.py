"""``agentscale serve llamacpp|vllm``: run a local model server in the foreground until Ctrl-C.

It prints the ``api_base`` and the litellm model string to point an ``LLM`` at. A server with
the same settings that is already running (started by another ``agentscale serve``) is reused.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shlex
import signal
import sys
from pathlib import Path

from agentscale.servers import DEFAULT_MODEL, MODELS, PRESETS, LlamaCppServer, ManagedServer, VLLMServer

__all__ = ["add_cache_option", "add_llamacpp_options", "cache_dir", "llamacpp_from_args", "register"]

EXAMPLES = """examples:
  agentscale serve llamacpp                                   # Qwen2.5-Coder-0.5B, 8 slots
  agentscale serve llamacpp --model qwen2.5-coder-1.5b --parallel 4 --ctx-size 8192
  agentscale serve llamacpp --preset agent                    # agent workflows: 1.5B, 4 slots of 8192 tokens
  agentscale serve vllm Qwen/Qwen2.5-Coder-7B-Instruct --tensor-parallel-size 2 --tool-call-parser hermes
  agentscale serve vllm Qwen/Qwen2.5-Coder-7B-Instruct --dry-run   # print the command line
"""


def register(subparsers) -> None:
    """Add ``serve`` and its two kinds of server to the CLI."""
    parser = subparsers.add_parser(
        "serve",
        help="run a local model server (llama.cpp on CPU, vLLM on GPU)",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    kinds = parser.add_subparsers(dest="server", metavar="SERVER", required=True)

    llama = kinds.add_parser(
        "llamacpp", help="llama.cpp's llama-server on the CPU (the embedded default)", epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    add_llamacpp_options(llama)
    add_cache_option(llama)
    llama.set_defaults(handler=_serve_llamacpp)

    vllm = kinds.add_parser(
        "vllm", help="vLLM on a GPU (pip install 'agentscale[vllm]')", epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    vllm.add_argument(
        "model", help="Hugging Face model id or local folder, e.g. Qwen/Qwen2.5-Coder-7B-Instruct"
    )
    vllm.add_argument("--tensor-parallel-size", type=int, default=1, help="GPUs to split the model across")
    vllm.add_argument(
        "--gpu-memory-utilization", type=float, default=0.9, help="fraction of GPU memory to use"
    )
    vllm.add_argument("--max-num-seqs", type=int, help="most sequences decoded together")
    vllm.add_argument("--served-model-name", help="name requests use (default: MODEL)")
    vllm.add_argument("--max-model-len", type=int, help="context length (default: the model's)")
    vllm.add_argument(
        "--tool-call-parser", help="native tool calls with this vLLM parser (hermes for Qwen2.5, llama3_json, ...)"
    )
    vllm.add_argument(
        "--profile", choices=("chat", "completion"), default="chat", help="base models: completion"
    )
    vllm.add_argument("--host", default="127.0.0.1")
    vllm.add_argument("--port", type=int, help="default: a free port")
    vllm.add_argument("--startup-timeout", type=float, default=900.0, help="seconds to wait for health")
    vllm.add_argument("--no-reuse", action="store_true", help="start a new server even if one is running")
    vllm.add_argument("--dry-run", action="store_true", help="print the command line and exit")
    add_cache_option(vllm)
    vllm.set_defaults(handler=_serve_vllm)


def add_llamacpp_options(parser: argparse.ArgumentParser) -> None:
    """The embedded server's options, shared by ``serve llamacpp`` and ``demo``."""
    parser.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        choices=sorted(MODELS),
        help=f"model to serve (default {DEFAULT_MODEL})",
    )
    parser.add_argument(
        "--preset", choices=sorted(PRESETS),
        help="named settings: " + "; ".join(f"{p.name}: {p.description}" for p in PRESETS.values())
        + " (sets --model, --parallel and --ctx-size where they are not given)",
    )  # fmt: skip
    parser.add_argument("--parallel", type=int, default=8, help="slots decoded together (default 8)")
    parser.add_argument("--ctx-size", type=int, default=16384, help="total context, split across slots")
    parser.add_argument("--threads", type=int, help="CPU threads (default: the CPU count, at most 8)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, help="default: a free port")
    parser.add_argument("--startup-timeout", type=float, default=300.0, help="seconds to wait for health")
    parser.add_argument("--no-reuse", action="store_true", help="start a new server even if one is running")


def add_cache_option(parser: argparse.ArgumentParser) -> None:
    """``--cache-dir`` (default ``$AGENTSCALE_CACHE``, else ``~/.cache/agentscale``)."""
    parser.add_argument(
        "--cache-dir",
        type=Path,
        help="builds, models, logs (default $AGENTSCALE_CACHE or ~/.cache/agentscale)",
    )


def cache_dir(args: argparse.Namespace) -> Path | None:
    """The cache folder the user asked for; ``None`` means the library default."""
    if getattr(args, "cache_dir", None):
        return args.cache_dir
    env = os.environ.get("AGENTSCALE_CACHE")
    return Path(env).expanduser() if env else None


def _apply_preset(args: argparse.Namespace) -> None:
    # a preset fills the options left at their defaults; values given on the command line win
    if getattr(args, "preset", None) is None:
        return
    preset = PRESETS[args.preset]
    for key, default, value in (("model", DEFAULT_MODEL, preset.model), ("parallel", 8, preset.parallel),
                                ("ctx_size", 16384, preset.ctx_size)):  # fmt: skip
        if getattr(args, key) == default:
            setattr(args, key, value)


def llamacpp_from_args(args: argparse.Namespace) -> LlamaCppServer:
    """Build (not start) the embedded server the options describe (a ``--preset`` filled in)."""
    _apply_preset(args)
    return LlamaCppServer(
        args.model,
        parallel=args.parallel,
        ctx_size=args.ctx_size,
        threads=args.threads,
        host=args.host,
        port=args.port,
        startup_timeout=args.startup_timeout,
        reuse=not args.no_reuse,
        cache_dir=cache_dir(args),
    )


async def _serve_llamacpp(args: argparse.Namespace) -> int:
    return await _run_until_stopped(llamacpp_from_args(args))


async def _serve_vllm(args: argparse.Namespace) -> int:
    server = VLLMServer(
        args.model,
        tensor_parallel_size=args.tensor_parallel_size,
        gpu_memory_utilization=args.gpu_memory_utilization,
        max_num_seqs=args.max_num_seqs,
        served_model_name=args.served_model_name,
        max_model_len=args.max_model_len,
        tool_call_parser=args.tool_call_parser,
        profile=args.profile,
        host=args.host,
        port=args.port,
        startup_timeout=args.startup_timeout,
        reuse=not args.no_reuse,
        cache_dir=cache_dir(args),
    )
    if args.dry_run:
        print(shlex.join(server.command(args.port or 8000)))
        return 0
    return await _run_until_stopped(server)


async def _run_until_stopped(server: ManagedServer) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGTERM, stop.set)  # `kill PID` stops as cleanly as Ctrl-C
    async with server:
        how = (
            f"reusing the server already running (pid {server.pid})" if server.reused else f"pid {server.pid}"
        )
        print(f"{server.kind} server ready: {how}; log: {server.log_path}", file=sys.stderr)
        print(f"api_base: {server.api_base}")
        print(f"model:    {server.model}")
        print(f"profile:  {server.profile}")
        print("press Ctrl-C to stop", file=sys.stderr, flush=True)
        sys.stdout.flush()
        await stop.wait()
    return 0
