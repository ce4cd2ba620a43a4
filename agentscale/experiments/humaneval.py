"""HumanEval solved with test-time scaling: what ``agentscale demo`` and
``benchmarks/humaneval_scaling.py`` run.

One problem goes through ``scale()`` with the docstring-examples verifier (the examples in the
prompt, run in a sandbox) choosing among the samples. The hidden ``check()`` tests of HumanEval
only *score* the outcome afterwards: they never reach the agent, the verifier or the selector.

Every sample of a run is kept as a ``SampleRecord`` (tokens, seconds, the verifier's verdict, how
the program behaved on the docstring inputs, whether it passes the hidden tests), and a problem as
a ``ProblemResult``; both are plain JSON, appended to a JSONL file as each problem finishes so an
interrupted run loses nothing (``append_jsonl``, ``read_jsonl``).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from agentscale.agents import prompt_parts, sample_of
from agentscale.errors import ConfigError
from agentscale.protocols import Model, Selector, Verifier
from agentscale.state import Sample
from agentscale.strategies import AdaptivePolicy, Diversity, ScaleContext, scale
from agentscale.strategies.rollouts import verify_one
from agentscale.types import Provenance, Rollout, Task, Verdict

__all__ = [
    "CHATML",
    "DIVERSITY",
    "PLAIN",
    "STOPS",
    "SYSTEM",
    "HumanEvalAgent",
    "ProblemResult",
    "SampleRecord",
    "Summary",
    "append_jsonl",
    "BehaviourVote",
    "behaviour_digest",
    "behaviour_key",
    "completed",
    "hidden_tests_task",
    "humaneval_agent",
    "no_vote",
    "read_jsonl",
    "render",
    "solve",
    "solve_all",
    "summarize",
]

SYSTEM = "You are an expert Python programmer. Complete the function the user gives you."
"""The system prompt. Every prompt starts with the same tokens (system, then the request), so the model
server's prefix cache serves that part for every problem, and the whole prompt for the samples of one."""

ASK = "Complete this Python function."

CHATML = "<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"
"""The chat template of the Qwen and SmolLM models (ChatML), for chat models served through a
completion endpoint."""

PLAIN = ""
"""No template: for base models, which just continue the code."""

STOPS = ("\n```", "\ndef ", "\nclass ", "\nif ", "\nprint(", "\n#", "\nassert ")
"""The body ends at the first line back at column 0 (Codex's stop sequences, plus the closing fence
and asserts): small models like to append tests and prints, which cost tokens and prove nothing."""

DIVERSITY = Diversity(temperatures=(0.2, 0.6, 0.8, 1.0), seed=0)
"""Sample ``i`` runs at ``temperatures[i % 4]`` with seed ``i``: sample 0 is near-greedy (the
one-sample baseline), later ones spread out. A run with ``n=N`` draws exactly the first ``N``
samples of a run with more, which is what lets the benchmark read small ``N`` off a large draw."""


def render(task: Task, *, template: str = CHATML, system: str = SYSTEM) -> str:
    """The prompt text: the request (plus what a strategy appended: feedback, prompt variants) as
    the user's turn, and the assistant's turn already begun with the task's code in a fence, so the
    model writes only the function's body instead of repeating the signature and docstring."""
    code, extra = prompt_parts(task)
    user = f"{ASK}\n\n{extra}" if extra else ASK
    head = template.format(system=system, user=user) if template else ""
    return f"{head}```python\n{code}"


@dataclass
class HumanEvalAgent:
    """Completes a HumanEval prompt with one call to a completion endpoint.

    The reply is the function's body; the rollout's output is the whole program in a fence
    (the prompt's code, then the body), which is what verifiers and judges read.

    Attributes:
        model: a ``Model`` with the ``completion`` profile (the prompt is sent as is).
        template: ``CHATML`` for chat models (Qwen, SmolLM), ``PLAIN`` for base models.
        system: the system prompt.
        max_tokens: cap on the body's tokens.
        stop: stop sequences (``STOPS``).
    """

    model: Model
    template: str = CHATML
    system: str = SYSTEM
    max_tokens: int = 300
    stop: Sequence[str] = STOPS

    def charges(self, budget: object) -> bool:
        """Whether the model client already charges ``budget`` for every call."""
        return getattr(self.model, "budget", None) is budget

    async def __call__(self, task: Task) -> Rollout:
        sample = sample_of(task) or Sample(index=0)
        code, _ = prompt_parts(task)
        started = time.monotonic()
        completion = await self.model.generate(
            render(task, template=self.template, system=self.system),
            temperature=sample.temperature,
            seed=sample.seed,
            max_tokens=self.max_tokens,
            stop=list(self.stop),
        )
        usage = completion.usage
        if not usage.seconds:
            usage = usage.model_copy(update={"seconds": time.monotonic() - started})
        body = completion.text.rstrip()
        return Rollout(
            task_id=task.id,
            output=f"```python\n{code.rstrip()}\n{body}\n```" if body.strip() else "",
            usage=usage,
            provenance=Provenance(seed=sample.seed, temperature=sample.temperature, model=completion.model),
            metadata={"finish_reason": completion.finish_reasons[0] if completion.finish_reasons else None},
        )


def humaneval_agent(model: Model, *, chat: bool = True, max_tokens: int = 300) -> HumanEvalAgent:
    """The agent for a model served with a completion endpoint; ``chat`` picks ``CHATML`` over ``PLAIN``."""
    return HumanEvalAgent(model, template=CHATML if chat else PLAIN, max_tokens=max_tokens)


def no_vote(rollout: Rollout) -> None:
    """An ``AdaptivePolicy.key`` that abstains: code has no short answer to vote on, so adaptive
    sampling stops only on a verified pass or at ``max_samples``."""
    return None


def hidden_tests_task(task: Task) -> Task:
    """The task with HumanEval's hidden ``check()`` as its tests, for scoring with ``VisibleTestsVerifier``.

    Raises:
        ConfigError: the task has no ``metadata["hidden_test"]`` (not from ``load_humaneval``).
    """
    hidden = task.metadata.get("hidden_test")
    if not hidden:
        raise ConfigError(f"task {task.id} has no hidden tests (metadata['hidden_test'])")
    return task.model_copy(update={"tests": [hidden]})


def behaviour_key(verdict: Verdict | None) -> str | None:
    """What a program did on the docstring's inputs, as a vote key: programs with equal keys behaved
    the same on every example (all passing ones agree; a failing one by the value it returned or
    the kind of error it raised). ``None`` (abstain) when nothing ran: no verdict, no examples,
    or a program that did not load."""
    if verdict is None:
        return None
    evidence = verdict.evidence or {}
    checks = evidence.get("checks") or []
    if not checks or evidence.get("load_error"):
        return None
    outcome = []
    for check in checks:
        status = check.get("status")
        if status == "pass":
            outcome.append("=")
        elif status == "fail" and check.get("got") is not None:
            outcome.append(f"got {check['got']}")
        else:  # the error's type, not its text (which names lines and files)
            error = str(check.get("error") or status)
            outcome.append(f"{status} {error.split(':', 1)[0]}")
    return json.dumps(outcome)


def behaviour_digest(behaviour: str | None) -> str | None:
    """A short vote key for a ``behaviour_key``: the vote normalises answers (case, spaces), and
    returning ``"ABC"`` is not returning ``"abc"``, so it votes on a digest instead."""
    return "b" + hashlib.sha1(behaviour.encode()).hexdigest()[:20] if behaviour else None


@dataclass
class BehaviourVote:
    """Majority vote for code: programs vote for what they did on the docstring's inputs.

    Each rollout's answer becomes the digest of ``behaviour_key`` of its verdict, and
    ``MajorityVote`` decides (its tie-breaks and its no-votes fallback apply).
    """

    name: str = "behaviour_vote"

    async def select(self, task: Task, rollouts: Sequence[Rollout], verdicts: Mapping[str, Verdict]):
        """Choose by vote over behaviour."""
        from agentscale.selectors import MajorityVote

        voting = [
            r.model_copy(update={"answer": behaviour_digest(behaviour_key(verdicts.get(r.id)))}) for r in rollouts
        ]
        return await MajorityVote().select(task, voting, verdicts)


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
    diversity: Diversity = DIVERSITY,
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
        diversity: temperatures and seeds of the samples.
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
    graph = scale(
        agent,
        strategy=strategy,
        n=n,
        verifier=verifier,
        selector=selector,
        diversity=diversity,
        policy=policy,
    )
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


def append_jsonl(path: Path, record: BaseModel | Mapping[str, Any]) -> None:
    """Append one record as a JSON line and flush it to disk, so a killed run keeps it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = record.model_dump(mode="json") if isinstance(record, BaseModel) else dict(record)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(data) + "\n")
        fh.flush()


def read_jsonl(path: Path, *, kind: str | None = None) -> list[dict[str, Any]]:
    """The records of a results file, skipping a last line cut short by a kill.

    Args:
        path: the file (missing: no records).
        kind: keep only records with this ``"kind"``.

    Raises:
        ConfigError: a line other than the last is not JSON (not a results file).
    """
    if not path.exists():
        return []
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    records = []
    for i, line in enumerate(lines):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            if i == len(lines) - 1:
                break  # written when the run was killed
            raise ConfigError(f"{path} line {i + 1} is not JSON: {exc}") from exc
        if isinstance(record, dict) and (kind is None or record.get("kind") == kind):
            records.append(record)
    return records


def completed(records: Sequence[Mapping[str, Any]]) -> set[str]:
    """Task ids that have a record."""
    return {r["task_id"] for r in records if "task_id" in r}


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
