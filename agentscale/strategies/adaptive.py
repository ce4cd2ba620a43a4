"""Adaptive sampling: sample in waves and stop as soon as the vote is settled.

Node ``assess`` runs after each wave. It counts the answers so far and stops when

- the leading answer cannot be overtaken: its lead over the runner-up is larger than the number
  of samples still allowed; or
- the vote is confident (Blend-ASC / ESC style): with a uniform Beta prior on the leader's share
  of the top two answers, the posterior probability that the leader beats the runner-up,
  ``P(Beta(top + 1, second + 1) > 1/2)``, is at least ``confidence``; a unanimous wave of 4
  gives 0.97; or
- (with ``stop_on_pass``) some rollout passed the verifier, or the sample limit or the budget
  is reached.

Waves are ordinary ``Send`` fan-outs, so each wave is checkpointed like any other step.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from langgraph.graph import StateGraph
from langgraph.runtime import Runtime

from agentscale.answers import extract_answer, normalize_answer
from agentscale.errors import ConfigError
from agentscale.protocols import Selector
from agentscale.state import ScaleState, VoteEvent
from agentscale.strategies import _wiring
from agentscale.strategies.context import ScaleContext, context_of, task_update
from agentscale.strategies.rollouts import Diversity, check_count, check_diversity
from agentscale.strategies.select import resolve_selector
from agentscale.strategies.spec import ScaleSpec
from agentscale.types import Rollout

__all__ = ["Adaptive", "AdaptivePolicy", "AssessVote", "answer_key", "vote_confidence"]


def answer_key(rollout: Rollout) -> str | None:
    """The default vote key, the same the majority-vote selector groups by: ``rollout.answer``,
    else the answer extracted from its output, normalised (``"$\\boxed{1,000}$"`` -> ``"1000"``)."""
    answer = rollout.answer if rollout.answer is not None else extract_answer(rollout.output)
    return normalize_answer(answer) or None if answer else None


def vote_confidence(top: int, second: int) -> float:
    """``P(Beta(top + 1, second + 1) > 1/2)``: how sure we are the leader beats the runner-up.

    For integer parameters this is a binomial tail: ``P(Binomial(top + second + 1, 1/2) <= top)``.

    Example:
        >>> round(vote_confidence(4, 0), 4)
        0.9688
        >>> vote_confidence(2, 2)
        0.5
    """
    n = top + second + 1
    return sum(math.comb(n, k) for k in range(top + 1)) / 2**n


@dataclass(frozen=True)
class AdaptivePolicy:
    """When adaptive sampling stops.

    Attributes:
        wave: rollouts per wave.
        max_samples: never more rollouts than this in all.
        confidence: stop once ``vote_confidence`` reaches this.
        stop_on_pass: stop as soon as a rollout passes the verifier.
        key: rollout -> the answer it votes for (``None`` abstains).
    """

    wave: int = 4
    max_samples: int = 16
    confidence: float = 0.95
    stop_on_pass: bool = False
    key: Callable[[Rollout], str | None] = answer_key

    def __post_init__(self) -> None:
        check_count(self.wave, "AdaptivePolicy.wave")
        check_count(self.max_samples, "AdaptivePolicy.max_samples")
        if not 0.5 < self.confidence <= 1.0:
            raise ConfigError(f"confidence must be in (0.5, 1], got {self.confidence}")


class AssessVote:
    """Node ``assess``: stop if the vote is settled, else write the next wave's samples.

    Writes ``{"requests": [...], "round": w + 1}`` or ``{"requests": [], "stop_reason": ...}``;
    route it with ``FanOut``.

    Args:
        policy: the stopping rule.
        diversity: sampling settings for later waves (indices and seeds continue).
        context: the ``ScaleContext`` to use when the runtime context is not one (nesting).
    """

    def __init__(
        self,
        policy: AdaptivePolicy | None = None,
        *,
        diversity: Diversity | None = None,
        context: ScaleContext | None = None,
    ) -> None:
        self.policy = policy or AdaptivePolicy()
        self.diversity = diversity or Diversity()
        self.context = context

    async def __call__(self, state: ScaleState, runtime: Runtime[ScaleContext]) -> dict[str, Any]:
        ctx = context_of(runtime, self.context)
        policy = self.policy
        task, _ = task_update(state)
        rollouts = state.get("rollouts") or []
        verdicts = state.get("verdicts") or {}
        counts = Counter(k for r in rollouts if r.ok and (k := policy.key(r)) is not None)
        ranked = counts.most_common(2)
        top = ranked[0][1] if ranked else 0
        second = ranked[1][1] if len(ranked) > 1 else 0
        remaining = policy.max_samples - len(rollouts)
        confidence = vote_confidence(top, second) if top else 0.0
        reason = None
        if policy.stop_on_pass and any(verdicts[r.id].passed for r in rollouts if r.id in verdicts):
            reason = "passed"
        elif top and top - second > max(remaining, 0):
            reason = "settled"
        elif top and confidence >= policy.confidence:
            reason = "confident"
        elif remaining <= 0:
            reason = "max samples"
        elif ctx.budget.exhausted:
            reason = "budget"
        runtime.stream_writer(
            VoteEvent(
                event="vote",
                task_id=task.id,
                counts=dict(counts),
                leader=ranked[0][0] if ranked else None,
                confidence=confidence,
                settled=reason is not None,
            )
        )
        if reason is not None:
            return {"requests": [], "stop_reason": reason}
        start = len(rollouts)
        wave = state.get("round", 0) + 1
        requests = [self.diversity.request(start + i, generation=0) for i in range(min(policy.wave, remaining))]
        return {"requests": requests, "round": wave}


@dataclass(frozen=True)
class Adaptive:
    """Adaptive sampling: ``prepare -> rollout (wave) -> assess -> rollout (next wave) ... -> select``.

    Attributes:
        policy: when to stop (default: waves of ``min(4, n)`` up to ``n`` rollouts).
        n: the most rollouts in all (``policy.max_samples``; give one or the other, or both equal).
        diversity: how rollouts differ.
        plans: PlanSearch plans for the rollouts (see ``BestOfN``).
        selector: a ``Selector`` or registry name (default: a majority vote, or the best score
            with ``stop_on_pass``).
    """

    name: ClassVar[str] = "adaptive"
    policy: AdaptivePolicy | None = None
    n: int | None = None
    diversity: Diversity | None = None
    plans: int = 0
    selector: Selector | str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "diversity", check_diversity(self.diversity))
        if self.policy is not None and not isinstance(self.policy, AdaptivePolicy):
            raise ConfigError(f"Adaptive takes an AdaptivePolicy, got {type(self.policy).__name__}")
        if self.n is not None:
            check_count(self.n)
        check_count(self.plans, "plans", minimum=0)
        if self.policy is None:
            total = self.n or 8
            object.__setattr__(self, "policy", AdaptivePolicy(max_samples=total, wave=min(4, total)))
        elif self.n is not None and self.n != self.policy.max_samples:
            raise ConfigError(f"n={self.n} disagrees with AdaptivePolicy(max_samples={self.policy.max_samples})")
        object.__setattr__(self, "selector", resolve_selector(self.selector))

    def build(self, graph: StateGraph, spec: ScaleSpec) -> int:
        """Wire ``prepare``, ``rollout``, ``assess`` and ``select`` between ``spec.entry`` and ``spec.exit``."""
        policy = self.policy
        assert policy is not None  # set in __post_init__
        diversity = self.diversity or Diversity()
        selector = spec.selector or self.selector
        if selector is None and not policy.stop_on_pass:
            selector = resolve_selector("majority")
        _wiring.sample(graph, spec, min(policy.wave, policy.max_samples), diversity=diversity, plans=self.plans)
        _wiring.loop(graph, "assess", AssessVote(policy, diversity=diversity, context=spec.context))
        _wiring.select(graph, spec, selector)
        waves = -(-policy.max_samples // min(policy.wave, policy.max_samples))
        return 2 * waves + 3
