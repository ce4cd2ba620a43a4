"""``as_agent``: an async function or a compiled LangGraph graph as an ``Agent``."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agentscale.agents._messages import message_text, messages_usage, openai_messages
from agentscale.errors import ConfigError
from agentscale.prompts import render_request
from agentscale.rollout import RolloutContext
from agentscale.types import Rollout, RolloutRequest, Task

__all__ = ["FunctionAgent", "GraphAgent", "as_agent"]

# parameter name -> what it receives; the first other positional parameter receives the task
_ROLES = {"request": "request", "run": "run", "context": "run", "sandbox": "sandbox"}
# a parameter named otherwise is recognised by its annotation
_ANNOTATIONS = {"RolloutContext": "run", "RolloutRequest": "request", "Sandbox": "sandbox", "Task": "task"}


def _is_async_callable(obj: Any) -> bool:
    # an object whose class defines ``async def __call__`` counts, like a coroutine function
    call = next((vars(k)["__call__"] for k in type(obj).__mro__ if "__call__" in vars(k)), None)
    return inspect.iscoroutinefunction(obj) or inspect.iscoroutinefunction(call)


def _annotation_name(annotation: Any) -> str:
    if annotation is inspect.Parameter.empty:
        return ""
    name = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    return name.rsplit(".", 1)[-1].split("|")[0].strip()


def _roles(fn: Callable[..., Any]) -> list[tuple[inspect.Parameter, str]]:
    """Which parameter gets what (task, request, run, sandbox), or a ConfigError naming the odd one."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"cannot read the parameters of agent {fn!r}: {exc}") from exc
    roles: list[tuple[inspect.Parameter, str]] = []
    has_task = False
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        role = _ROLES.get(p.name) or _ANNOTATIONS.get(_annotation_name(p.annotation))
        if role is None and not has_task and p.kind != p.KEYWORD_ONLY:
            role = "task"
        if role is None:
            if p.default is not p.empty:
                continue
            raise ConfigError(
                f"agent {getattr(fn, '__name__', fn)!r} has a parameter {p.name!r} that agentscale cannot fill: "
                "an agent takes (task), and optionally parameters named request, run (or context) and sandbox"
            )
        has_task = has_task or role == "task"
        roles.append((p, role))
    if not has_task:
        raise ConfigError(f"agent {getattr(fn, '__name__', fn)!r} takes no task parameter")
    return roles


def _to_rollout(task: Task, result: Any, what: str) -> Rollout:
    if isinstance(result, Rollout):
        return result if result.task_id else result.model_copy(update={"task_id": task.id})
    if isinstance(result, str):
        return Rollout(task_id=task.id, output=result)
    raise TypeError(f"{what} returned {type(result).__name__}; expected a Rollout or a str")


@dataclass
class FunctionAgent:
    """An async function as an agent: ``async def fn(task, ...) -> Rollout | str``.

    Parameters are filled by name: ``request`` (the ``RolloutRequest``), ``run`` or ``context``
    (the whole ``RolloutContext``), ``sandbox`` (a sandbox leased from ``ScaleContext.sandboxes``
    for each rollout; ``wants_sandbox`` is then true); the first other parameter gets the task.
    An object with ``async def __call__(self, task, run)`` is adapted the same way.
    """

    fn: Callable[..., Awaitable[Rollout | str]]
    wants_sandbox: bool = field(init=False)
    _roles: list[tuple[inspect.Parameter, str]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not _is_async_callable(self.fn):
            raise ConfigError(f"cannot use {self.fn!r} as an agent: it must be an async function")
        self._roles = _roles(self.fn)
        self.wants_sandbox = any(role == "sandbox" for _, role in self._roles) or bool(
            getattr(self.fn, "wants_sandbox", False)
        )

    async def __call__(self, task: Task, run: RolloutContext | None = None) -> Rollout:
        run = run or RolloutContext()
        values = {"task": task, "request": run.request, "run": run, "sandbox": run.sandbox}
        args, kwargs = [], {}
        for p, role in self._roles:
            if p.kind == p.POSITIONAL_ONLY:
                args.append(values[role])
            else:
                kwargs[p.name] = values[role]
        result = await self.fn(*args, **kwargs)
        return _to_rollout(task, result, getattr(self.fn, "__name__", "agent"))


def _input_keys(graph: Any) -> set[str] | None:
    builder = getattr(graph, "builder", None)
    schemas = getattr(builder, "schemas", None)
    schema = getattr(builder, "input_schema", None)
    if isinstance(schemas, Mapping) and schema in schemas:
        return set(schemas[schema])
    return None


def _default_input(graph: Any, task: Task, request: RolloutRequest) -> dict[str, Any]:
    keys = _input_keys(graph)
    if keys is not None and "messages" in keys and "task" not in keys:
        # a chat agent (MessagesState): the request rendered as its first user message
        return {"messages": [{"role": "user", "content": render_request(task, request)}]}
    return {"task": task, "request": request}


def _default_output(task: Task, state: Any) -> Rollout:
    if isinstance(state, Mapping):
        if isinstance(state.get("rollout"), Rollout):
            return _to_rollout(task, state["rollout"], "graph")
        if isinstance(state.get("output"), str):
            return Rollout(task_id=task.id, output=state["output"], answer=state.get("answer"))
        messages = state.get("messages")
        if messages:
            return Rollout(
                task_id=task.id,
                output=message_text(messages[-1]),
                answer=state.get("answer"),
                trajectory=openai_messages(messages),
                usage=messages_usage(messages),
            )
    raise ConfigError(
        "cannot read a rollout from the graph's final state: give it a 'rollout', 'output' or "
        "'messages' key, or pass output=... to as_agent"
    )


def _takes_two(fn: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in params)


@dataclass
class GraphAgent:
    """A compiled LangGraph graph as an agent.

    Attributes:
        graph: the compiled graph.
        input: ``(task, request)`` (or ``(task)``) -> the graph's input. Default: ``{"task": task,
            "request": request}``; for a graph whose input has ``messages`` and no ``task`` (a chat
            agent), ``{"messages": [{"role": "user", "content": render_request(task, request)}]}``.
        output: final state -> ``Rollout`` or str; default reads a ``rollout``, ``output`` or
            ``messages`` key (the trajectory in OpenAI's shape; token usage from the messages'
            ``usage_metadata``, ``response_metadata["token_usage"]`` or a dict's ``usage``).
        context: the graph's own run-time context for every invocation. Default: the rollout's
            ``RolloutContext`` when the graph's ``context_schema`` is ``RolloutContext``, else none.
        wants_sandbox: lease a sandbox per rollout (the graph reads it from its ``RolloutContext``).
    """

    graph: Any
    input: Callable[..., Any] | None = None
    output: Callable[[Any], Rollout | str] | None = None
    context: Any = None
    wants_sandbox: bool = False

    async def __call__(self, task: Task, run: RolloutContext | None = None) -> Rollout:
        run = run or RolloutContext()
        if self.input is None:
            payload = _default_input(self.graph, task, run.request)
        else:
            payload = self.input(task, run.request) if _takes_two(self.input) else self.input(task)
        context = self.context
        if context is None and getattr(getattr(self.graph, "builder", None), "context_schema", None) is RolloutContext:
            context = run
        kwargs = {"context": context} if context is not None else {}
        state = await self.graph.ainvoke(payload, **kwargs)
        if self.output is None:
            return _default_output(task, state)
        return _to_rollout(task, self.output(state), "as_agent(output=...)")


def _is_graph(obj: Any) -> bool:
    return hasattr(obj, "ainvoke") and hasattr(obj, "get_graph")


def as_agent(
    agent: Any,
    *,
    input: Callable[..., Any] | None = None,  # noqa: A002 - mirrors LangGraph's input/output naming
    output: Callable[[Any], Rollout | str] | None = None,
    context: Any = None,
) -> Any:
    """Adapt a compiled LangGraph graph or an async function to the ``Agent`` protocol.

    Args:
        agent: a compiled graph (anything with ``ainvoke`` and ``get_graph``); an ``async def
            fn(task)`` returning a ``Rollout`` or a str, which may also take parameters named
            ``request``, ``run`` (or ``context``) and ``sandbox``; or an agent object with
            ``async def __call__(self, task, run)``.
        input: for graphs, builds the graph input from ``(task, request)`` (see ``GraphAgent``).
        output: for graphs, turns the final state into a ``Rollout`` or str.
        context: for graphs, their own ``context`` for every invocation.

    Returns:
        An object with ``async __call__(task, run) -> Rollout``.

    Raises:
        ConfigError: ``agent`` is none of those, or takes a parameter that cannot be filled.
    """
    from agentscale.agents._llm import LLMAgent  # noqa: PLC0415 - LLMAgent imports this module

    if _is_graph(agent):
        return GraphAgent(agent, input=input, output=output, context=context)
    if input is not None or output is not None or context is not None:
        raise ConfigError("input=, output= and context= apply only to LangGraph graphs")
    if isinstance(agent, (FunctionAgent, GraphAgent, LLMAgent)):
        return agent
    if _is_async_callable(agent):
        adapted = FunctionAgent(agent)
        if not inspect.isroutine(agent) and [role for _, role in adapted._roles] == ["task", "run"]:
            return agent  # an object that already is an Agent: async __call__(task, run)
        return adapted
    raise ConfigError(
        f"cannot use {agent!r} as an agent: give a compiled LangGraph graph, an async function, or an "
        "object with async __call__(task, run)"
    )
