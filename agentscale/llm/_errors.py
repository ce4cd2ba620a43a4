"""Translate what litellm, openai and httpx raise into agentscale's errors, once, at the boundary.

Transient failures (timeouts, connection errors, HTTP 408, 429 and 5xx) come out with
``retryable=True``; everything else (bad requests, auth, not found, unknown errors) with
``retryable=False``, so the retry loop never hammers a server with a request it has rejected.

Only ``httpx`` and ``openai`` classes are named here (litellm's exceptions subclass openai's
and carry ``status_code``), so importing this module never imports litellm.
"""

from __future__ import annotations

import httpx
import openai

from agentscale.errors import ModelAPIError, ModelTimeout

__all__ = ["translate"]

_MAX_MESSAGE = 400
_TIMEOUTS = (TimeoutError, httpx.TimeoutException, openai.APITimeoutError)
_CONNECTION = (httpx.TransportError, openai.APIConnectionError, ConnectionError, EOFError)


def translate(
    exc: BaseException, *, model: str, api_base: str | None, timeout: float | None
) -> ModelAPIError:
    """Return the agentscale error for a foreign exception raised by one model call."""
    if isinstance(exc, ModelAPIError):
        return exc
    # litellm dresses transport failures (refused, reset, truncated body) up as HTTP 500s; the
    # httpx error underneath tells what really happened, and there was no status to report.
    cause = _transport_cause(exc)
    if cause is not None:
        exc = cause
    if isinstance(exc, _TIMEOUTS) or _status(exc) == 408:
        limit = f"no answer within {timeout:g} s" if timeout else "timed out"
        return ModelTimeout(f"{limit} ({_describe(exc)})", model=model, api_base=api_base, retryable=True)
    status = _status(exc)
    # litellm reports connection failures as APIConnectionError with a made-up status 500;
    # the status of a real HTTP answer wins only where there was a response.
    if isinstance(exc, _CONNECTION) and getattr(exc, "response", None) is None:
        return ModelAPIError(
            f"connection failed: {_describe(exc)}", model=model, api_base=api_base, retryable=True
        )
    if status is not None:
        transient = status == 429 or status >= 500
        return ModelAPIError(
            _describe(exc), model=model, api_base=api_base, status_code=status, retryable=transient
        )
    return ModelAPIError(_describe(exc), model=model, api_base=api_base, retryable=False)


def _transport_cause(exc: BaseException) -> BaseException | None:
    """The transport error (or timeout) behind ``exc``, unless a real HTTP answer came first."""
    cause: BaseException | None = exc
    for _ in range(16):
        if cause is None or isinstance(cause, httpx.HTTPStatusError):
            return None
        if isinstance(cause, httpx.TransportError | openai.APIConnectionError):
            return cause
        cause = cause.__cause__ or cause.__context__
    return None


def _status(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return status
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def _describe(exc: BaseException) -> str:
    # litellm's messages repeat the class name and provider ("litellm.BadRequestError:
    # Hosted_vllmException - {...}"); keep the server's words and cap the length.
    text = str(getattr(exc, "message", None) or exc).strip() or type(exc).__name__
    for prefix in ("litellm.",):
        if text.startswith(prefix):
            text = text.split(": ", 1)[-1]
    name = type(exc).__name__
    text = f"{name}: {text}" if name not in text else text
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."
