"""Vote over normalised tool calls, for agents whose result is an action (the tool first, then its arguments)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agentscale.actions import canonical_action, canonical_arguments, last_action
from agentscale.selectors._common import best_by_score, ok_rollouts, score_of
from agentscale.types import Rollout, Selection, Task, Verdict

__all__ = ["ActionVote", "action_key"]


def action_key(rollout: Rollout) -> str | None:
    """The action a rollout votes for: its last tool call as ``canonical_action`` (``None`` abstains).

    Usable as ``AdaptivePolicy(key=action_key)`` so adaptive sampling stops once the action is settled.
    """
    found = last_action(rollout)
    return canonical_action(*found) if found is not None else None


def _winner(groups: dict[str, list[Rollout]], verdicts: Mapping[str, Verdict]) -> str:
    order = list(groups)
    return max(
        groups,
        key=lambda k: (len(groups[k]), sum(max(score_of(verdicts, r), 0.0) for r in groups[k]), -order.index(k)),
    )


@dataclass
class ActionVote:
    """Picks the action most rollouts agree on, in two rounds: the tool, then its arguments.

    Each finished rollout votes with its last tool call (``agentscale.actions.last_action``: native
    ``tool_calls`` or a text-format fenced block). First the tool with the most votes wins; then,
    among the rollouts that chose it, the arguments with the most votes (compared after
    ``canonical_arguments``: keys sorted, numbers and whitespace canonical). So five rollouts that
    click, with three different targets, beat two that type the same text: the agent most often
    meant to click, and the click most often chosen is returned.

    Ties (in either round): the larger total verifier score, then the first to appear. Within the
    winning group the best-scored rollout is returned (the earliest when none is verified).
    Rollouts without an action abstain; with no votes at all it falls back to the best verifier
    score, else the first candidate, and says so. No candidates: ``rollout_id=None``.

    ``Selection.scores`` maps each voter to the share of votes its exact action got.
    """

    name: str = "action_vote"

    async def select(self, task: Task, rollouts: Sequence[Rollout], verdicts: Mapping[str, Verdict]) -> Selection:
        """Choose by a vote over the rollouts' last actions."""
        candidates = ok_rollouts(rollouts)
        actions: dict[str, tuple[str, dict[str, Any]]] = {}
        for r in candidates:
            if (found := last_action(r)) is not None:
                actions[r.id] = found
        voters = [r for r in candidates if r.id in actions]
        if not voters:
            return best_by_score(candidates, verdicts, why="no actions to vote on; ")
        by_tool: dict[str, list[Rollout]] = {}
        for r in voters:
            by_tool.setdefault(actions[r.id][0], []).append(r)
        tool = _winner(by_tool, verdicts)
        by_args: dict[str, list[Rollout]] = {}
        for r in by_tool[tool]:
            by_args.setdefault(canonical_arguments(actions[r.id][1]), []).append(r)
        arguments = _winner(by_args, verdicts)
        members = by_args[arguments]
        chosen = max(enumerate(members), key=lambda ir: (score_of(verdicts, ir[1]), -ir[0]))[1]
        counts: dict[str, int] = {}
        for r in voters:
            key = canonical_action(*actions[r.id])
            counts[key] = counts.get(key, 0) + 1
        return Selection(
            rollout_id=chosen.id,
            scores={r.id: counts[canonical_action(*actions[r.id])] / len(voters) for r in voters},
            reason=(
                f"action vote: {len(by_tool[tool])} of {len(voters)} chose {tool!r}; "
                f"{len(members)} of those with arguments {arguments[:120]}"
            ),
        )
