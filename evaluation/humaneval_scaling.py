"""The HumanEval scaling experiment behind ``benchmarks/humaneval_scaling.py``.

Per problem (``measure_problem``):

1. **Draw**: one real ``scale(best_of_n, n=16)`` run; every sample is checked against the
   docstring examples (the verifier) and scored against the hidden tests. Because sample ``i``
   always has seed ``i`` and the ``i``-th temperature of the agent's format (``agent_diversity``),
   a run with ``n=N`` draws the first ``N`` of these samples, so best-of-N for smaller N is read off the draw
   (from the first N samples, and as a mean over random N-subsets).
2. **List-wise**: ``ListwiseSelector`` (the same model as judge) picks among the first 8 samples
   of the draw; its prompt tokens count on top of the samples'.
3. **Timed** (optional): real ``scale()`` runs of best-of-1, best-of-8 and adaptive sampling
   (waves of 2, stop on the first verified pass, at most 8), for real wall times and tokens.

``tabulate`` turns the records into rows: pass@1, best-of-N (the examples verifier's best score,
and the default code selection where it was recorded), majority vote over behaviour on the
docstring inputs (``behaviour_key``), list-wise selection, adaptive sampling (replayed on the
draw: waves of 2 in sample order until one passes the examples, exactly the samples a real run
with the same seeds draws), the pass@N ceiling, and the timed runs.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from agentscale.errors import ConfigError
from agentscale.evaluation.humaneval import ProblemResult, SampleRecord, solve
from agentscale.protocols import Model, Selector, Verifier
from agentscale.selectors import BestScore, ListwiseSelector, MajorityVote, behaviour_digest
from agentscale.strategies import Diversity
from agentscale.types import Completion, Rollout, Task, Usage, Verdict

__all__ = [
    "ListwiseRecord",
    "MeteredModel",
    "Row",
    "ScalingRecord",
    "measure_problem",
    "replay_adaptive",
    "select_among",
    "tabulate",
    "wall_ratio",
]

TIMED = ("best_of_1", "best_of_8", "adaptive")


class ListwiseRecord(BaseModel):
    """The list-wise judge's pick among the first ``n`` samples."""

    n: int
    selected: int | None
    reason: str = ""
    tokens: int = 0
    seconds: float = 0.0


class ScalingRecord(BaseModel):
    """Everything measured on one problem (one JSONL line)."""

    kind: str = "scaling"
    task_id: str
    draw: ProblemResult
    listwise: ListwiseRecord | None = None
    timed: dict[str, ProblemResult] = {}
    code: dict[int, int | None] = {}
    """The default code selection's choice (sample index) among the first N samples, by N."""


class MeteredModel:
    """A ``Model`` that adds up the usage of every call it passes on (for the judge's tokens)."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.usage = Usage()

    async def generate(self, messages: Any, **options: Any) -> Completion:
        completion = await self.model.generate(messages, **options)
        self.usage = self.usage + completion.usage
        return completion


def _as_rollouts(task_id: str, samples: Sequence[SampleRecord]) -> tuple[list[Rollout], dict[str, Verdict]]:
    """Rebuild rollouts (id ``s<index>``) and their examples verdicts from records, for selectors."""
    rollouts, verdicts = [], {}
    for s in samples:
        if s.status != "ok":
            continue
        answer = behaviour_digest(s.behaviour)
        rollout = Rollout(id=f"s{s.index}", task_id=task_id, output=s.output, answer=answer)
        rollouts.append(rollout)
        if s.examples_score is not None:
            verdicts[rollout.id] = Verdict(rollout_id=rollout.id, score=s.examples_score, passed=s.examples_passed)
    return rollouts, verdicts


async def select_among(selector: Selector, task: Task, samples: Sequence[SampleRecord]) -> tuple[int | None, str]:
    """Run ``selector`` over recorded samples; returns the chosen sample's index and the reason.

    Each rollout's ``answer`` is its ``behaviour`` key, so ``MajorityVote`` votes over behaviour
    on the docstring inputs.
    """
    rollouts, verdicts = _as_rollouts(task.id, samples)
    selection = await selector.select(task, rollouts, verdicts)
    if selection.rollout_id is None:
        return None, selection.reason
    return int(selection.rollout_id[1:]), selection.reason


async def measure_problem(
    task: Task,
    *,
    agent: Any,
    verifier: Verifier,
    scorer: Verifier,
    judge: Model | None = None,
    draw: int = 16,
    listwise_n: int = 8,
    timed: bool = False,
    diversity: Diversity | None = None,
    max_concurrency: int = 8,
    selector: Selector | None = None,
    ns: Sequence[int] = (),
) -> ScalingRecord:
    """Draw, judge and (optionally) time one problem; see the module docstring.

    Args:
        task: a HumanEval task.
        agent: samples the model (``humaneval_agent``).
        verifier: the docstring-examples verifier.
        scorer: the hidden-tests verifier (scoring only).
        judge: the list-wise judge's model; ``None`` skips list-wise selection.
        draw: samples drawn.
        listwise_n: how many of the first samples the judge sees.
        timed: also run best-of-1, best-of-8 and adaptive for real.
        diversity: temperatures and seeds (default: the agent's format's, ``agent_diversity``).
        max_concurrency: rollouts in flight at once.
        selector: the code selection (``code_selector``): it selects in the draw and the timed
            runs, and its choice among the first N samples is recorded for each N in ``ns``;
            ``None``: the strategies' default (``BestScore`` over the verifier's scores).
        ns: the N to record ``selector``'s choice for.
    """
    from agentscale.strategies import ScaleContext

    common = {"agent": agent, "verifier": verifier, "scorer": scorer, "diversity": diversity, "selector": selector}
    result = await solve(task, n=draw, context=ScaleContext(max_concurrency=max_concurrency), **common)
    record = ScalingRecord(task_id=task.id, draw=result.model_copy(update={"kind": "draw"}))
    if selector is not None:
        ordered = sorted(result.samples, key=lambda s: s.index)
        for n in ns:
            record.code[n], _ = await select_among(selector, task, ordered[:n])
    if judge is not None:
        metered = MeteredModel(judge)
        started = time.monotonic()
        index, reason = await select_among(
            ListwiseSelector(metered, shuffles=1, max_chars=1500), task, result.samples[:listwise_n]
        )
        record.listwise = ListwiseRecord(
            n=listwise_n,
            selected=index,
            reason=reason,
            tokens=metered.usage.total_tokens,
            seconds=time.monotonic() - started,
        )
    if timed:
        for name, strategy, n in (
            ("best_of_1", "best_of_n", 1),
            ("best_of_8", "best_of_n", 8),
            ("adaptive", "adaptive", 8),
        ):
            ctx = ScaleContext(max_concurrency=max_concurrency)
            record.timed[name] = await solve(task, strategy=strategy, n=n, context=ctx, **common)
    return record


def replay_adaptive(samples: Sequence[SampleRecord], *, wave: int = 2, max_samples: int = 8) -> tuple[int | None, int]:
    """Adaptive sampling (waves of ``wave``, stop once a sample passes the examples) replayed on
    drawn samples in order. Returns the chosen sample's index (the best examples score among
    those used, the first of equals) and how many samples were used."""
    used: list[SampleRecord] = []
    ordered = sorted(samples, key=lambda s: s.index)[:max_samples]
    for start in range(0, len(ordered), wave):
        used.extend(ordered[start : start + wave])
        if any(s.examples_passed for s in used):
            break
    ok = [s for s in used if s.status == "ok"]
    if not ok:
        return None, len(used)
    best = max(
        ok,
        key=lambda s: (
            s.examples_score if s.examples_score is not None else -1.0,
            s.examples_passed,
            -s.index,
        ),
    )
    return best.index, len(used)


@dataclass
class Row:
    """One line of the table: a method, its pass rate, and what it cost per problem."""

    method: str
    passed: float
    """Pass rate on the hidden tests (0-1); for random subsets, the mean."""
    tokens: float
    """Prompt + generated tokens per problem."""
    generated: float
    """Generated tokens per problem."""
    seconds: float | None
    """Wall seconds per problem where a real run measured them."""
    note: str = ""


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return statistics.fmean(values) if values else 0.0


async def tabulate(
    records: Sequence[Mapping[str, Any] | ScalingRecord],
    *,
    ns: Sequence[int] = (1, 2, 4, 8, 16),
    subsets: int = 20,
    seed: int = 0,
    vote_n: int = 8,
    adaptive_max: int = 8,
) -> list[Row]:
    """The table's rows from measured records (a partial file works: each row covers the problems
    recorded).

    Args:
        records: ``ScalingRecord``s or their JSON.
        ns: best-of-N sizes (each at most the draw size).
        subsets: random N-subsets averaged per problem for the ``mean of subsets`` figure.
        seed: seeds those subsets.
        vote_n: samples majority vote uses.
        adaptive_max: the most samples adaptive sampling may use in the replay.

    Raises:
        ConfigError: no records, or an N larger than the draw.
    """
    recs = [r if isinstance(r, ScalingRecord) else ScalingRecord.model_validate(r) for r in records]
    if not recs:
        raise ConfigError("no problems recorded yet")
    rng = random.Random(seed)
    best, majority = BestScore(), MajorityVote()
    rows: list[Row] = []
    draws = [(Task(id=r.task_id, prompt=""), sorted(r.draw.samples, key=lambda s: s.index), r) for r in recs]
    smallest = min(len(s) for _, s, _ in draws)
    if max(ns) > smallest:
        raise ConfigError(f"N up to {max(ns)} asked, but a problem has only {smallest} samples")

    def cost(samples: Sequence[SampleRecord]) -> tuple[int, int]:
        return sum(s.tokens for s in samples), sum(s.completion_tokens for s in samples)

    def timed_seconds(name: str) -> float | None:
        runs = [r.timed[name].seconds for r in recs if name in r.timed]
        return _mean(runs) if runs else None

    first = [s[0] for _, s, _ in draws]
    rows.append(
        Row(
            f"pass@1 (sample 0, T={first[0].temperature})",
            _mean(s.hidden_passed for s in first),
            _mean(s.tokens for s in first),
            _mean(s.completion_tokens for s in first),
            timed_seconds("best_of_1"),
        )
    )
    everything = [s for _, samples, _ in draws for s in samples]
    rows.append(
        Row(
            "mean pass@1 of all drawn samples",
            _mean(s.hidden_passed for s in everything),
            _mean(s.tokens for s in everything),
            _mean(s.completion_tokens for s in everything),
            None,
            "all temperatures",
        )
    )
    for n in ns:
        chosen, sub_rates, toks, gens = [], [], [], []
        for task, samples, _ in draws:
            head = samples[:n]
            index, _ = await select_among(best, task, head)
            chosen.append(any(s.index == index and s.hidden_passed for s in head))
            t, g = cost(head)
            toks.append(t)
            gens.append(g)
            if n < len(samples):
                picks = []
                for _ in range(subsets):
                    subset = sorted(rng.sample(samples, n), key=lambda s: s.index)
                    index, _ = await select_among(best, task, subset)
                    picks.append(any(s.index == index and s.hidden_passed for s in subset))
                sub_rates.append(_mean(picks))
            else:
                sub_rates.append(float(chosen[-1]))
        seconds = {1: timed_seconds("best_of_1"), 8: timed_seconds("best_of_8")}.get(n)
        if n == smallest:
            seconds = _mean(r.draw.seconds for r in recs)
        rows.append(
            Row(
                f"best-of-{n}, examples verifier",
                _mean(chosen),
                _mean(toks),
                _mean(gens),
                seconds,
                f"mean of {subsets} random subsets: {_mean(sub_rates):.1%}" if n < smallest else "",
            )
        )
    for n in ns:
        picks = [(r.code[n], samples[:n]) for _, samples, r in draws if n in r.code]
        if picks:
            rows.append(
                Row(
                    f"best-of-{n}, code selection",
                    _mean(any(s.index == index and s.hidden_passed for s in head) for index, head in picks),
                    _mean(cost(head)[0] for _, head in picks),
                    _mean(cost(head)[1] for _, head in picks),
                    None,
                    f"default: examples + behaviour clustering; {len(picks)} problems",
                )
            )
    for n in ns:
        if n > 1:
            rows.append(
                Row(
                    f"pass@{n} ceiling (any of first {n} passes hidden)",
                    _mean(any(s.hidden_passed for s in samples[:n]) for _, samples, _ in draws),
                    _mean(cost(samples[:n])[0] for _, samples, _ in draws),
                    _mean(cost(samples[:n])[1] for _, samples, _ in draws),
                    None,
                    "oracle, not a method",
                )
            )
    votes = []
    for task, samples, _ in draws:
        index, _ = await select_among(majority, task, samples[:vote_n])
        votes.append(any(s.index == index and s.hidden_passed for s in samples[:vote_n]))
    rows.append(
        Row(
            f"majority vote of {vote_n}",
            _mean(votes),
            _mean(cost(s[:vote_n])[0] for _, s, _ in draws),
            _mean(cost(s[:vote_n])[1] for _, s, _ in draws),
            timed_seconds("best_of_8"),
            "vote over behaviour on the docstring inputs",
        )
    )
    judged = [(r, samples) for _, samples, r in draws if r.listwise is not None]
    if judged:
        lw_n = judged[0][0].listwise.n
        judge_s = _mean(r.listwise.seconds for r, _ in judged)
        fell = sum("fallback" in r.listwise.reason for r, _ in judged)
        rows.append(
            Row(
                f"list-wise selection of {lw_n} (same model)",
                _mean(
                    any(s.index == r.listwise.selected and s.hidden_passed for s in samples[:lw_n])
                    for r, samples in judged
                ),
                _mean(cost(samples[:lw_n])[0] + r.listwise.tokens for r, samples in judged),
                _mean(cost(samples[:lw_n])[1] for r, samples in judged),
                judge_s + eight if (eight := timed_seconds("best_of_8")) is not None else None,
                f"judge {judge_s:.1f} s/problem (+ best-of-8's sampling); {len(judged)} problems"
                + (f", judge failed on {fell} (best score decided)" if fell else ""),
            )
        )
    replays = [(replay_adaptive(samples, max_samples=adaptive_max), samples) for _, samples, _ in draws]
    rows.append(
        Row(
            f"adaptive (waves of 2, stop on pass, max {adaptive_max}), replayed",
            _mean(any(s.index == index and s.hidden_passed for s in samples) for (index, _), samples in replays),
            _mean(cost(samples[:used])[0] for (_, used), samples in replays),
            _mean(cost(samples[:used])[1] for (_, used), samples in replays),
            timed_seconds("adaptive"),
            f"{_mean(used for (_, used), _ in replays):.1f} samples/problem",
        )
    )
    for name in TIMED:
        runs = [r.timed[name] for r in recs if name in r.timed]
        if runs:
            rows.append(
                Row(
                    f"real run: {name.replace('_', '-')}",
                    _mean(p.scaled_passed for p in runs),
                    _mean(p.tokens for p in runs),
                    _mean(sum(s.completion_tokens for s in p.samples) for p in runs),
                    _mean(p.seconds for p in runs),
                    f"{len(runs)} problems",
                )
            )
    return rows


def wall_ratio(
    records: Sequence[Mapping[str, Any] | ScalingRecord], big: str = "best_of_8", small: str = "best_of_1"
) -> tuple[float, int] | None:
    """Total wall seconds of the real ``big`` runs over the ``small`` ones, on the problems that have
    both; with the number of problems. ``None`` when none has both."""
    recs = [r if isinstance(r, ScalingRecord) else ScalingRecord.model_validate(r) for r in records]
    both = [r for r in recs if big in r.timed and small in r.timed]
    if not both:
        return None
    small_s = sum(r.timed[small].seconds for r in both)
    return (sum(r.timed[big].seconds for r in both) / small_s if small_s else float("inf")), len(both)
