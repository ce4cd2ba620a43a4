"""A pointwise LLM judge: a model scores one candidate from 0 to 10."""

from __future__ import annotations

from dataclasses import dataclass

from agentscale._judging import candidate_text, parse_score, schema_options, score_schema
from agentscale.errors import ConfigError
from agentscale.protocols import Model
from agentscale.types import Message, Rollout, Task, Usage, Verdict

__all__ = ["LLMJudge"]

_SYSTEM = "You are a careful, strict judge of answers. You reply with JSON only."
_ASK = """Task:
{task}

Candidate answer:
{candidate}
{reference}
Judge the candidate on {criteria}. Reply with only this JSON, nothing else:
{{"score": <integer from 0 (wrong) to 10 (perfect)>, "reason": "<one short sentence>"}}"""
_REASK = 'I could not read a score in that. Reply with only JSON, for example: {"score": 7, "reason": "..."}'


@dataclass
class LLMJudge:
    """Asks ``model`` to score one candidate 0-10, as JSON, and reads the reply robustly.

    With ``structured=True`` (the default) and a model that takes a JSON schema (``agentscale.llm.LLM``),
    the reply is constrained to ``{"score": 0-10, "reason": "..."}`` by the server as it generates.
    Otherwise the reply may be JSON (fenced or followed by chatter), ``Score: 7/10``, ``7 out of 10``
    or a bare number (see ``agentscale._judging.parse_score``). On an unreadable or out-of-range reply
    the judge is re-asked, in the same conversation, up to ``max_attempts`` times in all; after
    that the verdict is ``passed=False, score=0`` with feedback saying the judge's output was
    unparseable and every reply in ``evidence["replies"]``. Model errors propagate (the verify
    node turns them into failed verdicts).

    Verdict: ``score`` = judge score / 10, ``passed`` = judge score >= ``pass_score``; the
    judge's reason is the feedback.

    Attributes:
        model: the judge.
        criteria: what to judge on, in words.
        pass_score: the lowest 0-10 score that passes.
        max_attempts: asks in all, the first included.
        show_reference: include ``task.expected`` in the prompt as a reference answer.
        temperature: sampling temperature for the judge.
        max_tokens: reply length cap.
        structured: constrain the reply with the verdict's JSON schema where the model takes one.
        name: recorded as ``Verdict.verifier``.
    """

    model: Model
    criteria: str = "correctness: does it fully and correctly solve the task?"
    pass_score: float = 7.0
    max_attempts: int = 3
    show_reference: bool = False
    temperature: float | None = 0.0
    max_tokens: int | None = 256
    structured: bool = True
    name: str = "llm_judge"

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigError(f"LLMJudge.max_attempts must be >= 1, got {self.max_attempts}")
        if not 0 <= self.pass_score <= 10:
            raise ConfigError(f"LLMJudge.pass_score must be in [0, 10], got {self.pass_score}")

    def messages(self, task: Task, rollout: Rollout) -> list[Message]:
        """The first prompt the judge sees."""
        reference = ""
        if self.show_reference and task.expected is not None:
            reference = f"\nReference answer (may be phrased differently):\n{task.expected}\n"
        ask = _ASK.format(
            task=task.prompt.strip(),
            candidate=candidate_text(rollout),
            reference=reference,
            criteria=self.criteria,
        )
        return [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": ask}]

    async def verify(self, task: Task, rollout: Rollout) -> Verdict:
        """Judge one rollout."""
        if not rollout.ok:
            why = f"the rollout failed ({rollout.status}): {rollout.error or 'no output'}"
            return Verdict(rollout_id=rollout.id, score=0.0, passed=False, feedback=why, verifier=self.name)
        messages = self.messages(task, rollout)
        replies: list[str] = []
        usage = Usage()
        constrained = schema_options(self.model, score_schema() if self.structured else None)
        for _ in range(self.max_attempts):
            completion = await self.model.generate(
                messages, temperature=self.temperature, max_tokens=self.max_tokens, **constrained
            )
            usage = usage + completion.usage
            reply = completion.text
            replies.append(reply)
            parsed = parse_score(reply)
            if parsed is not None:
                score, reason = parsed
                return Verdict(
                    rollout_id=rollout.id,
                    score=score / 10.0,
                    passed=score >= self.pass_score,
                    feedback=f"Judge score {score:g}/10. {reason}".strip(),
                    evidence={
                        "judge_score": score,
                        "reason": reason,
                        "attempts": len(replies),
                        "replies": replies,
                        "usage": usage.model_dump(),
                    },
                    verifier=self.name,
                )
            messages = [
                *messages,
                {"role": "assistant", "content": reply},
                {"role": "user", "content": _REASK},
            ]
        return Verdict(
            rollout_id=rollout.id,
            score=0.0,
            passed=False,
            feedback=f"The judge's output was unparseable after {len(replies)} attempts.",
            evidence={
                "unparseable": True,
                "attempts": len(replies),
                "replies": replies,
                "usage": usage.model_dump(),
            },
            verifier=self.name,
        )
