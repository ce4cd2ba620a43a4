"""An all-must-pass gate: verifiers run in order and the first failure stops the rest."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agentscale.errors import ConfigError
from agentscale.protocols import Verifier
from agentscale.types import Rollout, Task, Verdict

__all__ = ["AllMustPass"]


def _name(verifier: Verifier) -> str:
    return str(getattr(verifier, "name", "") or type(verifier).__name__)


@dataclass
class AllMustPass:
    """Runs verifiers one after another, cheapest first; stops at the first that fails.

    Put cheap checks first (an answer format check, the docstring examples) and expensive ones
    last (hidden tests, an LLM judge): a candidate that fails a cheap gate never costs the rest.

    Verdict: ``passed`` when every verifier passed. ``score`` = the sum of the scores of the
    verifiers that ran divided by the number of verifiers (skipped ones count 0), so a candidate
    that got further scores higher. Feedback is the failing verifier's; ``evidence["parts"]``
    holds the verdicts of those that ran and ``evidence["skipped"]`` names the rest.

    Attributes:
        verifiers: in the order to run them.
        name: recorded as ``Verdict.verifier``.
    """

    verifiers: Sequence[Verifier]
    name: str = "all_must_pass"

    def __post_init__(self) -> None:
        if not self.verifiers:
            raise ConfigError("AllMustPass needs at least one verifier")

    async def verify(self, task: Task, rollout: Rollout) -> Verdict:
        """Judge one rollout, stopping at the first failure."""
        ran: list[tuple[str, Verdict]] = []
        for verifier in self.verifiers:
            verdict = await verifier.verify(task, rollout)
            ran.append((_name(verifier), verdict))
            if not verdict.passed:
                break
        passed = len(ran) == len(self.verifiers) and all(v.passed for _, v in ran)
        score = min(1.0, sum(v.score for _, v in ran) / len(self.verifiers))
        last_name, last = ran[-1]
        feedback = (
            "\n".join(f"[{n}] {v.feedback}".rstrip() for n, v in ran)
            if passed
            else f"[{last_name}] {last.feedback}"
        )
        return Verdict(
            rollout_id=rollout.id,
            score=score,
            passed=passed,
            feedback=feedback,
            evidence={
                "parts": [{**v.model_dump(exclude={"rollout_id"}), "verifier": n} for n, v in ran],
                "skipped": [_name(v) for v in self.verifiers[len(ran) :]],
            },
            verifier=self.name,
        )
