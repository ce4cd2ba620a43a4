"""Adaptive search and compute allocation on HumanEval with the embedded model (issue 18).

    .venv/bin/python benchmarks/allocation.py --problems 0-119                 # run (resumable), then the tables
    .venv/bin/python benchmarks/allocation.py --problems 0,40,42 --out-dir /tmp/a   # a quick check
    .venv/bin/python benchmarks/allocation.py --phase table                    # the tables of what is recorded
    .venv/bin/python benchmarks/allocation.py --no-draw --hours 8              # only problems drawn elsewhere
    .venv/bin/python benchmarks/allocation.py --select 0-119:4 --hours 1       # judge every 4th problem only

Three comparisons; the docstring examples (run in a sandbox) are the verifier every method sees,
HumanEval's hidden tests only score the final choice:

1. **Wider-or-deeper vs best-of-N vs reflection alone**: real ``scale()`` runs of ``wider_deeper``
   (at most 8 rollouts, 2 per step), ``reflect`` (2 samples, then up to 3 rounds revising each:
   at most 8 rollouts, all refinement after the first two) and ``best_of_n`` (n=8). Best-of-N at
   a method's own token count is read off best-of-N's curve (N = 1..8, linear in between).
2. **RTV vs list-wise vs best score** on the same 8 candidates per problem (best-of-8's draw):
   Recursive Tournament Voting (groups of 2, 8 sampled votes per group; the same model judges),
   list-wise selection (all 8 in one prompt), the best verifier score, a random pick and the
   oracle (pass@8). Judge tokens and calls per problem beside each. The judges see each candidate
   as the entry point's ``def`` line and its body (the task they are shown holds the docstring).
3. **Planner vs fixed best-of-N at equal total tokens**: a batch loop over all the recorded
   problems asks ``plan_allocation`` between waves which problems get one more sample of their
   draw, within the total tokens best-of-N spends at N = 2, 4 and 8; each problem keeps its
   best-scored sample. (No model calls: sample ``k`` of a problem is the same call whoever asks.)

Every model call goes through ``CachedModel`` (``benchmarks/_model_cache.py``): recorded the first
time, replayed after with its real usage. All methods therefore see the same draw of "sample k"
(seed k, temperature 0.2/0.6/0.8/1.0 by k mod 4, as best-of-N draws it), and a killed run
resumes where it stopped. Draws made in the same format by ``benchmarks/draw_candidates.py``
(``--candidates``, re-read while running) are imported instead of drawn again; ``--no-draw``
waits for them instead of drawing. Problems whose draw is recorded go first. Each problem's
record is appended to ``--out-dir``/results.jsonl when it is done.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _model_cache import CachedModel, call_key, seed_from_candidates  # noqa: E402

from agentscale.evaluation import append_jsonl, read_jsonl  # noqa: E402
from agentscale.evaluation.humaneval import SampleRecord  # noqa: E402

CACHE = Path(os.environ.get("AGENTSCALE_CACHE", "~/.cache/agentscale")).expanduser()
POOL = 8
"""Fresh samples per problem (best-of-8's draw): every method's fresh samples come from it."""
MAX_TOKENS = 300


def parse_problems(text: str) -> list[int]:
    """``0-119``, ``0-119:3`` (every third), or ``1,5,9``."""
    ids: list[int] = []
    for part in text.split(","):
        span, _, step = part.partition(":")
        lo, _, hi = span.partition("-")
        ids += range(int(lo), int(hi or lo) + 1, int(step or 1))
    return ids


# ---- one problem ----------------------------------------------------------------------------------


async def run_method(graph: Any, task: Any, *, scorer: Any, ctx: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """One real ``scale()`` run, every rollout scored by the hidden tests afterwards: (record, state)."""
    from agentscale.graphs.humaneval import hidden_tests_task
    from agentscale.rollout import verify_one

    started = time.monotonic()
    state = await graph.ainvoke({"task": task}, context=ctx)
    seconds = time.monotonic() - started
    rollouts = sorted(state["rollouts"], key=lambda r: int(r.metadata.get("index", 0)))
    broken = [r.error for r in rollouts if r.status == "error" and "Model" in (r.error or "")]
    if broken:  # the model server failed: never record a problem the model did not answer
        raise RuntimeError(f"{task.id}: model calls failed: {broken[0]}")
    hidden_task = hidden_tests_task(task)
    index = {r.id: int(r.metadata.get("index", 0)) for r in rollouts}
    samples = []
    for r in rollouts:
        hidden = await verify_one(scorer, hidden_task, r) if r.ok else None
        record = SampleRecord.of(r, state["verdicts"].get(r.id), hidden).model_dump(mode="json")
        record["parent"] = index.get(r.provenance.parents[0]) if r.provenance.parents else None
        record["strategy"] = r.provenance.strategy
        samples.append(record)
    chosen = state.get("selected")
    record = {
        "samples": samples,
        "selected": index.get(chosen.rollout_id) if chosen is not None and chosen.rollout_id else None,
        "stop_reason": state.get("stop_reason"),
        "seconds": round(seconds, 2),
    }
    return record, state


async def judged(selector: Any, task: Any, rollouts: list[Any], verdicts: dict[str, Any]) -> dict[str, Any]:
    """A selector's pick among ``rollouts``, with the judge's tokens and calls."""
    from agentscale.budget import usage_ledger

    started = time.monotonic()
    with usage_ledger() as ledger:
        selection = await selector.select(task, rollouts, verdicts)
    index = {r.id: int(r.metadata.get("index", 0)) for r in rollouts}
    return {
        "selected": index.get(selection.rollout_id) if selection.rollout_id else None,
        "reason": selection.reason,
        "tokens": ledger.measured.total_tokens,
        "calls": ledger.measured.calls,
        "seconds": round(time.monotonic() - started, 2),
    }


async def search_problem(task: Any, *, agent: Any, verifier: Any, scorer: Any) -> dict[str, Any]:
    """Best-of-8 (the draw), wider-or-deeper and reflection on one problem."""
    from agentscale.graphs.humaneval import DIVERSITY
    from agentscale.strategies import BestOfN, Reflect, ReflectPolicy, ScaleContext, SearchPolicy, WiderDeeper, scale

    methods = {
        "best_of_8": BestOfN(n=POOL, diversity=DIVERSITY),
        "wider_deeper": WiderDeeper(n=8, batch=2, diversity=DIVERSITY, policy=SearchPolicy(seed=0)),
        "reflect": Reflect(n=2, diversity=DIVERSITY, policy=ReflectPolicy(threshold=1.0, max_rounds=3)),
    }
    # the three runs are independent: together they keep more of the server's slots busy
    graphs = [scale(agent, strategy, verifier=verifier) for strategy in methods.values()]
    runs = await asyncio.gather(
        *(run_method(g, task, scorer=scorer, ctx=ScaleContext(max_concurrency=8)) for g in graphs)
    )
    return {"kind": "search", "task_id": task.id, **{name: rec for name, (rec, _) in zip(methods, runs, strict=True)}}


def judge_view(task: Any, output: str) -> str:
    """A candidate as the judges see it: the entry point's ``def`` line and the body, in a fence.

    The task above the candidates holds the prompt's docstring; repeating it in each of 8
    candidates would not fit a llama.cpp slot's 2048 tokens.
    """
    head = f"```python\n{task.prompt.rstrip()}\n"
    if not (output.startswith(head) and output.endswith("\n```")):
        return output
    body = output[len(head) : -len("\n```")]
    entry = task.metadata.get("entry_point", "")
    signature = next((ln for ln in task.prompt.splitlines() if ln.startswith(f"def {entry}(")), "")
    return f"```python\n{signature}\n{body}\n```" if signature else output


async def select_problem(task: Any, search: dict[str, Any], *, judge: Any) -> dict[str, Any]:
    """RTV and list-wise selection among best-of-8's samples (rebuilt from the search record)."""
    from agentscale.selectors import ListwiseSelector, RecursiveTournament
    from agentscale.types import Rollout, Verdict

    rollouts, verdicts = [], {}
    for s in search["best_of_8"]["samples"]:
        if s["status"] != "ok":
            continue
        output = judge_view(task, s["output"])
        rollout = Rollout(id=f"s{s['index']}", task_id=task.id, output=output, metadata={"index": s["index"]})
        rollouts.append(rollout)
        if s["examples_score"] is not None:
            score, passed = s["examples_score"], s["examples_passed"]
            verdicts[rollout.id] = Verdict(rollout_id=rollout.id, score=score, passed=passed)
    # the vote's reason is left out: a few tokens per vote on a shared CPU
    rtv = RecursiveTournament(judge, group_size=2, votes=8, reason_chars=0, seed=0)
    listwise = ListwiseSelector(judge, shuffles=1, max_chars=1500)
    return {
        "kind": "select",
        "task_id": task.id,
        "rtv": await judged(rtv, task, rollouts, verdicts),
        "listwise": await judged(listwise, task, rollouts, verdicts),
    }


# ---- the run --------------------------------------------------------------------------------------


def drawn(cache: CachedModel, task: Any) -> bool:
    """Whether all ``POOL`` fresh samples of ``task`` are recorded."""
    from agentscale.graphs.humaneval import DIVERSITY, STOPS, render

    for k in range(POOL):
        request = DIVERSITY.request(k)
        options = {"temperature": request.temperature, "seed": request.seed}
        options |= {"max_tokens": MAX_TOKENS, "stop": list(STOPS)}
        if call_key(render(task, request), options) not in cache._store:
            return False
    return True


class Imports:
    """Re-reads the candidates files when they change, importing new draws."""

    def __init__(self, cache: CachedModel, paths: Sequence[Path], tasks: Sequence[Any], model: str) -> None:
        self.cache, self.paths, self.model = cache, list(paths), model
        self.prompts = {t.id: t.prompt for t in tasks}
        self.seen: dict[Path, float] = {}

    def refresh(self) -> int:
        from agentscale.graphs.humaneval import STOPS

        total = 0
        for path in self.paths:
            if not path.exists() or self.seen.get(path) == path.stat().st_mtime:
                continue
            self.seen[path] = path.stat().st_mtime
            total += seed_from_candidates(
                self.cache, read_jsonl(path), self.prompts, max_tokens=MAX_TOKENS, stops=STOPS, model=self.model
            )
        return total


async def run(args: argparse.Namespace) -> int:
    from agentscale.datasets import load_humaneval
    from agentscale.graphs.humaneval import humaneval_agent
    from agentscale.llm import LLM
    from agentscale.sandboxes import open_pool
    from agentscale.servers import LlamaCppServer
    from agentscale.verifiers import DocstringExamplesVerifier, VisibleTestsVerifier

    out = args.out_dir / "results.jsonl"
    tasks = load_humaneval(args.problems)
    sampler_cache = CachedModel(None, args.out_dir / "calls-completion.jsonl")
    judge_cache = CachedModel(None, args.out_dir / "calls-chat.jsonl")
    imports = Imports(sampler_cache, args.candidates, tasks, f"hosted_vllm/{args.model}")
    print(f"{len(sampler_cache)} recorded sampling calls ({imports.refresh()} imported)", file=sys.stderr)
    deadline = time.monotonic() + args.hours * 3600
    server = LlamaCppServer(args.model, parallel=8, ctx_size=16384)
    async with server, open_pool(args.backend, size=args.sandboxes) as pool:
        options = {"api_base": server.api_base, "timeout": 7200, "max_retries": 2}
        async with (
            LLM(server.model, profile="completion", **options) as sampler,
            LLM(server.model, profile=server.profile, **options) as chat,
        ):
            sampler_cache.model, judge_cache.model = sampler, chat
            # its recorded calls and imported draws are of the fence format
            agent = humaneval_agent(sampler_cache, max_tokens=MAX_TOKENS, format="fence")
            verifier, scorer = DocstringExamplesVerifier(pool), VisibleTestsVerifier(pool)
            progress = Progress(sampler_cache, judge_cache, len(tasks))

            async def searches() -> None:
                # drawn problems first; with --draw, then draws from the end of the list, where
                # other draws arrive last
                while time.monotonic() < deadline:
                    imports.refresh()
                    done = {r["task_id"] for r in read_jsonl(out, kind="search")}
                    to_search = [t for t in tasks if t.id not in done]
                    if not to_search:
                        return
                    ready = [t for t in to_search if drawn(sampler_cache, t)]
                    if not ready and not args.draw:
                        print(f"waiting for draws of {len(to_search)} problems...", file=sys.stderr, flush=True)
                        await asyncio.sleep(min(300, max(deadline - time.monotonic(), 1)))
                        continue
                    task = ready[0] if ready else to_search[-1]
                    started = time.monotonic()
                    record = await search_problem(task, agent=agent, verifier=verifier, scorer=scorer)
                    append_jsonl(out, record)
                    progress.report(record, None, started)

            def judged_here(task: Any) -> bool:
                return args.select is None or int(task.id.split("/")[1]) in args.select

            async def selections() -> None:
                while time.monotonic() < deadline:
                    searched = {r["task_id"]: r for r in read_jsonl(out, kind="search")}
                    done = {r["task_id"] for r in read_jsonl(out, kind="select")}
                    to_select = [t for t in tasks if t.id in searched and t.id not in done and judged_here(t)]
                    if not to_select:
                        if len(searched) >= len(tasks) or search_task.done() or not any(map(judged_here, tasks)):
                            return
                        await asyncio.sleep(30)
                        continue
                    task = to_select[0]
                    started = time.monotonic()
                    record = await select_problem(task, searched[task.id], judge=judge_cache)
                    append_jsonl(out, record)
                    progress.report(record, searched[task.id], started)

            search_task = asyncio.create_task(searches(), name="allocation-searches")
            await asyncio.gather(search_task, selections())
    return 0


class Progress:
    """One line per finished record on stderr."""

    def __init__(self, sampler: CachedModel, judge: CachedModel, total: int) -> None:
        self.sampler, self.judge, self.total, self.count = sampler, judge, total, 0

    def report(self, record: dict[str, Any], search: dict[str, Any] | None, started: float) -> None:
        self.count += 1
        print(
            f"[{self.count}] {record['kind']} {record['task_id']}: {_outcome(record, search)}; "
            f"{time.monotonic() - started:.0f} s, load {os.getloadavg()[0]:.1f}, "
            f"new calls {self.sampler.misses} sampling + {self.judge.misses} judging",
            file=sys.stderr,
            flush=True,
        )


def _outcome(record: dict[str, Any], search: dict[str, Any] | None) -> str:
    if record["kind"] == "select":
        pool = search["best_of_8"]["samples"] if search else []
        picks = {m: next((s for s in pool if s["index"] == record[m]["selected"]), None) for m in ("rtv", "listwise")}
        return ", ".join(f"{m} {'pass' if _hidden(p) else 'fail'} ({record[m]['calls']} calls)" for m, p in picks.items())  # noqa: E501
    parts = []
    for m in ("best_of_8", "wider_deeper", "reflect"):
        chosen = next((s for s in record[m]["samples"] if s["index"] == record[m]["selected"]), None)
        parts.append(f"{m} {'pass' if _hidden(chosen) else 'fail'} ({len(record[m]['samples'])})")
    return ", ".join(parts)


# ---- tables ---------------------------------------------------------------------------------------


def _tokens(samples: Sequence[dict[str, Any]]) -> int:
    return sum(s["prompt_tokens"] + s["completion_tokens"] for s in samples)


def best_scored(samples: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """Best-of-N's pick: the highest examples score, a pass first, the earliest on ties."""
    ok = [s for s in samples if s["status"] == "ok"]
    return max(ok, key=lambda s: (s["examples_score"] or 0.0, s["examples_passed"], -s["index"])) if ok else None


def _hidden(sample: dict[str, Any] | None) -> bool:
    return bool(sample and sample["hidden_passed"])


def best_of_n_curve(records: Sequence[dict[str, Any]]) -> list[tuple[float, float]]:
    """(tokens per problem, pass rate) of best-of-N for N = 1..POOL, on the first N samples."""
    curve = []
    for n in range(1, POOL + 1):
        firsts = [[s for s in r["best_of_8"]["samples"] if s["index"] < n] for r in records]
        curve.append(
            (
                sum(_tokens(f) for f in firsts) / len(records),
                sum(_hidden(best_scored(f)) for f in firsts) / len(records),
            )
        )
    return curve


def interpolate(curve: Sequence[tuple[float, float]], tokens: float) -> float:
    """Best-of-N's pass rate at ``tokens`` per problem, linear between the N's of its curve."""
    if tokens <= curve[0][0]:
        return curve[0][1]
    for (t0, p0), (t1, p1) in zip(curve, curve[1:], strict=False):
        if t0 <= tokens <= t1:
            return p0 + (p1 - p0) * (tokens - t0) / (t1 - t0) if t1 > t0 else p1
    return curve[-1][1]


Row = tuple[str, float, float, str]


def search_rows(records: Sequence[dict[str, Any]]) -> list[Row]:
    count = len(records)
    curve = best_of_n_curve(records)
    rows: list[Row] = [(f"best-of-{n}", curve[n - 1][1], curve[n - 1][0], "") for n in (1, 2, 4, 8)]
    labels = {"wider_deeper": "wider-or-deeper (<=8, 2 per step)", "reflect": "reflection alone (2 + 3 rounds)"}
    for name, label in labels.items():
        chosen = [next((s for s in r[name]["samples"] if s["index"] == r[name]["selected"]), None) for r in records]
        passed = sum(_hidden(c) for c in chosen) / count
        tokens = sum(_tokens(r[name]["samples"]) for r in records) / count
        rollouts = [s for r in records for s in r[name]["samples"]]
        refined = sum(1 for s in rollouts if s.get("parent") is not None)
        depth = statistics.mean(_depth(r[name]["samples"]) for r in records)
        note = (
            f"best-of-N at these tokens: {interpolate(curve, tokens):.1%}; {len(rollouts) / count:.1f} rollouts/pb, "
            f"{refined / max(len(rollouts), 1):.0%} refinements, mean depth {depth:.2f}"
        )
        rows.append((label, passed, tokens, note))
    oracle = sum(any(s["hidden_passed"] for s in r["best_of_8"]["samples"]) for r in records) / count
    rows.append(("pass@8 (oracle)", oracle, curve[-1][0], "some sample of best-of-8's draw passes"))
    return rows


def _depth(samples: Sequence[dict[str, Any]]) -> int:
    parent = {s["index"]: s.get("parent") for s in samples}

    def depth(i: int) -> int:
        return 1 if parent.get(i) is None else 1 + depth(parent[i])

    return max((depth(s["index"]) for s in samples), default=0)


def selection_rows(records: Sequence[dict[str, Any]]) -> list[Row]:
    """Rows of the selection comparison; ``records`` are search records with ``rtv`` and ``listwise`` added."""
    count = len(records)
    pool_tokens = sum(_tokens(r["best_of_8"]["samples"]) for r in records) / count
    rows: list[Row] = []
    for name, label in (("rtv", "RTV (groups of 2, 8 votes)"), ("listwise", "list-wise (8 in one prompt)")):
        passed = sum(
            _hidden(next((s for s in r["best_of_8"]["samples"] if s["index"] == r[name]["selected"]), None))
            for r in records
        )
        judge = sum(r[name]["tokens"] for r in records) / count
        calls = sum(r[name]["calls"] for r in records) / count
        rows.append((label, passed / count, pool_tokens + judge, f"judge {judge:.0f} tokens, {calls:.1f} calls/pb"))
    best = sum(_hidden(best_scored(r["best_of_8"]["samples"])) for r in records) / count
    rows.append(("best verifier score", best, pool_tokens, "no judge"))
    rng = random.Random(0)
    rand = statistics.mean(
        statistics.mean(_hidden(rng.choice(r["best_of_8"]["samples"])) for _ in range(200)) for r in records
    )
    rows.append(("random pick", rand, pool_tokens, "mean of 200 draws per problem"))
    oracle = sum(any(s["hidden_passed"] for s in r["best_of_8"]["samples"]) for r in records) / count
    rows.append(("pass@8 (oracle)", oracle, pool_tokens, ""))
    return rows


def plan_replay(records: Sequence[dict[str, Any]], budget: float) -> tuple[float, float, float, int]:
    """The batch loop: waves of ``plan_allocation`` over the recorded draws within ``budget`` tokens.

    Returns (pass rate, tokens spent per problem, mean samples per problem, waves).
    """
    from agentscale.planner import PlanPolicy, TaskProgress, plan_allocation

    pools = {r["task_id"]: sorted(r["best_of_8"]["samples"], key=lambda s: s["index"]) for r in records}
    used: dict[str, list[dict[str, Any]]] = {t: [] for t in pools}
    spent, waves = 0.0, 0
    policy = PlanPolicy(max_per_task=POOL, per_task=1)
    while True:
        states = [
            TaskProgress(
                task_id=t,
                scores=tuple(s["examples_score"] or 0.0 for s in u),
                passed=sum(s["examples_passed"] for s in u),
                cost=statistics.mean(s["prompt_tokens"] + s["completion_tokens"] for s in u) if u else None,
            )
            for t, u in used.items()
        ]
        plan = plan_allocation(states, budget - spent, policy=policy)
        took = 0
        for t in plan.order():
            for _ in range(plan.rollouts[t]):
                sample = pools[t][len(used[t])]
                cost = sample["prompt_tokens"] + sample["completion_tokens"]
                if spent + cost > budget:  # the real sample costs more than the planner's estimate
                    break
                used[t].append(sample)
                spent += cost
                took += 1
        if not took:
            break
        waves += 1
    passed = sum(_hidden(best_scored(u)) for u in used.values())
    count = len(records)
    return passed / count, spent / count, sum(len(u) for u in used.values()) / count, waves


def plan_rows(records: Sequence[dict[str, Any]]) -> list[Row]:
    count = len(records)
    curve = best_of_n_curve(records)
    rows: list[Row] = []
    for n in (2, 4, 8):
        rows.append((f"best-of-{n}", curve[n - 1][1], curve[n - 1][0], ""))
        rate, tokens, samples, waves = plan_replay(records, curve[n - 1][0] * count)
        rows.append((f"  planner at best-of-{n}'s tokens", rate, tokens, f"{samples:.2f} samples/pb, {waves} waves"))
    return rows


def print_rows(title: str, rows: Sequence[Row]) -> None:
    width = max(len(r[0]) for r in rows)
    print(f"\n{title}")
    print(f"{'method':<{width}}  {'pass':>6}  {'tokens/pb':>9}  note")
    for name, passed, tokens, note in rows:
        print(f"{name:<{width}}  {passed:6.1%}  {tokens:9.0f}  {note}")


def tables(args: argparse.Namespace) -> None:
    wanted = {f"HumanEval/{n}" for n in args.problems}
    path = args.out_dir / "results.jsonl"
    records = [r for r in read_jsonl(path, kind="search") if r["task_id"] in wanted]
    if not records:
        print(f"no problems recorded in {args.out_dir}", file=sys.stderr)
        return
    picks = {r["task_id"]: r for r in read_jsonl(path, kind="select")}
    selected = [{**r, **picks[r["task_id"]], "kind": "both"} for r in records if r["task_id"] in picks]

    def head(rs: Sequence[dict[str, Any]]) -> str:
        ids = sorted(int(r["task_id"].split("/")[1]) for r in rs)
        return f"{len(rs)} HumanEval problems ({_spans(ids)}), {args.model} on llama.cpp (CPU)"

    print_rows(f"Search at (about) equal tokens; {head(records)}", search_rows(records))
    print_rows(f"Allocation across problems at equal total tokens; {head(records)}", plan_rows(records))
    if selected:
        print_rows(f"Selection among best-of-8's 8 samples; {head(selected)}", selection_rows(selected))
    print(
        "\ntokens/pb = prompt + generated tokens per problem (the prefix cache serves most prompt tokens);"
        "\nhidden tests score the choice, the docstring examples are the verifier."
    )


def _spans(ids: Sequence[int]) -> str:
    spans, start = [], None
    for i, n in enumerate(ids):
        if start is None:
            start = n
        if i + 1 == len(ids) or ids[i + 1] != n + 1:
            spans.append(f"{start}" if start == n else f"{start}-{n}")
            start = None
    return ",".join(spans)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", type=parse_problems, default=parse_problems("0-119"))
    parser.add_argument("--out-dir", type=Path, default=CACHE / "bench" / "allocation")
    parser.add_argument("--phase", choices=["run", "table", "all"], default="all")
    parser.add_argument(
        "--candidates", type=Path, nargs="*",
        default=[CACHE / "bench" / "codesel" / "qwen2.5-coder-0.5b-fence.jsonl"],
        help="fence-format draws (benchmarks/draw_candidates.py) to import instead of drawing them again",
    )  # fmt: skip
    parser.add_argument("--no-draw", dest="draw", action="store_false", help="wait for --candidates instead")
    parser.add_argument("--hours", type=float, default=24.0, help="stop starting problems after this long")
    parser.add_argument(
        "--select",
        type=parse_problems,
        help="judge (RTV, list-wise) only these problems, e.g. 0-119:4 (default: every searched one)",
    )
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--sandboxes", type=int, default=4)
    args = parser.parse_args()
    if args.phase in ("run", "all"):
        code = asyncio.run(run(args))
        if code:
            return code
    if args.phase in ("table", "all"):
        tables(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
