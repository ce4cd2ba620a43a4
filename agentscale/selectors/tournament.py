"""Pairwise knockout tournament judged by an LLM."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from agentscale._judging import candidate_text, parse_pair_choice
from agentscale.errors import BudgetExhausted, ModelError
from agentscale.protocols import Model
from agentscale.selectors._common import ok_rollouts, score_of
from agentscale.types import Message, Rollout, Selection, Task, Verdict

__all__ = ["KnockoutTournament"]

_SYSTEM = "You compare two answers to a task and say which is better. You reply with JSON only."
_ASK = """Task:
{task}

Answer A:
{a}

Answer B:
{b}

Which answer is better (correct first, then complete and clear)?
Reply with only this JSON: {{"winner": "A" or "B", "reason": "<one short sentence>"}}"""


@dataclass
class KnockoutTournament:
    """Candidates meet in pairs; the judge's pick goes through to the next round until one is left.

    Bracket: candidates are seeded by verifier score (best first; input order without verdicts)
    and paired first-vs-last, second-vs-second-last, ... each round, so the strongest meet late.
    With an odd count the top seed gets a bye. A round's matches run concurrently.

    Each match asks the judge once with the pair in seed order, and with ``both_orders`` a second
    time with the pair swapped, to cancel position bias. A match the judge does not decide (the two
    orders disagree, the replies are unreadable, or the model fails or the budget runs out) goes
    to the higher verifier score, then the higher seed; ``reason`` counts such matches.
    One candidate wins without a match; no candidates: ``rollout_id=None``.

    ``Selection.scores`` maps each candidate to the number of matches it won.

    Attributes:
        model: the judge.
        both_orders: ask each match twice, in both orders.
        max_chars: per-candidate cap on the text shown.
        temperature: judge sampling temperature.
        max_tokens: reply length cap.
        name: the selector's name.
    """

    model: Model
    both_orders: bool = False
    max_chars: int = 3000
    temperature: float | None = 0.0
    max_tokens: int | None = 150
    name: str = "tournament"

    def messages(self, task: Task, a: Rollout, b: Rollout) -> list[Message]:
        """The prompt for one match, ``a`` shown first."""
        ask = _ASK.format(
            task=task.prompt.strip(),
            a=candidate_text(a, max_chars=self.max_chars),
            b=candidate_text(b, max_chars=self.max_chars),
        )
        return [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": ask}]

    async def _ask(self, task: Task, first: Rollout, second: Rollout) -> Rollout | None:
        try:
            completion = await self.model.generate(
                self.messages(task, first, second), temperature=self.temperature, max_tokens=self.max_tokens
            )
        except (ModelError, BudgetExhausted):
            return None
        pick = parse_pair_choice(completion.text)
        return None if pick is None else (first, second)[pick]

    async def _match(self, task: Task, a: Rollout, b: Rollout, verdicts: Mapping[str, Verdict]) -> tuple[Rollout, bool]:
        """The winner of ``a`` (the higher seed) against ``b``, and whether the judge decided it."""
        asks = [self._ask(task, a, b)] + ([self._ask(task, b, a)] if self.both_orders else [])
        picks = [p for p in await asyncio.gather(*asks) if p is not None]
        if picks and all(p.id == picks[0].id for p in picks) and (len(picks) == len(asks)):
            return picks[0], True
        # undecided: the higher verifier score, then the higher seed
        return (b if score_of(verdicts, b) > score_of(verdicts, a) else a), False

    async def select(self, task: Task, rollouts: Sequence[Rollout], verdicts: Mapping[str, Verdict]) -> Selection:
        """Run the bracket."""
        candidates = ok_rollouts(rollouts)
        if not candidates:
            return Selection(rollout_id=None, reason="no candidates")
        order = {r.id: i for i, r in enumerate(candidates)}
        alive = sorted(candidates, key=lambda r: (-score_of(verdicts, r), order[r.id]))
        wins = {r.id: 0 for r in candidates}
        undecided = matches = rounds = 0
        while len(alive) > 1:
            rounds += 1
            bye = [alive[0]] if len(alive) % 2 else []
            pool = alive[len(bye) :]
            pairs = [(pool[i], pool[-1 - i]) for i in range(len(pool) // 2)]
            results = await asyncio.gather(*(self._match(task, a, b, verdicts) for a, b in pairs))
            for winner, decided in results:
                wins[winner.id] += 1
                undecided += not decided
            matches += len(pairs)
            # keep seed order for the next round
            survivors = {w.id for w, _ in results} | {r.id for r in bye}
            alive = [r for r in alive if r.id in survivors]
        note = f"; {undecided} match(es) undecided by the judge, settled by score/seed" if undecided else ""
        return Selection(
            rollout_id=alive[0].id,
            scores={k: float(v) for k, v in wins.items()},
            reason=f"knockout: won {wins[alive[0].id]} of {matches} match(es) in {rounds} round(s){note}",
        )
