"""Ready-made agent workflows, and the agent loop they share.

- ``loop``: the agent loop (``build_agent_graph``, ``loop_agent``, ``LoopConfig``): the model
  proposes an action, a tool runs it, the observation goes back, until a final answer or a limit;
  native tool calls or a plain-text action format (``actions``), tools in ``tools``;
- ``math``: math word problems with a sandboxed Python tool (``MathWorkflow``, ``math_agent``);
- ``humaneval``: HumanEval code completion in one call;
- ``swe``: SWE-bench style tasks (instances, repositories, evaluation).

Each workflow is an agent (or a LangGraph graph) built from a small config, that reads its
rollout's ``RolloutRequest`` and renders it its own way; wrap it in any strategy with ``scale()``.
``graphs/langgraph.json`` lists the graph factories for ``langgraph dev``.
"""

from agentscale.graphs.actions import (
    FINAL_MARKER,
    Action,
    Reply,
    check_arguments,
    parse_text_reply,
    parse_tool_calls,
    tool_definition,
    tools_prompt,
)
from agentscale.graphs.chat import ChatConfig, ChatWorkflow
from agentscale.graphs.humaneval import (
    HiddenTestsScorer,
    HumanEvalAgent,
    HumanEvalConfig,
    HumanEvalWorkflow,
    hidden_tests_task,
    humaneval_agent,
)
from agentscale.graphs.loop import LoopInput, LoopState, ToolAgent, build_agent_graph, loop_agent
from agentscale.graphs.loop_config import LoopConfig, resolve_actions
from agentscale.graphs.tools import FINAL_TOOL, FinalAnswer, Finished, FunctionTool, PythonTool, function_tool

__all__ = [
    "FINAL_MARKER",
    "FINAL_TOOL",
    "Action",
    "FinalAnswer",
    "Finished",
    "FunctionTool",
    "ChatConfig",
    "ChatWorkflow",
    "HiddenTestsScorer",
    "HumanEvalAgent",
    "HumanEvalConfig",
    "HumanEvalWorkflow",
    "LoopConfig",
    "LoopInput",
    "LoopState",
    "PythonTool",
    "Reply",
    "ToolAgent",
    "build_agent_graph",
    "check_arguments",
    "function_tool",
    "hidden_tests_task",
    "humaneval_agent",
    "loop_agent",
    "parse_text_reply",
    "parse_tool_calls",
    "resolve_actions",
    "tool_definition",
    "tools_prompt",
]
