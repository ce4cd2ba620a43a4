"""Agents: adapt a compiled LangGraph graph or an async function to the ``Agent`` protocol, and a
small built-in agent for single-shot LLM problems.

Strategies call an agent once per rollout with a copy of the task made by
``task_for_sample``: the sample's prompt variant, plan and feedback are appended to the prompt
(so any agent sees them), and ``task.metadata["sample"]`` carries the seed, temperature and
model name for agents that sample a model themselves (read it with ``sample_of``).
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentscale.errors import ConfigError
from agentscale.protocols import Model, Sandbox
from agentscale.state import Sample
from agentscale.types import Message, Provenance, Rollout, Task, Usage

__all__ = [
    "FunctionAgent",
    "GraphAgent",
    "LLMAgent",
    "as_agent",
    "prompt_parts",
    "sample_of",
    "task_for_sample",
]

SAMPLE_KEY = "sample"
BASE_PROMPT_KEY = "base_prompt"
# The keys agentscale.memory's nodes write (a lessons block, and the prompt without it); named
# here, not imported, because core never imports a side package.
MEMORY_KEY = "memory"
ORIGINAL_KEY = "prompt_without_memory"
_MEMORY_RULE = "\n\n---\n\n"


def task_for_sample(task: Task, sample: Sample) -> Task:
    """The task one rollout sees: the prompt plus the sample's variant, plan and feedback.

    Lessons recalled from a memory bank (``task.metadata["memory"]``, written by ``scale()``'s
    ``recall`` node or by ``agentscale.memory.recall``) go first, above a ``---`` line, as
    ``agentscale.memory.inject_memories`` lays them out. The original prompt stays in
    ``metadata["base_prompt"]`` for agents that render it themselves (see ``prompt_parts``);
    ``metadata["sample"]`` holds the sample.
    """
    base = task.metadata.get(BASE_PROMPT_KEY) or task.metadata.get(ORIGINAL_KEY) or task.prompt
    lessons = task.metadata.get(MEMORY_KEY) or ""
    extra = [
        text
        for text in (
            sample.prompt_variant,
            f"Follow this plan:\n{sample.plan}" if sample.plan else None,
            sample.feedback,
        )
        if text
    ]
    prompt = "\n\n".join([base, *extra])
    if lessons:
        prompt = f"{lessons}{_MEMORY_RULE}{prompt}"
    metadata = {**task.metadata, BASE_PROMPT_KEY: base, SAMPLE_KEY: sample.model_dump()}
    return task.model_copy(update={"prompt": prompt, "metadata": metadata})


def prompt_parts(task: Task) -> tuple[str, str]:
    """``(original prompt, what the strategy added)``, for agents that render the prompt themselves.

    Example: ``base, extra = prompt_parts(task)``, then put ``base`` in a code block and ``extra``
    (recalled lessons, prompt variant, plan, feedback on a previous attempt) after it. ``extra``
    is ``""`` for a task run directly. Recalled lessons come first in ``extra``, never in ``base``.
    """
    base = task.metadata.get(BASE_PROMPT_KEY) or task.metadata.get(ORIGINAL_KEY)
    lessons = task.metadata.get(MEMORY_KEY) or ""
    rest = task.prompt
    if lessons and rest.startswith(lessons):
        rest = rest[len(lessons) :].lstrip()
        rest = rest[3:].lstrip() if rest.startswith("---") else rest
    else:
        lessons = ""  # not rendered into this prompt: not ours to report
    if base is None or not rest.startswith(base):
        return task.prompt, ""
    return base, "\n\n".join(p for p in (lessons, rest[len(base) :].strip()) if p)


def sample_of(task: Task) -> Sample | None:
    """The sample settings a strategy attached to ``task``, or ``None`` when it was run directly."""
    raw = task.metadata.get(SAMPLE_KEY)
    if raw is None:
        return None
    return raw if isinstance(raw, Sample) else Sample.model_validate(raw)


def _is_async_callable(obj: Any) -> bool:
    # an object whose class defines ``async def __call__`` counts, like a coroutine function
    call = next((vars(k)["__call__"] for k in type(obj).__mro__ if "__call__" in vars(k)), None)
    return inspect.iscoroutinefunction(obj) or inspect.iscoroutinefunction(call)


def _to_rollout(task: Task, result: Any, what: str) -> Rollout:
    if isinstance(result, Rollout):
        return result if result.task_id else result.model_copy(update={"task_id": task.id})
    if isinstance(result, str):
        return Rollout(task_id=task.id, output=result)
    raise TypeError(f"{what} returned {type(result).__name__}; expected a Rollout or a str")


@dataclass
class FunctionAgent:
    """An async function as an agent: ``async def fn(task) -> Rollout | str``.

    If ``fn`` takes a ``sandbox`` parameter, strategies lease one from ``ScaleContext.sandboxes``
    for each rollout and pass it in (``wants_sandbox`` is then true).
    """

    fn: Callable[..., Awaitable[Rollout | str]]
    wants_sandbox: bool = field(init=False)

    def __post_init__(self) -> None:
        if not _is_async_callable(self.fn):
            raise ConfigError(f"as_agent needs an async function, got {self.fn!r}")
        self.wants_sandbox = "sandbox" in inspect.signature(self.fn).parameters

    async def __call__(self, task: Task, *, sandbox: Sandbox | None = None) -> Rollout:
        result = await (self.fn(task, sandbox=sandbox) if self.wants_sandbox else self.fn(task))
        return _to_rollout(task, result, getattr(self.fn, "__name__", "agent"))


def _message_text(message: Any) -> str:
    content = message.get("content") if isinstance(message, Mapping) else getattr(message, "content", "")
    if isinstance(content, list):  # content blocks
        return "".join(b.get("text", "") if isinstance(b, Mapping) else str(b) for b in content)
    return str(content or "")


def _messages_usage(messages: Sequence[Any]) -> Usage:
    # LangChain chat models put token counts on each AIMessage's usage_metadata.
    usage = Usage()
    for message in messages:
        meta = getattr(message, "usage_metadata", None)
        if meta:
            usage = usage + Usage(
                prompt_tokens=meta.get("input_tokens", 0),
                completion_tokens=meta.get("output_tokens", 0),
                calls=1,
            )
    return usage


def _default_output(task: Task, state: Any) -> Rollout:
    if isinstance(state, Mapping):
        if isinstance(state.get("rollout"), Rollout):
            return _to_rollout(task, state["rollout"], "graph")
        if isinstance(state.get("output"), str):
            return Rollout(task_id=task.id, output=state["output"], answer=state.get("answer"))
        messages = state.get("messages")
        if messages:
            trajectory = [
                m
                if isinstance(m, Mapping)
                else {"role": getattr(m, "type", "?"), "content": _message_text(m)}
                for m in messages
            ]
            return Rollout(
                task_id=task.id,
                output=_message_text(messages[-1]),
                answer=state.get("answer"),
                trajectory=trajectory,
                usage=_messages_usage(messages),
            )
    raise ConfigError(
        "cannot read a rollout from the graph's final state: give it a 'rollout', 'output' or "
        "'messages' key, or pass output=... to as_agent"
    )


@dataclass
class GraphAgent:
    """A compiled LangGraph graph as an agent.

    Attributes:
        graph: the compiled graph.
        input: task -> the graph's input; default ``{"task": task}``.
        output: final state -> ``Rollout`` or str; default reads a ``rollout``, ``output`` or
            ``messages`` key (token usage summed from the messages' ``usage_metadata``).
        context: the graph's own run-time context, passed to every invocation.
    """

    graph: Any
    input: Callable[[Task], Any] | None = None
    output: Callable[[Any], Rollout | str] | None = None
    context: Any = None
    wants_sandbox: bool = False

    async def __call__(self, task: Task) -> Rollout:
        payload = self.input(task) if self.input else {"task": task}
        kwargs = {"context": self.context} if self.context is not None else {}
        state = await self.graph.ainvoke(payload, **kwargs)
        if self.output is None:
            return _default_output(task, state)
        return _to_rollout(task, self.output(state), "as_agent(output=...)")


def as_agent(
    agent: Any,
    *,
    input: Callable[[Task], Any] | None = None,  # noqa: A002 - mirrors LangGraph's input/output naming
    output: Callable[[Any], Rollout | str] | None = None,
    context: Any = None,
) -> Any:
    """Adapt a compiled LangGraph graph or an async function to the ``Agent`` protocol.

    Args:
        agent: a compiled graph (anything with ``ainvoke``), an ``async def fn(task)`` returning
            a ``Rollout`` or a str, or an object that already is an agent (returned as is).
        input: for graphs, builds the graph input from the task (default ``{"task": task}``).
        output: for graphs, turns the final state into a ``Rollout`` or str.
        context: for graphs, their own ``context`` for every invocation.

    Returns:
        An object with ``async __call__(task) -> Rollout``.

    Raises:
        ConfigError: ``agent`` is none of those.
    """
    if hasattr(agent, "ainvoke") and hasattr(agent, "get_graph"):
        return GraphAgent(agent, input=input, output=output, context=context)
    if input is not None or output is not None or context is not None:
        raise ConfigError("input=, output= and context= apply only to LangGraph graphs")
    if isinstance(agent, (FunctionAgent, GraphAgent, LLMAgent)):
        return agent
    if inspect.iscoroutinefunction(agent):
        return FunctionAgent(agent)
    if _is_async_callable(agent):
        return agent  # already has async __call__(task): the Agent protocol
    raise ConfigError(
        f"cannot use {agent!r} as an agent: give a compiled LangGraph graph or an async function"
    )


def _default_render(task: Task) -> str:
    return task.prompt


@dataclass
class LLMAgent:
    """A one-call agent for single-shot problems: render the task, ask the model, return its reply.

    The sample attached by the strategy picks the seed, temperature and (with several models)
    the model; the prompt already holds its variant, plan and feedback (``task_for_sample``).

    Attributes:
        model: a ``Model``, or a mapping name -> ``Model`` chosen by ``Sample.model`` (the first
            one when the sample names none).
        system: a system message.
        render: task -> prompt text or chat messages; default: the task's prompt.
        extract: reply -> a short answer for voting (e.g. the number in ``\\boxed{}``).
        max_tokens: cap on the reply's length.
        temperature: used when the sample sets none.

    Budget: a model client given the run's budget (``LLM(..., budget=b)``) charges it per call
    and stops mid-rollout when it is spent; ``charges(b)`` tells the strategy so, and the strategy
    then does not charge the finished rollout again. Otherwise the strategy charges each finished
    rollout's usage once.
    """

    model: Model | Mapping[str, Model]
    system: str | None = None
    render: Callable[[Task], str | list[Message]] | None = None
    extract: Callable[[str], str | None] | None = None
    max_tokens: int | None = None
    temperature: float | None = None

    def _pick(self, name: str | None) -> tuple[Model, str | None]:
        if not isinstance(self.model, Mapping):
            return self.model, name
        if not self.model:
            raise ConfigError("LLMAgent got an empty model mapping")
        if name is None:
            name = next(iter(self.model))
        if name not in self.model:
            raise ConfigError(f"LLMAgent has no model {name!r}; it has {sorted(self.model)}")
        return self.model[name], name

    def charges(self, budget: object) -> bool:
        """Whether this agent's model client already charges ``budget`` for every call."""
        models = self.model.values() if isinstance(self.model, Mapping) else [self.model]
        return any(getattr(m, "budget", None) is budget for m in models)

    async def __call__(self, task: Task) -> Rollout:
        sample = sample_of(task) or Sample(index=0)
        model, name = self._pick(sample.model)
        rendered = (self.render or _default_render)(task)
        messages: list[Message] = (
            [{"role": "user", "content": rendered}] if isinstance(rendered, str) else list(rendered)
        )
        if self.system:
            messages = [{"role": "system", "content": self.system}, *messages]
        temperature = sample.temperature if sample.temperature is not None else self.temperature
        started = time.monotonic()
        completion = await model.generate(
            messages, temperature=temperature, seed=sample.seed, max_tokens=self.max_tokens
        )
        usage = completion.usage
        if not usage.seconds:
            usage = usage.model_copy(update={"seconds": time.monotonic() - started})
        text = completion.text
        return Rollout(
            task_id=task.id,
            output=text,
            answer=self.extract(text) if self.extract else None,
            trajectory=[*messages, {"role": "assistant", "content": text}],
            usage=usage,
            provenance=Provenance(
                seed=sample.seed,
                temperature=temperature,
                prompt_variant=sample.prompt_variant,
                model=name or completion.model,
                strategy=sample.strategy,
                parents=list(sample.parents),
                generation=sample.generation,
            ),
            metadata={"finish_reason": completion.finish_reasons[0] if completion.finish_reasons else None},
        )
