"""Reflection: critique and revise, with the verifier's feedback in the prompt.

Node ``reflect`` runs after each wave of rollouts. Its ``ReflectPolicy`` decides whether to go
on: it stops once any candidate reaches the score threshold, after ``max_rounds`` rounds, or
when the budget is spent. Otherwise it revises the latest round's candidates that scored below
the threshold (never the good ones: reflecting on an already-good answer is a known way to make
it worse). Each revision is a new rollout of the same agent whose prompt holds the previous
attempt, the verifier's feedback and, optionally, a critique written by ``ScaleContext.model``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from langgraph.errors import GraphBubbleUp
from langgraph.runtime import Runtime

from agentscale.errors import ConfigError
from agentscale.state import ScaleState
from agentscale.strategies.context import ScaleContext, context_of
from agentscale.strategies.rollouts import Diversity
from agentscale.types import Rollout, Task, Verdict

__all__ = ["Reflect", "ReflectPolicy", "revision_prompt"]

_FEEDBACK_CHARS = 2000

_CRITIQUE_PROMPT = (
    "Problem:\n\n{problem}\n\nAn attempt at it:\n\n{output}\n\nA check of the attempt said "
    "(score {score:.2f} of 1):\n{feedback}\n\nIn a few sentences, say what is wrong with the attempt "
    "and how to fix it. Do not write the corrected answer."
)


def revision_prompt(rollout: Rollout, verdict: Verdict, critique: str | None = None) -> str:
    """The text appended to the task for a revision of ``rollout``."""
    feedback = (verdict.feedback or "(no details)").strip()[:_FEEDBACK_CHARS]
    parts = [
        f"Your previous attempt:\n\n{rollout.output.strip()}",
        f"A check of that attempt said (score {verdict.score:.2f} of 1):\n{feedback}",
    ]
    if critique:
        parts.append(f"A review of the attempt:\n{critique.strip()}")
    parts.append("Write a corrected, complete answer. Keep what was right and fix what the check found.")
    return "\n\n".join(parts)


@dataclass(frozen=True)
class ReflectPolicy:
    """When to reflect.

    Attributes:
        threshold: revise only candidates scoring below this; stop once any reaches it.
        max_rounds: at most this many rounds of revision.
        width: revise at most this many candidates per round (the best-scoring below the
            threshold); ``None`` = all of them.
        critique: ask ``ScaleContext.model`` for a critique before each revision.
    """

    threshold: float = 1.0
    max_rounds: int = 2
    width: int | None = None
    critique: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold <= 1.0:
            raise ConfigError(f"threshold must be in [0, 1], got {self.threshold}")
        if self.max_rounds < 0:
            raise ConfigError(f"max_rounds must be >= 0, got {self.max_rounds}")
        if self.width is not None and self.width < 1:
            raise ConfigError(f"width must be >= 1, got {self.width}")


class Reflect:
    """Node ``reflect``: decide whether to revise, and write the revision samples.

    Writes ``{"samples": [...], "round": r + 1}`` to go on, or ``{"samples": [], "stop_reason": ...}``
    to stop; route it with ``FanOut`` (``add_conditional_edges("reflect", fan_out, ["rollout", "select"])``).

    Args:
        policy: the trigger policy.
        diversity: sampling settings for the revisions (seeds continue from the run's count).
    """

    def __init__(self, policy: ReflectPolicy | None = None, *, diversity: Diversity | None = None) -> None:
        self.policy = policy or ReflectPolicy()
        self.diversity = diversity or Diversity()

    def _stop(self, reason: str) -> dict[str, Any]:
        return {"samples": [], "stop_reason": reason}

    async def __call__(self, state: ScaleState, runtime: Runtime[ScaleContext]) -> dict[str, Any]:
        ctx = context_of(runtime)
        policy = self.policy
        task = state["task"]
        rollouts = state.get("rollouts") or []
        verdicts = state.get("verdicts") or {}
        round_ = state.get("round", 0)
        if not verdicts:
            return self._stop("no verdicts")
        if max(v.score for v in verdicts.values()) >= policy.threshold:
            return self._stop("threshold reached")
        if round_ >= policy.max_rounds:
            return self._stop("max rounds")
        if ctx.budget.exhausted:
            return self._stop("budget")
        latest = [
            r
            for r in rollouts
            if r.ok
            and r.provenance.generation == round_
            and r.id in verdicts
            and verdicts[r.id].score < policy.threshold
        ]
        latest.sort(key=lambda r: verdicts[r.id].score, reverse=True)
        if policy.width is not None:
            latest = latest[: policy.width]
        if not latest:
            return self._stop("nothing to revise")
        critiques = (
            await self._critiques(task, latest, verdicts, ctx) if policy.critique else [None] * len(latest)
        )
        start = len(rollouts)
        samples = [
            self.diversity.sample(
                start + i,
                strategy="reflect",
                parents=[r.id],
                generation=round_ + 1,
                feedback=revision_prompt(r, verdicts[r.id], critique),
            )
            for i, (r, critique) in enumerate(zip(latest, critiques, strict=True))
        ]
        runtime.stream_writer(
            {"event": "reflect", "task_id": task.id, "round": round_ + 1, "revising": [r.id for r in latest]}
        )
        return {"samples": samples, "round": round_ + 1}

    async def _critiques(
        self, task: Task, rollouts: list[Rollout], verdicts: dict[str, Verdict], ctx: ScaleContext
    ) -> list[str | None]:
        if ctx.model is None:
            raise ConfigError("ReflectPolicy(critique=True) needs ScaleContext(model=...)")
        model = ctx.model

        async def critique(rollout: Rollout) -> str | None:
            verdict = verdicts[rollout.id]
            prompt = _CRITIQUE_PROMPT.format(
                problem=task.prompt,
                output=rollout.output,
                score=verdict.score,
                feedback=(verdict.feedback or "(no details)")[:_FEEDBACK_CHARS],
            )
            try:
                async with ctx.limiter():
                    completion = await model.generate([{"role": "user", "content": prompt}], temperature=0.2)
            except GraphBubbleUp:
                raise
            except Exception:  # a critique is optional help: revise on the verifier's feedback alone
                return None
            ctx.budget.charge(completion.usage)
            return completion.text

        return list(await asyncio.gather(*(critique(r) for r in rollouts)))
