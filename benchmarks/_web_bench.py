"""The web section of ``benchmarks/workflows.py``: the local site's questions and MiniWoB++ tasks on
the embedded model, one rollout vs majority vote and best-of-N (N = 4, 8), and best-of-4 with
the memory bank on against off.

Run alone (``python benchmarks/_web_bench.py --help``) or through ``benchmarks/workflows.py``.

How it measures: per task, one real ``scale(agent, "best_of_n", n=8)`` run draws 8 rollouts
(rollout i: seed i, temperature 0.2/0.6/0.8/1.0 by i mod 4) and verifies each with the workflow's
selection check (web: ``ObservedAnswer``, the answer is on a page the rollout read; MiniWoB++:
``EpisodeReward``, the environment's reward). "one rollout" is rollout 0; majority@N and best@N
select among the first N rollouts, as a real run with the same seeds draws them. Every chosen
answer is scored against what the agent never sees (web: the expected answer; MiniWoB++: the
reward). Tokens are the first N rollouts' prompt + completion tokens; wall seconds are rollout 0's
own (one rollout) and the whole 8-rollout draw's (N = 8). The memory comparison runs real
best-of-4 graphs over the same tasks in the same order, with a fresh SQLite memory bank and
without one. Each task's record is appended to ``--out`` as it finishes; a rerun skips tasks
already there.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agentscale import Budget, ScaleContext, registry, scale
from agentscale.strategies import BestOfN, Diversity
from agentscale.types import Rollout, Task, Verdict

DIVERSITY = Diversity(temperatures=(0.2, 0.6, 0.8, 1.0), seed=0)
NS = (4, 8)


def _records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _append(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(json.dumps(record) + "\n")


async def _choose(task: Task, rollouts: Sequence[Rollout], verdicts: dict[str, Verdict], selector: str) -> str | None:
    sel = await registry.create("selectors", selector).select(task, list(rollouts), verdicts)
    return sel.rollout_id


async def measure_task(kind: str, task: Task, agent: Any, verifier: Any, scorer: Any, *, budget: int) -> dict[str, Any]:
    """Draw 8 rollouts of ``task`` with one real best-of-8 run and score every selection."""
    graph = scale(agent, BestOfN(n=8, diversity=DIVERSITY), verifier=verifier)
    started = time.monotonic()
    state = await graph.ainvoke({"task": task}, context=ScaleContext(budget=Budget(max_tokens=budget)))
    wall = time.monotonic() - started
    rollouts = sorted(state["rollouts"], key=lambda r: r.metadata.get("index", 0))
    verdicts = state["verdicts"]
    scores = {r.id: (await scorer.verify(task, r)).score for r in rollouts}
    out: dict[str, Any] = {
        "kind": kind, "task": task.id, "wall8": wall,
        "samples": [{"id": r.id, "status": r.status, "answer": r.answer, "score": scores[r.id],
                     "check": verdicts[r.id].score if r.id in verdicts else None,
                     "tokens": r.usage.total_tokens, "seconds": r.usage.seconds,
                     "steps": r.metadata.get("steps"), "stop": r.metadata.get("stop")} for r in rollouts],
    }
    for n in NS:
        first = rollouts[:n]
        sub = {r.id: verdicts[r.id] for r in first if r.id in verdicts}
        for name, selector in (("majority", "majority"), ("best", "best_score")):
            chosen = await _choose(task, first, sub, selector) if first else None
            out[f"{name}@{n}"] = scores.get(chosen, 0.0) if chosen else 0.0
        out[f"oracle@{n}"] = max((scores[r.id] for r in first), default=0.0)
    return out


async def memory_pass(kind: str, tasks: Sequence[Task], agent: Any, verifier: Any, scorer: Any, model: Any,
                      *, bank_dir: Path | None, budget: int) -> list[dict[str, Any]]:
    """Best-of-4 over ``tasks`` in order, with a fresh memory bank (``bank_dir``) or without one."""
    from agentscale.memory import MemoryBank

    graph = scale(agent, BestOfN(n=4, diversity=DIVERSITY), verifier=verifier)
    bank = await MemoryBank.open(bank_dir / "memory.db") if bank_dir else None
    out = []
    try:
        for task in tasks:
            ctx = ScaleContext(memory=bank, model=model, budget=Budget(max_tokens=budget))
            started = time.monotonic()
            state = await graph.ainvoke({"task": task}, context=ctx)
            chosen = next((r for r in state["rollouts"] if r.id == state["selected"].rollout_id), None)
            score = (await scorer.verify(task, chosen)).score if chosen else 0.0
            out.append({"kind": kind, "task": task.id, "memory": bank is not None, "score": score,
                        "tokens": sum(r.usage.total_tokens for r in state["rollouts"]),
                        "seconds": time.monotonic() - started, "lessons": len(state.get("lessons") or [])})
    finally:
        if bank is not None:
            await bank.aclose()
    return out


def table(records: list[dict[str, Any]]) -> str:
    """The scaling and memory tables of a results file."""
    lines = []
    for kind in ("site", "miniwob"):
        rows = [r for r in records if r.get("kind") == kind and "samples" in r]
        if rows:
            tok = lambda r, n: sum(s["tokens"] for s in r["samples"][:n])  # noqa: E731 - a one-line helper
            one = statistics.mean(r["samples"][0]["score"] for r in rows)
            lines.append(f"\n{kind}: {len(rows)} tasks (score: web = expected answer, miniwob = reward > 0)")
            lines.append(f"{'method':<14} {'score':>6} {'tokens/task':>11} {'wall s/task':>11}")
            lines.append(f"{'one rollout':<14} {one:6.1%} {statistics.mean(tok(r, 1) for r in rows):11.0f} "
                         f"{statistics.mean(r['samples'][0]['seconds'] for r in rows):11.1f}")
            for n in NS:
                wall = statistics.mean(r["wall8"] for r in rows) if n == 8 else None
                for name in ("majority", "best", "oracle"):
                    score = statistics.mean(r[f"{name}@{n}"] for r in rows)
                    label = {"best": "best-of", "majority": "majority", "oracle": "pass@"}[name]
                    w = f"{wall:11.1f}" if wall is not None and name != "oracle" else f"{'-':>11}"
                    tokens = statistics.mean(tok(r, n) for r in rows)
                    lines.append(f"{label + str(n):<14} {score:6.1%} {tokens:11.0f} {w}")
        for memory in (False, True):
            rows = [r for r in records if r.get("kind") == kind and r.get("memory") is memory]
            if rows:
                half = len(rows) // 2
                later = statistics.mean(r["score"] for r in rows[half:]) if rows[half:] else 0.0
                mean = statistics.mean(r["score"] for r in rows)
                lines.append(f"best-of-4, memory {'on ' if memory else 'off'}: {mean:.1%}"
                             f" over {len(rows)} tasks (second half {later:.1%}), "
                             f"{statistics.mean(r['tokens'] for r in rows):.0f} tokens/task, "
                             f"{statistics.mean(r['seconds'] for r in rows):.1f} s/task")
    return "\n".join(lines)


async def run_web(args: argparse.Namespace) -> None:
    """The site's questions and the MiniWoB++ tasks, resumable through ``args.out``."""
    from agentscale.graphs.web import (
        MINIWOB_TASKS,
        BrowserPool,
        EpisodeReward,
        MiniWoBConfig,
        ObservedAnswer,
        SiteServer,
        WebAnswerScorer,
        WebConfig,
        miniwob_agent,
        miniwob_task,
        site_tasks,
        web_agent,
    )
    from agentscale.llm import LLM
    from agentscale.servers import LlamaCppServer

    records = _records(args.out)
    done = {(r["kind"], r["task"], r.get("memory")) for r in records}
    async with LlamaCppServer(parallel=args.parallel, ctx_size=args.ctx_size, reuse=False) as srv, \
            SiteServer() as site, BrowserPool(size=args.browsers) as browsers:
        llm = LLM(srv.model, endpoint=srv.endpoint(), profile=srv.profile, timeout=600)
        suites = []
        if "site" in args.parts:
            tasks = site_tasks(site.url)[: args.site_tasks]
            suites.append(("site", tasks, web_agent(llm, WebConfig(max_steps=args.steps)), ObservedAnswer(),
                           WebAnswerScorer()))
        if "miniwob" in args.parts:
            tasks = [miniwob_task(name, seed=args.seed) for name in MINIWOB_TASKS[: args.miniwob_tasks]]
            reward = EpisodeReward()
            suites.append(("miniwob", tasks, miniwob_agent(llm, browsers, MiniWoBConfig(max_steps=args.steps)),
                           reward, reward))
        for kind, tasks, agent, verifier, scorer in suites:
            for task in tasks:
                if (kind, task.id, None) in done:
                    continue
                record = await measure_task(kind, task, agent, verifier, scorer, budget=args.budget)
                _append(args.out, record)
                print(json.dumps({k: v for k, v in record.items() if k != "samples"}), flush=True)
            if args.memory:
                for memory in (False, True):
                    todo = [t for t in tasks if (kind, t.id, memory) not in done]
                    if not todo:
                        continue
                    with tempfile.TemporaryDirectory() as tmp:
                        rows = await memory_pass(kind, tasks, agent, verifier, scorer, llm,
                                                 bank_dir=Path(tmp) if memory else None, budget=args.budget)
                    for row in rows:  # the pass is redone whole: memory depends on the order
                        _append(args.out, row)
                    print(f"{kind} memory={memory}: {[r['score'] for r in rows]}", flush=True)
    print(table(_records(args.out)))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The web section's options (shared with ``benchmarks/workflows.py``)."""
    parser.add_argument("--out", type=Path, default=Path("~/.cache/agentscale/bench/web.jsonl").expanduser())
    parser.add_argument("--parts", nargs="+", default=["site", "miniwob"], choices=["site", "miniwob"])
    parser.add_argument("--site-tasks", type=int, default=20, help="the first K of the site's 20 questions")
    parser.add_argument("--miniwob-tasks", type=int, default=10, help="the first K of MINIWOB_TASKS")
    parser.add_argument("--seed", type=int, default=1, help="MiniWoB++ episode seed")
    parser.add_argument("--steps", type=int, default=6, help="agent steps per rollout")
    parser.add_argument("--memory", action="store_true", help="also best-of-4 with the memory bank on vs off")
    parser.add_argument("--parallel", type=int, default=8, help="llama-server slots")
    parser.add_argument("--ctx-size", type=int, default=32768, help="llama-server context (split across slots)")
    parser.add_argument("--browsers", type=int, default=4)
    parser.add_argument("--budget", type=int, default=400_000, help="tokens per task")
    parser.add_argument("--tabulate", action="store_true", help="only print the tables of --out")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    if args.tabulate:
        print(table(_records(args.out)))
        return 0
    asyncio.run(run_web(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
