"""Compute-optimal allocation across tasks: who gets the next rollouts, and who should stop.

Fixed N wastes rollouts on tasks that are already solved and starves the hard ones. The planner
looks at each task's rollouts so far (``TaskProgress``: verifier scores, passes, vote counts, cost
per rollout), estimates its **success curve** (the chance it ends solved after ``k`` more
rollouts), and hands the next rollouts out greedily by **expected gain per unit of cost**, until
the budget, the wave or every curve runs flat. Tasks whose curve is flat are **saturated**:
more rollouts would not pay, so the caller stops them.

It is one pure function, :func:`plan_allocation`: a batch loop calls it between waves
(``plan -> run the allocated rollouts -> plan``), and the ``planned`` strategy
(``agentscale.strategies.Planned``) calls it after each wave of one task.

**The two curves** (``success_curve``):

- *Verified tasks* (some rollout has a verifier score): success is "some rollout passes". A task
  with a pass is solved: saturated. Otherwise each rollout passes with an unknown chance ``p``
  with a ``Beta(a, b)`` prior (``PlanPolicy.prior``, Jeffreys' ``(0.5, 0.5)`` by default: most
  tasks are either easy or hard). A failing rollout with score ``s`` counts as ``c * s`` of a
  pass and ``1 - c * s`` of a failure (``c = PlanPolicy.partial_credit``): a program passing half
  its checks is closer than one passing none. Then ``P(solved after k more) = 1 - E[(1 - p)^k]
  = 1 - prod_{i<k} (b + i) / (a + b + i)``: every failure makes the next rollout look less
  promising, which is what moves rollouts from hopeless tasks to promising ones.
- *Voted tasks* (answers, no verifier): success is "the vote's leader is the answer the vote
  converges to". With ``t`` and ``r`` votes for the two leading answers, the leader's share of the
  two is ``q ~ Beta(t + 1, r + 1)`` and the confidence is ``V = max(P(q > 1/2), P(q < 1/2))``.
  After ``k`` more votes it is ``E[V(t + J, r + k - J)]`` with ``J`` Beta-binomial (the value of
  the information ``k`` more samples bring): a 2-2 split gains a lot from more votes, an 8-0
  vote nothing.

A task without rollouts uses the verified curve with the prior alone.

**Greedy.** A task's rate is its best expected gain per rollout over the next
``PlanPolicy.lookahead`` rollouts (a vote's curve moves by parity, so one step can undersell
two); its priority is that rate divided by its cost per rollout. Each rollout goes to the
highest priority that still fits the budget; the task's rate is then recomputed one rollout
further along. A task whose rate is below ``PlanPolicy.min_gain`` gets nothing more.

Example:
    >>> split = TaskProgress("split", votes={"4": 2, "5": 2})
    >>> settled = TaskProgress("settled", votes={"4": 8})
    >>> plan = plan_allocation([split, settled], budget=4)
    >>> plan.rollouts, plan.saturated
    ({'split': 4, 'settled': 0}, ['settled'])
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

from agentscale.errors import ConfigError

if TYPE_CHECKING:
    from agentscale.budget import Budget
    from agentscale.types import Rollout, Verdict

__all__ = ["Allocation", "PlanPolicy", "TaskProgress", "plan_allocation", "success_curve"]


def _check_count(value: Any, name: str, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be an int >= {minimum}, got {value!r}")


@dataclass(frozen=True)
class TaskProgress:
    """One task's rollouts so far, as the planner sees them.

    Attributes:
        task_id: the task.
        scores: the verifier scores (in [0, 1]) of its finished rollouts; a rollout that failed
            to run counts as 0 when the task is verified.
        passed: how many of them passed verification.
        votes: answer -> how many rollouts gave it (for tasks voted on, without a verifier).
        rollouts: finished rollouts (default: the most of ``len(scores)`` and the votes cast).
        cost: the mean cost of one rollout in budget units (tokens, usually); ``None`` = the
            batch's mean, else ``PlanPolicy.default_cost``.
    """

    task_id: str
    scores: tuple[float, ...] = ()
    passed: int = 0
    votes: Mapping[str, int] = field(default_factory=dict)
    rollouts: int | None = None
    cost: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "scores", tuple(self.scores))
        if not all(isinstance(s, int | float) and 0.0 <= s <= 1.0 for s in self.scores):
            raise ConfigError(f"task {self.task_id!r}: scores must be numbers in [0, 1], got {self.scores!r}")
        _check_count(self.passed, f"task {self.task_id!r}: passed", 0)
        if self.passed > len(self.scores):
            raise ConfigError(f"task {self.task_id!r}: {self.passed} passed but only {len(self.scores)} scores")
        for answer, count in self.votes.items():
            _check_count(count, f"task {self.task_id!r}: votes[{answer!r}]", 0)
        if self.rollouts is not None:
            _check_count(self.rollouts, f"task {self.task_id!r}: rollouts", 0)
        if self.cost is not None and (not isinstance(self.cost, int | float) or self.cost <= 0):
            raise ConfigError(f"task {self.task_id!r}: cost must be a number > 0, got {self.cost!r}")

    @property
    def done(self) -> int:
        """Finished rollouts."""
        return self.rollouts if self.rollouts is not None else max(len(self.scores), sum(self.votes.values()))

    @property
    def mode(self) -> Literal["verified", "voted"]:
        """Which curve applies: ``"voted"`` when there are votes and no scores, else ``"verified"``."""
        return "voted" if not self.scores and sum(self.votes.values()) else "verified"

    @classmethod
    def from_rollouts(
        cls,
        task_id: str,
        rollouts: Sequence[Rollout],
        verdicts: Mapping[str, Verdict],
        *,
        key: Callable[[Rollout], str | None] | None = None,
    ) -> TaskProgress:
        """A task's progress from a run's ``rollouts`` and ``verdicts`` (e.g. a ``scale()`` result state).

        Rollouts that were never started or were cancelled (``status`` ``"budget"``,
        ``"cancelled"``) are left out; ones that failed (``"error"``) count as score 0 when any
        rollout was verified. ``key`` (rollout -> answer, ``None`` to abstain) fills ``votes``.
        The cost is the mean ``usage.total_tokens`` of the rollouts counted.
        """
        ran = [r for r in rollouts if r.status in ("ok", "error")]
        verified = any(r.id in verdicts for r in ran)
        scores = [verdicts[r.id].score if r.id in verdicts else 0.0 for r in ran] if verified else []
        passed = sum(1 for r in ran if r.id in verdicts and verdicts[r.id].passed)
        votes: dict[str, int] = {}
        if key is not None:
            for r in ran:
                if r.ok and (answer := key(r)) is not None:
                    votes[answer] = votes.get(answer, 0) + 1
        tokens = [r.usage.total_tokens for r in ran if r.usage.total_tokens > 0]
        return cls(
            task_id=task_id,
            scores=tuple(scores),
            passed=passed,
            votes=votes,
            rollouts=len(ran),
            cost=sum(tokens) / len(tokens) if tokens else None,
        )


@dataclass(frozen=True)
class PlanPolicy:
    """How the planner estimates curves and hands out rollouts.

    Attributes:
        prior: the ``Beta(a, b)`` prior of a rollout's chance to pass (verified tasks).
        partial_credit: how much of a pass a failing rollout's score counts for (0 = none).
        min_gain: a task whose best expected gain per rollout is below this is saturated
            (0.01: one more rollout would raise its chance of success by less than a point).
        lookahead: rates look this many rollouts ahead.
        max_per_task: the most rollouts a task may have in all (``None``: no cap).
        per_task: the most rollouts one task gets in one call (``None``: no cap).
        wave: the most rollouts one call hands out in all (``None``: only the budget limits).
        default_cost: a rollout's cost when no task has measured one.
    """

    prior: tuple[float, float] = (0.5, 0.5)
    partial_credit: float = 0.5
    min_gain: float = 0.01
    lookahead: int = 4
    max_per_task: int | None = None
    per_task: int | None = None
    wave: int | None = None
    default_cost: float = 1.0

    def __post_init__(self) -> None:
        a, b = self.prior
        if not (a > 0 and b > 0):
            raise ConfigError(f"PlanPolicy.prior must be two numbers > 0, got {self.prior!r}")
        if not 0.0 <= self.partial_credit <= 1.0:
            raise ConfigError(f"PlanPolicy.partial_credit must be in [0, 1], got {self.partial_credit}")
        if not 0.0 <= self.min_gain < 1.0:
            raise ConfigError(f"PlanPolicy.min_gain must be in [0, 1), got {self.min_gain}")
        _check_count(self.lookahead, "PlanPolicy.lookahead", 1)
        for name in ("max_per_task", "per_task", "wave"):
            if getattr(self, name) is not None:
                _check_count(getattr(self, name), f"PlanPolicy.{name}", 0)
        if not self.default_cost > 0:
            raise ConfigError(f"PlanPolicy.default_cost must be > 0, got {self.default_cost}")


@dataclass(frozen=True)
class Allocation:
    """What the planner decided for one wave.

    Attributes:
        rollouts: task id -> how many rollouts it gets next (0: none this wave).
        saturated: tasks to stop, in input order (solved, settled, capped, or a flat curve).
        reasons: saturated task id -> why (``"passed"``, ``"settled"``, ``"max rollouts"``, ``"flat"``).
        success: task id -> its estimated chance of success now.
        gains: task id -> the expected gain in that chance from the rollouts it was given.
        cost: what the allocated rollouts are expected to cost, in budget units.
    """

    rollouts: dict[str, int]
    saturated: list[str]
    reasons: dict[str, str]
    success: dict[str, float]
    gains: dict[str, float]
    cost: float

    @property
    def total(self) -> int:
        """Rollouts handed out in all."""
        return sum(self.rollouts.values())

    def order(self) -> list[str]:
        """Task ids with rollouts, highest expected gain first."""
        return sorted((t for t, k in self.rollouts.items() if k), key=lambda t: -self.gains[t])


# ---- success curves -------------------------------------------------------------------------


def _binomial_tail(top: int, second: int) -> float:
    """``P(Beta(top + 1, second + 1) > 1/2)`` (as ``agentscale.strategies.vote_confidence``)."""
    n = top + second + 1
    return sum(math.comb(n, k) for k in range(top + 1)) / 2**n


@lru_cache(maxsize=4096)
def _vote_value(top: int, second: int) -> float:
    confidence = _binomial_tail(top, second)
    return max(confidence, 1.0 - confidence)


def _beta_binomial(k: int, alpha: float, beta: float) -> list[float]:
    log_norm = math.lgamma(alpha) + math.lgamma(beta) - math.lgamma(alpha + beta)
    pmf = []
    for j in range(k + 1):
        log_b = math.lgamma(j + alpha) + math.lgamma(k - j + beta) - math.lgamma(k + alpha + beta)
        pmf.append(math.comb(k, j) * math.exp(log_b - log_norm))
    return pmf


def _voted_curve(votes: Mapping[str, int], k: int) -> list[float]:
    counts = sorted((c for c in votes.values() if c > 0), reverse=True) + [0, 0]
    top, second = counts[0], counts[1]
    curve = []
    for extra in range(k + 1):
        pmf = _beta_binomial(extra, top + 1, second + 1)
        curve.append(sum(p * _vote_value(top + j, second + extra - j) for j, p in enumerate(pmf)))
    return curve


def _verified_curve(progress: TaskProgress, k: int, policy: PlanPolicy) -> list[float]:
    if progress.passed:
        return [1.0] * (k + 1)
    a0, b0 = policy.prior
    credit = policy.partial_credit * sum(progress.scores)
    failures = max(progress.done, len(progress.scores))
    a, b = a0 + credit, b0 + failures - credit
    curve, miss = [0.0], 1.0
    for i in range(k):
        miss *= (b + i) / (a + b + i)
        curve.append(1.0 - miss)
    return curve


def success_curve(progress: TaskProgress, k: int, policy: PlanPolicy | None = None) -> list[float]:
    """The task's estimated chance of success now and after each of ``k`` more rollouts.

    Args:
        progress: the task's rollouts so far.
        k: how many more rollouts to look at.
        policy: the prior and partial credit (default ``PlanPolicy()``).

    Returns:
        ``k + 1`` numbers in [0, 1], non-decreasing: index ``j`` is the chance after ``j`` more.

    Example:
        >>> [round(x, 3) for x in success_curve(TaskProgress("t", scores=(0.0, 0.0)), 2)]
        [0.0, 0.167, 0.271]
    """
    _check_count(k, "k", 0)
    policy = policy or PlanPolicy()
    if progress.mode == "voted":
        return _voted_curve(progress.votes, k)
    return _verified_curve(progress, k, policy)


# ---- the greedy allocation --------------------------------------------------------------------


def _budget_units(budget: float | Budget | None) -> tuple[float, bool]:
    """``(amount, per_rollout)``: what is left to spend, and whether a unit is one rollout."""
    from agentscale.budget import Budget

    if budget is None:
        return math.inf, False
    if isinstance(budget, Budget):
        left = budget.remaining()
        if budget.exhausted:
            return 0.0, False
        if left["tokens"] is not None:
            return float(left["tokens"]), False
        if left["rollouts"] is not None:
            return float(left["rollouts"]), True
        raise ConfigError("the Budget has no token or rollout limit: give plan_allocation a number to spend")
    if isinstance(budget, bool) or not isinstance(budget, int | float) or budget < 0 or math.isnan(budget):
        raise ConfigError(f"budget must be a number >= 0, a Budget or None, got {budget!r}")
    return float(budget), False


@dataclass
class _Task:
    progress: TaskProgress
    cost: float
    room: float
    """Rollouts it may still have in all (``max_per_task``)."""
    cap: float
    """Rollouts it may get in this call (``room`` and ``per_task``)."""
    policy: PlanPolicy
    given: int = 0
    _curve: list[float] = field(default_factory=list)

    def curve(self, upto: int) -> list[float]:
        if len(self._curve) <= upto:
            self._curve = success_curve(self.progress, max(upto, 2 * len(self._curve), 8), self.policy)
        return self._curve

    def rate(self) -> float:
        """Best expected gain per rollout over the lookahead, from where the allocation stands."""
        steps = int(min(self.policy.lookahead, self.room - self.given))
        if steps <= 0:
            return 0.0
        curve = self.curve(self.given + steps)
        now = curve[self.given]
        return max((curve[self.given + h] - now) / h for h in range(1, steps + 1))


def _saturation(task: _Task) -> str | None:
    progress = task.progress
    if progress.mode == "verified" and progress.passed:
        return "passed"
    if task.room <= 0:
        return "max rollouts"
    if task.rate() < task.policy.min_gain:
        return "settled" if progress.mode == "voted" else "flat"
    return None


def plan_allocation(
    states: Sequence[TaskProgress], budget: float | Budget | None, *, policy: PlanPolicy | None = None
) -> Allocation:
    """Decide how many next rollouts each task gets, and which tasks are saturated.

    Args:
        states: each task's progress (ids must be unique).
        budget: what is left to spend: a number in the tasks' cost units (tokens, usually), a
            ``Budget`` (its remaining tokens; or its remaining rollouts, each costing 1, when it
            limits only rollouts), or ``None`` for no limit (then ``policy`` must bound the wave).
        policy: curves and limits (default ``PlanPolicy()``).

    Returns:
        The ``Allocation``: highest expected gain per cost first, within the budget, the wave
        and the per-task caps; saturated tasks get nothing.

    Raises:
        ConfigError: duplicate task ids, a bad budget, or no bound at all on the wave.
    """
    policy = policy or PlanPolicy()
    ids = [s.task_id for s in states]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"plan_allocation: task ids must be unique, got {ids}")
    left, per_rollout = _budget_units(budget)
    if math.isinf(left) and policy.wave is None and policy.per_task is None and policy.max_per_task is None:
        raise ConfigError("plan_allocation without a budget needs PlanPolicy(wave=...), per_task or max_per_task")
    measured = [s.cost for s in states if s.cost is not None]
    fallback = sum(measured) / len(measured) if measured else policy.default_cost
    tasks: dict[str, _Task] = {}
    for s in states:
        room = math.inf if policy.max_per_task is None else max(policy.max_per_task - s.done, 0)
        cap = room if policy.per_task is None else min(room, policy.per_task)
        cost = 1.0 if per_rollout else (s.cost if s.cost is not None else fallback)
        tasks[s.task_id] = _Task(s, cost, room, cap, policy)

    reasons = {tid: why for tid, t in tasks.items() if (why := _saturation(t)) is not None}
    heap = [(-t.rate() / t.cost, i, tid) for i, (tid, t) in enumerate(tasks.items()) if tid not in reasons]
    heapq.heapify(heap)
    spent, handed = 0.0, 0
    wave = math.inf if policy.wave is None else policy.wave
    while heap and handed < wave:
        _, i, tid = heapq.heappop(heap)
        task = tasks[tid]
        rate = task.rate()
        if rate < policy.min_gain or task.given >= task.cap or spent + task.cost > left + 1e-9:
            continue  # nothing worthwhile, capped, or unaffordable: the others may still fit
        task.given += 1
        spent += task.cost
        handed += 1
        heapq.heappush(heap, (-task.rate() / task.cost, i, tid))

    success, gains = {}, {}
    for tid, t in tasks.items():
        curve = t.curve(t.given)
        success[tid] = curve[0]
        gains[tid] = curve[t.given] - curve[0]
    return Allocation(
        rollouts={tid: t.given for tid, t in tasks.items()},
        saturated=[tid for tid in ids if tid in reasons],
        reasons=reasons,
        success=success,
        gains=gains,
        cost=spent,
    )
