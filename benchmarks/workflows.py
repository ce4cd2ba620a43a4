"""The agent workflows on the embedded model: math with a sandboxed Python tool, the local web
site's questions and MiniWoB++ tasks; one rollout vs majority vote and best-of-N (N = 4, 8), tokens
and wall seconds per task, and best-of-4 with the memory bank on against off.

    .venv/bin/python benchmarks/workflows.py --section math --problems 20         # GSM seeds 0-19
    .venv/bin/python benchmarks/workflows.py --section web                        # the site's 20 questions
    .venv/bin/python benchmarks/workflows.py --section miniwob                    # 10 MiniWoB++ tasks
    .venv/bin/python benchmarks/workflows.py --section miniwob --miniwob-tasks choose-list,click-color \
        --out-dir DIR                                                            # other MiniWoB++ tasks
    .venv/bin/python benchmarks/workflows.py --section all --tabulate             # tables of what is done
    .venv/bin/python benchmarks/workflows.py --section math --tabulate --json     # the same as JSON
    .venv/bin/python benchmarks/workflows.py --section math --problems 50 --model qwen2.5-coder-1.5b \
        --no-draw --timed 50 --no-memory --out-dir DIR                          # the next size up, one rollout

How it measures, per task (problem, question or MiniWoB++ episode):

- **draw**: one real ``scale(agent, BestOfN(n=8))`` run draws 8 rollouts (rollout i: seed i,
  temperature 0.2/0.6/0.8/1.0 by i mod 4) and verifies each with the workflow's selection check,
  which never sees the expected answer (math: ``GroundedAnswer``, the answer is a number a program
  printed; web: ``ObservedAnswer``, the answer is on a page the rollout read; MiniWoB++:
  ``EpisodeReward``, the environment's reward). "one rollout" is rollout 0; majority@N (the
  workflow's vote: normalised answers, MiniWoB++'s action sequences) and best-of-N (best
  verifier score) select among the first N rollouts, which is exactly what a real run with the
  same seeds draws; pass@N (any of the N right) is printed beside them. Every chosen rollout is
  scored against what the agent never sees (math: ``AnswerChecker`` against the generator's
  answer; web: ``WebAnswerScorer``; MiniWoB++: the reward). Tokens are the first N rollouts'
  prompt + completion tokens ("gen": completion only; the server's prefix cache serves most
  prompt tokens); the checks spend none.
- **wall seconds**: N = 8 is the draw itself; N = 4 is the real best-of-4 run of the memory-off
  pass below; one rollout is a real single-rollout run (seed 0, temperature 0.2) on the first
  ``--timed`` tasks (rollout 0 inside the draw shares the CPU with 7 others, so its own seconds
  are not a lone rollout's).
- **memory**: real best-of-4 runs over the same tasks in the same order, once without a memory
  bank and once with one (a SQLite bank under the output folder that persists across a resumed
  run; lessons are distilled by the same model after each task and recalled, top 3, before the
  next). "second half" is the mean over the later half of the tasks, where more has been learnt.

Results: one JSONL record per task and method in ``--out-dir``
(``~/.cache/agentscale/bench/workflows/<section>.jsonl``); a rerun skips what is there and
continues (the settings must match the file's, or it stops and says so). The model is a private
llama-server (``agentscale.servers.LlamaCppServer``, 8 slots, 4096 tokens each: a trajectory
outgrows the default 2048), stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentscale import Budget, ScaleContext, registry, scale
from agentscale.strategies import BestOfN, Diversity
from agentscale.types import Rollout, Task
from agentscale.workflows import WorkflowEnv, WorkflowParts

SECTIONS = ("math", "web", "miniwob")
DIVERSITY = Diversity(temperatures=(0.2, 0.6, 0.8, 1.0), seed=0)
DRAW = 8
NS = (4, 8)
MEMORY_N = 4


def default_out_dir() -> Path:
    """``$AGENTSCALE_CACHE/bench/workflows`` (``~/.cache/agentscale/bench/workflows``)."""
    return Path(os.environ.get("AGENTSCALE_CACHE", "~/.cache/agentscale")).expanduser() / "bench" / "workflows"


def read_records(path: Path) -> list[dict[str, Any]]:
    """The records of a results file (a line cut short by a kill is skipped)."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            records.append(json.loads(line))
    return records


def append_record(path: Path, record: dict[str, Any]) -> None:
    """Append one record (a line of JSON) to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(json.dumps(record) + "\n")


@dataclass
class Suite:
    """One section's tasks and the workflow's parts, with what every run of it needs."""

    kind: str
    tasks: list[Task]
    parts: WorkflowParts
    sandboxes: Any = None
    settings: dict[str, Any] = field(default_factory=dict)

    def context(self, budget: int, **extra: Any) -> ScaleContext:
        return ScaleContext(sandboxes=self.sandboxes, budget=Budget(max_tokens=budget), **extra)

    def graph(self, n: int) -> Any:
        return scale(self.parts.agent, BestOfN(n=n, diversity=DIVERSITY), verifier=self.parts.verifier)


def _sample(rollout: Rollout, score: float, check: float | None) -> dict[str, Any]:
    return {
        "id": rollout.id, "status": rollout.status, "answer": rollout.answer, "score": score, "check": check,
        "tokens": rollout.usage.total_tokens, "gen": rollout.usage.completion_tokens,
        "seconds": rollout.usage.seconds, "steps": rollout.metadata.get("steps"),
        "stop": rollout.metadata.get("stop") or rollout.metadata.get("limit"), "error": rollout.error,
    }  # fmt: skip


async def _score(suite: Suite, task: Task, rollout: Rollout | None) -> float:
    return (await suite.parts.scorer.verify(task, rollout)).score if rollout is not None else 0.0


async def measure_draw(suite: Suite, task: Task, *, budget: int) -> dict[str, Any]:
    """Draw ``DRAW`` rollouts of ``task`` with one real best-of-N run and score every selection."""
    started = time.monotonic()
    state = await suite.graph(DRAW).ainvoke({"task": task}, context=suite.context(budget))
    wall = time.monotonic() - started
    rollouts = sorted(state["rollouts"], key=lambda r: int(r.metadata.get("index", 0)))
    verdicts = state["verdicts"]
    scores = {r.id: await _score(suite, task, r) for r in rollouts}
    record: dict[str, Any] = {
        "method": "draw", "wall": wall,
        "samples": [_sample(r, scores[r.id], verdicts[r.id].score if r.id in verdicts else None) for r in rollouts],
    }  # fmt: skip
    for n in NS:
        first = rollouts[:n]
        sub = {r.id: verdicts[r.id] for r in first if r.id in verdicts}
        for name, selector in (("majority", suite.parts.selector or "majority"), ("best", "best_score")):
            chooser = registry.create("selectors", selector) if isinstance(selector, str) else selector
            chosen = (await chooser.select(task, first, sub)).rollout_id if first else None
            record[f"{name}@{n}"] = scores.get(chosen, 0.0) if chosen else 0.0
        record[f"oracle@{n}"] = max((scores[r.id] for r in first), default=0.0)
    return record


async def _best_of(suite: Suite, task: Task, n: int, context: ScaleContext) -> dict[str, Any]:
    started = time.monotonic()
    state = await suite.graph(n).ainvoke({"task": task}, context=context)
    seconds = time.monotonic() - started
    chosen = next((r for r in state["rollouts"] if r.id == state["selected"].rollout_id), None)
    usage = [r.usage for r in state["rollouts"]]
    return {
        "score": await _score(suite, task, chosen), "answer": chosen.answer if chosen else None,
        "tokens": sum(u.total_tokens for u in usage), "gen": sum(u.completion_tokens for u in usage),
        "run_tokens": context.budget.spent.total_tokens,  # with the memory bank's lesson writing
        "seconds": seconds, "lessons": len(state.get("lessons") or []),
    }  # fmt: skip


async def measure_one(suite: Suite, task: Task, *, budget: int) -> dict[str, Any]:
    """A real single-rollout run (seed 0, temperature 0.2: the draw's rollout 0), for its wall time."""
    return {"method": "one", **await _best_of(suite, task, 1, suite.context(budget))}


@contextlib.asynccontextmanager
async def _bank(path: Path) -> AsyncIterator[Any]:
    """The memory bank at ``path``, worked on in a copy that replaces it only when the task finished,
    so a run killed mid-task resumes from the bank as it was before that task."""
    from agentscale.memory import MemoryBank

    work = path.with_suffix(".work.db")
    for stale in (work, work.with_name(work.name + "-wal"), work.with_name(work.name + "-shm")):
        stale.unlink(missing_ok=True)
    if path.exists():
        shutil.copyfile(path, work)
    bank = await MemoryBank.open(work)
    try:
        yield bank
    finally:
        await bank.aclose()
    os.replace(work, path)  # only reached when the task finished


async def measure_memory(suite: Suite, task: Task, model: Any, *, bank_path: Path | None, budget: int) -> dict:
    """Best-of-``MEMORY_N`` on ``task`` without a memory bank, or with the persistent one at ``bank_path``."""
    if bank_path is None:
        return {"method": "memory_off", **await _best_of(suite, task, MEMORY_N, suite.context(budget))}
    async with _bank(bank_path) as bank:
        context = suite.context(budget, memory=bank, model=model)
        row = await _best_of(suite, task, MEMORY_N, context)
        row["bank_items"] = await bank.store.count()
    return {"method": "memory_on", **row}


async def run_suite(suite: Suite, model: Any, args: argparse.Namespace) -> None:
    """Every method on every task of ``suite`` not yet in its results file, task by task."""
    path = args.out_dir / f"{suite.kind}.jsonl"
    records = read_records(path)
    mismatch = next((r for r in records if r.get("settings") != suite.settings), None)
    if mismatch is not None:
        raise SystemExit(
            f"{path} holds results with other settings ({mismatch.get('settings')}, now {suite.settings}): "
            "give another --out-dir, or move that file away"
        )
    done = {(r["task"], r["method"]) for r in records}
    bank_path = args.out_dir / f"{suite.kind}-memory.db"
    for i, task in enumerate(suite.tasks):
        todo: list[tuple[str, Any]] = []
        if args.draw:
            todo.append(("draw", lambda t: measure_draw(suite, t, budget=args.budget)))
        if i < args.timed:
            todo.append(("one", lambda t: measure_one(suite, t, budget=args.budget)))
        if args.memory:
            todo.append(("memory_off", lambda t: measure_memory(suite, t, model, bank_path=None, budget=args.budget)))
            todo.append(
                ("memory_on", lambda t: measure_memory(suite, t, model, bank_path=bank_path, budget=args.budget))
            )
        for method, measure in todo:
            if (task.id, method) in done:
                continue
            started = time.monotonic()
            record = {"kind": suite.kind, "task": task.id, "settings": suite.settings, **await measure(task)}
            append_record(path, record)
            brief = {k: v for k, v in record.items() if k not in ("samples", "settings", "kind")}
            if "samples" in record:
                brief["scores"] = [s["score"] for s in record["samples"]]
                brief["answers"] = [s["answer"] for s in record["samples"]]
            print(f"[{i + 1}/{len(suite.tasks)} {time.monotonic() - started:.0f} s] {json.dumps(brief)[:600]}",
                  file=sys.stderr, flush=True)  # fmt: skip


# -- tables ----------------------------------------------------------------------------------------


def _mean(values: Sequence[float]) -> float | None:
    return statistics.mean(values) if values else None


def summarize(kind: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """The rows of one section's table, computed from its records."""
    by = {
        m: {r["task"]: r for r in records if r.get("method") == m} for m in ("draw", "one", "memory_off", "memory_on")
    }
    draws = list(by["draw"].values())
    rows: list[dict[str, Any]] = []

    def tokens(n: int, key: str = "tokens") -> float | None:
        return _mean([sum(s[key] for s in r["samples"][:n]) for r in draws])

    if not draws and by["one"]:  # a --no-draw run (e.g. the next size up): real single rollouts only
        ones = list(by["one"].values())
        rows.append(
            {
                "method": "one rollout",
                "score": _mean([r["score"] for r in ones]),
                "tokens": _mean([r["tokens"] for r in ones]),
                "gen": _mean([r["gen"] for r in ones]),
                "wall": _mean([r["seconds"] for r in ones]),
                "wall_from": f"real single runs on {len(ones)} tasks (no draw)",
            }
        )
    if draws:
        one_wall = _mean([r["seconds"] for r in by["one"].values()])
        rows.append(
            {
                "method": "one rollout",
                "score": _mean([r["samples"][0]["score"] for r in draws]),
                "tokens": tokens(1),
                "gen": tokens(1, "gen"),
                "wall": one_wall,
                "wall_from": f"real single runs on {len(by['one'])} tasks" if one_wall is not None else None,
            }
        )
        for n in NS:
            wall, wall_from = None, None
            if n == DRAW:
                wall, wall_from = _mean([r["wall"] for r in draws]), "the draw"
            elif n == MEMORY_N and by["memory_off"]:
                wall = _mean([r["seconds"] for r in by["memory_off"].values()])
                wall_from = f"real best-of-{n} runs (memory off) on {len(by['memory_off'])} tasks"
            for name, label in (("majority", f"majority@{n}"), ("best", f"best-of-{n}"), ("oracle", f"pass@{n}")):
                rows.append({"method": label, "score": _mean([r[f"{name}@{n}"] for r in draws]),
                             "tokens": tokens(n), "gen": tokens(n, "gen"),
                             "wall": wall if name != "oracle" else None,
                             "wall_from": wall_from if name != "oracle" else None})  # fmt: skip
    # The memory comparison only over tasks both passes finished, in task order.
    paired = [t for t in by["memory_off"] if t in by["memory_on"]]
    memory = []
    for method in ("memory_off", "memory_on"):
        runs = [by[method][t] for t in paired]
        if runs:
            half = runs[len(runs) // 2 :]
            memory.append({"method": f"best-of-{MEMORY_N}, memory {method.split('_')[1]}",
                           "score": _mean([r["score"] for r in runs]),
                           "second_half": _mean([r["score"] for r in half]),
                           "tokens": _mean([r["run_tokens"] for r in runs]), "gen": _mean([r["gen"] for r in runs]),
                           "wall": _mean([r["seconds"] for r in runs]),
                           "lessons": _mean([r.get("lessons", 0) for r in runs]), "tasks": len(runs)})  # fmt: skip
    errors = sum(s["status"] != "ok" for r in draws for s in r["samples"])
    stops = Counter(str(s.get("stop") or s["status"]) for r in draws for s in r["samples"])
    return {
        "section": kind, "tasks": len(draws) or len(by["one"]), "drawn": len(draws) * DRAW,
        "rollout_errors": errors, "stops": dict(stops.most_common()), "rows": rows, "memory": memory,
    }  # fmt: skip


SCORING = {
    "math": "score = the chosen answer equals the generator's answer (AnswerChecker); selection check: GroundedAnswer",
    "web": "score = the chosen answer is the expected one (WebAnswerScorer); selection check: ObservedAnswer",
    "miniwob": "score = the episode's reward, 0 when below 0 (EpisodeReward); selection check: the same reward",
}


def render(summary: dict[str, Any]) -> str:
    """One section's table as text."""
    fmt = lambda v, spec: format(v, spec) if v is not None else format("-", ">" + spec.split(".")[0])  # noqa: E731 - a one-line helper
    lines = [
        f"\n{summary['section']}: {summary['tasks']} tasks, {summary['rollout_errors']} failed rollouts "
        f"of {summary['drawn']} drawn. {SCORING[summary['section']]}",
        f"{'method':<24} {'score':>6} {'tokens/task':>11} {'gen/task':>8} {'wall s/task':>11}  wall from",
    ]
    for r in summary["rows"]:
        lines.append(
            f"{r['method']:<24} {fmt(r['score'], '6.1%')} {fmt(r['tokens'], '11.0f')} "
            f"{fmt(r['gen'], '8.0f')} {fmt(r['wall'], '11.1f')}  {r['wall_from'] or ''}"
        )
    for r in summary["memory"]:
        lines.append(
            f"{r['method']:<24} {fmt(r['score'], '6.1%')} {fmt(r['tokens'], '11.0f')} "
            f"{fmt(r['gen'], '8.0f')} {fmt(r['wall'], '11.1f')}  "
            f"{r['tasks']} tasks in order; second half {fmt(r['second_half'], '.1%')}; "
            f"{r['lessons']:.1f} lessons recalled/task"
        )
    if summary["stops"]:
        said = ", ".join(f"{why} {count}" for why, count in summary["stops"].items())
        lines.append(f"how the drawn rollouts ended: {said} (final = an answer; steps/tokens/seconds = a limit)")
    if summary["drawn"]:
        lines.append(
            f"N = 1 and 4 are read off the first 1 and 4 of the {DRAW} rollouts drawn per task (seeds 0-7, "
            "the rollouts a real run with those seeds draws); tokens = prompt + completion\n"
            "(the memory rows' tokens are the whole run's: with memory on, writing lessons too)."
        )
    return "\n".join(lines)


# -- sections --------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def open_suite(section: str, model: Any, args: argparse.Namespace) -> AsyncIterator[Suite]:
    """The tasks and workflow parts of ``section``, with what they need (sandboxes, site, browsers)."""
    settings = {"model": args.model, "steps": args.steps, "parallel": args.parallel, "ctx_size": args.ctx_size}
    if section == "math":
        from agentscale.graphs.math import MathWorkflow, gsm_tasks
        from agentscale.sandboxes import open_pool

        options = {"max_steps": args.steps} if args.steps else {}
        async with open_pool(args.backend, size=args.parallel) as pool:
            parts = MathWorkflow().build(WorkflowEnv(model=model, sandboxes=pool, options=options))
            tasks = gsm_tasks(range(args.seed_start, args.seed_start + (args.problems or 50)))
            yield Suite("math", tasks, parts, sandboxes=pool, settings=settings)
    elif section == "web":
        from agentscale.graphs.web import SiteServer, WebWorkflow, site_tasks

        options = {"max_steps": args.steps} if args.steps else {}
        async with SiteServer() as site:
            parts = WebWorkflow().build(WorkflowEnv(model=model, options=options))
            yield Suite("web", site_tasks(site.url)[: args.problems or 20], parts, settings=settings)
    else:
        from agentscale.graphs.web import MINIWOB_TASKS, MiniWoBWorkflow, miniwob_task

        names = args.miniwob_tasks or MINIWOB_TASKS
        workflow = MiniWoBWorkflow()
        options: dict[str, Any] = {"browsers": args.browsers, **({"max_steps": args.steps} if args.steps else {})}
        try:
            parts = workflow.build(WorkflowEnv(model=model, options=options))
            tasks = [miniwob_task(name, seed=args.miniwob_seed) for name in names[: args.problems or len(names)]]
            other = {"tasks": list(names)} if args.miniwob_tasks else {}  # a file holds one task list
            yield Suite("miniwob", tasks, parts, settings={**settings, "seed": args.miniwob_seed, **other})
        finally:
            await workflow.aclose()


async def run(args: argparse.Namespace, sections: Sequence[str]) -> None:
    from agentscale.llm import LLM
    from agentscale.servers import LlamaCppServer

    server = LlamaCppServer(
        args.model, parallel=args.parallel, ctx_size=args.ctx_size, threads=args.threads, reuse=False
    )
    async with server:
        async with LLM(server.model, endpoint=server.endpoint(), profile=server.profile, timeout=900) as llm:
            for section in sections:
                async with open_suite(section, llm, args) as suite:
                    print(f"{section}: {len(suite.tasks)} tasks", file=sys.stderr, flush=True)
                    await run_suite(suite, llm, args)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--section", choices=[*SECTIONS, "all"], default="math")
    parser.add_argument(
        "--problems",
        type=int,
        default=None,
        help="tasks per section: math 50 (GSM seeds), web 20 (the site's questions), miniwob 10",
    )
    parser.add_argument("--seed-start", type=int, default=0, help="first GSM seed (math: seeds from here)")
    parser.add_argument("--miniwob-seed", type=int, default=1, help="MiniWoB++ episode seed")
    parser.add_argument("--miniwob-tasks", type=lambda s: tuple(n.strip() for n in s.split(",") if n.strip()),
                        help="other MiniWoB++ tasks, comma-separated (default: the 10 of MINIWOB_TASKS)")
    parser.add_argument("--steps", type=int, default=None, help="agent steps per rollout (the workflow's default)")
    parser.add_argument("--timed", type=int, default=3, help="real single-rollout runs on the first K tasks")
    parser.add_argument("--no-memory", dest="memory", action="store_false", help="skip the memory comparison")
    parser.add_argument(
        "--no-draw",
        dest="draw",
        action="store_false",
        help="skip the draw of 8: with --timed K, only real single rollouts (the next size up, as a baseline)",
    )
    parser.add_argument("--budget", type=int, default=400_000, help="tokens per task and method")
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--parallel", type=int, default=8, help="llama-server slots")
    parser.add_argument("--ctx-size", type=int, default=32768, help="llama-server context, split across slots")
    parser.add_argument(
        "--threads", type=int, default=None, help="llama-server threads (default: the cores); 1 on a crowded CPU"
    )
    parser.add_argument("--backend", default="auto", help="sandbox backend for math")
    parser.add_argument("--browsers", type=int, default=4, help="Chromium instances for miniwob")
    parser.add_argument("--out-dir", type=Path, default=default_out_dir())
    parser.add_argument("--tabulate", action="store_true", help="only print the tables of what is recorded")
    parser.add_argument("--json", action="store_true", help="print the tables as JSON")
    args = parser.parse_args(argv)
    sections = SECTIONS if args.section == "all" else (args.section,)
    if args.problems is not None and args.problems < 1:
        parser.error("--problems must be >= 1")
    if args.miniwob_tasks:  # a misspelt task fails here, not after the model server started
        from agentscale.graphs.web.browser import miniwob_html_dir

        pages = miniwob_html_dir()
        unknown = [n for n in args.miniwob_tasks if not (pages / f"{n}.html").is_file()]
        if unknown:
            parser.error(f"--miniwob-tasks: no MiniWoB++ task {', '.join(unknown)} (the pages are in {pages})")
    if not args.tabulate:
        asyncio.run(run(args, sections))
    summaries = [summarize(s, read_records(args.out_dir / f"{s}.jsonl")) for s in sections]
    summaries = [s for s in summaries if s["rows"] or s["memory"]]
    if args.json:
        print(json.dumps(summaries, indent=1))
    else:
        print("\n".join(render(s) for s in summaries) or f"nothing recorded in {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
