"""Recursive Tournament Voting (RTV): narrow a population of rollouts through small-group votes on
their summaries, round after round.

From "Scaling Test-Time Compute for Agentic Coding" (2026): compare candidates in small groups,
not all at once (16 in one prompt did worst), with several sampled votes per group, on
trajectory summaries rather than raw trajectories; the paper's best setting is groups of 2 with
8 votes, about log2 N rounds. The defaults here are those.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field

from agentscale._judging import parse_choice, schema_options
from agentscale.errors import BudgetExhausted, ConfigError, ModelError
from agentscale.protocols import Model
from agentscale.selectors._common import ok_rollouts, score_of
from agentscale.summaries import Summarizer, TrajectorySummary
from agentscale.types import Message, Rollout, Selection, Task, Verdict

__all__ = ["GroupVote", "RecursiveTournament", "TournamentResult"]

_SYSTEM = "You compare attempts at a task and pick the one most likely to be correct. You reply with JSON only."
_ASK = """Task:
{task}

{attempts}

Which attempt is most likely correct and complete?
Reply with only this JSON: {reply}"""


def _vote_schema(count: int, reason_chars: int) -> dict[str, Any]:
    # the reason comes first, so the choice is generated after the model has said why
    properties: dict[str, Any] = {"reason": {"type": "string", "maxLength": reason_chars}} if reason_chars else {}
    properties["choice"] = {"type": "integer", "minimum": 1, "maximum": count}
    return {
        "title": "Vote",
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


class GroupVote(BaseModel):
    """One group's vote.

    Attributes:
        members: rollout ids in the group, in the round's order.
        votes: rollout id -> readable votes it received.
        winner: the id that advances.
        decided_by: ``"votes"`` (most votes), ``"tie"`` (tied votes, settled by verifier score, then
            input order), ``"fallback"`` (no readable vote: the model failed, the budget ran out
            or every reply was unreadable; settled the same way) or ``"bye"`` (alone: advances
            unopposed).
        calls: judge requests made for it.
        asked: votes asked for.
    """

    members: list[str]
    votes: dict[str, int] = Field(default_factory=dict)
    winner: str
    decided_by: Literal["votes", "tie", "fallback", "bye"]
    calls: int = 0
    asked: int = 0


class TournamentResult(BaseModel):
    """What a tournament did: its winners, every group's vote, and what judging cost.

    Attributes:
        winners: the ids left when it stopped (one for ``select``; ``keep`` for ``narrow``), in
            input order.
        rounds: each round's groups.
        summaries: rollout id -> the summary the judge saw.
        calls: judge requests in all.
        votes_asked: votes asked for in all.
        votes_read: votes that could be read.
        duplicates: candidates left out because an earlier one's summary reads the same.
    """

    winners: list[str]
    rounds: list[list[GroupVote]] = Field(default_factory=list)
    summaries: dict[str, TrajectorySummary] = Field(default_factory=dict)
    calls: int = 0
    votes_asked: int = 0
    votes_read: int = 0
    duplicates: int = 0


@dataclass
class RecursiveTournament:
    """RTV: groups of ``group_size`` vote, winners advance, until one (or ``keep``) is left.

    **Entrants.** Candidates whose summaries read the same (same final output, same notes) enter
    as one, the earliest standing for all: a vote between equals says nothing, and on easy tasks
    (all samples alike) this is most of the judging saved.

    **A round.** The candidates still in play are shuffled (seeded by ``seed``, the task and the
    round) and cut into groups of ``group_size``. A group of one (a leftover) is a **bye**: it
    advances unopposed; a leftover of two or more is a smaller group. When the tournament
    narrows to ``keep`` and a full round would go below it, the round plays only as many groups
    (the last one smaller if need be) as it takes to leave exactly ``keep``; the rest get byes.
    With groups of 2, N candidates take ``ceil(log2 N)`` rounds.

    **A group's vote.** The judge is asked ``votes`` times (sampled at ``temperature``): the votes
    are spread evenly over the rotations of the group's order, one request with ``n`` samples per
    rotation, so each member is shown first equally often (position bias cancels). Each reply
    names one member (``{"reason": ..., "choice": k}``, constrained by a JSON schema where the model
    takes one, else read leniently); unreadable replies are dropped. The most votes wins; **ties**
    go to the higher verifier score, then to the earlier candidate in the input order. With no
    readable vote (the model failed, the budget ran out, every reply unreadable) the same rule
    decides and the group says ``"fallback"``. A round's groups are judged concurrently.

    **What the judge sees** is each candidate's ``TrajectorySummary`` (``summarizer``; by default
    ``Summarizer(model)``: the model summarises rollouts with tool steps, a single-shot rollout is
    its output), with its verifier's feedback only when ``show_verdicts`` is set.

    **Cost.** Every judge request is counted (``TournamentResult.calls``) and, inside a scaled run,
    charged to its budget (the ``select`` node settles a selector's usage; a model client given the
    budget charges it as it goes). One candidate wins without a vote; no candidates:
    ``rollout_id=None``.

    Attributes:
        model: the judge (and, by default, the summarizer).
        group_size: candidates per group (2 or more).
        votes: sampled votes per group.
        temperature: the votes' sampling temperature (above 0, or the votes are one vote).
        seed: seeds the groups' shuffles and the votes' samples.
        summarizer: writes the summaries (default ``Summarizer(model)``).
        show_verdicts: give the summaries the verifier's feedback (failing checks become failure modes).
        max_chars: per-candidate cap on the summary shown.
        reason_chars: the judge writes a reason of at most this many characters before its choice
            (0: the choice alone, a few tokens per vote).
        max_tokens: reply length cap.
        structured: constrain replies with the vote's JSON schema where the model takes one.
        name: the selector's name.
    """

    model: Model
    group_size: int = 2
    votes: int = 8
    temperature: float | None = 0.7
    seed: int = 0
    summarizer: Summarizer | None = None
    show_verdicts: bool = False
    max_chars: int = 2000
    reason_chars: int = 160
    max_tokens: int | None = 100
    structured: bool = True
    name: str = "rtv"
    _summarizer: Summarizer = field(init=False, repr=False)

    def __post_init__(self) -> None:
        for attr, low in (("group_size", 2), ("votes", 1), ("reason_chars", 0)):
            value = getattr(self, attr)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"RecursiveTournament.{attr} must be an int >= {low}, got {value!r}")
        if not callable(getattr(self.model, "generate", None)):
            raise ConfigError(f"RecursiveTournament needs a model with async generate(), got {self.model!r}")
        self._summarizer = self.summarizer or Summarizer(self.model)

    def messages(self, task: Task, shown: Sequence[TrajectorySummary]) -> list[Message]:
        """The prompt for one vote, the summaries in the order shown."""
        attempts = "\n\n".join(
            f"Attempt {i}:\n{summary.text(max_chars=self.max_chars)}" for i, summary in enumerate(shown, 1)
        )
        task_text = task.prompt.strip()
        if len(task_text) > 4000:
            task_text = task_text[:2000] + "\n[... cut ...]\n" + task_text[-2000:]
        choice = f'"choice": <attempt number from 1 to {len(shown)}>'
        reply = f'{{"reason": "<one short sentence>", {choice}}}' if self.reason_chars else f"{{{choice}}}"
        ask = _ASK.format(task=task_text, attempts=attempts, reply=reply)
        return [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": ask}]

    async def _vote(
        self, task: Task, members: list[Rollout], summaries: Mapping[str, TrajectorySummary], salt: str
    ) -> tuple[Counter[str], int, int]:
        """Votes for ``members``: (readable votes per id, requests made, votes asked)."""
        g = len(members)
        rotations = min(g, self.votes)
        shares = [self.votes // rotations + (1 if r < self.votes % rotations else 0) for r in range(rotations)]
        constrained = schema_options(self.model, _vote_schema(g, self.reason_chars) if self.structured else None)
        base = random.Random(f"{self.seed}:{task.id}:{salt}").randrange(2**31)

        async def ask(rotation: int, n: int) -> list[str | None]:
            shown = members[rotation:] + members[:rotation]
            completion = await self.model.generate(
                self.messages(task, [summaries[m.id] for m in shown]),
                n=n,
                temperature=self.temperature,
                max_tokens=self.max_tokens,
                seed=base + rotation,
                **constrained,
            )
            picks = [parse_choice(text, g) for text in completion.texts]
            return [shown[p].id if p is not None else None for p in picks]

        counts: Counter[str] = Counter()
        calls = 0
        for outcome in await asyncio.gather(
            *(ask(r, n) for r, n in enumerate(shares) if n), return_exceptions=True
        ):
            calls += 1
            if isinstance(outcome, ModelError | BudgetExhausted):
                continue  # this request's votes are lost; the others still count
            if isinstance(outcome, BaseException):
                raise outcome
            counts.update(p for p in outcome if p is not None)
        return counts, calls, self.votes

    async def _group(
        self,
        task: Task,
        members: list[Rollout],
        summaries: Mapping[str, TrajectorySummary],
        verdicts: Mapping[str, Verdict],
        order: Mapping[str, int],
        salt: str,
    ) -> GroupVote:
        ids = [m.id for m in members]
        if len(members) == 1:
            return GroupVote(members=ids, winner=ids[0], decided_by="bye")
        counts, calls, asked = await self._vote(task, members, summaries, salt)

        def rank(m: Rollout) -> tuple[int, float, int]:
            return counts.get(m.id, 0), score_of(verdicts, m), -order[m.id]

        winner = max(members, key=rank)
        top = counts.get(winner.id, 0)
        if not counts:
            decided = "fallback"
        elif sum(1 for m in members if counts.get(m.id, 0) == top) > 1:
            decided = "tie"
        else:
            decided = "votes"
        return GroupVote(
            members=ids, votes=dict(counts), winner=winner.id, decided_by=decided, calls=calls, asked=asked
        )

    def _groups(self, alive: list[Rollout], keep: int) -> list[list[Rollout]]:
        """Cut one round's (shuffled) field into groups, playing no more than it takes to reach ``keep``."""
        groups, to_drop, i = [], len(alive) - keep, 0
        while i < len(alive):
            size = min(self.group_size, len(alive) - i, to_drop + 1)
            groups.append(alive[i : i + size])
            to_drop -= size - 1
            i += size
        return groups

    async def narrow(
        self, task: Task, rollouts: Sequence[Rollout], verdicts: Mapping[str, Verdict], *, keep: int = 1
    ) -> TournamentResult:
        """Run rounds until at most ``keep`` candidates are left.

        Args:
            task: the task.
            rollouts: the candidates (failed ones are left out).
            verdicts: their verdicts (scores settle ties; feedback is shown with ``show_verdicts``).
            keep: how many to leave.

        Returns:
            The winners (in input order; fewer than ``keep`` when fewer distinct candidates
            entered) and the record of every round.

        Raises:
            ConfigError: ``keep`` below 1.
        """
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
            raise ConfigError(f"keep must be an int >= 1, got {keep!r}")
        candidates = ok_rollouts(rollouts)
        order = {r.id: i for i, r in enumerate(candidates)}
        shown = {r.id: verdicts[r.id] for r in candidates if r.id in verdicts} if self.show_verdicts else {}
        summaries = await self._summarizer.summarize_all(task, candidates, shown)
        result = TournamentResult(winners=[], summaries=summaries)
        entrants: dict[str, Rollout] = {}
        for r in candidates:
            entrants.setdefault(summaries[r.id].text(max_chars=self.max_chars), r)
        alive = list(entrants.values())
        result.duplicates = len(candidates) - len(alive)
        round_ = 0
        while len(alive) > keep:
            rng = random.Random(f"{self.seed}:{task.id}:round{round_}")
            field_ = list(alive)
            rng.shuffle(field_)
            groups = self._groups(field_, keep)
            votes = await asyncio.gather(
                *(
                    self._group(task, g, summaries, verdicts, order, f"{round_}:{j}")
                    for j, g in enumerate(groups)
                )
            )
            result.rounds.append(list(votes))
            winners = {v.winner for v in votes}
            alive = [r for r in alive if r.id in winners]
            round_ += 1
        for group in (g for r in result.rounds for g in r):
            result.calls += group.calls
            result.votes_asked += group.asked
            result.votes_read += sum(group.votes.values())
        result.winners = [r.id for r in alive]
        return result

    async def select(
        self, task: Task, rollouts: Sequence[Rollout], verdicts: Mapping[str, Verdict]
    ) -> Selection:
        """Run the tournament down to one winner."""
        candidates = ok_rollouts(rollouts)
        if not candidates:
            return Selection(rollout_id=None, reason="no candidates")
        if len(candidates) == 1:
            return Selection(rollout_id=candidates[0].id, reason="only one candidate")
        result = await self.narrow(task, candidates, verdicts, keep=1)
        received: Counter[str] = Counter()
        for group in (g for r in result.rounds for g in r):
            received.update(group.votes)
        settled = Counter(g.decided_by for r in result.rounds for g in r)
        notes = [f"{settled[k]} {k}" for k in ("tie", "fallback") if settled[k]]
        groups = sum(len(r) for r in result.rounds) - settled["bye"]
        reason = (
            f"recursive tournament: {len(result.rounds)} round(s), {groups} group(s) of up to {self.group_size}, "
            f"{result.calls} judge call(s), {result.votes_read} of {result.votes_asked} votes readable"
        )
        if result.duplicates:
            reason += f"; {result.duplicates} duplicate(s) entered as one"
        if notes:
            reason += f"; groups settled by score: {', '.join(notes)}"
        return Selection(
            rollout_id=result.winners[0],
            scores={r.id: float(received.get(r.id, 0)) for r in candidates},
            reason=reason,
        )
