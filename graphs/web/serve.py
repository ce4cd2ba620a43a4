"""Graph factories for ``langgraph dev`` (listed in ``graphs/langgraph.json``).

Each takes LangGraph's run config and reads the model from ``configurable``: ``model`` (a litellm
model string, default ``hosted_vllm/qwen2.5-coder-0.5b``) and ``api_base`` (default
``http://127.0.0.1:8080/v1``, e.g. an ``agentscale serve llamacpp`` server). Invoke the graphs
with ``{"task": {...}}``: a web task record (``question``, ``url``) or a MiniWoB++ task.
"""

from __future__ import annotations

from typing import Any

from langgraph.graph.state import CompiledStateGraph

from agentscale.graphs.web.agent import build_web_graph
from agentscale.graphs.web.browser import BrowserPool
from agentscale.graphs.web.miniwob import build_miniwob_graph
from agentscale.llm import LLM

__all__ = ["miniwob_graph", "web_graph"]


def _model(config: dict[str, Any] | None) -> LLM:
    conf = (config or {}).get("configurable", {})
    return LLM(conf.get("model", "hosted_vllm/qwen2.5-coder-0.5b"), api_base=conf.get("api_base", "http://127.0.0.1:8080/v1"))


def web_graph(config: dict[str, Any] | None = None) -> CompiledStateGraph:
    """The web agent (loopback hosts only) over the configured model."""
    return build_web_graph(model=_model(config))


def miniwob_graph(config: dict[str, Any] | None = None) -> CompiledStateGraph:
    """The MiniWoB++ agent over the configured model, with one browser."""
    return build_miniwob_graph(model=_model(config), browsers=BrowserPool(1))
