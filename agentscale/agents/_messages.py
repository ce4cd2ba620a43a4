"""Messages in OpenAI's shape, and the token usage they carry.

A rollout's trajectory is always a list of OpenAI chat messages: roles ``system``, ``user``,
``assistant`` and ``tool``; an assistant's tool calls as ``{"id", "type": "function",
"function": {"name", "arguments"}}`` (arguments a JSON string); a tool message keeps its
``tool_call_id`` and ``name``. LangChain messages and dicts in LangChain's own shape (``human``,
``ai``, ``tool_calls`` with ``args``) are converted by ``langchain_core``'s converter, which
comes with langgraph.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agentscale.types import Message, Usage

__all__ = ["message_text", "messages_usage", "openai_messages"]


_ROLES = frozenset({"system", "user", "assistant", "tool"})
_KEYS = ("role", "content", "name", "tool_calls", "tool_call_id")


def _is_openai(message: Any) -> bool:
    if not isinstance(message, Mapping) or message.get("role") not in _ROLES:
        return False
    calls = message.get("tool_calls")
    return calls is None or all(isinstance(c, Mapping) and "function" in c and "type" in c for c in calls)


def openai_messages(messages: Sequence[Any]) -> list[Message]:
    """``messages`` (LangChain messages or dicts, mixed) as OpenAI chat messages.

    Raises:
        ValueError: a message that is neither (the converter's words).
    """
    if not messages:
        return []
    if all(_is_openai(m) for m in messages):  # already in shape (most single-shot agents): keep the known keys
        return [
            {k: ("" if k == "content" and m[k] is None else m[k]) for k in _KEYS if k in m} for m in messages
        ]
    from langchain_core.messages import convert_to_openai_messages

    return list(convert_to_openai_messages(list(messages)))


def message_text(message: Any) -> str:
    """The text of one message (content blocks joined)."""
    content = message.get("content") if isinstance(message, Mapping) else getattr(message, "content", "")
    if isinstance(content, list):  # content blocks
        return "".join(b.get("text", "") if isinstance(b, Mapping) else str(b) for b in content)
    return str(content or "")


def _usage_of(message: Any) -> Usage | None:
    # LangChain's AIMessage.usage_metadata, a provider's token_usage in response_metadata, or an
    # OpenAI-style "usage" on a dict message: the first one present counts.
    meta = getattr(message, "usage_metadata", None)
    if meta:
        return Usage(
            prompt_tokens=int(meta.get("input_tokens", 0) or 0),
            completion_tokens=int(meta.get("output_tokens", 0) or 0),
            cached_tokens=int((meta.get("input_token_details") or {}).get("cache_read", 0) or 0),
            calls=1,
        )
    response = getattr(message, "response_metadata", None)
    if response is None and isinstance(message, Mapping):
        response = message.get("response_metadata")
    raw = (response or {}).get("token_usage") if isinstance(response, Mapping) else None
    if raw is None and isinstance(message, Mapping):
        raw = message.get("usage")
    if isinstance(raw, Mapping) and raw:
        prompt = raw.get("prompt_tokens", raw.get("input_tokens", 0)) or 0
        completion = raw.get("completion_tokens", raw.get("output_tokens", 0)) or 0
        details = raw.get("prompt_tokens_details") or {}
        cached = details.get("cached_tokens", 0) if isinstance(details, Mapping) else 0
        return Usage(
            prompt_tokens=int(prompt), completion_tokens=int(completion), cached_tokens=int(cached or 0), calls=1
        )
    return None


def messages_usage(messages: Sequence[Any]) -> Usage:
    """The token usage the messages report, added up (one call per message that reports any)."""
    usage = Usage()
    for message in messages:
        if (one := _usage_of(message)) is not None:
            usage = usage + one
    return usage
