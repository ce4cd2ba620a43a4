"""A budget shared by every rollout, verifier and selector of one scaled run, and the usage
ledger that charges each rollout to it exactly once.

Every model call charges it; strategies ask it before starting work, and stop cleanly when
it is spent, keeping what they already have. Running out is an outcome, not a crash.

**Charged exactly once.** Work can be counted in three places: an agent reports usage on its
``Rollout``, a model client measures every call it makes, and a client given the budget
(``LLM(budget=b)``) charges it call by call. A ``UsageLedger`` (``usage_ledger()``, held in a
``contextvars.ContextVar`` so concurrent rollouts never mix) records, while it is open, what
every model call measured (``record_usage``, called by ``agentscale.llm.LLM`` and the test doubles)
and what was charged to each budget (``Budget.charge``). ``UsageLedger.settle`` then takes the
larger of reported and measured usage, field by field, and charges the budget only what was not
charged already. Ledgers nest: what an inner one records, its outer ones record too.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from agentscale.errors import BudgetExhausted, ConfigError
from agentscale.types import Completion, Usage

__all__ = ["Budget", "UsageLedger", "charged_generate", "record_usage", "usage_ledger"]


@dataclass
class UsageLedger:
    """What was measured and charged while this ledger was open (see the module docstring).

    Attributes:
        measured: the usage every model call reported through ``record_usage``, added up.
        parent: the ledger that was open when this one was opened (it records everything too).
    """

    measured: Usage = field(default_factory=Usage)
    parent: UsageLedger | None = None
    _charged: dict[int, tuple[Budget, Usage]] = field(default_factory=dict, repr=False)

    def charged_to(self, budget: Budget) -> Usage:
        """What was charged to ``budget`` (this very object) while the ledger was open."""
        entry = self._charged.get(id(budget))
        return entry[1] if entry is not None and entry[0] is budget else Usage()

    def settle(self, budget: Budget, reported: Usage | None = None) -> Usage:
        """Charge ``budget`` what the work cost beyond what was already charged to it; call it once
        the ledger is closed.

        Args:
            budget: the budget to charge.
            reported: what the work says it cost (e.g. ``Rollout.usage``).

        Returns:
            The work's usage: field by field, the larger of ``reported`` and ``measured``.
        """
        usage = (reported or Usage()).most(self.measured)
        owed = usage.beyond(self.charged_to(budget))
        if owed != Usage():
            budget.charge(owed)
        return usage

    def _add_charge(self, budget: Budget, usage: Usage) -> None:
        ledger: UsageLedger | None = self
        while ledger is not None:
            _, so_far = ledger._charged.get(id(budget), (budget, Usage()))
            ledger._charged[id(budget)] = (budget, so_far + usage)
            ledger = ledger.parent

    def _add_measured(self, usage: Usage) -> None:
        ledger: UsageLedger | None = self
        while ledger is not None:
            ledger.measured = ledger.measured + usage
            ledger = ledger.parent


_LEDGER: ContextVar[UsageLedger | None] = ContextVar("agentscale_usage_ledger", default=None)


@contextmanager
def usage_ledger(*, detached: bool = False) -> Iterator[UsageLedger]:
    """Open a ledger for the work done inside the block (in this task and the tasks it starts).

    Args:
        detached: start a new chain: what is recorded here is not recorded by the ledgers
            already open (for work that is not the enclosing rollout's, e.g. its verification).
    """
    ledger = UsageLedger(parent=None if detached else _LEDGER.get())
    token = _LEDGER.set(ledger)
    try:
        yield ledger
    finally:
        _LEDGER.reset(token)


def record_usage(usage: Usage) -> None:
    """Record what one model call measured into the open ledgers (nothing happens without one).

    Model clients call this once per finished call, whether or not they charge a budget.
    """
    ledger = _LEDGER.get()
    if ledger is not None:
        ledger._add_measured(usage)


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
        """Add the cost of finished work (called by the model client after every call).

        The open usage ledgers note it, so the rollout it belongs to is not charged for it again.
        """
        self.spent = self.spent + usage
        ledger = _LEDGER.get()
        if ledger is not None:
            ledger._add_charge(self, usage)

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


async def charged_generate(model: Any, budget: Budget, prompt: Any, **options: Any) -> Completion:
    """``model.generate(prompt, **options)``, checked against ``budget`` first and charged to it
    exactly once, whether or not the model client charges it itself.

    Raises:
        BudgetExhausted: the budget was spent before the call.
    """
    budget.check()
    with usage_ledger() as ledger:
        completion = await model.generate(prompt, **options)
    ledger.settle(budget, completion.usage)
    return completion
