"""Small local verifiers, selectors and agents for the strategy control-flow tests."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence

from agentscale.types import Rollout, Selection, Task, Usage, Verdict


class ScoreVerifier:
    """Scores a rollout with ``score(output) -> float``; passes at ``>= pass_at``."""

    def __init__(self, score: Callable[[str], float], pass_at: float = 1.0) -> None:
        self.score = score
        self.pass_at = pass_at
        self.seen: list[str] = []

    async def verify(self, task: Task, rollout: Rollout) -> Verdict:
        self.seen.append(rollout.id)
        s = max(0.0, min(1.0, self.score(rollout.output)))
        return Verdict(
            rollout_id=rollout.id, score=s, passed=s >= self.pass_at, feedback=f"score was {s:.2f}"
        )


class MajoritySelector:
    """Picks the most common answer (first seen wins ties)."""

    async def select(
        self, task: Task, rollouts: Sequence[Rollout], verdicts: Mapping[str, Verdict]
    ) -> Selection:
        counts = Counter((r.answer or r.output).strip() for r in rollouts)
        best = max(
            counts, key=lambda a: (counts[a], -[(r.answer or r.output).strip() for r in rollouts].index(a))
        )
        winner = next(r for r in rollouts if (r.answer or r.output).strip() == best)
        return Selection(
            rollout_id=winner.id, scores={k: float(v) for k, v in counts.items()}, reason="majority"
        )


def rollout(task: Task, output: str, tokens: int = 10) -> Rollout:
    return Rollout(
        task_id=task.id, output=output, usage=Usage(prompt_tokens=tokens, completion_tokens=tokens, calls=1)
    )
