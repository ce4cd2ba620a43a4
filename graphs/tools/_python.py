"""The Python tool: runs model-written code in the rollout's sandbox, never on the host."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agentscale.errors import ConfigError, ToolError
from agentscale.rollout import RolloutContext
from agentscale.types import ExecResult

__all__ = ["PythonTool", "describe_exec"]

_SCRIPT = "main.py"


def describe_exec(result: ExecResult, *, timeout: float | None = None) -> str:
    """What a sandboxed run printed, and how it ended, as the model should read it."""
    parts = []
    if result.stdout.strip():
        parts.append(result.stdout.rstrip())
    if result.stderr.strip():
        parts.append(("stderr:\n" if result.stdout.strip() else "") + result.stderr.rstrip())
    if result.timed_out:
        parts.append(f"[timed out after {timeout:g} s: the process was killed]" if timeout else "[timed out]")
    elif result.oom_killed:
        parts.append("[killed: the memory limit was reached]")
    elif result.exit_code != 0:
        parts.append(f"[exit code {result.exit_code}]")
    if result.truncated:
        parts.append("[output cut at the sandbox's cap]")
    if not parts:
        return "(no output: print() what you want to see)"
    return "\n".join(parts)


@dataclass
class PythonTool:
    """Runs a Python program in the rollout's sandbox (``run.sandbox``) and returns what it printed.

    Each call is a fresh ``python3`` process in the sandbox's working directory: variables do not
    carry over between calls, files in the working directory do. The sandbox has no network and
    runs as an unprivileged user (see ``agentscale.sandboxes``). Agents with this tool lease a
    sandbox per rollout (``needs_sandbox``).

    Attributes:
        timeout: seconds per program (the sandbox kills its whole process tree).
        example: the arguments shown to the model in the text format's instructions.
        name: the tool's name.
        description: what the model is told.
    """

    timeout: float = 10.0
    name: str = "python"
    description: str = (
        "Run a Python 3 program and see what it prints (use print()). Each run is a fresh process "
        "with the standard library; nothing carries over between runs."
    )
    parameters: Mapping[str, Any] = field(
        default_factory=lambda: {
            "type": "object",
            "properties": {"code": {"type": "string", "description": "a complete Python program"}},
            "required": ["code"],
        }
    )
    example: Mapping[str, Any] = field(default_factory=lambda: {"code": "print(17 * 23)"})
    needs_sandbox: bool = True
    aliases: tuple[str, ...] = ("py", "python3")

    async def __call__(self, arguments: Mapping[str, Any], run: RolloutContext) -> str:
        """Run ``arguments["code"]`` in ``run.sandbox``.

        Raises:
            ConfigError: the rollout has no sandbox (a setup error: code never runs on the host).
            ToolError: the code is empty.
        """
        if run.sandbox is None:
            raise ConfigError(
                "the python tool runs code only in a sandbox: run the agent with sandboxes "
                "(ScaleContext(sandboxes=pool)) or give RolloutContext(sandbox=...)"
            )
        code = str(arguments.get("code") or "")
        if not code.strip():
            raise ToolError("the program is empty: write the code to run")
        result = await run.sandbox.run(["python3", _SCRIPT], files={_SCRIPT: code}, timeout=self.timeout)
        return describe_exec(result, timeout=self.timeout)
