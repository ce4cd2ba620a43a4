"""What a ``Workflow`` (``agentscale.protocols``) is given and gives back for one run.

A workflow (in ``agentscale.graphs``: ``humaneval``, and the agent workflows) is found by name in
the ``workflows`` registry group. The command line, batches and chat use any of them the same way::

    workflow = registry.create("workflows", "humaneval")
    task = workflow.task("12")                                  # or one JSONL record
    parts = workflow.build(WorkflowEnv(model=llm, sandboxes=pool))
    graph = scale(parts.agent, "best_of_n", n=8, verifier=parts.verifier, selector=parts.selector)
    state = await graph.ainvoke({"task": task}, context=ScaleContext())
    score = await parts.scorer.verify(task, chosen_rollout)      # where the task has hidden answers
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agentscale.protocols import Model, SandboxProvider, Selector, Verifier

if TYPE_CHECKING:
    from agentscale.strategies import Diversity

__all__ = ["WorkflowEnv", "WorkflowParts"]


@dataclass(frozen=True)
class WorkflowEnv:
    """What a workflow's ``build`` may use.

    Attributes:
        model: the model its agent acts with (an ``agentscale.llm.LLM`` with the workflow's
            ``profile``).
        sandboxes: a sandbox pool, for workflows with ``needs_sandbox``.
        options: the workflow's own settings (``-c key=value`` on the command line); a workflow
            raises ``ConfigError`` naming any it does not know.
    """

    model: Model
    sandboxes: SandboxProvider | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkflowParts:
    """A workflow's agent and checks for one run.

    Attributes:
        agent: what one rollout runs (an ``Agent``, a compiled graph or an async function).
        verifier: the check selection may use: it sees only what the agent could see (docstring
            examples, visible tests, a judge); ``None`` when there is none.
        scorer: grades a result against what the agent must not see (hidden tests, the expected
            answer), for pass rates in batches and benchmarks; never used to select.
        selector: the selector that suits the workflow (an object or a registry name); ``None``
            leaves the strategy's default.
        diversity: the temperatures and seeds the agent's prompt was measured with; a runner
            gives it to a strategy that samples and was not given one. ``None``: the strategy's
            default.
    """

    agent: Any
    verifier: Verifier | None = None
    scorer: Verifier | None = None
    selector: Selector | str | None = None
    diversity: Diversity | None = None
