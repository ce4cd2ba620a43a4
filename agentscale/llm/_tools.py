"""Messages for a native tool-calling loop: the model's calls in, each tool's result back."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from agentscale.errors import ConfigError
from agentscale.types import Message

__all__ = ["tool_result"]


def tool_result(call: Mapping[str, Any], content: Any) -> Message:
    """The ``tool`` message that answers one of the model's tool calls.

    Example:
        ```python
        out = await llm.generate(messages, tools=[ADD])
        messages.append(out.message(0))  # the assistant's turn, with its tool calls
        for call in out.tool_calls[0] if out.tool_calls else []:
            args = json.loads(call["function"]["arguments"])
            messages.append(tool_result(call, add(**args)))
        final = await llm.generate(messages, tools=[ADD])
        ```

    Args:
        call: one entry of ``Completion.tool_calls[i]`` (it needs ``id`` and ``function.name``).
        content: what the tool returned; anything but a ``str`` is sent as JSON.

    Raises:
        ConfigError: ``call`` is not a tool call.
    """
    function = call.get("function") if isinstance(call, Mapping) else None
    if not (isinstance(call, Mapping) and call.get("id") and isinstance(function, Mapping) and function.get("name")):
        raise ConfigError(f"not a tool call (it needs an id and function.name): {call!r:.200}")
    text = content if isinstance(content, str) else json.dumps(content, default=str)
    return {"role": "tool", "tool_call_id": call["id"], "name": function["name"], "content": text}
