"""The SWE agent: the agent loop with repository tools, in a sandbox holding the task's checkout.

Per rollout, ``SWEAgent``:

1. prepares the leased sandbox (``prepare_repo``: the checkout at ``base_commit``, its deps, a
   git baseline) and writes ``.swe/env.sh`` (the repository's ``PYTHONPATH``) for the ``run`` tool;
2. runs the loop (``build_agent_graph``) with ``list_files``, ``search``, ``view``, ``edit``,
   ``rewrite``, ``run`` and ``submit`` (a reply that shows a fixed function instead of calling a
   tool is read as a ``rewrite``: ``python_definition_action``), bounded by ``SWEConfig``'s
   steps, tokens and seconds, in either action format (``actions="text"`` for any model,
   ``"tools"`` for native tool calls);
3. returns a ``Rollout`` whose ``output`` is ``git diff`` against the base commit (what SWE-bench
   calls ``model_patch``; ``""`` when nothing changed), whatever stopped the loop, with the whole
   trajectory. ``metadata["submitted"]`` says whether the model called ``submit`` (else a limit
   stopped it: ``metadata["stop"]``), ``metadata["message"]`` is what it said when submitting.

A task for it carries its instance (``swe_task(instance)``); a repository or base commit that
cannot be found is ``Rollout(status="error")`` with the reason, never an exception.

Example:
    ```python
    from agentscale import ScaleContext, scale
    from agentscale.graphs.swe import RepoSource, swe_agent, swe_task

    agent = swe_agent(llm, RepoSource(root=repos_dir), SWEConfig(max_steps=20))
    graph = scale(agent, "best_of_n", n=4, verifier=verifier)
    state = await graph.ainvoke({"task": swe_task(instance)}, context=ScaleContext(sandboxes=pool))
    ```
"""

from __future__ import annotations

import asyncio
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from langgraph.errors import GraphBubbleUp
from pydantic import Field

from agentscale.errors import AgentScaleError, ConfigError
from agentscale.graphs.loop import ToolAgent, build_agent_graph
from agentscale.graphs.loop_config import LoopConfig
from agentscale.graphs.swe.deps import PythonDeps
from agentscale.graphs.swe.instances import SWEInstance, to_task
from agentscale.graphs.swe.localize import localize
from agentscale.graphs.swe.repos import RepoSource
from agentscale.graphs.swe.rewrite import python_definition_action
from agentscale.graphs.swe.tools import ENV_FILE, SubmitTool, swe_tools
from agentscale.graphs.swe.workspace import prepare_repo
from agentscale.protocols import Model
from agentscale.rollout import RolloutContext
from agentscale.types import Message, Rollout, Task

__all__ = ["SUBMIT_TOOL", "SWE_INSTRUCTION", "SWE_SYSTEM", "SWEAgent", "SWEConfig", "changed_nothing", "instance_of",
           "swe_agent", "swe_task"]  # fmt: skip

SUBMIT_TOOL = "submit"
"""The tool that ends a SWE rollout (its patch is the checkout's diff, not the tool's argument)."""

SWE_SYSTEM = """You are a software engineer fixing an issue in a Python repository.
The repository is checked out in your working directory. Work in small steps:
1. find the code the issue is about (search, list_files, view);
2. reproduce the problem (run a test or a short python command);
3. fix it with edit (copy the search text exactly from view, indentation included);
4. run the tests again; when they pass, call submit.
Change only the library code, not the tests."""
"""The system prompt (the text format appends how to call each tool)."""

SWE_INSTRUCTION = "Fix the issue above in the repository. Start by searching for the code it is about."
"""Added below the issue: small models follow the user's turn better than the system prompt."""


class SWEConfig(LoopConfig):
    """The SWE agent's settings: the loop's (``LoopConfig``) with SWE defaults, and the ``run``
    tool's timeout.

    Attributes:
        command_timeout: seconds one ``run`` command may take (its process tree is killed after).
        localize: add below the issue the source of the functions and classes it names, found in
            the checkout before the first step (``localize``); small models otherwise spend their
            budget looking for it.
    """

    actions: Literal["tools", "text", "auto"] = "text"
    system: str = SWE_SYSTEM
    instruction: str = SWE_INSTRUCTION
    max_steps: int = Field(default=30, ge=1, le=1000)
    max_tokens: int | None = Field(default=120_000, ge=1)
    max_seconds: float | None = Field(default=900.0, gt=0)
    reply_tokens: int = Field(default=768, ge=1)
    tool_timeout: float = Field(default=60.0, gt=0)
    observation_chars: int = Field(default=6000, ge=200)
    final_tool: str | None = Field(default=SUBMIT_TOOL, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    command_timeout: float = Field(default=60.0, gt=0)
    localize: bool = True

    def loop(self) -> LoopConfig:
        """The loop's part of the settings."""
        return LoopConfig(**self.model_dump(exclude={"command_timeout", "localize"}))


_CHANGED = re.compile(r"^(?:Observation:\s*)?(?:Edited|Created|Rewrote) ")


def changed_nothing(answer: str, trajectory: Sequence[Message]) -> str | None:
    """The SWE agent's ``check_final``: a submit before any edit went through is sent back once
    (small models "submit" a fix they only described); ``None`` once a file was changed."""
    for message in trajectory:
        if message.get("name") in ("edit", "rewrite") and _CHANGED.match(str(message.get("content") or "")):
            return None
    return (
        "no file is changed yet, so the issue is still there: find the code it is about "
        "(search, view), change it with edit or rewrite, then submit. If you changed files another way, submit again."
    )


def swe_task(instance: SWEInstance) -> Task:
    """The task for one instance: ``to_task`` (the issue as the prompt) and the instance in
    ``metadata["swe"]`` (without the gold ``patch``), where the agent finds its checkout and
    verifiers and scorers find the tests. The agent's prompt is only the problem statement."""
    task = to_task(instance)
    return task.model_copy(update={"metadata": {**task.metadata, "swe": instance.model_dump(exclude={"patch"})}})


def instance_of(task: Task) -> SWEInstance:
    """The instance a ``swe_task`` carries.

    Raises:
        ConfigError: the task was not made by ``swe_task`` (no instance in its metadata).
    """
    raw = task.metadata.get("swe")
    if not isinstance(raw, dict):
        raise ConfigError(f"task {task.id!r} carries no SWE instance: make it with swe_task(instance)")
    return SWEInstance.model_validate(raw)


def _error(task: Task, message: str) -> Rollout:
    return Rollout(task_id=task.id, status="error", error=message, metadata={"stop": "error", "submitted": False})


@dataclass
class SWEAgent:
    """Fixes one task per call in the rollout's sandbox; the output is the checkout's ``git diff``.

    Attributes:
        graph: the loop graph (``build_agent_graph`` with the SWE tools).
        repos: where repositories come from.
        deps: where instances' ``python_deps`` come from.
        localize: add the source of what the issue names below it (``SWEConfig.localize``).
    """

    graph: Any
    repos: RepoSource
    deps: PythonDeps | None = None
    localize: bool = True
    wants_sandbox: bool = True

    async def __call__(self, task: Task, run: RolloutContext | None = None) -> Rollout:
        """Prepare the checkout, run the loop, return the diff (see the module docs)."""
        run = run or RolloutContext()
        if run.sandbox is None:
            raise ConfigError("the SWE agent works in a sandbox: run it with ScaleContext(sandboxes=pool)")
        try:
            instance = instance_of(task)
            prepared = await prepare_repo(run.sandbox, instance, self.repos, self.deps)
            env = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in prepared.env.items())
            # images often have python3 only; models type `python`
            env += 'command -v python >/dev/null || python() { python3 "$@"; }\n'
            await run.sandbox.run(["true"], files={ENV_FILE: env}, timeout=30)
            if self.localize and (note := await localize(run.sandbox, instance.problem_statement)):
                task = task.model_copy(update={"prompt": f"{task.prompt.rstrip()}\n\n{note}"})
        except (asyncio.CancelledError, GraphBubbleUp):
            raise
        except AgentScaleError as exc:  # repository or base commit not found, sandbox trouble
            return _error(task, f"could not prepare the repository: {exc}")
        rollout = await ToolAgent(self.graph, wants_sandbox=True)(task, run)
        try:
            diff = await run.sandbox.git_diff()
        except AgentScaleError as exc:
            return rollout.model_copy(update={"status": "error", "error": f"git diff failed: {exc}", "output": ""})
        stop = rollout.metadata.get("stop")
        metadata = {**rollout.metadata, "submitted": stop == "final", "message": rollout.output,
                    "patch_lines": len(diff.splitlines())}  # fmt: skip
        return rollout.model_copy(update={"output": diff, "answer": None, "metadata": metadata})


def swe_agent(
    model: Model | None,
    repos: RepoSource,
    config: SWEConfig | None = None,
    *,
    deps: PythonDeps | None = None,
    checkpointer: Any = None,
) -> SWEAgent:
    """The SWE agent for ``scale()``: leases a sandbox per rollout and returns the checkout's diff.

    Args:
        model: the model (``None``: the rollout's ``run.model``).
        repos: where repositories come from.
        config: the settings (``SWEConfig()``).
        deps: where ``python_deps`` come from.
        checkpointer: a LangGraph checkpointer for the loop.
    """
    cfg = config or SWEConfig()
    tools = swe_tools(command_timeout=cfg.command_timeout)
    if cfg.final_tool:
        tools.append(SubmitTool(name=cfg.final_tool))
    graph = build_agent_graph(
        model=model,
        tools=tools,
        config=cfg.loop(),
        checkpointer=checkpointer,
        name="swe",
        check_final=changed_nothing,
        plain_action=python_definition_action,
    )
    return SWEAgent(graph, repos, deps, localize=cfg.localize)
