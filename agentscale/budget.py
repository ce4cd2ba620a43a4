"""A budget shared by every rollout, verifier and selector of one scaled run.

Every model call charges it; strategies ask it before starting work, and stop cleanly when
it is spent, keeping what they already have. Running out is an outcome, not a crash.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from agentscale.errors import BudgetExhausted, ConfigError
from agentscale.types import Usage

__all__ = ["Budget"]


@dataclass
class Budget:
    """Limits for a whole run; ``None`` means unlimited.

    The clock starts when the budget is created (or at ``restart_clock()``). One event loop
    drives a run, and charging never awaits, so no lock is needed.

    Example:
        >>> b = Budget(max_tokens=100)
        >>> b.charge(Usage(prompt_tokens=60, completion_tokens=50))
        >>> b.exhausted
        'tokens'
    """

    max_tokens: int | None = None
    max_usd: float | None = None
    max_seconds: float | None = None
    max_rollouts: int | None = None
    spent: Usage = field(default_factory=Usage)
    rollouts_started: int = 0
    _started_at: float = field(default_factory=time.monotonic, repr=False)

    def __post_init__(self) -> None:
        for name in ("max_tokens", "max_usd", "max_seconds", "max_rollouts"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ConfigError(f"Budget.{name} must be >= 0, got {value}")

    def restart_clock(self) -> None:
        self._started_at = time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._started_at

    def charge(self, usage: Usage) -> None:
        """Add the cost of finished work (called by the model client after every call)."""
        self.spent = self.spent + usage

    @property
    def exhausted(self) -> str | None:
        """The first limit that has run out, or ``None`` while there is room."""
        if self.max_tokens is not None and self.spent.total_tokens >= self.max_tokens:
            return "tokens"
        if self.max_usd is not None and self.spent.cost_usd >= self.max_usd:
            return "usd"
        if self.max_seconds is not None and self.elapsed >= self.max_seconds:
            return "seconds"
        return None

    def check(self) -> None:
        """Raise ``BudgetExhausted`` if any limit (other than rollouts) has run out."""
        if (limit := self.exhausted) is not None:
            raise BudgetExhausted(limit)

    def start_rollout(self) -> bool:
        """Reserve one rollout; ``False`` (and nothing reserved) when no more may start."""
        if self.exhausted is not None:
            return False
        if self.max_rollouts is not None and self.rollouts_started >= self.max_rollouts:
            return False
        self.rollouts_started += 1
        return True

    def remaining(self) -> dict[str, float | None]:
        """What is left of each limit (``None`` = unlimited), for progress displays."""
        return {
            "tokens": None if self.max_tokens is None else max(0, self.max_tokens - self.spent.total_tokens),
            "usd": None if self.max_usd is None else max(0.0, self.max_usd - self.spent.cost_usd),
            "seconds": None if self.max_seconds is None else max(0.0, self.max_seconds - self.elapsed),
            "rollouts": None if self.max_rollouts is None else max(0, self.max_rollouts - self.rollouts_started),
        }
