"""Context compaction: a trajectory that outgrows the model's context is shortened, not refused.

Before each model call the agent loop asks ``compact(messages, budget)`` for the messages to send.
While their estimated size is over ``budget`` tokens, the oldest observations (tool results, and
the loop's ``user`` messages after the task: observations of the text format, errors, notes) are
cut to a head and a tail with a note ``[observation shortened: N chars]`` in the middle; then, if
that is not enough, the oldest
assistant messages are too. The system prompt, the task (the first user message) and the latest
``keep_last`` messages are never touched, and the trajectory kept in the state (``Rollout.trajectory``)
stays whole: only the request is compacted.

The size is an estimate (``estimate_tokens``: about 3 characters a token, which over-counts for
code and English on the tokenizers here, so a compacted request fits).

Example:
    >>> msgs = [{"role": "system", "content": "s"}, {"role": "user", "content": "task"},
    ...         {"role": "assistant", "content": "a"}, {"role": "tool", "content": "x" * 9000},
    ...         {"role": "assistant", "content": "b"}, {"role": "tool", "content": "ok"}]
    >>> short = compact(msgs, 1000)
    >>> "[observation shortened: 9000 chars]" in short[3]["content"], estimate_tokens(short) <= 1000
    (True, True)
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from agentscale.types import Message

__all__ = ["NOTE", "compact", "compact_stable", "context_overflow", "estimate_tokens"]

NOTE = "[observation shortened: {chars} chars]"
"""The note left where an observation was cut (``{chars}``: its length before)."""

_CHARS_PER_TOKEN = 3
_PER_MESSAGE = 8
_MIN_KEEP = 200  # characters of head and tail a shortened message keeps, together


def _text(message: Message) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    return "" if content is None else json.dumps(content)


def estimate_tokens(messages: Sequence[Message]) -> int:
    """A generous estimate of the tokens ``messages`` take in a chat request."""
    total = 0
    for m in messages:
        total += _PER_MESSAGE + len(_text(m)) // _CHARS_PER_TOKEN
        if m.get("tool_calls"):
            total += len(json.dumps(m["tool_calls"])) // _CHARS_PER_TOKEN
    return total


def _is_observation(message: Message) -> bool:
    # after the task, every user message is the loop's: an observation, an error, a note (the web
    # agent's pages come as user messages without "Observation:" and were never shortened)
    return message.get("role") in ("tool", "user")


def _shorten(message: Message, keep: int) -> Message:
    text = _text(message)
    if len(text) <= keep + 60:
        return message
    head, tail = keep * 2 // 3, keep // 3
    note = NOTE.format(chars=len(text))
    return {**message, "content": f"{text[:head]}\n{note}\n{text[len(text) - tail :]}"}


def compact(messages: Sequence[Message], budget: int, *, keep_last: int = 2) -> list[Message]:
    """The messages to send, shortened (oldest first) until they fit ``budget`` tokens where they can.

    Args:
        messages: the whole trajectory (OpenAI shape).
        budget: tokens the request may take (the model's context minus the reply).
        keep_last: the latest messages, left whole (the model needs what it just saw).

    Returns:
        A new list (the given one is not changed); ``messages`` as they are when they fit. When even
        the shortest form is over budget, that shortest form (the server then says what is wrong).
    """
    out = list(messages)
    if estimate_tokens(out) <= budget:
        return out
    first_user = next((i for i, m in enumerate(out) if m.get("role") == "user"), len(out))
    last = max(len(out) - keep_last, first_user + 1)
    old = range(first_user + 1, last)
    for pick in (_is_observation, lambda m: m.get("role") == "assistant"):
        for i in old:
            if not pick(out[i]):
                continue
            over = estimate_tokens(out) - budget
            if over <= 0:
                return out
            # cut what is over (in characters), but keep at least a head and a tail to show what it was
            keep = max(len(_text(out[i])) - over * _CHARS_PER_TOKEN - 80, _MIN_KEEP)
            out[i] = _shorten(out[i], keep)
    return out


def compact_stable(
    messages: Sequence[Message], budget: int, upto: int = 0, *, low: float = 0.6, keep_last: int = 2
) -> tuple[list[Message], int]:
    """``compact`` that keeps the request's prefix the same from one call to the next.

    A server's prompt cache (llama.cpp's slots) reuses only the unchanged prefix of a request.
    ``compact`` cuts just enough each call, so once a trajectory outgrows the context almost every
    call changes an early message and the server processes the whole prompt again (50 s a step
    for 5k tokens on 2 CPU cores). Here every observation before index ``upto`` is shortened
    fully; when the request is still over ``budget``, ``upto`` moves on, oldest first, until it
    is under ``low * budget``, so the next few calls only append. The caller keeps ``upto``
    between calls (the agent loop's state). Where that cannot fit, ``compact`` takes over.

    Returns:
        The messages to send and the new ``upto``.

    Example:
        >>> step = [{"role": "assistant", "content": "a"}, {"role": "tool", "content": "x" * 900}]
        >>> msgs = [{"role": "user", "content": "task"}] + step * 6
        >>> sent, upto = compact_stable(msgs, 1800)
        >>> sent2, _ = compact_stable(msgs + [{"role": "assistant", "content": "b"}], 1800, upto)
        >>> upto, sent2[:len(sent)] == sent
        (9, True)
    """
    out = list(messages)
    first_user = next((i for i, m in enumerate(out) if m.get("role") == "user"), len(out))
    last = max(len(out) - keep_last, first_user + 1)
    upto = max(upto, first_user + 1)
    for i in range(first_user + 1, min(upto, last)):
        if _is_observation(out[i]):
            out[i] = _shorten(out[i], _MIN_KEEP)
    if estimate_tokens(out) <= budget:
        return out, upto
    while upto < last and estimate_tokens(out) > low * budget:
        if _is_observation(out[upto]):
            out[upto] = _shorten(out[upto], _MIN_KEEP)
        upto += 1
    return compact(out, budget, keep_last=keep_last), upto


_OVERFLOW = (
    # llama.cpp: "request (4158 tokens) exceeds the available context size (4096 tokens), try increasing it"
    re.compile(r"request \((?P<requested>\d+) tokens\) exceeds the available context size \((?P<context>\d+) tokens\)"),
    # vLLM / OpenAI: "maximum context length is 4096 tokens. However, you requested 4158 tokens"
    re.compile(r"maximum context length is (?P<context>\d+) tokens\. However, you requested (?P<requested>\d+) tokens"),
)


def context_overflow(error: object) -> tuple[int, int] | None:
    """``(requested, context)`` tokens when a server refused a request for being over its context
    (llama.cpp's and vLLM's wording), else ``None``.

    Example:
        >>> context_overflow("HTTP 400: request (4158 tokens) exceeds the available context size (4096 tokens)")
        (4158, 4096)
        >>> context_overflow("This model's maximum context length is 2048 tokens. However, you requested 2100 tokens")
        (2100, 2048)
        >>> context_overflow("connection refused") is None
        True
    """
    text = str(error)
    for pattern in _OVERFLOW:
        if m := pattern.search(text):
            return int(m["requested"]), int(m["context"])
    return None
