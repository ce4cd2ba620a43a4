"""vLLM's OpenAI-compatible server on a GPU: ``vllm serve MODEL --enable-prefix-caching ...``.

Prefix caching is always on, so the N rollouts of one task share their prompt's KV cache. Install
with ``pip install 'agentscale[vllm]'`` on a machine with a CUDA GPU.
"""

from __future__ import annotations

from typing import Any, Literal

from agentscale.errors import ConfigError
from agentscale.servers.process import ManagedServer

__all__ = ["VLLMServer"]


class VLLMServer(ManagedServer):
    """``vllm serve`` with the flags users need; same lifecycle as every managed server.

    Example:
        ```python
        async with VLLMServer("Qwen/Qwen2.5-Coder-7B-Instruct", tool_call_parser="hermes") as srv:
            llm = LLM(srv.model, endpoint=srv.endpoint(), stream=False)
        ```

    Args:
        model: a Hugging Face model id or a local model folder.
        tensor_parallel_size: GPUs to split the model across.
        gpu_memory_utilization: fraction of each GPU's memory vLLM may take (0-1].
        max_num_seqs: most sequences decoded together (vLLM's own default when ``None``).
        served_model_name: the name requests use; default ``model``.
        max_model_len: context length; default: the model's.
        tool_call_parser: switch on native tool calling (``tools=`` in requests) with this parser
            (``"hermes"`` for Qwen2.5, ``"llama3_json"``, ``"mistral"``, ...): adds
            ``--enable-auto-tool-choice --tool-call-parser NAME``.
        profile: ``"chat"`` for an instruct model, ``"completion"`` for a base model.
        executable: the ``vllm`` command.
        extra_args: more ``vllm serve`` flags, appended as given.
        **kwargs: lifecycle options of :class:`~agentscale.servers.ManagedServer` (``host``,
            ``port``, ``cache_dir``, ``startup_timeout`` (default 900 s: loading weights and
            compiling take minutes), ``stop_timeout``, ``reuse``, ``env``, ``max_restarts``).
    """

    kind = "vllm"

    def __init__(
        self,
        model: str,
        *,
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.9,
        max_num_seqs: int | None = None,
        served_model_name: str | None = None,
        max_model_len: int | None = None,
        tool_call_parser: str | None = None,
        profile: Literal["chat", "completion"] = "chat",
        executable: str = "vllm",
        extra_args: tuple[str, ...] = (),
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("startup_timeout", 900.0)
        kwargs.setdefault("stop_timeout", 30.0)
        super().__init__(**kwargs)
        if not model:
            raise ConfigError("VLLMServer needs a model")
        if tensor_parallel_size < 1:
            raise ConfigError(f"tensor_parallel_size must be >= 1, got {tensor_parallel_size}")
        if not 0 < gpu_memory_utilization <= 1:
            raise ConfigError(f"gpu_memory_utilization must be in (0, 1], got {gpu_memory_utilization}")
        if max_num_seqs is not None and max_num_seqs < 1:
            raise ConfigError(f"max_num_seqs must be >= 1, got {max_num_seqs}")
        if max_model_len is not None and max_model_len < 1:
            raise ConfigError(f"max_model_len must be >= 1, got {max_model_len}")
        if tool_call_parser is not None and not (
            tool_call_parser and tool_call_parser.replace("_", "").replace("-", "").isalnum()
        ):
            raise ConfigError(f"tool_call_parser must be a parser name such as 'hermes', got {tool_call_parser!r}")
        self.model_id = model
        self.tensor_parallel_size = tensor_parallel_size
        self.gpu_memory_utilization = gpu_memory_utilization
        self.max_num_seqs = max_num_seqs
        self.served_model_name = served_model_name
        self.max_model_len = max_model_len
        self.tool_call_parser = tool_call_parser
        self.profile = profile
        self.executable = executable
        self.extra_args = tuple(extra_args)

    @property
    def served_name(self) -> str:
        """``served_model_name`` if given, else the model id."""
        return self.served_model_name or self.model_id

    def identity(self) -> dict[str, Any]:
        """Every flag of the command line except the port."""
        argv = self.command(0)
        at = argv.index("--port")
        return {"argv": argv[:at] + argv[at + 2 :]}

    def command(self, port: int) -> list[str]:
        """The ``vllm serve`` command line for ``port``."""
        argv = [
            self.executable, "serve", self.model_id,
            "--host", self.host,
            "--port", str(port),
            "--enable-prefix-caching",
            "--tensor-parallel-size", str(self.tensor_parallel_size),
            "--gpu-memory-utilization", f"{self.gpu_memory_utilization:g}",
            "--served-model-name", self.served_name,
        ]  # fmt: skip
        if self.max_num_seqs is not None:
            argv += ["--max-num-seqs", str(self.max_num_seqs)]
        if self.max_model_len is not None:
            argv += ["--max-model-len", str(self.max_model_len)]
        if self.tool_call_parser is not None:
            argv += ["--enable-auto-tool-choice", "--tool-call-parser", self.tool_call_parser]
        return [*argv, *self.extra_args]
