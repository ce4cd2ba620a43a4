"""Messages for a native tool-calling loop: the model's calls in, each tool's result back; and
reading the calls of a small model that left out its template's tool-call tags."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Collection, Mapping
from typing import Any

from agentscale.errors import ConfigError
from agentscale.types import Message

__all__ = ["bare_tool_calls", "tool_result"]

_WRAPPERS = re.compile(r"<tool_call>|</tool_call>|```(?:json)?", re.IGNORECASE)


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


def bare_tool_calls(text: str, names: Collection[str]) -> list[dict[str, Any]] | None:
    """The tool calls a reply consists of, when the server did not read them as calls.

    Chat templates ask for each call as ``{"name": ..., "arguments": {...}}`` inside tags such as
    ``<tool_call>...</tool_call>``, and servers (llama-server, vLLM's parsers) read a call only
    with its tags. Small models often write the JSON alone. A reply that is nothing but such
    objects (one or several, a JSON list of them, fenced or tagged), each naming an offered tool
    (other keys beside ``arguments`` are taken as arguments too), is read as those calls; anything else is text,
    and ``None`` is returned.

    Args:
        text: the reply.
        names: the names of the tools offered in the request.

    Returns:
        The calls in the OpenAI shape, or ``None``.
    """
    body = _WRAPPERS.sub("\n", text).strip()
    if not body.startswith(("{", "[")):
        return None
    decoder = json.JSONDecoder()
    found: list[Any] = []
    at = 0
    while at < len(body):
        try:
            value, end = decoder.raw_decode(body, at)
        except ValueError:
            return None
        found.extend(value if isinstance(value, list) else [value])
        at = end
        while at < len(body) and body[at] in " \t\r\n,":
            at += 1
    calls = []
    for item in found:
        # keys beside name and arguments are arguments put in the wrong place ({"name": "type_text",
        # "arguments": {"ref": 9}, "text": "vina"} from the 0.5B); without arguments, only {"name": TOOL} is a call
        if not (isinstance(item, dict) and item.get("name") in names):
            return None
        if "arguments" not in item and set(item) != {"name"}:
            return None
        arguments = item.get("arguments", {})
        extra = {k: v for k, v in item.items() if k not in ("name", "arguments")}
        if extra and isinstance(arguments, dict):
            arguments = {**extra, **arguments}
        if not isinstance(arguments, dict | str):
            return None
        calls.append(
            {
                "id": f"call_{uuid.uuid4().hex[:24]}",
                "type": "function",
                "function": {
                    "name": item["name"],
                    "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments),
                },
            }
        )
    return calls or None
