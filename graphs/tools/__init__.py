"""Tools for the agent loop (``agentscale.protocols.Tool``): an action with a name, a description,
a JSON schema for its arguments, and ``async __call__(arguments, run) -> str``.

- ``PythonTool``: runs a program in the rollout's sandbox;
- ``FunctionTool`` / ``function_tool``: any function as a tool (schema from its annotations);
- ``FinalAnswer``: the tool that ends the loop with an answer (added by the loop);
- ``Finished``: what a tool returns to end the loop itself (a browser whose episode is over).

A tool raises ``agentscale.errors.ToolError`` for a refusal the model should read; the loop also
turns any other exception and a timeout into an observation. A tool with ``needs_sandbox = True``
makes its agent lease a sandbox per rollout.
"""

from agentscale.graphs.tools._function import FINAL_TOOL, FinalAnswer, Finished, FunctionTool, function_tool
from agentscale.graphs.tools._python import PythonTool, describe_exec

__all__ = ["FINAL_TOOL", "FinalAnswer", "Finished", "FunctionTool", "PythonTool", "describe_exec", "function_tool"]
