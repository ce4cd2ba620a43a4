"""The embedded default model server: llama.cpp's C++ ``llama-server`` on the CPU.

``--parallel N`` gives N slots served with continuous batching; ``--ctx-size`` is the *total*
context, split evenly across the slots (16384 over 8 slots is 2048 tokens each). The prompt-prefix
cache is on by default, so rollouts of one task that share their prompt reuse its KV cache, and
a client that disconnects frees its slot. ``--jinja`` renders chats with the model's own Jinja
template, which is what native tool calling (``tools=`` in requests) and ``response_format`` need.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any, Literal

from agentscale.errors import ConfigError
from agentscale.servers._cache import Progress, stderr_progress
from agentscale.servers.build import ensure_llama_server
from agentscale.servers.process import ManagedServer
from agentscale.servers.weights import DEFAULT_MODEL, MODELS, ensure_model, get_weights

__all__ = ["LlamaCppServer"]


class LlamaCppServer(ManagedServer):
    """llama.cpp's ``llama-server`` serving a GGUF model, built and assembled on first use.

    Example:
        ```python
        async with LlamaCppServer("qwen2.5-coder-0.5b", parallel=8) as srv:
            llm = LLM(srv.model, endpoint=srv.endpoint(), profile=srv.profile)
        ```

    Args:
        model: a name from :data:`agentscale.servers.MODELS` (default: Qwen2.5-Coder-0.5B-Instruct).
        parallel: number of slots (requests decoded together).
        ctx_size: total context in tokens, split across the slots.
        threads: CPU threads for generation.
        model_path: serve this GGUF file instead of a catalogue model; ``model`` is then only the
            served name, and ``profile`` says how to prompt it.
        binary: a ``llama-server`` to use instead of the cached build.
        profile: override the catalogue's prompting profile (``"chat"`` or ``"completion"``).
        extra_args: more ``llama-server`` flags, appended as given.
        progress: receives progress lines of the first build/assembly (default: stderr);
            ``None`` for silence.
        **kwargs: lifecycle options of :class:`~agentscale.servers.ManagedServer` (``host``,
            ``port``, ``cache_dir``, ``startup_timeout``, ``stop_timeout``, ``reuse``, ``env``,
            ``max_restarts``).
    """

    kind = "llamacpp"

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        parallel: int = 8,
        ctx_size: int = 16384,
        threads: int | None = None,
        model_path: Path | None = None,
        binary: Path | None = None,
        profile: Literal["chat", "completion"] | None = None,
        extra_args: tuple[str, ...] = (),
        progress: Progress | None = stderr_progress,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if model_path is None and model not in MODELS:
            get_weights(model)  # raises ConfigError listing the choices
        if parallel < 1 or ctx_size < 256 * parallel:
            raise ConfigError(f"need parallel >= 1 and ctx_size >= 256 per slot, got {parallel=} {ctx_size=}")
        self.model_name = model
        self.parallel = parallel
        self.ctx_size = ctx_size
        self.threads = threads or min(os.cpu_count() or 2, 8)
        self.model_path = model_path
        self.binary = binary
        self.extra_args = tuple(extra_args)
        self.profile = profile or ("chat" if model_path is not None else MODELS[model].profile)
        self._progress = progress

    @property
    def served_name(self) -> str:
        """The catalogue name (or the given ``model``), passed to ``--alias``."""
        return self.model_name

    def identity(self) -> dict[str, Any]:
        """Model, slots, context, threads and extra flags: a server differing in any is not reused."""
        return {
            "model": self.model_name,
            "model_path": str(self.model_path) if self.model_path else None,
            "parallel": self.parallel,
            "ctx_size": self.ctx_size,
            "threads": self.threads,
            "extra_args": list(self.extra_args),
        }

    async def prepare(self) -> None:
        """Build ``llama-server`` and assemble the model if they are not cached yet (in a thread)."""
        if self.binary is None:
            self.binary = await asyncio.to_thread(
                ensure_llama_server, self.cache_dir, progress=self._progress
            )
        if self.model_path is None:
            self.model_path = await asyncio.to_thread(
                ensure_model, self.model_name, self.cache_dir, progress=self._progress
            )

    def command(self, port: int) -> list[str]:
        """``llama-server -m MODEL --host H --port P -t T --parallel N -c CTX --alias NAME --jinja ...``."""
        if self.binary is None or self.model_path is None:
            raise ConfigError("LlamaCppServer.command() needs prepare() first (or binary= and model_path=)")
        return [
            str(self.binary),
            "-m", str(self.model_path),
            "--host", self.host,
            "--port", str(port),
            "--threads", str(self.threads),
            "--parallel", str(self.parallel),
            "--ctx-size", str(self.ctx_size),
            "--alias", self.served_name,
            "--jinja",  # the model's chat template: native tool calls (the default in this build; said anyway)
            "--log-colors", "off",
            "--no-webui",
            "--metrics",  # /metrics: generated-token and decode counters, for benchmarks and tests
            *self.extra_args,
        ]  # fmt: skip
