"""Build-time checks for what ``scale()`` and the strategies are given: one clear ``ConfigError`` each."""

from __future__ import annotations

import inspect
from typing import Any

from agentscale.errors import ConfigError

__all__ = ["check_selector", "check_strategy", "check_verifier"]


def _has_async(obj: Any, method: str) -> bool:
    return inspect.iscoroutinefunction(getattr(obj, method, None))


def check_selector(selector: Any) -> Any:
    """``selector`` if it is ``None`` or has ``async def select(task, rollouts, verdicts)``."""
    if selector is not None and not _has_async(selector, "select"):
        raise ConfigError(
            f"selector must be a registered name or an object with async select(task, rollouts, verdicts), "
            f"got {selector!r}"
        )
    return selector


def check_verifier(verifier: Any) -> Any:
    """``verifier`` if it is ``None`` or has ``async def verify(task, rollout)``."""
    if verifier is not None and not _has_async(verifier, "verify"):
        raise ConfigError(
            f"verifier must be a registered name or an object with async verify(task, rollout), got {verifier!r}"
        )
    return verifier


def check_strategy(strategy: Any) -> Any:
    """``strategy`` if it has ``build(graph, spec)``."""
    if not callable(getattr(strategy, "build", None)):
        raise ConfigError(
            f"strategy must be a registered name or an object with build(graph, spec) -> int, got {strategy!r}"
        )
    return strategy
