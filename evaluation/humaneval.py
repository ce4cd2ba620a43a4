"""HumanEval solved with test-time scaling, recorded and scored: what ``agentscale demo`` and
``benchmarks/humaneval_scaling.py`` run.

One problem goes through ``scale()`` with the docstring-examples verifier (the examples in the
prompt, run in a sandbox) choosing among the samples of the HumanEval workflow
(``agentscale.graphs.humaneval``). The hidden ``check()`` tests of HumanEval only *score* the
outcome afterwards: they never reach the agent, the verifier or the selector.

Every sample of a run is kept as a ``SampleRecord`` (tokens, seconds, the verifier's verdict, how
the program behaved on the docstring inputs, whether it passes the hidden tests), and a problem as
a ``ProblemResult``; both are plain JSON, appended to a JSONL file as each problem finishes so an
interrupted run loses nothing (``append_jsonl``, ``read_jsonl``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from agentscale.evaluation._jsonl import append_jsonl, read_jsonl
from agentscale.graphs.humaneval import DIVERSITY, HumanEvalAgent, hidden_tests_task, no_vote
from agentscale.protocols import Selector, Verifier
from agentscale.rollout import verify_one
from agentscale.selectors import BehaviourVote, behaviour_key
from agentscale.strategies import AdaptivePolicy, Diversity, ScaleContext, scale
from agentscale.types import Rollout, Task, Verdict

__all__ = [
    "ProblemResult",
    "SampleRecord",
    "Summary",
    "agent_diversity",
    "candidates_line",
    "solve",
    "solve_all",
    "summarize",
]


class SampleRecord(BaseModel):
    """One sample (rollout) of one problem, as kept in the results file."""

    index: int
    status: str
    temperature: float | None = None
    seed: int | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    seconds: float = 0.0
    finish_reason: str | None = None
    error: str | None = None
    examples_passed: bool = False
    """The docstring examples all passed (what selection sees)."""
    examples_score: float | None = None
    """Fraction of the docstring examples passed; ``None`` when not verified."""
    no_examples: bool = False
    behaviour: str | None = None
    """``behaviour_key`` of the examples verdict."""
    hidden_passed: bool = False
    """HumanEval's hidden tests all passed (scoring only)."""
    hidden_score: float = 0.0
    output: str = ""

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @classmethod
    def of(cls, rollout: Rollout, examples: Verdict | None, hidden: Verdict | None) -> SampleRecord:
        """Build from a finished rollout, its examples verdict and its hidden-tests verdict."""
        u = rollout.usage
        return cls(
            index=int(rollout.metadata.get("index", 0)),
            status=rollout.status,
            temperature=rollout.provenance.temperature,
            seed=rollout.provenance.seed,
            prompt_tokens=u.prompt_tokens,
            completion_tokens=u.completion_tokens,
            cached_tokens=u.cached_tokens,
            seconds=float(rollout.metadata.get("seconds", u.seconds)),
            finish_reason=rollout.metadata.get("finish_reason"),
            error=rollout.error,
            examples_passed=bool(examples and examples.passed),
            examples_score=examples.score if examples else None,
            no_examples=bool(examples and (examples.evidence or {}).get("no_checks")),
            behaviour=behaviour_key(examples),
            hidden_passed=bool(hidden and hidden.passed),
            hidden_score=hidden.score if hidden else 0.0,
            output=rollout.output,
        )


class ProblemResult(BaseModel):
    """One problem solved with a strategy, scored by the hidden tests.

    ``samples`` are in sample order (index 0 first); ``selected`` is the index of the sample the
    strategy chose (``None`` when it chose none).
    """

    kind: str = "solve"
    task_id: str
    strategy: str
    n: int
    samples: list[SampleRecord] = Field(default_factory=list)
    selected: int | None = None
    reason: str = ""
    stop_reason: str | None = None
    seconds: float = 0.0
    """Wall seconds of the whole scaled run (sampling and verification; hidden scoring excluded)."""
    extra_tokens: int = 0
    """Tokens spent outside the samples (an LLM selector's prompts)."""

    @property
    def one_sample_passed(self) -> bool:
        """Sample 0 (the near-greedy one) passes the hidden tests: the pass@1 baseline."""
        return bool(self.samples) and self.samples[0].index == 0 and self.samples[0].hidden_passed

    @property
    def scaled_passed(self) -> bool:
        """The strategy's choice passes the hidden tests."""
        chosen = self.sample(self.selected)
        return chosen is not None and chosen.hidden_passed

    @property
    def tokens(self) -> int:
        return sum(s.tokens for s in self.samples) + self.extra_tokens

    def sample(self, index: int | None) -> SampleRecord | None:
        """The sample with this index, if any."""
        return next((s for s in self.samples if s.index == index), None) if index is not None else None


def candidates_line(result: ProblemResult) -> dict[str, Any]:
    """One line of a candidates file (``benchmarks/selection.py --candidates``) from a solved problem:
    ``task_id``, the samples' outputs in sample order, whether each passed the hidden tests, and
    each sample's tokens, seconds and finish reason (``benchmarks/draw_candidates.py`` writes the
    same), so a run's candidates can be selected again by any method."""
    samples = sorted(result.samples, key=lambda s: s.index)
    return {
        "task_id": result.task_id,
        "candidates": [s.output for s in samples],
        "passed": [s.hidden_passed for s in samples],
        "samples": [
            {
                "index": s.index,
                "temperature": s.temperature,
                "seed": s.seed,
                "prompt_tokens": s.prompt_tokens,
                "completion_tokens": s.completion_tokens,
                "cached_tokens": s.cached_tokens,
                "seconds": s.seconds,
                "finish_reason": s.finish_reason,
            }
            for s in samples
        ],
    }


def agent_diversity(agent: Any) -> Diversity:
    """The temperatures and seeds a HumanEval agent's prompt format was measured with
    (``HumanEvalConfig.diversity``); ``DIVERSITY`` for any other agent."""
    return agent.config.diversity if isinstance(agent, HumanEvalAgent) else DIVERSITY


EventSink = Callable[[Mapping[str, Any]], None]


@dataclass
class _Scored:
    rollouts: list[Rollout]
    verdicts: dict[str, Verdict]
    state: Mapping[str, Any]
    seconds: float


async def _run(graph: Any, task: Task, ctx: ScaleContext, on_event: EventSink | None) -> _Scored:
    state: Mapping[str, Any] = {}
    started = time.monotonic()
    async for mode, chunk in graph.astream({"task": task}, context=ctx, stream_mode=["custom", "values"]):
        if mode == "custom":
            if on_event is not None:
                on_event(chunk)
        else:
            state = chunk
    seconds = time.monotonic() - started
    rollouts = sorted(state.get("rollouts") or [], key=lambda r: int(r.metadata.get("index", 0)))
    return _Scored(rollouts, dict(state.get("verdicts") or {}), state, seconds)


async def solve(
    task: Task,
    *,
    agent: Any,
    verifier: Verifier,
    scorer: Verifier,
    strategy: str = "best_of_n",
    n: int = 4,
    selector: Selector | None = None,
    policy: AdaptivePolicy | None = None,
    diversity: Diversity | None = None,
    context: ScaleContext | None = None,
    on_event: EventSink | None = None,
) -> ProblemResult:
    """Solve one HumanEval task with a strategy, then score every sample with the hidden tests.

    Args:
        task: from ``load_humaneval`` (needs ``metadata["hidden_test"]``).
        agent: e.g. ``humaneval_agent(llm)``.
        verifier: what selection sees, e.g. ``DocstringExamplesVerifier(pool)``.
        scorer: scores results against the hidden tests, e.g. ``VisibleTestsVerifier(pool)``; it
            runs after the strategy has chosen and is not timed.
        strategy: a ``scale()`` strategy name.
        n: samples (``best_of_n``, ``majority``), or the most samples (``adaptive``, with ``policy``).
        selector: overrides the strategy's default selector (for ``majority``: ``BehaviourVote``).
        policy: the ``AdaptivePolicy`` for ``adaptive`` (default: waves of 2, stop on a pass).
        diversity: temperatures and seeds of the samples (default: ``agent_diversity(agent)``).
        context: budget and concurrency (default: a fresh ``ScaleContext(max_concurrency=n)``).
        on_event: called with each progress event of the run (LangGraph custom stream).

    Returns:
        The problem's result; failures of the model or the candidate are data in it, not errors.
    """
    scoring = hidden_tests_task(task)
    if strategy == "majority" and selector is None:
        selector = BehaviourVote()
    if strategy == "adaptive" and policy is None:
        policy = AdaptivePolicy(wave=2, max_samples=n, stop_on_pass=True, key=no_vote)
    options: dict[str, Any] = {"diversity": diversity or agent_diversity(agent)}
    if policy is not None:
        options["policy"] = policy
    graph = scale(agent, strategy, n=n, verifier=verifier, selector=selector, **options)
    ctx = context or ScaleContext(max_concurrency=n)
    run = await _run(graph, task, ctx, on_event)
    samples = []
    for rollout in run.rollouts:
        hidden = await verify_one(scorer, scoring, rollout) if rollout.ok else None
        samples.append(SampleRecord.of(rollout, run.verdicts.get(rollout.id), hidden))
    chosen = run.state.get("selected")
    by_id = {r.id: int(r.metadata.get("index", 0)) for r in run.rollouts}
    return ProblemResult(
        task_id=task.id,
        strategy=strategy,
        n=n,
        samples=samples,
        selected=by_id.get(chosen.rollout_id) if chosen is not None and chosen.rollout_id else None,
        reason=chosen.reason if chosen is not None else "",
        stop_reason=run.state.get("stop_reason"),
        seconds=run.seconds,
    )


@dataclass(frozen=True)
class Summary:
    """Totals over problems: the one-sample baseline against the scaled strategy.

    ``one_sample_*`` count sample 0 of each problem only (its tokens, and its own generation
    seconds, measured while it ran alongside the other samples); ``scaled_*`` count every sample
    and the wall time of the whole runs.
    """

    problems: int
    one_sample_passed: int
    scaled_passed: int
    one_sample_tokens: int
    scaled_tokens: int
    one_sample_seconds: float
    scaled_seconds: float

    @property
    def one_sample_rate(self) -> float:
        return self.one_sample_passed / self.problems if self.problems else 0.0

    @property
    def scaled_rate(self) -> float:
        return self.scaled_passed / self.problems if self.problems else 0.0


def summarize(results: Iterable[ProblemResult]) -> Summary:
    """Add up ``results`` (see ``Summary``)."""
    results = list(results)
    first = [r.sample(0) for r in results]
    return Summary(
        problems=len(results),
        one_sample_passed=sum(r.one_sample_passed for r in results),
        scaled_passed=sum(r.scaled_passed for r in results),
        one_sample_tokens=sum(s.tokens for s in first if s is not None),
        scaled_tokens=sum(r.tokens for r in results),
        one_sample_seconds=sum(s.seconds for s in first if s is not None),
        scaled_seconds=sum(r.seconds for r in results),
    )


async def solve_all(
    tasks: Sequence[Task],
    *,
    out: Path | None = None,
    on_start: Callable[[Task], None] | None = None,
    on_result: Callable[[ProblemResult], None] | None = None,
    **options: Any,
) -> list[ProblemResult]:
    """``solve`` each task in turn, appending each result to ``out`` as it finishes.

    Tasks already in ``out`` with the same strategy and ``n`` are not solved again; their recorded
    results are returned (and passed to ``on_result``) in task order, so a killed run continues
    where it stopped.

    Args:
        tasks: HumanEval tasks.
        out: the JSONL results file (``None``: keep nothing).
        on_start: called before a task is solved.
        on_result: called with each result, recorded or new.
        **options: passed to ``solve`` (``agent``, ``verifier``, ``scorer``, ``strategy``, ``n``...).
    """
    strategy, n = options.get("strategy", "best_of_n"), options.get("n", 4)
    recorded = {
        r["task_id"]: ProblemResult.model_validate(r)
        for r in (read_jsonl(out, kind="solve") if out is not None else [])
        if r.get("strategy") == strategy and r.get("n") == n
    }
    results = []
    for task in tasks:
        result = recorded.get(task.id)
        if result is None:
            if on_start is not None:
                on_start(task)
            result = await solve(task, **options)
            if out is not None:
                append_jsonl(out, result)
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results
