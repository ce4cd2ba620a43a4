"""Earlier rollouts as ``Candidate``s for a new request to refine."""

from __future__ import annotations

from agentscale.types import Candidate, Rollout, Verdict

_OBSERVATION_CHARS = 400
_OBSERVATIONS = 3


def observations_digest(rollout: Rollout) -> str:
    """The last few tool observations of a rollout's trajectory, clipped; ``""`` when it used no tools.

    Observations are ``tool`` messages (native tool calls) and ``user`` messages that carry the
    ``name`` of the tool that produced them (the agent loop's plain-text action format).
    """
    seen = []
    for message in rollout.trajectory:
        role = message.get("role")
        if role == "tool" or (role == "user" and message.get("name")):
            content = message.get("content")
            text = content if isinstance(content, str) else str(content or "")
            name = message.get("name") or "tool"
            seen.append(f"[{name}] {text.strip()[:_OBSERVATION_CHARS]}")
    return "\n".join(seen[-_OBSERVATIONS:])


def candidate_of(rollout: Rollout, verdict: Verdict | None) -> Candidate:
    """``rollout`` with its verdict's score and feedback, for a request's ``candidates``."""
    return Candidate(
        rollout_id=rollout.id,
        output=rollout.output,
        score=verdict.score if verdict is not None else None,
        feedback=(verdict.feedback if verdict is not None else "") or "",
        observations=observations_digest(rollout),
    )
