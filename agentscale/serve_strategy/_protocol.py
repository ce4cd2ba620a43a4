"""OpenAI's chat-completions wire format, as far as a scaling proxy needs it: reading a request (with
the strategy chosen in the model name or the ``agentscale`` body field), and writing a completion,
its stream chunks and OpenAI-shaped errors. No web framework here: ``_app`` serves it."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentscale.types import Usage

__all__ = ["APIError", "ScaledRequest", "completion", "completion_chunks", "error_body", "parse_request"]

_ROLES = {"system", "developer", "user", "assistant", "tool"}
_PASSED = ("max_tokens", "stop", "tools", "tool_choice", "response_format")
_SPEC = re.compile(r"^(?P<strategy>[A-Za-z_][\w.]*?)(?:-(?P<n>\d+))?$")


class APIError(Exception):
    """A request the server refuses, as OpenAI words it: HTTP ``status`` and the error object's fields."""

    def __init__(
        self, message: str, *, status: int = 400, type: str = "invalid_request_error", param: str | None = None,
        code: str | None = None,
    ) -> None:  # fmt: skip
        super().__init__(message)
        self.message, self.status, self.type, self.param, self.code = message, status, type, param, code

    def body(self) -> dict[str, Any]:
        """``{"error": {"message", "type", "param", "code"}}``."""
        return error_body(self.message, type=self.type, param=self.param, code=self.code)


def error_body(message: str, *, type: str = "invalid_request_error", param: str | None = None,
               code: str | None = None) -> dict[str, Any]:  # fmt: skip
    """An OpenAI-shaped error object."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


@dataclass
class ScaledRequest:
    """A chat-completions request, checked, with the strategy to answer it by.

    Attributes:
        model: the model name as the client gave it (echoed back).
        messages: the conversation, in OpenAI's shape (tool calls and results kept).
        params: what goes to the upstream with every rollout (``max_tokens``, ``stop``, ``tools``...).
        temperature: the client's temperature (used where the strategy sets none).
        strategy: the strategy's registry name.
        n: rollouts (``None``: the server's default).
        selector: a selector's registry name (``None``: the server's default).
        stream: answer as server-sent events.
        include_usage: with ``stream``, end with a usage chunk.
    """

    model: str
    messages: list[dict[str, Any]]
    params: dict[str, Any] = field(default_factory=dict)
    temperature: float | None = None
    strategy: str | None = None
    n: int | None = None
    selector: str | None = None
    stream: bool = False
    include_usage: bool = False


def parse_request(body: Any, *, served: Sequence[str], strategies: Sequence[str], max_n: int) -> ScaledRequest:
    """Check a request body and read the strategy from it.

    The model is ``NAME`` (the server's default strategy), ``STRATEGY/NAME`` or ``STRATEGY-N/NAME``
    (``best_of_n-4/qwen``), where ``NAME`` is one of ``served``. The body field
    ``"agentscale": {"strategy": ..., "n": ..., "selector": ...}`` wins over the model name.

    Raises:
        APIError: what is wrong, naming the parameter (400), or an unknown model (404).
    """
    if not isinstance(body, Mapping):
        raise APIError("the request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise APIError("you must provide a model parameter", param="model")
    strategy, n = _model_spec(model, served, strategies)
    extra = body.get("agentscale") or {}
    if not isinstance(extra, Mapping):
        raise APIError(
            '\'agentscale\' must be an object: {"strategy": ..., "n": ..., "selector": ...}', param="agentscale"
        )
    strategy = extra.get("strategy", strategy)
    if strategy is not None and strategy not in strategies:
        raise APIError(
            f"unknown strategy {strategy!r}; choose one of: {', '.join(strategies)}", param="agentscale.strategy"
        )
    n = extra.get("n", n)
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= max_n):
        raise APIError(f"the strategy's n must be an integer from 1 to {max_n}, got {n!r}", param="agentscale.n")
    selector = extra.get("selector")
    if selector is not None and not isinstance(selector, str):
        raise APIError("'agentscale.selector' must be a selector's name", param="agentscale.selector")
    if body.get("n") not in (None, 1):
        raise APIError(
            "this server answers with the one chosen completion: leave n at 1 and set the strategy's n in the "
            "model name (best_of_n-4/MODEL) or in agentscale.n", param="n",
        )  # fmt: skip
    messages = _messages(body.get("messages"))
    params = _params(body)
    temperature = body.get("temperature")
    if temperature is not None and (isinstance(temperature, bool) or not isinstance(temperature, int | float)
                                    or not 0 <= temperature <= 2):  # fmt: skip
        raise APIError(f"temperature must be a number from 0 to 2, got {temperature!r}", param="temperature")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise APIError("stream must be true or false", param="stream")
    options = body.get("stream_options") or {}
    usage = bool(isinstance(options, Mapping) and options.get("include_usage"))
    return ScaledRequest(
        model=model, messages=messages, params=params, temperature=temperature, strategy=strategy, n=n,
        selector=selector, stream=stream, include_usage=usage,
    )  # fmt: skip


def _model_spec(model: str, served: Sequence[str], strategies: Sequence[str]) -> tuple[str | None, int | None]:
    if model in served:
        return None, None
    spec, sep, name = model.partition("/")
    match = _SPEC.match(spec) if sep else None
    if match and name in served:
        strategy = match.group("strategy")
        if strategy not in strategies:
            raise APIError(f"unknown strategy {strategy!r} in model {model!r}; choose one of: {', '.join(strategies)}",
                           param="model", code="model_not_found", status=404)  # fmt: skip
        return strategy, int(match.group("n")) if match.group("n") else None
    raise APIError(
        f"the model {model!r} does not exist here; use {served[0]!r}, STRATEGY/{served[0]} or "
        f"STRATEGY-N/{served[0]} (GET /v1/models lists them)", param="model", code="model_not_found", status=404,
    )  # fmt: skip


def _messages(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        raise APIError("messages must be a non-empty array of chat messages", param="messages")
    out = []
    for i, m in enumerate(raw):
        where = f"messages[{i}]"
        if not isinstance(m, Mapping):
            raise APIError(f"{where} must be an object", param=where)
        role = m.get("role")
        if role not in _ROLES:
            raise APIError(f"{where}.role must be one of {sorted(_ROLES)}, got {role!r}", param=f"{where}.role")
        message = dict(m)
        message["role"] = "system" if role == "developer" else role
        message["content"] = _content(
            m.get("content"), where, allow_none=role == "assistant" and bool(m.get("tool_calls"))
        )
        if role == "tool" and not isinstance(m.get("tool_call_id"), str):
            raise APIError(
                f"{where} is a tool result: it needs the tool_call_id it answers", param=f"{where}.tool_call_id"
            )
        if "tool_calls" in m and not isinstance(m["tool_calls"], list):
            raise APIError(f"{where}.tool_calls must be an array", param=f"{where}.tool_calls")
        out.append(message)
    return out


def _content(content: Any, where: str, *, allow_none: bool) -> str | None:
    if content is None:
        if allow_none:
            return None
        raise APIError(f"{where}.content is missing", param=f"{where}.content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: the text ones are joined; others are not served
        texts = []
        for part in content:
            if not isinstance(part, Mapping) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise APIError(f"{where}.content: only text parts are served", param=f"{where}.content")
            texts.append(part["text"])
        return "".join(texts)
    raise APIError(f"{where}.content must be a string or an array of text parts", param=f"{where}.content")


def _params(body: Mapping[str, Any]) -> dict[str, Any]:
    params = {k: body[k] for k in _PASSED if body.get(k) is not None}
    if body.get("max_completion_tokens") is not None:
        params.setdefault("max_tokens", body["max_completion_tokens"])
    if "max_tokens" in params and (isinstance(params["max_tokens"], bool) or not isinstance(params["max_tokens"], int)
                                   or params["max_tokens"] < 1):  # fmt: skip
        raise APIError(f"max_tokens must be a positive integer, got {params['max_tokens']!r}", param="max_tokens")
    tools = params.get("tools")
    if tools is not None:
        if not isinstance(tools, list) or not all(
            isinstance(t, Mapping) and t.get("type") == "function" and isinstance(t.get("function"), Mapping)
            and isinstance(t["function"].get("name"), str) for t in tools
        ):  # fmt: skip
            raise APIError('tools must be an array of {"type": "function", "function": {"name", ...}}', param="tools")
        if not tools:
            del params["tools"]
    stop = params.get("stop")
    if stop is not None and not (
        isinstance(stop, str) or (isinstance(stop, list) and all(isinstance(s, str) for s in stop))
    ):
        raise APIError("stop must be a string or an array of strings", param="stop")
    return params


def _usage(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
    }


def new_id() -> str:
    """A completion id."""
    return f"chatcmpl-as{uuid.uuid4().hex[:24]}"


def completion(
    *, id: str, model: str, message: Mapping[str, Any], finish_reason: str | None, usage: Usage,
    info: Mapping[str, Any], created: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    """A ``chat.completion`` object with one choice; ``info`` goes under ``"agentscale"``."""
    return {
        "id": id,
        "object": "chat.completion",
        "created": created or int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": dict(message), "finish_reason": finish_reason, "logprobs": None}],
        "usage": _usage(usage),
        "agentscale": dict(info),
    }


def completion_chunks(
    *, id: str, model: str, message: Mapping[str, Any], finish_reason: str | None, usage: Usage | None,
    info: Mapping[str, Any], created: int | None = None, piece: int = 24,
) -> Iterator[dict[str, Any]]:  # fmt: skip
    """The ``chat.completion.chunk`` objects that stream one chosen message: the role, the text in
    pieces of about ``piece`` characters (cut after whitespace), each tool call whole, the finish
    reason, and a usage chunk when ``usage`` is given."""
    created = created or int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None, **more: Any) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return {"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [choice], **more}  # fmt: skip

    yield chunk({"role": "assistant", "content": ""})
    for text in _pieces(message.get("content") or "", piece):
        yield chunk({"content": text})
    for i, call in enumerate(message.get("tool_calls") or []):
        yield chunk({"tool_calls": [{"index": i, **call}]})
    yield chunk({}, finish_reason, agentscale=dict(info))
    if usage is not None:
        yield {"id": id, "object": "chat.completion.chunk", "created": created, "model": model, "choices": [],
               "usage": _usage(usage)}  # fmt: skip


def _pieces(text: str, size: int) -> Iterator[str]:
    start = 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):
            space = text.rfind(" ", start + 1, end + 1)
            end = space + 1 if space > start else end
        yield text[start:end]
        start = end
