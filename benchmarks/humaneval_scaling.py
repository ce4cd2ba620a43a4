"""HumanEval scaling on the embedded model: pass@1, best-of-N with the default code selection and
with the sandboxed docstring-examples verifier alone (N = 1, 2, 4, 8, 16), majority vote,
list-wise selection and adaptive sampling, with tokens and wall seconds, on a fixed subset of
problems.

    .venv/bin/python benchmarks/humaneval_scaling.py                       # problems 0-39, all timed
    .venv/bin/python benchmarks/humaneval_scaling.py --problems 0-119:3 --timed 10
    .venv/bin/python benchmarks/humaneval_scaling.py --problems 40-62:2 --ns 1,2,4,8 --timed 0 \
        --no-listwise --write-candidates runs/cands.jsonl   # then: benchmarks/selection.py --candidates
    .venv/bin/python benchmarks/humaneval_scaling.py --format fence --selection best_score   # the old pipeline
    .venv/bin/python benchmarks/humaneval_scaling.py --problems 40-119 --resume --out runs/he.jsonl \
        --baseline-model qwen2.5-coder-1.5b   # then one greedy sample of the next size up, tabled beside
    .venv/bin/python benchmarks/humaneval_scaling.py --resume --out runs/he.jsonl   # continue a run
    .venv/bin/python benchmarks/humaneval_scaling.py --tabulate --out runs/he.jsonl # table only

How it measures (see ``agentscale.evaluation.humaneval_scaling``): 16 samples per problem are drawn
once by a real best-of-16 run in the agent's prompt format (``--format``: ``chat``, the default,
at T=0.8; ``fence`` at temperatures 0.2/0.6/0.8/1.0 by i mod 4; sample i has seed i); best-of-N
for N < 16 selects among the first N of them (what a real best-of-N run with the same seeds
draws) and also reports the mean over random N-subsets. ``--selection code`` (the default) runs
the default code selection (``code_selection``: docstring examples, then behaviour clustering
among the tied) in the draw and records its choice for every N; ``--selection best_score`` is the
examples verifier alone. ``--write-candidates F`` appends each problem's samples to F in the
candidates-file format of ``benchmarks/selection.py``. Majority vote groups samples by what they
return on the docstring inputs. List-wise selection asks the same model to pick among the first 8.
Adaptive sampling is replayed on the draw (waves of 2 in sample order, stop on the first sample
passing the examples, at most 8). Wall times of N=1, N=8 and adaptive come from real scale() runs
on the first --timed problems. The hidden tests only score; they never select.

``--baseline-model M`` then draws one greedy sample of ``M`` per problem, alone on a one-slot
server, and the table sets it beside the scaled small model on the same problems (pass rate,
tokens, wall seconds): scaling the small model pays only where it beats serving the bigger one.

Every problem's raw samples go to the --out JSONL as it finishes; --resume skips the problems
already there, and a partial file can be tabulated at any time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

from agentscale.evaluation import append_jsonl, candidates_line, completed, read_jsonl
from agentscale.evaluation.humaneval_scaling import measure_problem, tabulate, wall_ratio
from agentscale.graphs.humaneval import humaneval_agent


def parse_problems(text: str) -> list[int]:
    """``0-39``, ``0-119:3`` (every third), or ``1,5,9``."""
    ids: list[int] = []
    for part in text.split(","):
        span, _, step = part.partition(":")
        lo, _, hi = span.partition("-")
        ids += range(int(lo), int(hi or lo) + 1, int(step or 1))
    return ids


def print_baseline(records: list[dict], baselines: list[dict], args: argparse.Namespace) -> None:
    """The bigger model's one greedy sample against the scaled small model, on the problems both have."""
    from agentscale.evaluation.humaneval import ProblemResult
    from agentscale.evaluation.humaneval_scaling import ScalingRecord, replay_adaptive

    scaled = {r["task_id"]: ScalingRecord.model_validate(r) for r in records}
    by_model: dict[str, dict[str, ProblemResult]] = {}
    for b in baselines:
        if b["task_id"] in scaled:
            by_model.setdefault(b["model"], {})[b["task_id"]] = ProblemResult.model_validate(b["result"])
    for model, results in by_model.items():
        ids = sorted(results, key=lambda t: int(t.split("/")[1]))
        k = len(ids)
        big = [results[t] for t in ids]
        small = [scaled[t] for t in ids]
        draws = [sorted(r.draw.samples, key=lambda s: s.index) for r in small]
        replays = [replay_adaptive(d) for d in draws]

        def passes(index: int | None, samples: list) -> bool:
            return any(s.index == index and s.hidden_passed for s in samples)

        n = len(draws[0])
        rows = [
            (
                f"{model}, one greedy sample",
                sum(r.one_sample_passed for r in big) / k,
                sum(r.samples[0].tokens for r in big) / k,
                sum(r.seconds for r in big) / k,
            ),
            (
                f"{args.model}, pass@1 (sample 0)",
                sum(d[0].hidden_passed for d in draws) / k,
                sum(d[0].tokens for d in draws) / k,
                None,
            ),
        ]
        if all(n in r.code for r in small):
            picks = [(r.code[n], d) for r, d in zip(small, draws, strict=True)]
            rows.append(
                (
                    f"{args.model}, best-of-{n}, code selection",
                    sum(passes(i, d) for i, d in picks) / k,
                    sum(sum(s.tokens for s in d) for d in draws) / k,
                    sum(r.draw.seconds for r in small) / k,
                )
            )
        # adaptive's wall time, estimated from the draw's: the share of the draw's generated tokens it uses
        adaptive_s = 0.0
        for (_, used), d, r in zip(replays, draws, small, strict=True):
            generated = sum(s.completion_tokens for s in d) or 1
            adaptive_s += r.draw.seconds * sum(s.completion_tokens for s in d[:used]) / generated
        rows.append(
            (
                f"{args.model}, adaptive (waves of 2, max {n}), {sum(u for _, u in replays) / k:.1f} samples",
                sum(passes(i, d) for (i, _), d in zip(replays, draws, strict=True)) / k,
                sum(sum(s.tokens for s in d[:u]) for (_, u), d in zip(replays, draws, strict=True)) / k,
                adaptive_s / k,
            )
        )
        print(f"\nThe next size up against the scaled {args.model}, on the same {k} problems")
        print(f"{'method':<58}  {'pass':>6}  {'tokens/pb':>9}  {'wall s/pb':>9}")
        for name, rate, tokens, seconds in rows:
            wall = f"{seconds:9.1f}" if seconds is not None else f"{'-':>9}"
            print(f"{name:<58}  {rate:6.1%}  {tokens:9.0f}  {wall}")
        print(
            f"wall s: {model} alone on a one-slot server; best-of-{n}: the draw (8 in parallel on 8 slots);\n"
            "adaptive: estimated as the draw's wall time times the share of its generated tokens it uses."
        )


def print_table(records: list[dict], args: argparse.Namespace) -> None:
    rows = asyncio.run(tabulate(records, ns=args.ns, vote_n=8))
    width = max(len(r.method) for r in rows)
    print(
        f"\nHumanEval, {len(records)} problems, {args.model} on llama.cpp (CPU); "
        f"hidden tests score, docstring examples select"
    )
    print(f"{'method':<{width}}  {'pass':>6}  {'tokens/pb':>9}  {'gen/pb':>7}  {'wall s/pb':>9}  note")
    for r in rows:
        seconds = f"{r.seconds:9.1f}" if r.seconds is not None else f"{'-':>9}"
        print(f"{r.method:<{width}}  {r.passed:6.1%}  {r.tokens:9.0f}  {r.generated:7.0f}  {seconds}  {r.note}")
    ratio = wall_ratio(records)
    if ratio:
        print(f"\nwall-time ratio best-of-8 / best-of-1 (real runs): {ratio[0]:.2f}x on {ratio[1]} problems")
    print(
        "tokens = prompt + generated per problem (the server's prefix cache serves most prompt tokens);\n"
        f"best-of-N for N<{max(args.ns)} selects among the first N of the {max(args.ns)} drawn samples;\n"
        f"'wall s' from real scale() runs (best-of-{max(args.ns)}: the draw itself)."
    )


async def run(args: argparse.Namespace) -> int:
    from agentscale.datasets import load_humaneval

    done = completed(read_jsonl(args.out, kind="scaling")) if args.resume else set()
    if not args.resume and args.out.exists() and args.out.stat().st_size:
        print(f"{args.out} exists: pass --resume to continue it, or another --out", file=sys.stderr)
        return 2
    tasks = [t for t in load_humaneval(args.problems) if t.id not in done]
    print(f"{len(done)} problems already in {args.out}, {len(tasks)} to go", file=sys.stderr)
    if tasks:
        await draw_all(tasks, args)
    if args.baseline_model:
        await draw_baseline(args)
    return 0


async def draw_all(tasks: list, args: argparse.Namespace) -> None:
    """The scaled model's draw of every problem in ``tasks``, one record per problem as it finishes."""
    from agentscale.llm import LLM
    from agentscale.sandboxes import open_pool
    from agentscale.selectors import code_selection
    from agentscale.servers import LlamaCppServer
    from agentscale.verifiers import VisibleTestsVerifier

    # a private server: a shared one could be stopped under a run that lasts hours
    server = LlamaCppServer(args.model, parallel=8, ctx_size=16384, threads=args.threads, reuse=False)
    async with server, open_pool(args.backend, size=args.sandboxes) as pool:
        # The agent continues the prompt on the completion endpoint; the judge chats.
        options = {"api_base": server.api_base, "timeout": 1800, "max_retries": 1}
        async with (
            LLM(server.model, profile="completion", **options) as sampler,
            LLM(server.model, profile=server.profile, **options) as llm,
        ):
            agent = humaneval_agent(
                sampler, chat=server.profile == "chat", max_tokens=args.max_tokens, format=args.format
            )
            chosen = code_selection(pool)
            verifier, scorer = chosen.verifier, VisibleTestsVerifier(pool)
            selector = chosen.selector if args.selection == "code" else None
            for i, task in enumerate(tasks):
                position = args.problems.index(int(task.id.split("/")[1]))
                started = time.monotonic()
                record = await measure_problem(
                    task,
                    agent=agent,
                    verifier=verifier,
                    scorer=scorer,
                    judge=llm if args.listwise else None,
                    draw=max(args.ns),
                    timed=position < args.timed,
                    selector=selector,
                    ns=args.ns,
                )
                append_jsonl(args.out, record)
                if args.write_candidates:
                    # format and cap tell benchmarks/allocation.py which draws it may import
                    shape = {"format": agent.config.prompt_format, "max_tokens": agent.config.token_cap}
                    append_jsonl(args.write_candidates, candidates_line(record.draw) | shape)
                drawn = record.draw.samples
                examples = sum(s.examples_passed for s in drawn)
                hidden = sum(s.hidden_passed for s in drawn)
                print(
                    f"[{i + 1}/{len(tasks)}] {task.id}: examples pass {examples}/{len(drawn)}, "
                    f"hidden pass {hidden}/{len(drawn)}, {time.monotonic() - started:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )


async def draw_baseline(args: argparse.Namespace) -> None:
    """One greedy sample of ``--baseline-model`` per problem, alone on its own one-slot server (the
    way a user would serve the bigger model instead of scaling the small one), recorded as
    ``kind="baseline"`` lines of ``--out``; problems already recorded for that model are skipped."""
    from agentscale.datasets import load_humaneval
    from agentscale.evaluation.humaneval import solve
    from agentscale.llm import LLM
    from agentscale.sandboxes import open_pool
    from agentscale.selectors import code_selection
    from agentscale.servers import LlamaCppServer
    from agentscale.strategies import Diversity, ScaleContext
    from agentscale.verifiers import VisibleTestsVerifier

    model = args.baseline_model
    done = {r["task_id"] for r in read_jsonl(args.out, kind="baseline") if r.get("model") == model}
    tasks = [t for t in load_humaneval(args.problems) if t.id not in done]
    print(f"baseline {model}: {len(done)} problems recorded, {len(tasks)} to go", file=sys.stderr)
    if not tasks:
        return
    server = LlamaCppServer(model, parallel=1, ctx_size=4096, threads=args.threads, reuse=False)
    async with server, open_pool(args.backend, size=args.sandboxes) as pool:
        options = {"api_base": server.api_base, "timeout": 1800, "max_retries": 1}
        async with LLM(server.model, profile="completion", **options) as sampler:
            agent = humaneval_agent(
                sampler, chat=server.profile == "chat", max_tokens=args.max_tokens, format=args.format
            )
            verifier, scorer = code_selection(pool).verifier, VisibleTestsVerifier(pool)
            greedy = Diversity(temperatures=(0.0,))
            for i, task in enumerate(tasks):
                result = await solve(
                    task,
                    agent=agent,
                    verifier=verifier,
                    scorer=scorer,
                    n=1,
                    diversity=greedy,
                    context=ScaleContext(max_concurrency=1),
                )
                result_json = result.model_dump(mode="json")
                append_jsonl(args.out, {"kind": "baseline", "model": model, "task_id": task.id, "result": result_json})
                print(
                    f"[{i + 1}/{len(tasks)}] {task.id} {model} greedy: "
                    f"{'pass' if result.one_sample_passed else 'fail'}, {result.seconds:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", type=parse_problems, default=parse_problems("0-39"), help="e.g. 0-39, 0-119:3")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(os.environ.get("AGENTSCALE_CACHE", "~/.cache/agentscale")).expanduser()
        / "bench"
        / "humaneval_scaling.jsonl",
    )
    parser.add_argument("--resume", action="store_true", help="keep the problems already in --out")
    parser.add_argument("--tabulate", action="store_true", help="only print the table of --out")
    parser.add_argument("--timed", type=int, default=3, help="real N=1/N=8/adaptive runs on the first K problems")
    parser.add_argument("--no-listwise", dest="listwise", action="store_false")
    parser.add_argument("--max-tokens", type=int, help="cap on each sample (default: the format's, 512 or 300)")
    parser.add_argument(
        "--format", choices=("chat", "fence"), help="the agent's prompt format (default: chat for chat models)"
    )
    parser.add_argument(
        "--selection",
        choices=("code", "best_score"),
        default="code",
        help="code: the default code selection (examples + behaviour clustering); best_score: examples alone",
    )
    parser.add_argument(
        "--write-candidates", type=Path, help="append each problem's samples here, for benchmarks/selection.py"
    )
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument(
        "--baseline-model",
        help="after the draw, one greedy sample per problem of this model alone (e.g. qwen2.5-coder-1.5b)",
    )
    parser.add_argument("--threads", type=int, help="model server threads (1 keeps a shared CPU from stalling it)")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--sandboxes", type=int, default=4)
    parser.add_argument("--ns", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2, 4, 8, 16])
    args = parser.parse_args()
    if not args.tabulate:
        code = asyncio.run(run(args))
        if code:
            return code
    records = [r for r in read_jsonl(args.out, kind="scaling")]
    wanted = {f"HumanEval/{n}" for n in args.problems}
    records = [r for r in records if r["task_id"] in wanted]
    if not records:
        print(f"no problems recorded in {args.out}", file=sys.stderr)
        return 1
    print_table(records, args)
    baselines = [b for b in read_jsonl(args.out, kind="baseline") if b["task_id"] in wanted]
    if baselines:
        print_baseline(records, baselines, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
