"""Actions as data: a trajectory's last tool call, and a canonical key to vote on it.

An agent's action is a tool call: a tool name and a JSON object of arguments. Trajectories hold
them in two shapes (see ``agentscale.graphs.actions``): an assistant message's native
``tool_calls``, or, in the plain-text format, one fenced block whose info string names the tool.
``last_action`` reads either; ``canonical_action`` writes one as a vote key, the tool first, so
rollouts that did the same thing vote together however they spaced or ordered it.

Example:
    >>> canonical_action("click", {"y": 2.0, "x": " OK "})
    'click {"x":"OK","y":2}'
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

from agentscale.types import Message, Rollout

__all__ = ["FENCE", "FENCE_ALIASES", "canonical_action", "canonical_arguments", "last_action"]

FENCE = re.compile(r"^[ \t]*```[ \t]*([\w.+-]*)[ \t]*\n(.*?)(?:^[ \t]*```[ \t]*$|\Z)", re.MULTILINE | re.DOTALL)
"""A fenced block: group 1 the info string (the tool's name), group 2 the body; an unclosed block
runs to the end of the text."""

FENCE_ALIASES = {"py": "python", "python3": "python", "sh": "bash", "shell": "bash", "console": "bash"}
"""Info strings models write for a tool of another name."""


def _canonical(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        number = Fraction(value).limit_denominator(10**9) if isinstance(value, float) else Fraction(value)
        return int(number) if number.denominator == 1 else float(number)
    if isinstance(value, str):
        lines = [line.rstrip() for line in value.strip().splitlines()]
        return "\n".join(line for line in lines if line)
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    return str(value)


def canonical_arguments(arguments: Mapping[str, Any]) -> str:
    """Arguments as a canonical JSON string: keys sorted, numbers canonical (``2.0`` -> ``2``),
    strings stripped of surrounding and trailing-line whitespace and of blank lines."""
    return json.dumps(_canonical(dict(arguments)), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def canonical_action(tool: str, arguments: Mapping[str, Any]) -> str:
    """The vote key of an action: ``"<tool> <canonical arguments>"`` (the tool first)."""
    return f"{tool} {canonical_arguments(arguments)}"


def _message_action(message: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    calls = message.get("tool_calls") or []
    if calls:
        fn = calls[-1].get("function") or {}
        raw = fn.get("arguments") or "{}"
        try:
            arguments = json.loads(raw) if isinstance(raw, str) else dict(raw)
        except (json.JSONDecodeError, TypeError, ValueError):
            return None
        return str(fn.get("name") or ""), arguments if isinstance(arguments, dict) else {}
    content = message.get("content")
    if not isinstance(content, str):
        return None
    blocks = list(FENCE.finditer(content))
    if len(blocks) != 1:
        return None
    lang, body = blocks[0][1], blocks[0][2].rstrip("\n")
    if not lang or lang.lower() == "json":
        try:
            value = json.loads(body)
        except json.JSONDecodeError:
            return None
        if isinstance(value, dict) and isinstance(value.get("name"), str):
            args = value.get("arguments")
            return value["name"], args if isinstance(args, dict) else {}
        return None
    try:
        value = json.loads(body)
    except json.JSONDecodeError:
        value = None
    name = FENCE_ALIASES.get(lang.lower(), lang)
    return name, value if isinstance(value, dict) else {"input": body}


def last_action(rollout: Rollout | Sequence[Message]) -> tuple[str, dict[str, Any]] | None:
    """The last action a trajectory took, as ``(tool, arguments)``; ``None`` when it took none.

    Native calls are read from the last assistant message with ``tool_calls`` (its last call);
    text-format actions from the last assistant message with exactly one fenced block (the
    body is the arguments when it is a JSON object, else ``{"input": body}``).
    """
    messages = rollout.trajectory if isinstance(rollout, Rollout) else rollout
    for message in reversed(messages):
        if message.get("role") == "assistant" and (found := _message_action(message)) is not None:
            return found
    return None
