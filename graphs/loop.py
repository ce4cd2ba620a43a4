"""The agent loop every workflow reuses: the model proposes an action, a tool runs it, the
observation goes back, until a final answer or a limit.

It is a LangGraph ``StateGraph``::

    START -> start -> act --(actions)--> run_tools --(no answer yet)--> act ...
                        \\                        \\--(final answer)--> finish -> END
                         \\--(answer or limit)--------------------------> finish -> END

built by ``build_agent_graph(model=..., tools=..., config=LoopConfig(...))``. Its context is the
rollout's ``RolloutContext`` (sandbox, budget, progress stream); invoke it with
``{"task": task, "request": request}`` and read ``state["rollout"]``. ``ToolAgent`` (made by
``loop_agent``) is the ``Agent`` that ``scale()`` runs per rollout: it leases a sandbox when a
tool needs one and passes the rollout's request, so seed, temperature, lessons, candidates (with
their observations) and feedback reach the first prompt through ``render_request``.

The trajectory (``Rollout.trajectory``) is in OpenAI's shape: the system prompt, the task, then
per step the assistant's message and its observations. With native tool calls the assistant
message carries ``tool_calls`` and each observation is a ``tool`` message (``tool_call_id``,
``name``). In the text format the assistant message is the reply as written and each
observation is a ``user`` message ``"Observation:\\n..."`` whose ``name`` is the tool that ran
(messages about malformed actions carry no ``name``). Each step is also emitted with
``run.emit`` (``{"step", "role", "content", ...}``) for live views.

How it ends is data: ``Rollout.metadata["stop"]`` is ``"final"`` (an answer: ``output``, and
``answer`` when the graph has an extractor; given by the model, or by a tool that returned
``Finished`` because the work is over, as MiniWoB's browser tools do when the episode ends),
``"steps"``, ``"tokens"``, ``"seconds"`` or ``"repeating"`` (a limit: ``status="ok"``, empty
``output``, ``metadata["limit"]`` says which; the last is the same reply ``LoopConfig.repeat_limit``
times in a row), ``"error"`` (the model call failed: ``status="error"``) or ``"budget"`` (the
run's budget ran out: ``status="budget"``).

Example:
    ```python
    from agentscale import scale
    from agentscale.graphs import LoopConfig, PythonTool, loop_agent

    agent = loop_agent(llm, [PythonTool()], LoopConfig(max_steps=6))
    graph = scale(agent, "majority", n=4)             # ScaleContext(sandboxes=pool) leases one per rollout
    ```
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from agentscale.graphs._loop_nodes import (
    FinalCheck,
    LoopInput,
    LoopState,
    Nodes,
    PlainAction,
    route_act,
    route_tools,
    run_of,
)
from agentscale.graphs.loop_config import LoopConfig
from agentscale.protocols import Model, Tool
from agentscale.rollout import RolloutContext
from agentscale.types import Rollout, Task

__all__ = [
    "FinalCheck", "LoopInput", "LoopState", "PlainAction", "ToolAgent", "build_agent_graph", "loop_agent", "run_of",
]  # fmt: skip


def build_agent_graph(
    *,
    model: Model | None = None,
    tools: Sequence[Tool] = (),
    config: LoopConfig | None = None,
    answer: Callable[[str], str | None] | None = None,
    check_final: FinalCheck | None = None,
    plain_action: PlainAction | None = None,
    checkpointer: Any = None,
    store: Any = None,
    name: str = "agent_loop",
) -> CompiledStateGraph:
    """The agent loop as a compiled LangGraph graph.

    Args:
        model: the model that acts (``agentscale.llm.LLM`` or any ``Model``); ``None`` takes the
            rollout's ``run.model`` (``ScaleContext.model``).
        tools: the tools it may call (``agentscale.protocols.Tool``); the final-answer tool is added.
        config: limits, prompt and action format (``LoopConfig()`` by default).
        answer: extracts the short answer from the final output into ``Rollout.answer`` (e.g.
            ``agentscale.answers.extract_answer``); ``None`` leaves it unset.
        check_final: checks a final answer (its short form, when ``answer`` is given) against the
            trajectory; a message it returns refuses the answer (the model reads it and goes on),
            at most ``config.final_refusals`` times. E.g. the web agent refuses an answer that is
            on no page it read.
        plain_action: reads a reply that called no tool as an action (``PlainAction``; e.g. the
            web agent reads ``Parks [5]`` as ``follow_link(5)``), and a final answer that
            ``check_final`` refuses (the SWE agent reads the fixed function in "Final answer: ...
            ```python def f(): ...```" as a ``rewrite``); ``None`` keeps the format's reading.
        checkpointer: a LangGraph checkpointer (a crashed loop resumes at its last step).
        store: a LangGraph store, for tools that use one.
        name: the graph's name.

    Returns:
        The compiled graph: input ``{"task", "request"}``, context ``RolloutContext``, and the
        finished rollout in the final state's ``rollout`` key.

    Raises:
        ConfigError: two tools share a name.
    """
    cfg = config or LoopConfig()
    nodes = Nodes(model, tools, cfg, answer, check_final, plain_action)
    builder = StateGraph(LoopState, context_schema=RolloutContext, input_schema=LoopInput)
    builder.add_node("start", nodes.start)
    builder.add_node("act", nodes.act)
    builder.add_node("run_tools", nodes.run_tools)
    builder.add_node("finish", nodes.finish)
    builder.add_edge(START, "start")
    builder.add_edge("start", "act")
    builder.add_conditional_edges("act", route_act, ["run_tools", "finish"])
    builder.add_conditional_edges("run_tools", route_tools, ["act", "finish"])
    builder.add_edge("finish", END)
    graph = builder.compile(checkpointer=checkpointer, store=store, name=name)
    # two supersteps per step, plus start, the last act and finish
    return graph.with_config(recursion_limit=2 * cfg.max_steps + 5)


@dataclass
class ToolAgent:
    """The agent loop as an ``Agent``: ``scale()`` runs it once per rollout.

    It invokes the loop graph with the task and the rollout's request, and the rollout's
    ``RolloutContext`` as the graph's context. ``wants_sandbox`` is true when a tool has
    ``needs_sandbox``, so each rollout gets its own sandbox lease.

    Attributes:
        graph: a graph from ``build_agent_graph``.
        wants_sandbox: lease a sandbox per rollout.
    """

    graph: Any
    wants_sandbox: bool = False

    async def __call__(self, task: Task, run: RolloutContext | None = None) -> Rollout:
        """Run the loop once; the rollout comes back whatever stopped it (see the module docs).

        With a checkpointer on the graph, each rollout is its own thread
        (``"<task id>/<strategy>/<generation>/<index>"``), so a rerun of the same request resumes it.
        """
        run = run or RolloutContext()
        request = run.request
        config = None
        if getattr(self.graph, "checkpointer", None) is not None:
            thread = f"{task.id}/{request.strategy}/{request.generation}/{request.index}"
            config = {"configurable": {"thread_id": thread}}
        state = await self.graph.ainvoke({"task": task, "request": request}, config, context=run)
        return state["rollout"]


def loop_agent(
    model: Model | None,
    tools: Sequence[Tool] = (),
    config: LoopConfig | None = None,
    *,
    answer: Callable[[str], str | None] | None = None,
    check_final: FinalCheck | None = None,
    plain_action: PlainAction | None = None,
) -> ToolAgent:
    """A ``ToolAgent`` over a new loop graph (``build_agent_graph``'s arguments).

    Example:
        ``scale(loop_agent(llm, [PythonTool()]), "best_of_n", n=4, verifier=v)``
    """
    graph = build_agent_graph(
        model=model, tools=tools, config=config, answer=answer, check_final=check_final, plain_action=plain_action
    )
    return ToolAgent(graph, wants_sandbox=any(getattr(t, "needs_sandbox", False) for t in tools))
