"""Combine verifiers into one score: a weighted mean of their scores."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from agentscale.errors import ConfigError
from agentscale.protocols import Verifier
from agentscale.types import Rollout, Task, Verdict

__all__ = ["WeightedSum"]


def _name(verifier: Verifier) -> str:
    return str(getattr(verifier, "name", "") or type(verifier).__name__)


@dataclass
class WeightedSum:
    """Runs every verifier (concurrently) and scores ``sum(w_i * score_i) / sum(w_i)``.

    ``passed``: every part passed when ``pass_threshold`` is ``None`` (the default), else the
    combined score is at least ``pass_threshold``. Feedback lists each part's feedback under its
    name; ``evidence["parts"]`` holds each part's verdict. A part that raises propagates.

    Attributes:
        parts: ``(verifier, weight)`` pairs; weights must be >= 0 and not all 0.
        pass_threshold: see above.
        name: recorded as ``Verdict.verifier``.
    """

    parts: Sequence[tuple[Verifier, float]]
    pass_threshold: float | None = None
    name: str = "weighted_sum"

    def __post_init__(self) -> None:
        if not self.parts:
            raise ConfigError("WeightedSum needs at least one (verifier, weight) part")
        weights = [w for _, w in self.parts]
        if any(w < 0 for w in weights) or sum(weights) <= 0:
            raise ConfigError(f"WeightedSum weights must be >= 0 and not all 0, got {weights}")

    async def verify(self, task: Task, rollout: Rollout) -> Verdict:
        """Judge one rollout with every part."""
        verdicts = await asyncio.gather(*(v.verify(task, rollout) for v, _ in self.parts))
        total = sum(w for _, w in self.parts)
        score = sum(w * v.score for (_, w), v in zip(self.parts, verdicts, strict=True)) / total
        score = min(1.0, max(0.0, score))
        passed = (
            all(v.passed for v in verdicts) if self.pass_threshold is None else score >= self.pass_threshold
        )
        names = [_name(v) for v, _ in self.parts]
        feedback = "\n".join(f"[{n}] {v.feedback}".rstrip() for n, v in zip(names, verdicts, strict=True))
        return Verdict(
            rollout_id=rollout.id,
            score=score,
            passed=passed,
            feedback=feedback,
            evidence={
                "parts": [
                    {**v.model_dump(exclude={"rollout_id"}), "verifier": n, "weight": w}
                    for n, (_, w), v in zip(names, self.parts, verdicts, strict=True)
                ]
            },
            verifier=self.name,
        )
