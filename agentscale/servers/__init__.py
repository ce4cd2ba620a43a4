"""Local model servers that agentscale builds, starts, reuses and stops.

- :class:`LlamaCppServer`: the embedded CPU default, llama.cpp's ``llama-server`` built from the
  ``llama-cpp-python`` sdist and serving a GGUF model assembled from pinned PyPI packages.
- :class:`VLLMServer`: ``vllm serve`` on a GPU, with prefix caching.
- ``PRESETS``: named model/slots/context settings for the embedded server (``agent`` for agent workflows).

Both are :class:`ManagedServer` s: async context managers exposing ``api_base``, ``base_url``,
``model`` (the litellm model string) and ``profile`` (``"chat"`` or ``"completion"``).
"""

from agentscale.servers._cache import default_cache_dir
from agentscale.servers.build import LLAMA_CPP_PYTHON_VERSION, ensure_llama_server, llama_server_path
from agentscale.servers.llamacpp import LlamaCppServer
from agentscale.servers.presets import PRESETS, ServerPreset, get_preset
from agentscale.servers.process import ManagedServer, free_port
from agentscale.servers.vllm import VLLMServer
from agentscale.servers.weights import (
    DEFAULT_MODEL,
    MODELS,
    ModelWeights,
    WeightPart,
    ensure_model,
    get_weights,
)

__all__ = [
    "DEFAULT_MODEL",
    "LLAMA_CPP_PYTHON_VERSION",
    "MODELS",
    "PRESETS",
    "LlamaCppServer",
    "ManagedServer",
    "ModelWeights",
    "ServerPreset",
    "VLLMServer",
    "WeightPart",
    "default_cache_dir",
    "ensure_llama_server",
    "ensure_model",
    "free_port",
    "get_preset",
    "get_weights",
    "llama_server_path",
]
