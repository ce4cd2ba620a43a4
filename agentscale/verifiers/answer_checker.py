"""Verify a short answer against the task's expected one, after normalisation."""

from __future__ import annotations

from dataclasses import dataclass

from agentscale.answers import answers_match, extract_answer, normalize_answer
from agentscale.types import Rollout, Task, Verdict

__all__ = ["AnswerChecker"]


@dataclass
class AnswerChecker:
    """Compares ``rollout.answer`` (else the answer extracted from its output) with ``task.expected``.

    Both sides are normalised (``agentscale.answers``): ``1,000`` = ``1000.0``, ``\\frac{1}{2}`` =
    ``0.5``, ``50%`` = ``0.5`` = ``50``-percent, ``\\boxed{}``, ``#### X`` and "The answer is X" are
    unwrapped, text is compared case- and whitespace-insensitively.

    Verdict: score 1 and passed on a match, else score 0. The feedback never reveals the expected
    answer (later steps show feedback to the model) unless ``reveal_expected`` is set. A task
    without ``expected`` gives a "no checks" verdict (``passed=False``, ``evidence["no_checks"]``).

    Attributes:
        rel_tol: relative tolerance for numbers.
        reveal_expected: put the expected answer in the feedback.
        name: recorded as ``Verdict.verifier``.
    """

    rel_tol: float = 1e-6
    reveal_expected: bool = False
    name: str = "answer"

    async def verify(self, task: Task, rollout: Rollout) -> Verdict:
        """Judge one rollout."""
        if task.expected is None:
            return Verdict(
                rollout_id=rollout.id,
                score=0.0,
                passed=False,
                verifier=self.name,
                feedback="No checks: the task has no expected answer.",
                evidence={"no_checks": True},
            )
        if not rollout.ok:
            why = f"the rollout failed ({rollout.status}): {rollout.error or 'no output'}"
            return Verdict(rollout_id=rollout.id, score=0.0, passed=False, feedback=why, verifier=self.name)
        answer = rollout.answer if rollout.answer is not None else extract_answer(rollout.output)
        evidence = {"answer": answer, "normalized": normalize_answer(answer)}
        if answer is None or not evidence["normalized"]:
            return Verdict(
                rollout_id=rollout.id,
                score=0.0,
                passed=False,
                verifier=self.name,
                evidence=evidence,
                feedback="No final answer found. End with 'The answer is X'.",
            )
        ok = answers_match(answer, task.expected, rel_tol=self.rel_tol)
        if ok:
            feedback = f"The answer {answer} is correct."
        else:
            feedback = f"The answer {answer} is wrong."
            if self.reveal_expected:
                feedback += f" Expected: {task.expected}."
        return Verdict(
            rollout_id=rollout.id,
            score=1.0 if ok else 0.0,
            passed=ok,
            feedback=feedback,
            evidence=evidence,
            verifier=self.name,
        )
