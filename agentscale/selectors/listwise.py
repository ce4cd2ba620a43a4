"""List-wise LLM selection: every candidate in one prompt, the model names the best."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from agentscale._judging import candidate_text, choice_schema, parse_choice, schema_options
from agentscale.errors import BudgetExhausted, ConfigError, ModelError
from agentscale.protocols import Model, Selector
from agentscale.selectors._code_view import candidate_code, estimate_tokens, is_code_task
from agentscale.selectors._common import ok_rollouts, score_of
from agentscale.selectors.best_score import BestScore
from agentscale.types import Message, Rollout, Selection, Task, Verdict

__all__ = ["ListwiseSelector"]

_SYSTEM = "You compare candidate answers to a task and pick the best one. You reply with JSON only."
_ASK = """Task:
{task}

{candidates}

Which candidate answers the task best (correct first, then complete and clear)?
Reply with only this JSON: {{"choice": <candidate number from 1 to {n}>, "reason": "<one short sentence>"}}"""


@dataclass
class ListwiseSelector:
    """Shows the model all candidates at once, in a shuffled order, and reads which it picks.

    Position bias (models favour the first or last candidate) is countered by shuffling: each of
    ``shuffles`` prompts presents the candidates in a different order drawn from ``seed``, and
    the picks are voted. Prompts run concurrently.

    Ties between picks: the candidate with the higher verifier score, then the earlier one.
    With ``structured=True`` (the default) and a model that takes a JSON schema
    (``agentscale.llm.LLM``), the reply is constrained to ``{"choice": 1..n, "reason": "..."}`` as
    it is generated. A reply with no readable choice (see ``agentscale._judging.parse_choice``) is
    dropped from the vote. When every reply is unreadable, or the model fails, or the budget runs
    out, the ``fallback`` selector decides (default ``BestScore``: best verifier score, else the
    first candidate) and ``reason`` says so. One candidate is returned without asking. No
    candidates: ``rollout_id=None``.

    ``Selection.scores`` maps each candidate to its share of the readable picks.

    Code tasks (``metadata["entry_point"]`` set) show each candidate's own code without the
    prompt repeated (``candidate_code``). With ``context_tokens`` set, a prompt estimated over it
    (one token per 3 characters, plus the reply) is not sent: the fallback decides and ``reason``
    says the candidates did not fit.

    Attributes:
        model: the judge.
        shuffles: prompts (orders) to vote over; odd numbers avoid ties.
        seed: seeds the shuffles, so a run is reproducible.
        show_verdicts: include each candidate's verifier feedback in the prompt.
        max_chars: per-candidate cap on the text shown.
        context_tokens: the judge's context window per request (``None``: not checked).
        temperature: judge sampling temperature.
        max_tokens: reply length cap.
        structured: constrain the reply with the pick's JSON schema where the model takes one.
        fallback: decides when the model cannot.
        name: the selector's name.
    """

    model: Model
    shuffles: int = 1
    seed: int = 0
    show_verdicts: bool = False
    max_chars: int = 3000
    context_tokens: int | None = None
    temperature: float | None = 0.0
    max_tokens: int | None = 200
    structured: bool = True
    fallback: Selector = field(default_factory=BestScore)
    name: str = "listwise"

    def __post_init__(self) -> None:
        if self.shuffles < 1:
            raise ConfigError(f"ListwiseSelector.shuffles must be >= 1, got {self.shuffles}")

    def messages(self, task: Task, shown: Sequence[Rollout], verdicts: Mapping[str, Verdict]) -> list[Message]:
        """The prompt for one order of the candidates."""
        parts = []
        code = is_code_task(task)
        for i, rollout in enumerate(shown, 1):
            text = (
                f"```python\n{candidate_code(task, rollout, max_chars=self.max_chars)}\n```"
                if code
                else candidate_text(rollout, max_chars=self.max_chars)
            )
            block = f"Candidate {i}:\n{text}"
            if self.show_verdicts and rollout.id in verdicts and verdicts[rollout.id].feedback:
                block += f"\nCheck result: {verdicts[rollout.id].feedback[:500]}"
            parts.append(block)
        ask = _ASK.format(task=task.prompt.strip(), candidates="\n\n".join(parts), n=len(shown))
        return [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": ask}]

    async def _pick(
        self, task: Task, shown: list[Rollout], verdicts: Mapping[str, Verdict]
    ) -> tuple[str | None, str]:
        constrained = schema_options(self.model, choice_schema(len(shown)) if self.structured else None)
        completion = await self.model.generate(
            self.messages(task, shown, verdicts),
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            **constrained,
        )
        choice = parse_choice(completion.text, len(shown))
        return (shown[choice].id if choice is not None else None), completion.text

    async def select(self, task: Task, rollouts: Sequence[Rollout], verdicts: Mapping[str, Verdict]) -> Selection:
        """Choose by asking the model, ``shuffles`` times."""
        candidates = ok_rollouts(rollouts)
        if len(candidates) <= 1:
            chosen = candidates[0].id if candidates else None
            return Selection(rollout_id=chosen, reason="only one candidate" if chosen else "no candidates")
        rng = random.Random(self.seed)
        orders = []
        for _ in range(self.shuffles):
            order = list(candidates)
            rng.shuffle(order)
            orders.append(order)
        if self.context_tokens is not None:
            need = estimate_tokens("".join(m["content"] for m in self.messages(task, orders[0], verdicts)))
            need += self.max_tokens or 0
            if need > self.context_tokens:
                why = (
                    f"the {len(candidates)} candidates do not fit the judge's context "
                    f"(~{need} > {self.context_tokens} tokens)"
                )
                return await self._fall_back(task, candidates, verdicts, why)
        try:
            picks = await asyncio.gather(*(self._pick(task, order, verdicts) for order in orders))
        except (ModelError, BudgetExhausted) as exc:
            return await self._fall_back(task, candidates, verdicts, f"the model failed ({type(exc).__name__}: {exc})")
        votes = Counter(p for p, _ in picks if p is not None)
        if not votes:
            return await self._fall_back(task, candidates, verdicts, f"no readable choice in {len(picks)} replies")
        position = {r.id: i for i, r in enumerate(candidates)}
        by_id = {r.id: r for r in candidates}
        winner = max(votes, key=lambda rid: (votes[rid], score_of(verdicts, by_id[rid]), -position[rid]))
        readable = sum(votes.values())
        return Selection(
            rollout_id=winner,
            scores={r.id: votes.get(r.id, 0) / readable for r in candidates},
            reason=f"list-wise: picked in {votes[winner]} of {readable} readable of {len(picks)} replies",
        )

    async def _fall_back(
        self, task: Task, candidates: list[Rollout], verdicts: Mapping[str, Verdict], why: str
    ) -> Selection:
        selection = await self.fallback.select(task, candidates, verdicts)
        return selection.model_copy(update={"reason": f"{why}; fallback: {selection.reason}"})
