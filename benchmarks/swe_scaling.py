"""SWE scaling on the embedded model: one rollout, best-of-N with test-based selection (N = 1, 4, 8),
evolution at equal tokens, and best-of-M with the memory bank on against off, on generated
SWE tasks, with tokens and wall seconds per task.

    .venv/bin/python benchmarks/swe_scaling.py                              # the 33 fixture tasks (hours)
    .venv/bin/python benchmarks/swe_scaling.py --limit 1 --draw 2 --ns 1,2 --memory-n 2 --max-steps 4
    .venv/bin/python benchmarks/swe_scaling.py --sample 8 --preset agent    # 8 tasks across the packages
    .venv/bin/python benchmarks/swe_scaling.py --tabulate                   # the table of --out so far

Per task, in the task file's order (``--tasks``, ``--sample``, ``--limit``), appended to ``--out`` as it finishes
(a rerun skips the tasks already there, so a killed run resumes; the memory bank's SQLite file
beside ``--out`` resumes with it):

- draw: one real best-of-``--draw`` run (rollout ``i``: seed ``i``, each in its own Docker
  sandbox), every rollout checked by the visible tests (``VisibleTests``: patch applies, is
  non-empty, PASS_TO_PASS and the tests the issue names pass) and scored by the hidden tests
  (``HiddenTests``: FAIL_TO_PASS and PASS_TO_PASS, never used to select);
- one rollout = rollout 0; best-of-N = the highest visible score among rollouts 0..N-1 (what a
  best-of-N run with the same seeds draws; exact as a selection, the samples themselves may differ
  by llama.cpp's batching); beside it the oracle (any of the N resolved) and a random pick (the
  mean over the N); tokens = those N rollouts' tokens; wall seconds only for the real draw;
- evolution: a real ``evolve`` run (``--evolve-n`` per generation) whose token budget is what the
  draw spent on this task (equal tokens), selected by the visible tests; ``--methods evolve
  --budget-from EARLIER.jsonl`` measures it later against a recorded draw (the new records carry the
  earlier ones' methods, so the table compares them);
- memory: a real best-of-``--memory-n`` run with a memory bank that lives across the tasks (lessons
  recalled before, distilled after each task, every model call counted), against the draw's first
  ``--memory-n`` rollouts (memory off, same seeds, same task order);
- repro: the draw's first N rollouts (N in ``--ns``, N > 1) selected again by ``PatchSelector``
  (``-c selection=repro``: ``--repro-tests`` reproduction tests written by the model from the issue,
  voted, the visible tests breaking ties; ``--judge``: the judge among the survivors); one set of
  tests per task, shared by every N; tokens = the N rollouts' + the tests' (when the N patches
  needed them) + the judge's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

from agentscale.evaluation import append_jsonl, completed, read_jsonl

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "swe" / "tasks.jsonl"
METHODS = ("draw", "evolve", "memory", "repro")


def _cache() -> Path:
    value = os.environ.get("AGENTSCALE_CACHE")
    return (Path(value) if value else Path.home() / ".cache" / "agentscale").expanduser()


def _rollouts(record: Any, resolved: dict[str, bool]) -> list[dict[str, Any]]:
    rows = []
    for r in record.rollouts:
        rows.append({
            "index": r.index, "status": r.status, "visible": r.verdict.score if r.verdict else None,
            "visible_passed": bool(r.verdict and r.verdict.passed), "resolved": resolved.get(r.id, False),
            "tokens": r.usage.total_tokens, "seconds": round(r.seconds, 1),
            "patch_lines": len(r.output.splitlines()), "generation": r.generation,
            "patch": r.output[:4000], "error": r.error,  # what each wrote and what stopped it, for reading a run later
        })  # fmt: skip
    return rows


async def _resolved(scorer: Any, task: Any, record: Any, cache: dict[str, bool]) -> dict[str, bool]:
    """Each rollout's patch scored by the hidden tests (equal patches scored once)."""
    from agentscale.types import Rollout

    found = {}
    for r in record.rollouts:
        patch = r.output or ""
        if not patch.strip():
            found[r.id] = False
            continue
        if patch not in cache:
            verdict = await scorer.verify(task, Rollout(task_id=task.id, output=patch))
            cache[patch] = verdict.passed
        found[r.id] = cache[patch]
    return found


def _summary(record: Any, resolved: dict[str, bool]) -> dict[str, Any]:
    chosen = record.chosen
    return {
        "status": record.status,
        "resolved": bool(chosen is not None and resolved.get(chosen.id, False)),
        "tokens": record.usage.total_tokens,
        "seconds": record.seconds,
        "rollouts": _rollouts(record, resolved),
    }


async def measure_task(
    task: Any, runners: dict[str, Any], scorer: Any, args: argparse.Namespace, draw_tokens: int | None = None
) -> dict[str, Any]:
    """Every method on one task (see the module docs); the record appended to ``--out``.
    ``draw_tokens``: a draw recorded earlier spent this (evolution's budget when no draw runs now)."""
    from agentscale.evaluation import ScaledRunner

    cache: dict[str, bool] = {}
    out: dict[str, Any] = {"kind": "swe_scaling", "task_id": task.id}

    def said(key: str) -> None:  # each method as it finishes: a run on a slow machine shows progress
        r = out[key]
        print(f"  {task.id} {key}: {'resolved' if r['resolved'] else 'not resolved'}, {r['tokens']} tokens, "
              f"{r['seconds']:.0f} s", file=sys.stderr, flush=True)  # fmt: skip

    if "draw" in runners:
        record = await runners["draw"].run(task)
        resolved = await _resolved(scorer, task, record, cache)
        out["draw"] = _summary(record, resolved)
        said("draw")
        if "repro" in runners:
            out["repro"] = await reselect(task, record, runners["repro"], args.ns, resolved)
            said_n = ", ".join(f"N={n} {'R' if x['resolved'] else '-'}" for n, x in out["repro"]["by_n"].items())
            print(f"  {task.id} repro: {said_n}", file=sys.stderr, flush=True)
    if "evolve" in runners:
        base: ScaledRunner = runners["evolve"]
        budget = out.get("draw", {}).get("tokens") or draw_tokens or args.evolve_tokens
        settings = base.settings.model_copy(update={"max_tokens": budget})
        runner = ScaledRunner(base.parts, settings, model=base.model, sandboxes=base.sandboxes)
        record = await runner.run(task)
        out["evolve"] = {**_summary(record, await _resolved(scorer, task, record, cache)), "budget": budget}
        said("evolve")
    if "memory" in runners:
        record = await runners["memory"].run(task)
        out["memory"] = _summary(record, await _resolved(scorer, task, record, cache))
        said("memory")
    return out


async def reselect(task: Any, record: Any, selector: Any, ns: list[int], resolved: dict[str, bool]) -> dict[str, Any]:
    """The draw's first N rollouts selected again by ``selector`` (a ``PatchSelector``), for each N > 1."""
    from agentscale.budget import usage_ledger
    from agentscale.types import Rollout, Verdict

    ordered = sorted(record.rollouts, key=lambda r: r.index)
    rollouts = [Rollout(id=r.id, task_id=task.id, status=r.status, output=r.output, error=r.error,
                        trajectory=r.trajectory, usage=r.usage) for r in ordered]  # fmt: skip
    verdicts = {r.id: Verdict(rollout_id=r.id, score=r.verdict.score, passed=r.verdict.passed,
                              feedback=r.verdict.feedback) for r in ordered if r.verdict}  # fmt: skip
    by_n: dict[str, Any] = {}
    for n in (n for n in ns if n > 1):
        first = rollouts[:n]
        before = selector.written(task.id)
        started = time.monotonic()
        with usage_ledger() as ledger:
            selection = await selector.select(task, first, verdicts)
        written = selector.written(task.id)
        tests = written.usage.total_tokens if written is not None else 0
        judge = ledger.measured.total_tokens - (tests if before is None and written is not None else 0)
        needed = "reproduction test(s) written" in selection.reason
        chosen = next((r for r in ordered if r.id == selection.rollout_id), None)
        by_n[str(n)] = {
            "resolved": bool(chosen and resolved.get(chosen.id, False)),
            "index": chosen.index if chosen else None,
            "tokens": sum(r.usage.total_tokens for r in first) + (tests if needed else 0) + judge,
            "seconds": round(time.monotonic() - started, 1),
            "reason": selection.reason[:600],
        }
    return {"by_n": by_n}


def _pick(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    ok = [r for r in rows if r["status"] == "ok" and r["visible"] is not None]
    return max(ok, key=lambda r: (r["visible"], -r["index"])) if ok else None


def tabulate(records: list[dict[str, Any]], ns: list[int], memory_n: int) -> list[tuple[str, float, float, str, str]]:
    """Rows ``(method, resolved rate, tokens/task, wall s/task, note)`` over the recorded tasks."""
    rows = []
    draws = [r["draw"] for r in records if "draw" in r]
    if draws:
        for n in ns:
            firsts = [sorted(d["rollouts"], key=lambda x: x["index"])[:n] for d in draws]
            picks = [_pick(f) for f in firsts]
            best = sum(bool(p and p["resolved"]) for p in picks) / len(draws)
            oracle = sum(any(x["resolved"] for x in f) for f in firsts) / len(draws)
            rand = sum(sum(x["resolved"] for x in f) / max(len(f), 1) for f in firsts) / len(draws)
            tokens = sum(sum(x["tokens"] for x in f) for f in firsts) / len(draws)
            wall = f"{sum(d['seconds'] for d in draws) / len(draws):.0f}" if n == max(ns) else "-"
            name = "1 rollout" if n == 1 else f"best-of-{n}, visible tests"
            rows.append((name, best, tokens, wall, f"oracle {oracle:.0%}, random pick {rand:.0%}"))
    repros = [r["repro"]["by_n"] for r in records if "repro" in r]
    for n in (n for n in ns if n > 1):
        runs = [x[str(n)] for x in repros if str(n) in x]
        if runs:
            rate = sum(x["resolved"] for x in runs) / len(runs)
            tokens = sum(x["tokens"] for x in runs) / len(runs)
            note = "the draw's first rollouts, reselected"
            rows.append((f"best-of-{n}, reproduction tests", rate, tokens, "-", note))
    for key, name in (("evolve", "evolution, equal tokens"), ("memory", f"best-of-{memory_n}, memory on")):
        runs = [r[key] for r in records if key in r]
        if runs:
            rate = sum(x["resolved"] for x in runs) / len(runs)
            tokens = sum(x["tokens"] for x in runs) / len(runs)
            wall = sum(x["seconds"] for x in runs) / len(runs)
            note = "budget = the draw's tokens" if key == "evolve" else "bank across tasks, in task order"
            rows.append((name, rate, tokens, f"{wall:.0f}", note))
    if draws and any("memory" in r for r in records):
        paired = [r for r in records if "memory" in r and "draw" in r]
        firsts = [sorted(r["draw"]["rollouts"], key=lambda x: x["index"])[:memory_n] for r in paired]
        picks = [_pick(f) for f in firsts]
        rate = sum(bool(p and p["resolved"]) for p in picks) / len(paired)
        tokens = sum(sum(x["tokens"] for x in f) for f in firsts) / len(paired)
        rows.append((f"best-of-{memory_n}, memory off", rate, tokens, "-", "the draw's first rollouts, same tasks"))
    return rows


def print_table(records: list[dict[str, Any]], args: argparse.Namespace) -> None:
    rows = tabulate(records, args.ns, args.memory_n)
    width = max(len(r[0]) for r in rows)
    presets = sorted({str(r.get("preset", "?")) for r in records}) if records else [args.model]
    print(f"\nSWE, {len(records)} tasks from {args.tasks.name}, {'/'.join(presets)} on llama.cpp (CPU); "
          "visible tests select, hidden tests score")  # fmt: skip
    print(f"{'method':<{width}}  {'resolved':>8}  {'tokens/task':>11}  {'wall s/task':>11}  note")
    for name, rate, tokens, wall, note in rows:
        print(f"{name:<{width}}  {rate:8.1%}  {tokens:11.0f}  {wall:>11}  {note}")
    print("\nper task (draw: resolved by rollout index; chosen = best-of-the-draw's pick):")
    for r in records:
        parts = [r["task_id"]]
        if "draw" in r:
            marks = "".join("R" if x["resolved"] else ("v" if x["visible_passed"] else ".")
                            for x in sorted(r["draw"]["rollouts"], key=lambda x: x["index"]))  # fmt: skip
            parts.append(f"draw [{marks}] {r['draw']['tokens']} tok {r['draw']['seconds']:.0f} s")
        if "repro" in r:
            parts.append("repro " + " ".join(f"N={n} {'R' if x['resolved'] else '-'} {x['tokens']} tok"
                                             for n, x in r["repro"]["by_n"].items()))  # fmt: skip
        for key in ("evolve", "memory"):
            if key in r:
                parts.append(f"{key} {'R' if r[key]['resolved'] else '-'} {r[key]['tokens']} tok "
                             f"{r[key]['seconds']:.0f} s")  # fmt: skip
        print("  " + "; ".join(parts))
    print("R = resolved by the hidden tests, v = passed the visible tests only, . = neither")


def spread(items: list[Any], k: int | None) -> list[Any]:
    """``k`` items spread evenly through ``items`` (the first, then every ``len/k``-th), in their
    order: a sample of a task file that is sorted by package covers every package."""
    if not k or k >= len(items):
        return items
    return [items[(i * len(items)) // k] for i in range(k)]


async def run(args: argparse.Namespace) -> int:
    from agentscale.evaluation import RunSettings, ScaledRunner
    from agentscale.graphs.swe import HiddenTests, load_instances, materialize_repos, swe_task
    from agentscale.graphs.swe.workflow import SWEWorkflow
    from agentscale.llm import LLM
    from agentscale.memory import MemoryBank
    from agentscale.sandboxes import SandboxLimits, open_pool
    from agentscale.servers import LlamaCppServer, get_preset
    from agentscale.strategies.evolve import EvolvePolicy
    from agentscale.workflows import WorkflowEnv

    tasks = load_instances(args.tasks)
    for bad in tasks.errors:
        print(f"{args.tasks}:{bad.line}: {bad.error}", file=sys.stderr)
    instances = spread(list(tasks.instances.values()), args.sample)[: args.limit]
    earlier = {r["task_id"]: r for r in read_jsonl(args.budget_from, kind="swe_scaling")} if args.budget_from else {}
    if args.budget_from:  # evolution measured later against a draw already recorded: only its tasks
        if not any("draw" in r for r in earlier.values()):
            said = f"--budget-from {args.budget_from}: no draw recorded there (run --methods draw first)"
            print(said, file=sys.stderr)
            return 2
        instances = [i for i in instances if i.instance_id in earlier and "draw" in earlier[i.instance_id]]
    done = completed(read_jsonl(args.out, kind="swe_scaling"))
    todo = [i for i in instances if i.instance_id not in done]
    print(f"{len(instances) - len(todo)} tasks already in {args.out}, {len(todo)} to go", file=sys.stderr)
    if not todo:
        return 0
    swe = _cache() / "swe"
    errors = materialize_repos(todo, swe / "repos", swe)
    for iid, error in errors.items():
        print(f"{iid}: {error}", file=sys.stderr)
    preset = get_preset(args.preset)
    server = LlamaCppServer(**preset.kwargs(), threads=args.threads, cache_dir=_cache())
    limits = SandboxLimits(timeout=120, memory_mb=1024, workdir_mb=256)
    methods = set(args.methods.split(","))
    async with server, open_pool(args.backend, size=args.sandboxes, limits=limits) as pool:
        async with LLM(server.model, api_base=server.api_base, timeout=1800, max_retries=1) as llm:
            options = {"repos_dir": str(swe / "repos"), "deps_dir": str(swe / "deps"), "max_steps": args.max_steps,
                       "actions": args.actions, "context_tokens": preset.slot_tokens, "reply_tokens": args.reply_tokens,
                       "test_timeout": 300, "max_seconds": args.max_seconds, "localize": args.localize}  # fmt: skip
            parts = SWEWorkflow().build(WorkflowEnv(model=llm, sandboxes=pool, options=options))
            scorer = parts.scorer
            assert isinstance(scorer, HiddenTests)

            def runner(strategy: str, n: int, memory: Any = None, **strategy_options: Any) -> ScaledRunner:
                # more rollouts at once than the server has slots swaps conversations in and out of
                # the slots: each request then processes its whole prompt again (no prefix cache)
                at_once = min(n, args.concurrency or preset.parallel)
                settings = RunSettings(workflow="swe", strategy=strategy, n=n, model=server.model, options=options,
                                       max_concurrency=at_once, strategy_options=strategy_options)  # fmt: skip
                return ScaledRunner(parts, settings, model=llm, sandboxes=pool, memory=memory)

            runners: dict[str, Any] = {}
            if "draw" in methods:
                runners["draw"] = runner("best_of_n", args.draw)
            if "evolve" in methods:
                runners["evolve"] = runner("evolve", args.evolve_n, policy=EvolvePolicy(generations=8))
            if "repro" in methods:
                from agentscale.graphs.swe import repro_selector

                repos, deps = parts.agent.repos, parts.agent.deps
                runners["repro"] = repro_selector(llm, pool, repos, deps, tests=args.repro_tests, judge=args.judge)
            bank = None
            if "memory" in methods:
                # BM25 retrieval (no torch needed); lessons are distilled by the same model
                bank = await MemoryBank.open(args.out.with_suffix(".memory.db"), embedder=None)
                runners["memory"] = runner("best_of_n", args.memory_n, memory=bank)
            try:
                for i, instance in enumerate(todo):
                    if instance.instance_id in errors:
                        continue
                    started = time.monotonic()
                    before = earlier.get(instance.instance_id, {})
                    spent = before.get("draw", {}).get("tokens")
                    record = {**before, **await measure_task(swe_task(instance), runners, scorer, args, spent)}
                    record.update(preset=args.preset, concurrency=args.concurrency or preset.parallel)
                    append_jsonl(args.out, record)
                    said = [f"{k}: {'resolved' if record[k]['resolved'] else 'not resolved'}, {record[k]['tokens']} tok"
                            for k in ("draw", "evolve", "memory") if k in record]  # fmt: skip
                    print(f"[{i + 1}/{len(todo)}] {instance.instance_id}: " + "; ".join(said)
                          + f"; {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)  # fmt: skip
            finally:
                if bank is not None:
                    await bank.aclose()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=Path, default=FIXTURE, help="SWE-bench JSONL (default: the fixture set)")
    parser.add_argument("--limit", type=int, help="only the first K tasks")
    parser.add_argument("--sample", type=int, help="K tasks spread evenly through the file (every package)")
    parser.add_argument("--out", type=Path, default=_cache() / "bench" / "swe_scaling.jsonl")
    parser.add_argument("--tabulate", action="store_true", help="only print the table of --out")
    parser.add_argument("--methods", default=",".join(METHODS), help="draw,evolve,memory,repro (default all)")
    parser.add_argument("--draw", type=int, default=8, help="rollouts of the best-of-N draw (default 8)")
    parser.add_argument("--ns", type=lambda s: [int(x) for x in s.split(",")], default=[1, 4, 8])
    parser.add_argument("--evolve-n", type=int, default=4, help="evolution: rollouts per generation")
    parser.add_argument("--evolve-tokens", type=int, default=200_000, help="evolution's budget without a draw")
    parser.add_argument("--budget-from", type=Path, help="evolution's budget per task = the draw's tokens in this "
                        "earlier --out (its tasks only); the records written keep its other methods, for the table")
    parser.add_argument("--memory-n", type=int, default=4, help="best-of-M with memory")
    parser.add_argument("--repro-tests", type=int, default=3, help="repro: reproduction tests per task (K)")
    parser.add_argument("--judge", action="store_true", help="repro: a judge breaks the ties left")
    parser.add_argument("--max-steps", type=int, default=20)
    parser.add_argument("--max-seconds", type=float, default=900.0, help="wall seconds per trajectory (default 900)")
    parser.add_argument("--localize", action=argparse.BooleanOptionalAction, default=True,
                        help="show the source of what the issue names before the first step (default on)")
    parser.add_argument("--reply-tokens", type=int, default=512, help="cap on each model reply")
    parser.add_argument("--actions", default="text", choices=("text", "tools", "auto"))
    parser.add_argument("--preset", default="agent-small", help="server preset (agent: the 1.5B model)")
    parser.add_argument("--threads", type=int, default=None,
                        help="llama-server threads (default: the cores); fewer leaves the sandboxes' tests a core")
    parser.add_argument("--backend", default="docker")
    parser.add_argument("--sandboxes", type=int, default=8)
    parser.add_argument("--concurrency", type=int, help="rollouts of one run at once (default: the server's slots)")
    args = parser.parse_args()
    args.model = args.preset
    if not args.tabulate:
        code = asyncio.run(run(args))
        if code:
            return code
    records = read_jsonl(args.out, kind="swe_scaling")
    if not records:
        print(f"no tasks recorded in {args.out}", file=sys.stderr)
        return 1
    print_table(records, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
