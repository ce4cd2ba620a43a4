"""Checks for the web agent's answers.

- ``ObservedAnswer`` (for selection): the answer must appear in what the rollout's tools showed
  it (its observations). An answer the agent never read is likely made up. It uses only what the
  agent saw, never the expected answer, so best-of-N may select with it.
- ``WebAnswerScorer`` (for scoring only): the answer against ``task.expected`` (and
  ``metadata["accept"]``), normalised as ``agentscale.answers`` does; a name or phrase also
  counts when a short answer contains it as whole words ("Elm ward" for "Elm").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agentscale.answers import answers_match, extract_answer, normalize_answer
from agentscale.types import Rollout, Task, Verdict

__all__ = ["ObservedAnswer", "WebAnswerScorer", "observations_of"]


def observations_of(rollout: Rollout) -> str:
    """The text of the rollout's observations: tool messages, and (text format) ``Observation:`` turns."""
    parts = []
    for message in rollout.trajectory:
        role, content = message.get("role"), message.get("content")
        if not isinstance(content, str):
            continue
        if role == "tool" or (role == "user" and (message.get("name") or "You are on this page" in content)):
            parts.append(content)
    return "\n".join(parts)


def _words(text: str) -> str:
    return " ".join(re.findall(r"[\w@.$-]+", text.lower()))


@dataclass
class ObservedAnswer:
    """Passes a rollout whose short answer (or the answer extracted from it) occurs in its own
    observations (score 1); an answer none of its pages showed scores 0. Case and spacing are ignored.

    Attributes:
        name: recorded as ``Verdict.verifier``.
    """

    name: str = "observed_answer"

    async def verify(self, task: Task, rollout: Rollout) -> Verdict:
        """Judge one rollout by what it saw."""
        answer = (rollout.answer or rollout.output or "").strip()
        if not rollout.ok or not answer:
            why = "no final answer" if rollout.ok else f"the rollout failed: {rollout.error or rollout.status}"
            return Verdict(rollout_id=rollout.id, score=0.0, passed=False, feedback=why.capitalize() + ".",
                           verifier=self.name)
        seen = f" {_words(observations_of(rollout))} "
        forms = {_words(answer), _words(extract_answer(answer) or "")} - {""}  # "It opened in 2005." -> 2005
        found = any(f" {form} " in seen for form in forms)
        feedback = (f"The answer {answer!r} appears on a page you read." if found else
                    f"The answer {answer!r} does not appear on any page you read: find it on a page first.")
        return Verdict(rollout_id=rollout.id, score=1.0 if found else 0.0, passed=found, feedback=feedback,
                       verifier=self.name, evidence={"answer": answer})


@dataclass
class WebAnswerScorer:
    """Scores the answer against ``task.expected`` and ``task.metadata["accept"]`` (scoring only).

    Attributes:
        max_words: a longer answer never counts by containing the expected phrase.
        name: recorded as ``Verdict.verifier``.
    """

    max_words: int = 8
    name: str = "web_answer"

    def matches(self, answer: str, task: Task) -> bool:
        """Whether ``answer`` is right for ``task``."""
        expected = [task.expected, *task.metadata.get("accept", [])]
        tries = {answer, extract_answer(answer) or answer}
        for want in (e for e in expected if e):
            if any(answers_match(a, want) for a in tries) or normalize_answer(answer) == normalize_answer(want):
                return True
            if re.fullmatch(r"[-+$\d.,/%]+", want.strip()):
                continue  # a number must match as a number
            if len(answer.split()) <= self.max_words and f" {_words(want)} " in f" {_words(answer)} ":
                return True
        return False

    async def verify(self, task: Task, rollout: Rollout) -> Verdict:
        """Judge one rollout against the expected answer (never shown in the feedback)."""
        answer = (rollout.answer or rollout.output or "").strip()
        ok = bool(answer) and rollout.ok and task.expected is not None and self.matches(answer, task)
        feedback = "Correct." if ok else ("No answer." if not answer else "Wrong answer.")
        return Verdict(rollout_id=rollout.id, score=1.0 if ok else 0.0, passed=ok, feedback=feedback,
                       verifier=self.name, evidence={"answer": answer})
