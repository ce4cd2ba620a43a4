"""Graph factories for ``langgraph dev`` (listed in ``graphs/langgraph.json``).

``langgraph dev`` calls each factory with the run's ``RunnableConfig`` and serves the graph it
returns. Each served graph takes ``{"task": ...}`` (a prompt string, a dict or a ``Task``), opens
what a rollout needs itself (a model client, and a sandbox for the Python tool), runs the agent
loop once, and returns ``rollout`` and ``output``. The settings come from the run's
``configurable`` (this module is an edge, like the command line):

- ``model`` (default ``hosted_vllm/qwen2.5-coder-0.5b``) and ``api_base`` (default
  ``http://127.0.0.1:8080/v1``: run ``agentscale serve llamacpp --port 8080``);
- ``sandbox``: the sandbox backend (``auto``, ``docker``, ``bwrap``);
- any ``LoopConfig`` / ``MathConfig`` field (``max_steps``, ``actions``...).

For scaled runs, wrap the agents (``loop_agent``, ``math_agent``) with ``scale()`` instead.
"""

# No ``from __future__ import annotations``: langgraph dev may load this file without registering it in
# ``sys.modules``, and the state's annotations must then be real objects, not strings to resolve.
from collections.abc import Mapping
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from agentscale.graphs.loop import build_agent_graph
from agentscale.graphs.loop_config import LoopConfig
from agentscale.graphs.math import MathConfig, build_math_graph
from agentscale.graphs.tools import PythonTool
from agentscale.rollout import RolloutContext
from agentscale.types import Rollout, RolloutRequest, Task

__all__ = ["ServedState", "agent_loop", "math"]

DEFAULT_MODEL = "hosted_vllm/qwen2.5-coder-0.5b"
DEFAULT_API_BASE = "http://127.0.0.1:8080/v1"


class ServedState(TypedDict, total=False):
    """A served graph's state: the task in, the rollout and its output out."""

    task: Task | str | dict[str, Any]
    request: RolloutRequest
    rollout: Rollout
    output: str
    answer: str | None


def _settings(config: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict((config or {}).get("configurable") or {})


def _serve(loop: Any, settings: Mapping[str, Any], name: str) -> Any:
    """A graph with one node that opens a model client and a sandbox, then runs ``loop`` once."""
    from agentscale.llm import LLM  # noqa: PLC0415 - the served graph's edge
    from agentscale.sandboxes import open_sandbox  # noqa: PLC0415

    model = str(settings.get("model") or DEFAULT_MODEL)
    api_base = str(settings.get("api_base") or DEFAULT_API_BASE)
    backend = str(settings.get("sandbox") or "auto")

    async def solve(state: ServedState, runtime: Runtime[Any]) -> dict[str, Any]:
        async with LLM(model, api_base=api_base) as llm, open_sandbox(backend) as sandbox:
            run = RolloutContext(model=llm, sandbox=sandbox, emit=runtime.stream_writer)
            out = await loop.ainvoke(
                {"task": state["task"], "request": state.get("request") or RolloutRequest()}, context=run
            )
        return {"rollout": out["rollout"], "output": out.get("output", ""), "answer": out.get("answer")}

    builder = StateGraph(ServedState)
    builder.add_node("solve", solve)
    builder.add_edge(START, "solve")
    builder.add_edge("solve", END)
    return builder.compile(name=name)


def _config(kind: type[LoopConfig], settings: Mapping[str, Any]) -> Any:
    # the server puts its own keys (thread_id, assistant_id, user...) beside ours: take the config's fields
    return kind(**{k: v for k, v in settings.items() if k in kind.model_fields})


def agent_loop(config: Mapping[str, Any] | None = None) -> Any:
    """The agent loop with the Python tool (a sandbox per run), served."""
    settings = _settings(config)
    cfg = _config(LoopConfig, settings)
    loop = build_agent_graph(tools=[PythonTool()], config=cfg)
    return _serve(loop, settings, "agent_loop")


def math(config: Mapping[str, Any] | None = None) -> Any:
    """The math workflow (word problems with a sandboxed Python tool), served."""
    settings = _settings(config)
    return _serve(build_math_graph(config=_config(MathConfig, settings)), settings, "math")
