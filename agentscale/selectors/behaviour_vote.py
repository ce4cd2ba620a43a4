"""Majority vote for code: programs vote for what they did on the inputs a verifier ran them on."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from agentscale.selectors.majority_vote import MajorityVote
from agentscale.types import Rollout, Selection, Task, Verdict

__all__ = ["BehaviourVote", "behaviour_digest", "behaviour_key"]


def behaviour_key(verdict: Verdict | None) -> str | None:
    """What a program did on the checked inputs, as a vote key: programs with equal keys behaved the
    same on every check (all passing ones agree; a failing one by the value it returned or the kind
    of error it raised). ``None`` (abstain) when nothing ran: no verdict, no checks, or a program
    that did not load.

    It reads the per-check ``evidence["checks"]`` (``status``, ``got``, ``error``) that the sandboxed
    verifiers (``DocstringExamplesVerifier``, ``VisibleTestsVerifier``) write.
    """
    if verdict is None:
        return None
    evidence = verdict.evidence or {}
    checks = evidence.get("checks") or []
    if not checks or evidence.get("load_error"):
        return None
    outcome = []
    for check in checks:
        status = check.get("status")
        if status == "pass":
            outcome.append("=")
        elif status == "fail" and check.get("got") is not None:
            outcome.append(f"got {check['got']}")
        else:  # the error's type, not its text (which names lines and files)
            error = str(check.get("error") or status)
            outcome.append(f"{status} {error.split(':', 1)[0]}")
    return json.dumps(outcome)


def behaviour_digest(behaviour: str | None) -> str | None:
    """A short vote key for a ``behaviour_key``: the vote normalises answers (case, spaces), and
    returning ``"ABC"`` is not returning ``"abc"``, so it votes on a digest instead."""
    return "b" + hashlib.sha1(behaviour.encode()).hexdigest()[:20] if behaviour else None


@dataclass
class BehaviourVote:
    """Majority vote over behaviour: each rollout's answer becomes the digest of ``behaviour_key`` of
    its verdict, and ``MajorityVote`` decides (its tie-breaks and its no-votes fallback apply).

    For code, which has no short answer to vote on: programs that did the same on every checked
    input agree.
    """

    name: str = "behaviour_vote"

    async def select(self, task: Task, rollouts: Sequence[Rollout], verdicts: Mapping[str, Verdict]) -> Selection:
        """Choose by vote over behaviour."""
        voting = [
            r.model_copy(update={"answer": behaviour_digest(behaviour_key(verdicts.get(r.id)))}) for r in rollouts
        ]
        return await MajorityVote().select(task, voting, verdicts)
