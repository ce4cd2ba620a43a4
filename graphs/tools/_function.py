"""Plain Python functions as tools, and the final-answer tool."""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import create_model

from agentscale.errors import ConfigError
from agentscale.rollout import RolloutContext

__all__ = ["FINAL_TOOL", "FinalAnswer", "Finished", "FunctionTool", "function_tool"]

FINAL_TOOL = "final_answer"
"""The default name of the tool that ends the loop with an answer."""


@dataclass
class FunctionTool:
    """A function as a ``Tool``: ``fn(**arguments)``, sync or async, returning the observation.

    A parameter named ``run`` receives the rollout's ``RolloutContext`` (its sandbox, budget and
    progress stream) and is left out of the schema. A return value that is not a ``str`` is shown
    as JSON. Raise ``ToolError`` for a refusal the model should read.

    Attributes:
        name: the tool's name (what the model calls).
        description: what it does, for the model.
        parameters: the JSON schema of its arguments object.
        fn: the function.
        timeout: seconds before the loop gives up on one call (``None``: the loop's ``tool_timeout``).
        needs_sandbox: the agent must lease a sandbox per rollout for this tool.
    """

    name: str
    description: str
    parameters: Mapping[str, Any]
    fn: Callable[..., Any]
    timeout: float | None = None
    needs_sandbox: bool = False
    _takes_run: bool = field(init=False, repr=False, default=False)

    def __post_init__(self) -> None:
        try:
            self._takes_run = "run" in inspect.signature(self.fn).parameters
        except (TypeError, ValueError):
            self._takes_run = False

    async def __call__(self, arguments: Mapping[str, Any], run: RolloutContext) -> str | Finished:
        """Call ``fn`` with the arguments (and ``run`` when it takes it); a result that is not text
        is shown as JSON, except ``Finished``, which ends the loop."""
        kwargs = dict(arguments)
        if self._takes_run:
            kwargs["run"] = run
        result = self.fn(**kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result if isinstance(result, str | Finished) else json.dumps(result, default=str)


def function_tool(
    fn: Callable[..., Awaitable[Any] | Any], *, name: str | None = None, description: str | None = None
) -> FunctionTool:
    """A ``FunctionTool`` whose schema comes from ``fn``'s annotated parameters (through pydantic).

    Example:
        >>> async def add(a: int, b: int) -> int:
        ...     '''Add two integers.'''
        ...     return a + b
        >>> t = function_tool(add)
        >>> t.name, t.description, sorted(t.parameters["properties"]), t.parameters["required"]
        ('add', 'Add two integers.', ['a', 'b'], ['a', 'b'])

    Raises:
        ConfigError: ``fn`` has a parameter without an annotation, or ``*args``/``**kwargs``.
    """
    fields: dict[str, Any] = {}
    for p in inspect.signature(fn).parameters.values():
        if p.name == "run":
            continue
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.annotation is p.empty:
            raise ConfigError(f"tool {fn.__name__!r}: parameter {p.name!r} needs a type annotation (no *args/**kwargs)")
        fields[p.name] = (p.annotation, ... if p.default is p.empty else p.default)
    schema = create_model(f"{fn.__name__}_arguments", **fields).model_json_schema()
    schema.pop("title", None)
    for spec in schema.get("properties", {}).values():
        spec.pop("title", None)
    doc = inspect.getdoc(fn) or ""
    return FunctionTool(
        name=name or fn.__name__,
        description=description or doc.split("\n\n")[0].strip() or fn.__name__,
        parameters=schema,
        fn=fn,
    )


@dataclass(frozen=True)
class Finished:
    """What a tool returns to end the loop itself: the model reads ``observation`` (it stays in the
    trajectory) and ``answer`` becomes the rollout's final answer (``stop="final"``).

    For tools that know when the work is over, as a browser does when its episode ends: the model
    need not spend a step saying so (small models also say so too early).

    Example:
        ```python
        async def __call__(self, arguments, run):
            page = await self.browser.click(arguments["ref"])
            return Finished(page.render(), answer="done") if page.done else page.render()
        ```
    """

    observation: str
    answer: str


@dataclass
class FinalAnswer:
    """The tool that ends the loop: its ``answer`` becomes the rollout's output.

    The loop never calls it: a valid call to the tool named ``LoopConfig.final_tool`` finishes
    the rollout with its ``answer``.
    """

    name: str = FINAL_TOOL
    description: str = "Give your final answer and stop. Call it once you are sure."
    parameters: Mapping[str, Any] = field(
        default_factory=lambda: {
            "type": "object",
            "properties": {"answer": {"type": "string", "description": "the final answer"}},
            "required": ["answer"],
        }
    )
    example: Mapping[str, Any] = field(default_factory=lambda: {"answer": "42"})

    async def __call__(self, arguments: Mapping[str, Any], run: RolloutContext) -> str:
        """Return the answer (only used when called outside the loop)."""
        return str(arguments.get("answer", ""))
