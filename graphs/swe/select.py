"""Selection among SWE patches: reproduction tests vote, the visible tests break ties, then a judge.

``PatchSelector`` (registry: selector ``swe_repro``; the ``swe`` workflow's ``-c selection=repro``
and ``-c judge=true``) chooses among a task's finished rollouts:

1. **Distinct patches.** Rollouts with the same patch (whitespace at the ends aside) are one
   candidate; how many rollouts wrote it is its ``copies``.
2. **Reproduction tests** (with a ``writer``, when there are two or more distinct patches): the
   model writes K tests from the issue text (``ReproWriter``); the base commit and every distinct
   non-empty patch run them, each in a FRESH sandbox of its own (``run_repro_tests``; an empty
   patch is the base commit); ``repro_vote`` weighs the tests (only those that split the
   candidates and fail at the base commit count) and scores each patch by the weighted tests it
   passes. A patch that does not apply scores 0 and does not weigh the tests.
3. **Ranking:** the reproduction score, then the visible-tests verdict (its score, then passed),
   the best verdict among a patch's rollouts.
4. **Ties** at the top go to the ``judge`` when there is one (a ``RecursiveTournament`` shown each
   survivor's ``swe_summary``: the diff and a short account of the trajectory, never the raw
   transcript), else, and when the judge reads no vote, to the **documented rule**: the patch
   more rollouts wrote, then the earliest.

The chosen rollout is the earliest of its patch's rollouts with the best verdict. Every model call
(tests and judge) happens inside ``select``, so a scaled run's ``select`` node charges them to the
task's budget; the reason names the tokens the tests took. Failures are data: a test-writing call
that fails loses its test, a sandbox that fails makes that patch's results unknown, a judge that
fails leaves the rule to decide.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentscale.errors import AgentScaleError
from agentscale.graphs.swe.agent import instance_of
from agentscale.graphs.swe.deps import PythonDeps
from agentscale.graphs.swe.repos import RepoSource
from agentscale.graphs.swe.repro import (
    ReproRun,
    ReproTest,
    ReproVote,
    ReproWriter,
    WrittenTests,
    repro_vote,
    run_repro_tests,
)
from agentscale.graphs.swe.summary import SWESummarizer
from agentscale.protocols import Model, SandboxProvider, Selector
from agentscale.selectors._common import ok_rollouts, score_of
from agentscale.types import Rollout, Selection, Task, Verdict

__all__ = ["PatchSelector", "repro_selector"]


@dataclass
class _Patch:
    """One distinct patch and the rollouts that wrote it (in input order)."""

    text: str
    members: list[Rollout]
    first: int

    @property
    def key(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()[:16]


def _verdict_rank(patch: _Patch, verdicts: Mapping[str, Verdict]) -> tuple[float, bool]:
    best = max(patch.members, key=lambda r: _one_rank(r, verdicts))
    return _one_rank(best, verdicts)


def _one_rank(rollout: Rollout, verdicts: Mapping[str, Verdict]) -> tuple[float, bool]:
    verdict = verdicts.get(rollout.id)
    return score_of(verdicts, rollout), bool(verdict and verdict.passed)


def _representative(patch: _Patch, verdicts: Mapping[str, Verdict]) -> Rollout:
    top = _verdict_rank(patch, verdicts)
    return next(r for r in patch.members if _one_rank(r, verdicts) == top)


@dataclass
class PatchSelector:
    """Chooses a SWE patch by voted reproduction tests, the visible tests, and a judge (module docs).

    Attributes:
        sandboxes: where each patch's tests run (a fresh lease per patch, and one for the base commit).
        repos: where repositories come from.
        deps: where ``python_deps`` come from.
        writer: writes the reproduction tests (``None``: none; the visible tests and the judge decide).
        judge: breaks ties among the top patches (``None``: the documented rule does).
        timeout: wall seconds per reproduction test run.
        max_concurrency: patches whose tests run at once.
        name: the selector's name.
    """

    sandboxes: SandboxProvider
    repos: RepoSource
    deps: PythonDeps | None = None
    writer: ReproWriter | None = None
    judge: Selector | None = None
    timeout: float = 60.0
    max_concurrency: int = 4
    name: str = "swe_repro"
    _written: dict[str, WrittenTests] = field(default_factory=dict, repr=False)

    async def select(self, task: Task, rollouts: Sequence[Rollout], verdicts: Mapping[str, Verdict]) -> Selection:
        """Choose one rollout (see the module docs); never raises for a candidate's or a test's fault."""
        candidates = ok_rollouts(rollouts)
        if not candidates:
            return Selection(rollout_id=None, reason="no candidates")
        patches: dict[str, _Patch] = {}
        for i, r in enumerate(candidates):
            text = r.output.strip()
            patches.setdefault(text, _Patch(text, [], i)).members.append(r)
        distinct = list(patches.values())
        notes = [f"{len(distinct)} distinct patch(es) from {len(candidates)} rollouts"]
        scores = {p.key: 0 for p in distinct}
        if self.writer is not None and len(distinct) > 1:
            scores = await self._repro_scores(task, distinct, notes)
        ranked = sorted(distinct, key=lambda p: (scores[p.key], _verdict_rank(p, verdicts)), reverse=True)
        top_rank = (scores[ranked[0].key], _verdict_rank(ranked[0], verdicts))
        tied = [p for p in ranked if (scores[p.key], _verdict_rank(p, verdicts)) == top_rank]
        # the documented rule's order: more copies first, then the earliest
        tied.sort(key=lambda p: (-len(p.members), p.first))
        chosen, how = tied[0], "the only patch at the top" if len(tied) == 1 else ""
        if len(tied) > 1:
            chosen, how = await self._break_tie(task, tied, verdicts)
        notes.append(f"top: reproduction score {scores[chosen.key]}, visible-tests score "
                     f"{_verdict_rank(chosen, verdicts)[0]:.3g}; {how}")  # fmt: skip
        rollout_scores = {r.id: float(scores[p.key]) for p in distinct for r in p.members}
        return Selection(rollout_id=_representative(chosen, verdicts).id, scores=rollout_scores,
                         reason="; ".join(notes))  # fmt: skip

    async def _break_tie(self, task: Task, tied: list[_Patch], verdicts: Mapping[str, Verdict]) -> tuple[_Patch, str]:
        rule = f"{len(tied)} tied: the rule chose the patch {len(tied[0].members)} rollout(s) wrote, the earliest"
        if self.judge is None:
            return tied[0], rule
        shown = [_representative(p, verdicts) for p in tied]
        try:
            picked = await self.judge.select(task, shown, verdicts)
        except AgentScaleError as exc:  # the judge helps; the rule still decides without it
            return tied[0], f"{rule} (the judge failed: {type(exc).__name__})"
        by_id = {r.id: p for r, p in zip(shown, tied, strict=True)}
        if picked.rollout_id not in by_id:
            return tied[0], f"{rule} (the judge chose none)"
        return by_id[picked.rollout_id], f"{len(tied)} tied: the judge chose ({picked.reason})"

    def written(self, task_id: str) -> WrittenTests | None:
        """The reproduction tests written for a task so far (``None``: none asked for yet)."""
        return self._written.get(task_id)

    async def _tests(self, task: Task) -> WrittenTests:
        assert self.writer is not None
        if task.id not in self._written:  # one set per task, however often selection runs
            self._written[task.id] = await self.writer.write(task)
        return self._written[task.id]

    async def _repro_scores(self, task: Task, distinct: list[_Patch], notes: list[str]) -> dict[str, int]:
        written = await self._tests(task)
        notes.append(f"{len(written.tests)} reproduction test(s) written in {written.asked} call(s) "
                     f"({written.usage.total_tokens} tokens)")  # fmt: skip
        if not written.tests:
            return {p.key: 0 for p in distinct}
        instance = instance_of(task)
        gate = asyncio.Semaphore(self.max_concurrency)

        async def run(patch: str | None) -> ReproRun:
            async with gate:
                try:
                    async with self.sandboxes.lease() as sandbox:
                        return await run_repro_tests(sandbox, instance, patch, written.tests, self.repos,
                                                     deps=self.deps, timeout=self.timeout)  # fmt: skip
                except AgentScaleError as exc:  # this patch's results are unknown; the others still count
                    return ReproRun(passed=[None] * len(written.tests), error=f"{type(exc).__name__}: {exc}"[:300])

        nonempty = [p for p in distinct if p.text]
        # the rollout's own diff, not the stripped key: git apply wants the final newline
        runs = await asyncio.gather(run(None), *(run(p.members[0].output) for p in nonempty))
        base, by_key = runs[0], {p.key: r for p, r in zip(nonempty, runs[1:], strict=True)}
        for p in distinct:
            by_key.setdefault(p.key, base)  # the empty patch is the base commit
        vote = repro_vote({k: r.passed for k, r in by_key.items() if r.applied}, base=base.passed)
        notes.append(_vote_note(vote, written.tests, by_key))
        return {p.key: vote.scores.get(p.key, 0) for p in distinct}


def _vote_note(vote: ReproVote, tests: list[ReproTest], runs: Mapping[str, ReproRun]) -> str:
    parts = [f"{vote.informative} of {len(tests)} informative"]
    parts += [f"test {t + 1}: {why}" for t, why in sorted(vote.why.items())]
    broken = sum(1 for r in runs.values() if r.error)
    if broken:
        parts.append(f"{broken} patch(es) without results ({next(r.error for r in runs.values() if r.error)})")
    return ", ".join(parts)


def repro_selector(
    model: Model,
    sandboxes: SandboxProvider,
    repos: RepoSource | None = None,
    deps: PythonDeps | None = None,
    *,
    tests: int = 3,
    judge: bool = False,
    judge_votes: int = 4,
    timeout: float = 60.0,
    temperature: float = 0.8,
    max_tokens: int = 600,
    seed: int = 0,
) -> PatchSelector:
    """The selector ``swe_repro``: ``tests`` reproduction tests by ``model``, and its judge when asked.

    Args:
        model: writes the tests and, with ``judge``, judges the tied patches.
        sandboxes: where the tests run.
        repos: where repositories come from (default: ``default_swe_cache()/repos``).
        deps: where ``python_deps`` come from (default: ``default_swe_cache()/deps``).
        tests: K, the test-writing calls per task (0: no reproduction tests).
        judge: break ties with a ``RecursiveTournament`` over ``swe_summary``s.
        judge_votes: the judge's sampled votes per group of two.
        timeout: wall seconds per test run.
        temperature: the test writer's sampling temperature.
        max_tokens: the test writer's reply cap.
        seed: the first test-writing call's seed.

    Example:
        ```python
        selector = registry.create("selectors", "swe_repro", model=llm, sandboxes=pool, repos=repos, judge=True)
        graph = scale(agent, "best_of_n", n=4, verifier=VisibleTests(pool, repos), selector=selector)
        ```
    """
    from agentscale.errors import ConfigError
    from agentscale.graphs.swe.workflow import default_swe_cache
    from agentscale.selectors.rtv import RecursiveTournament

    if isinstance(tests, bool) or not isinstance(tests, int) or tests < 0:
        raise ConfigError(f"swe_repro: tests must be an int >= 0, got {tests!r}")
    if timeout <= 0:
        raise ConfigError(f"swe_repro: timeout must be > 0, got {timeout!r}")
    cache = default_swe_cache()
    repos = repos if repos is not None else RepoSource(root=cache / "repos")
    deps = deps if deps is not None else PythonDeps(cache / "deps")
    tournament = None
    if judge:
        # RecursiveTournament only calls summarize_all, which SWESummarizer has
        summaries: Any = SWESummarizer()
        tournament = RecursiveTournament(
            model, votes=judge_votes, summarizer=summaries, max_chars=3000, name="swe_judge"
        )
    writes = ReproWriter(model, tests, temperature, max_tokens, seed) if tests else None
    return PatchSelector(sandboxes, repos, deps, writer=writes, judge=tournament, timeout=timeout)
