"""Every error agentscale raises, in one tree.

    AgentScaleError
    ├── ConfigError              caller misuse: bad option, unknown name, malformed task file
    ├── BudgetExhausted          the shared budget is spent (an outcome strategies turn into "stop")
    ├── ModelError
    │   └── ModelAPIError        the model endpoint failed (status, timeout, connection)
    │       └── ModelTimeout     no answer within the per-call timeout
    ├── ServerError              a local model server could not be built, started or reached
    ├── SandboxError
    │   ├── SandboxUnavailable   no backend can run here (no Docker engine, no bubblewrap)
    │   └── SandboxTimeout       an operation on the sandbox itself (not the user's code) timed out
    ├── MemoryBankError          the memory bank's store failed or got bad input
    ├── ToolError                an agent's tool could not do what it was asked (becomes an observation)
    └── SelectionError           a selector could not choose (e.g. no candidates)

    AllRolloutsFailed(ExceptionGroup)   every rollout of a run failed; carries their errors

A failing *candidate* is data, not an exception: failed tests, a non-zero exit or a timed-out
sandbox run become ``Verdict(passed=False)`` or ``Rollout(status="error")``.
"""

from __future__ import annotations

__all__ = [
    "AgentScaleError",
    "AllRolloutsFailed",
    "BudgetExhausted",
    "ConfigError",
    "MemoryBankError",
    "ModelAPIError",
    "ModelError",
    "ModelTimeout",
    "SandboxError",
    "SandboxTimeout",
    "SandboxUnavailable",
    "SelectionError",
    "ServerError",
    "ToolError",
]


class AgentScaleError(Exception):
    """Root of every agentscale error."""


class ConfigError(AgentScaleError):
    """The caller asked for something invalid: a bad option, an unknown name, a malformed file."""


class BudgetExhausted(AgentScaleError):
    """The shared budget has no room for more work.

    Attributes:
        limit: which limit ran out (``"tokens"``, ``"usd"``, ``"seconds"``, ``"rollouts"``).
    """

    def __init__(self, limit: str, message: str | None = None) -> None:
        self.limit = limit
        super().__init__(message or f"budget exhausted: {limit}")

    def __reduce__(self):
        return (type(self), (self.limit, str(self)))


class ModelError(AgentScaleError):
    """Something went wrong talking to a model."""


class ModelAPIError(ModelError):
    """A model endpoint failed.

    Attributes:
        model: the model string the call used.
        api_base: the endpoint, or ``None`` for the provider default.
        status_code: HTTP status where there was one.
        retryable: whether the failure was transient (and so was retried).
    """

    def __init__(
        self,
        message: str,
        *,
        model: str,
        api_base: str | None = None,
        status_code: int | None = None,
        retryable: bool = False,
    ) -> None:
        self.model = model
        self.api_base = api_base
        self.status_code = status_code
        self.retryable = retryable
        where = f" at {api_base}" if api_base else ""
        code = f" (HTTP {status_code})" if status_code else ""
        super().__init__(f"model {model!r}{where} failed{code}: {message}")
        self._message = message

    def __reduce__(self):
        return (
            _rebuild_api_error,
            (type(self), self._message, self.model, self.api_base, self.status_code, self.retryable),
        )


def _rebuild_api_error(cls, message, model, api_base, status_code, retryable):
    return cls(message, model=model, api_base=api_base, status_code=status_code, retryable=retryable)


class ModelTimeout(ModelAPIError):
    """The model gave no answer within the per-call timeout."""


class ServerError(AgentScaleError):
    """A local model server could not be built, started, or reached.

    Attributes:
        log_path: the server's log file, when there is one.
    """

    def __init__(self, message: str, *, log_path: str | None = None) -> None:
        self.log_path = log_path
        tail = f" (log: {log_path})" if log_path else ""
        super().__init__(message + tail)
        self._message = message

    def __reduce__(self):
        return (_rebuild_server_error, (self._message, self.log_path))


def _rebuild_server_error(message, log_path):
    return ServerError(message, log_path=log_path)


class SandboxError(AgentScaleError):
    """A sandbox could not do what was asked (not: the code inside it failed)."""


class SandboxUnavailable(SandboxError):
    """No sandbox backend can run on this host."""


class SandboxTimeout(SandboxError):
    """An operation on the sandbox itself timed out."""


class MemoryBankError(AgentScaleError):
    """The memory bank's store failed, or was given bad input."""


class ToolError(AgentScaleError):
    """A tool refused or failed an action (bad arguments, a page that cannot be fetched...).

    The agent loop turns it into the observation the model sees next; it never ends a rollout.
    """


class SelectionError(AgentScaleError):
    """A selector could not choose."""


class AllRolloutsFailed(ExceptionGroup, AgentScaleError):  # noqa: N818 - it is a group, named for what it says
    """Every rollout of a run failed; ``exceptions`` holds each one's error."""

    def __new__(cls, message: str, exceptions):
        return super().__new__(cls, message, exceptions)

    def derive(self, excs):
        return AllRolloutsFailed(self.message, excs)
