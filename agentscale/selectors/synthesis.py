"""Synthesis: the model writes a new answer from the candidates and what their checks said."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from agentscale._judging import candidate_text
from agentscale.answers import extract_answer
from agentscale.errors import BudgetExhausted, ModelError
from agentscale.protocols import Model, Selector
from agentscale.selectors._common import ok_rollouts, score_of
from agentscale.selectors.best_score import BestScore
from agentscale.types import Message, Provenance, Rollout, Selection, Task, Verdict

__all__ = ["Synthesize"]

_SYSTEM = "You write the best possible answer to a task, learning from earlier attempts and their checks."
_ASK = """Task:
{task}

Here are {n} earlier attempts and what a check of each said:

{candidates}

Write one new, complete answer to the task. Keep what the attempts got right and fix what the checks
found wrong. Give the full answer in the same form the task asks for (for code: the whole program in a
```python block), with no commentary about the attempts."""


@dataclass
class Synthesize:
    """Asks the model to write a new answer from the candidates and their verdicts.

    The best ``max_candidates`` candidates (by verifier score, then order) are shown with their
    check feedback. The reply becomes a new ``Rollout`` (``provenance.strategy="synthesize"``,
    ``parents`` = the ids shown, ``usage`` = the call's), returned as ``Selection.rollout`` with
    ``rollout_id`` set to its id; its ``answer`` is extracted when the candidates had answers.
    The new rollout is not verified here: a graph can verify it like any other.

    Fallback: an empty reply, a model failure or an exhausted budget returns the ``fallback``
    selector's choice among the candidates (default ``BestScore``), with ``reason`` saying why.
    One candidate still gets synthesised (it may be improved from its feedback). No candidates:
    ``rollout_id=None``.

    Attributes:
        model: the writer.
        max_candidates: how many candidates to show.
        max_chars: per-candidate cap on the text shown.
        temperature: sampling temperature.
        max_tokens: reply length cap.
        fallback: decides when synthesis fails.
        name: the selector's name.
    """

    model: Model
    max_candidates: int = 6
    max_chars: int = 2500
    temperature: float | None = 0.2
    max_tokens: int | None = 1024
    fallback: Selector = field(default_factory=BestScore)
    name: str = "synthesize"

    def messages(self, task: Task, shown: Sequence[Rollout], verdicts: Mapping[str, Verdict]) -> list[Message]:
        """The synthesis prompt."""
        parts = []
        for i, rollout in enumerate(shown, 1):
            verdict = verdicts.get(rollout.id)
            check = (
                f"score {verdict.score:.2f}, {'passed' if verdict.passed else 'failed'}. {verdict.feedback[:600]}"
                if verdict
                else "not checked"
            )
            parts.append(f"Attempt {i}:\n{candidate_text(rollout, max_chars=self.max_chars)}\nCheck: {check}")
        ask = _ASK.format(task=task.prompt.strip(), n=len(shown), candidates="\n\n".join(parts))
        return [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": ask}]

    async def select(self, task: Task, rollouts: Sequence[Rollout], verdicts: Mapping[str, Verdict]) -> Selection:
        """Write a new answer."""
        candidates = ok_rollouts(rollouts)
        if not candidates:
            return Selection(rollout_id=None, reason="no candidates")
        position = {r.id: i for i, r in enumerate(candidates)}
        shown = sorted(candidates, key=lambda r: (-score_of(verdicts, r), position[r.id]))[: self.max_candidates]
        try:
            completion = await self.model.generate(
                self.messages(task, shown, verdicts), temperature=self.temperature, max_tokens=self.max_tokens
            )
        except (ModelError, BudgetExhausted) as exc:
            return await self._fall_back(task, candidates, verdicts, f"synthesis failed ({type(exc).__name__}: {exc})")
        text = completion.text.strip()
        if not text:
            return await self._fall_back(task, candidates, verdicts, "the synthesis was empty")
        had_answers = any(r.answer is not None for r in shown)
        new = Rollout(
            task_id=task.id,
            output=text,
            answer=extract_answer(text) if had_answers else None,
            trajectory=[*self.messages(task, shown, verdicts), {"role": "assistant", "content": text}],
            usage=completion.usage,
            provenance=Provenance(
                strategy="synthesize",
                parents=[r.id for r in shown],
                model=completion.model,
                temperature=self.temperature,
                generation=max(r.provenance.generation for r in shown) + 1,
            ),
        )
        return Selection(rollout_id=new.id, rollout=new, reason=f"synthesised from {len(shown)} candidate(s)")

    async def _fall_back(
        self, task: Task, candidates: list[Rollout], verdicts: Mapping[str, Verdict], why: str
    ) -> Selection:
        selection = await self.fallback.select(task, candidates, verdicts)
        return selection.model_copy(update={"reason": f"{why}; fallback: {selection.reason}"})
