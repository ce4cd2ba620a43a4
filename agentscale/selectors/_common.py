"""Helpers shared by the selectors: answers, clusters, scores, and the score-based fallback."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from agentscale.answers import extract_answer, normalize_answer
from agentscale.types import Rollout, Selection, Verdict

__all__ = ["answer_key", "best_by_score", "clusters", "ok_rollouts", "score_of"]


def ok_rollouts(rollouts: Sequence[Rollout]) -> list[Rollout]:
    """The rollouts that finished (``status == "ok"``); failed ones never win a selection."""
    return [r for r in rollouts if r.ok]


def answer_key(rollout: Rollout) -> str:
    """The normalised answer a rollout votes for: ``rollout.answer``, else one extracted from its
    output; ``""`` (abstain) when there is none."""
    answer = rollout.answer if rollout.answer is not None else extract_answer(rollout.output)
    return normalize_answer(answer)


def clusters(rollouts: Sequence[Rollout]) -> dict[str, list[Rollout]]:
    """Rollouts grouped by ``answer_key``, in order of first appearance; abstainers left out."""
    groups: dict[str, list[Rollout]] = {}
    for rollout in rollouts:
        if key := answer_key(rollout):
            groups.setdefault(key, []).append(rollout)
    return groups


def score_of(verdicts: Mapping[str, Verdict], rollout: Rollout) -> float:
    """The rollout's verdict score, or -1 when it has no verdict (so unverified never beats verified)."""
    verdict = verdicts.get(rollout.id)
    return verdict.score if verdict is not None else -1.0


def best_by_score(rollouts: Sequence[Rollout], verdicts: Mapping[str, Verdict], *, why: str = "") -> Selection:
    """The highest verdict score, passed before failed at equal score, earliest on a full tie.

    Args:
        rollouts: candidates (already filtered to finished ones).
        verdicts: by rollout id; may be empty.
        why: a prefix for the reason (e.g. why a fallback was needed).

    Returns:
        The selection; ``rollout_id=None`` when there are no candidates.
    """
    if not rollouts:
        return Selection(rollout_id=None, reason=f"{why}no candidates".strip())

    def rank(item: tuple[int, Rollout]) -> tuple[float, bool, int]:
        i, r = item
        verdict = verdicts.get(r.id)
        return (score_of(verdicts, r), bool(verdict and verdict.passed), -i)

    _, best = max(enumerate(rollouts), key=rank)
    scores = {r.id: score_of(verdicts, r) for r in rollouts if r.id in verdicts}
    if best.id not in verdicts:
        return Selection(rollout_id=best.id, scores=scores, reason=f"{why}first candidate (nothing verified)")
    verdict = verdicts[best.id]
    state = "passed" if verdict.passed else "none passed; best failing"
    return Selection(
        rollout_id=best.id, scores=scores, reason=f"{why}highest verifier score {verdict.score:.3g} ({state})"
    )
