"""The model layer: one async client over litellm for local servers (llama.cpp, vLLM) and hosted models.

``LLM`` implements :class:`agentscale.protocols.Model`. ``ModelProfile`` says how a model is
prompted (chat or plain text completion); ``Endpoint`` is a server shared by several LLMs, with
its concurrency limit and connection pool. litellm is imported on the first model call, not here.
"""

from agentscale.llm._client import LLM, LLMConfig
from agentscale.llm._endpoint import Endpoint
from agentscale.llm._profile import ModelProfile

__all__ = ["LLM", "Endpoint", "LLMConfig", "ModelProfile"]
