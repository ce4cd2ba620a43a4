"""Draw candidate programs for HumanEval problems from a local model and score them with the
hidden tests: the input of ``benchmarks/selection.py`` and the measurement behind the choice of
prompt format for code.

    .venv/bin/python benchmarks/draw_candidates.py --problems 40-119 --formats fence,chat -n 8
    .venv/bin/python benchmarks/draw_candidates.py --problems 40-119 --formats chat -n 1 \\
        --model qwen2.5-coder-1.5b --temperature 0 --tag greedy
    .venv/bin/python benchmarks/draw_candidates.py --summary --problems 40-119 --out-dir runs/codesel

Three prompt formats, same model and server:

- ``fence``: the body continued inside a prefilled fence (the HumanEval agent's ``format="fence"``):
  ChatML text to the completion endpoint, the assistant's turn already holding
  ``\u0060\u0060\u0060python`` and the prompt's code, temperatures 0.2/0.6/0.8/1.0 by sample
  index, 300 tokens, stopped at the first line back at column 0. All seven stops reach the server:
  they go in the request body directly, because ``LLM`` (through litellm) passes only the first
  four (issue 12).
- ``chat``: a plain chat request for the whole function (T=0.8, 512 tokens, no stops); the reply
  is kept as written (prose, fence and all).
- ``chat-stop``: the same, stopped at the reply's first closing fence (``"\\n```\\n"``), so the
  explanation models add after the code is never generated: the HumanEval agent's default
  ``format="chat"``, chosen from these draws (README, "Selection for code"). ``--summary`` estimates it from a
  ``chat`` draw too (the reply cut there, tokens in proportion).

Sample ``i`` uses seed ``i``; every sample is its own request (``n=1``), so its token counts are
its own. Each problem's record is appended to ``OUT_DIR/<model>-<format>[-<tag>].jsonl`` as soon
as it is scored, in the candidates-file format of ``benchmarks/selection.py`` (``task_id``,
``candidates``, ``passed``) plus per-sample tokens, seconds and finish reasons; a rerun skips the
problems already there. The hidden tests run in the sandbox and only fill ``passed``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SYSTEM = "You are an expert Python programmer. Complete the function the user gives you."
CHATML = "<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"
FENCE_STOPS = ("\n```", "\ndef ", "\nclass ", "\nif ", "\nprint(", "\n#", "\nassert ")
"""The HumanEval agent's stops in the fence format (graphs/humaneval.py ``STOPS``)."""
FENCE_TEMPERATURES = (0.2, 0.6, 0.8, 1.0)


@dataclass(frozen=True)
class Format:
    """How one prompt format asks for a program."""

    name: str
    max_tokens: int
    temperatures: tuple[float, ...]


FORMATS = {
    "fence": Format("fence", 300, FENCE_TEMPERATURES),
    "chat": Format("chat", 512, (0.8,)),
    "chat-stop": Format("chat-stop", 512, (0.8,)),
}
CHAT_STOP = "\n```\n"
"""Ends a chat reply at its first closing fence (a tagged opening fence never matches)."""


def fence_prompt(code: str) -> str:
    """The fence format's prompt text (as ``render`` in graphs/humaneval.py)."""
    head = CHATML.format(system=SYSTEM, user="Complete this Python function.")
    return f"{head}```python\n{code}"


def chat_messages(code: str) -> list[dict[str, str]]:
    """The chat format's messages: the function to complete, in a fence."""
    user = f"Complete this Python function.\n\n```python\n{code.rstrip()}\n```"
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def parse_problems(text: str) -> list[int]:
    """``0-39``, ``0-119:3`` (every third), or ``1,5,9``."""
    ids: list[int] = []
    for part in text.split(","):
        span, _, step = part.partition(":")
        lo, _, hi = span.partition("-")
        ids += range(int(lo), int(hi or lo) + 1, int(step or 1))
    return ids


def out_path(out_dir: Path, model: str, fmt: str, tag: str) -> Path:
    return out_dir / f"{model}-{fmt}{'-' + tag if tag else ''}.jsonl"


def read_records(path: Path) -> list[dict[str, Any]]:
    """The problems already drawn (a last line cut short by a kill is ignored)."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


async def draw_one(llm_text, llm_chat, fmt: Format, code: str, index: int, temperature: float, max_tokens: int):
    """One sample: (candidate text, sample record)."""
    started = time.monotonic()
    if fmt.name == "fence":
        completion = await llm_text.generate(
            fence_prompt(code), temperature=temperature, seed=index, max_tokens=max_tokens
        )
        body = completion.text.rstrip()
        # what the HumanEval agent's rollout holds: the prompt's code and the body, in a fence
        text = f"```python\n{code.rstrip()}\n{body}\n```" if body.strip() else ""
    else:
        stop = [CHAT_STOP] if fmt.name == "chat-stop" else None
        completion = await llm_chat.generate(
            chat_messages(code), temperature=temperature, seed=index, max_tokens=max_tokens, stop=stop
        )
        text = completion.text + ("\n```" if completion.finish_reasons[:1] == ["stop"] and stop else "")
    usage = completion.usage
    return text, {
        "index": index,
        "temperature": temperature,
        "seed": index,
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "cached_tokens": usage.cached_tokens,
        "seconds": round(time.monotonic() - started, 3),
        "finish_reason": completion.finish_reasons[0] if completion.finish_reasons else None,
    }


async def score(scorer, task, texts: Sequence[str]) -> list[bool]:
    """Each candidate against the hidden ``check()`` tests, in the sandbox."""
    from agentscale.types import Rollout

    hidden = task.model_copy(update={"tests": [task.metadata["hidden_test"]]})
    verdicts = await asyncio.gather(*(scorer.verify(hidden, Rollout(task_id=task.id, output=t)) for t in texts))
    return [bool(v.passed) for v in verdicts]


async def run(args: argparse.Namespace) -> int:
    from agentscale.datasets import load_humaneval
    from agentscale.llm import LLM
    from agentscale.sandboxes import open_pool
    from agentscale.servers import LlamaCppServer
    from agentscale.verifiers import VisibleTestsVerifier

    formats = [FORMATS[f] for f in args.formats]
    paths = {f.name: out_path(args.out_dir, args.model, f.name, args.tag) for f in formats}
    done = {name: {r["task_id"] for r in read_records(p)} for name, p in paths.items()}
    tasks = [t for t in load_humaneval(args.problems) if any(t.id not in done[f.name] for f in formats)]
    print(f"{len(args.problems) * len(formats) - sum(map(len, done.values()))} draws to go", file=sys.stderr)
    if not tasks:
        return 0
    args.out_dir.mkdir(parents=True, exist_ok=True)
    # A private server: a shared one could be stopped under a draw that runs for hours.
    server = LlamaCppServer(
        args.model, parallel=args.parallel, ctx_size=2048 * args.parallel, threads=args.threads, reuse=False
    )
    async with server, open_pool(args.backend, size=args.sandboxes) as pool:
        common = {"api_base": server.api_base, "timeout": 1800, "max_retries": 1}
        async with (
            # every stop reaches the server through the body (LLM keeps only 4 of ``stop=``: issue 12)
            LLM(server.model, profile="completion", extra_body={"stop": list(FENCE_STOPS)}, **common) as text_llm,
            LLM(server.model, profile=server.profile, **common) as chat_llm,
        ):
            scorer = VisibleTestsVerifier(pool)
            for k, task in enumerate(tasks):
                code = task.prompt
                for fmt in formats:
                    if task.id in done[fmt.name]:
                        continue
                    temps = (args.temperature,) if args.temperature is not None else fmt.temperatures
                    max_tokens = args.max_tokens or fmt.max_tokens
                    started = time.monotonic()
                    drawn = await asyncio.gather(
                        *(
                            draw_one(text_llm, chat_llm, fmt, code, i, temps[i % len(temps)], max_tokens)
                            for i in range(args.n)
                        )
                    )
                    seconds = time.monotonic() - started
                    texts = [t for t, _ in drawn]
                    passed = await score(scorer, task, texts)
                    record = {
                        "task_id": task.id,
                        "candidates": texts,
                        "passed": passed,
                        "format": fmt.name,
                        "model": args.model,
                        "max_tokens": max_tokens,
                        "stops": {"fence": list(FENCE_STOPS), "chat-stop": [CHAT_STOP]}.get(fmt.name, []),
                        "seconds": round(seconds, 2),
                        "samples": [s for _, s in drawn],
                    }
                    with paths[fmt.name].open("a", encoding="utf-8") as fh:
                        fh.write(json.dumps(record) + "\n")
                    load = os.getloadavg()[0]
                    print(
                        f"[{k + 1}/{len(tasks)}] {task.id} {fmt.name}: hidden pass {sum(passed)}/{len(passed)}, "
                        f"{seconds:.0f} s (load {load:.1f})",
                        file=sys.stderr,
                        flush=True,
                    )
    return 0


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased pass@k of a problem with ``c`` passing samples out of ``n`` (Chen et al., 2021)."""
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def cut_at_closing_fence(text: str) -> str:
    """A chat reply as the ``chat-stop`` format ends it: before the first ``CHAT_STOP``, with the
    fence closed (what ``draw_one`` records). Same seed, same tokens up to there: the cut reply is
    the one a ``chat-stop`` request would have returned."""
    cut = text.find(CHAT_STOP)
    return text if cut < 0 else text[:cut] + "\n```"


def simulated_fence_stop(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Chat records as if generation had stopped at the first closing fence.

    A sample keeps its ``passed`` when the code extracted from the cut reply is the code
    extracted from the whole one (``changed`` counts those that differ; they are scored as
    failures, an underestimate); its completion tokens shrink in proportion to the characters cut.
    """
    from agentscale.code import extract_code

    out = []
    for r in records:
        texts, passed, samples = [], [], []
        for text, ok, sample in zip(r["candidates"], r["passed"], r["samples"], strict=True):
            cut = cut_at_closing_fence(text)
            same = extract_code(cut) == extract_code(text)
            ratio = len(cut) / len(text) if text else 1.0
            texts.append(cut)
            passed.append(ok and same)
            samples.append(
                {**sample, "completion_tokens": round(sample["completion_tokens"] * ratio), "changed": not same}
            )
        out.append({**r, "candidates": texts, "passed": passed, "samples": samples})
    return out


async def cut_chat(args: argparse.Namespace) -> int:
    """Write ``chat-stop`` records made from ``chat`` ones (see ``cut_at_closing_fence``).

    Completion tokens are counted by the model server's tokenizer; a sample whose extracted
    code changed with the cut is scored again with the hidden tests.
    """
    import httpx

    from agentscale.code import extract_code
    from agentscale.datasets import load_humaneval
    from agentscale.sandboxes import open_pool
    from agentscale.servers import LlamaCppServer
    from agentscale.verifiers import VisibleTestsVerifier

    source = out_path(args.out_dir, args.model, "chat", args.tag)
    target = out_path(args.out_dir, args.model, "chat-stop", args.tag)
    done = {r["task_id"] for r in read_records(target)}
    wanted = {f"HumanEval/{n}" for n in args.problems}
    todo = [r for r in read_records(source) if r["task_id"] in wanted and r["task_id"] not in done]
    print(f"{len(todo)} chat records to cut into {target}", file=sys.stderr)
    if not todo:
        return 0
    tasks = {t.id: t for t in load_humaneval(sorted(int(r["task_id"].split("/")[1]) for r in todo))}
    server = LlamaCppServer(args.model, parallel=1, ctx_size=4096, threads=args.threads, reuse=False)
    async with server, open_pool(args.backend, size=args.sandboxes) as pool, httpx.AsyncClient() as http:
        scorer = VisibleTestsVerifier(pool)
        for record in todo:
            task = tasks[record["task_id"]]
            texts, samples = [], []
            for text, sample in zip(record["candidates"], record["samples"], strict=True):
                cut = cut_at_closing_fence(text)
                if cut != text:
                    reply = await http.post(f"{server.base_url}/tokenize", json={"content": cut[: -len("\n```")]})
                    # the reply up to the stop, plus the stop sequence's own tokens (it was generated)
                    stop = await http.post(f"{server.base_url}/tokenize", json={"content": CHAT_STOP})
                    tokens = len(reply.json()["tokens"]) + len(stop.json()["tokens"])
                    sample = {**sample, "completion_tokens": tokens, "finish_reason": "stop", "cut": True}
                texts.append(cut)
                samples.append(sample)
            passed = list(record["passed"])
            changed = [
                i
                for i, (a, b) in enumerate(zip(texts, record["candidates"], strict=True))
                if extract_code(a) != extract_code(b)
            ]
            if changed:
                rescored = await score(scorer, task, [texts[i] for i in changed])
                for i, ok in zip(changed, rescored, strict=True):
                    passed[i] = ok
            out = {**record, "candidates": texts, "passed": passed, "samples": samples, "format": "chat-stop"}
            out["stops"], out["cut_from"] = [CHAT_STOP], source.name
            with target.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(out) + "\n")
            print(
                f"{record['task_id']}: cut {sum(s.get('cut', False) for s in samples)}, rescored {len(changed)}",
                file=sys.stderr,
            )
    return 0


def summarize(path: Path, problems: Sequence[int], *, cut: bool = False) -> dict[str, Any] | None:
    """Mean pass@1, coverage (pass@k for every k) and tokens per sample of one draw file."""
    wanted = {f"HumanEval/{n}" for n in problems}
    records = [r for r in read_records(path) if r["task_id"] in wanted]
    if not records:
        return None
    if cut:
        records = simulated_fence_stop(records)
    samples = [s for r in records for s in r["samples"]]
    n = min(len(r["passed"]) for r in records)
    curve = [statistics.mean(pass_at_k(n, sum(r["passed"][:n]), k) for r in records) for k in range(1, n + 1)]
    return {
        "file": path.name + (" cut at fence (est.)" if cut else ""),
        "problems": len(records),
        "n": n,
        "pass@1": curve[0],
        "sample0": statistics.mean(r["passed"][0] for r in records),
        "coverage": curve[-1],
        "pass@k": curve,
        "tokens/sample": statistics.mean(s["prompt_tokens"] + s["completion_tokens"] for s in samples),
        "generated/sample": statistics.mean(s["completion_tokens"] for s in samples),
        "draw s/problem": statistics.mean(r["seconds"] for r in records),
        "hit cap": statistics.mean(s.get("finish_reason") == "length" for s in samples),
        "changed": sum(s.get("changed", False) for s in samples),
    }


def coverage_at(row: dict[str, Any], tokens: float) -> float:
    """pass@k at a token budget: ``k = tokens / tokens per sample``, interpolated between integers."""
    k = tokens / row["tokens/sample"]
    curve = [0.0, *row["pass@k"]]
    if k >= len(curve) - 1:
        return curve[-1]
    low = int(k)
    return curve[low] + (k - low) * (curve[low + 1] - curve[low])


def print_summary(args: argparse.Namespace) -> int:
    paths = sorted(args.out_dir.glob("*.jsonl"))
    # every file is summarised over the same problems: those drawn in all of them
    drawn = [{int(r["task_id"].split("/")[1]) for r in read_records(p)} for p in paths]
    common = sorted(set(args.problems).intersection(*drawn)) if drawn else []
    rows = []
    for path in paths:
        if row := summarize(path, common):
            rows.append(row)
            if path.name.endswith("-chat.jsonl") and row["n"] > 1:
                rows.append(summarize(path, common, cut=True))
    if not rows:
        print(
            f"no problem of {args.problems[0]}-{args.problems[-1]} is in every file of {args.out_dir}", file=sys.stderr
        )
        return 1
    print(f"HumanEval: {len(common)} problems of {min(args.problems)}-{max(args.problems)} drawn in every file")
    head = ["problems", "n", "pass@1", "sample0", "coverage", "tokens/sample", "generated/sample", "hit cap"]
    print(f"{'file':<50} " + " ".join(f"{h[:9]:>9}" for h in head))
    for row in rows:
        cells = []
        for h in head:
            v = row[h]
            cells.append(f"{v:9.1%}" if h in ("pass@1", "sample0", "coverage", "hit cap") else f"{v:9.0f}")
        print(f"{row['file']:<50} " + " ".join(cells))
    multi = [r for r in rows if r["n"] > 1]
    if len(multi) > 1:
        budget = min(r["n"] * r["tokens/sample"] for r in multi)
        print(f"\ncoverage at equal tokens ({budget:.0f} tokens per problem, the smallest full draw):")
        for row in multi:
            k = budget / row["tokens/sample"]
            print(f"  {row['file']:<50} {coverage_at(row, budget):6.1%}  (k = {k:.1f} samples)")
    print_mixes(args.out_dir, common)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


def print_mixes(out_dir: Path, problems: Sequence[int], model: str = "qwen2.5-coder-0.5b") -> None:
    """Coverage of 8 samples split between the fence and chat-stop formats (a prompt variant
    each), computed from the two draws as independent samples, with their tokens."""
    fence = {r["task_id"]: r for r in read_records(out_path(out_dir, model, "fence", ""))}
    chat = {r["task_id"]: r for r in read_records(out_path(out_dir, model, "chat-stop", ""))}
    ids = [f"HumanEval/{n}" for n in problems if f"HumanEval/{n}" in fence and f"HumanEval/{n}" in chat]
    if not ids:
        return

    def miss(record: dict[str, Any], k: int) -> float:
        n, c = len(record["passed"]), sum(record["passed"])
        return 1.0 - pass_at_k(n, c, k) if k else 1.0

    def per_sample(records: dict[str, dict[str, Any]], key: str) -> float:
        return statistics.mean(s[key] for i in ids for s in records[i]["samples"])

    print(f"\n8 samples split between fence and chat-stop ({len(ids)} problems):")
    print(f"  {'fence+chat':<12} {'coverage':>9} {'tokens/pb':>9} {'generated/pb':>12}")
    for a in (8, 6, 4, 2, 0):
        b = 8 - a
        coverage = statistics.mean(1.0 - miss(fence[i], a) * miss(chat[i], b) for i in ids)
        tokens = sum(
            k * (per_sample(recs, "prompt_tokens") + per_sample(recs, "completion_tokens"))
            for k, recs in ((a, fence), (b, chat))
        )
        generated = sum(k * per_sample(recs, "completion_tokens") for k, recs in ((a, fence), (b, chat)))
        print(f"  {f'{a}+{b}':<12} {coverage:9.1%} {tokens:9.0f} {generated:12.0f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", type=parse_problems, default=parse_problems("40-119"))
    parser.add_argument("--formats", type=lambda s: s.split(","), default=["fence", "chat"])
    parser.add_argument("-n", type=int, default=8, help="samples per problem")
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--temperature", type=float, help="one temperature for every sample")
    parser.add_argument("--max-tokens", type=int, help="override the format's token cap")
    parser.add_argument("--tag", default="", help="suffix of the output file names")
    parser.add_argument("--out-dir", type=Path, default=Path("runs/candidates"))
    parser.add_argument("--parallel", type=int, default=8, help="server slots")
    parser.add_argument(
        "--threads", type=int, help="server threads (1 keeps a shared, oversubscribed CPU from stalling it)"
    )
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--sandboxes", type=int, default=4)
    parser.add_argument("--summary", action="store_true", help="only print what the files hold")
    parser.add_argument(
        "--cut-chat", action="store_true", help="write chat-stop records cut from the chat draw (no sampling)"
    )
    parser.add_argument("--json", type=Path, help="with --summary: write the rows as JSON")
    args = parser.parse_args()
    unknown = [f for f in args.formats if f not in FORMATS]
    if unknown:
        parser.error(f"unknown format(s) {unknown}; choose from {sorted(FORMATS)}")
    if args.summary:
        return print_summary(args)
    if args.cut_chat:
        return asyncio.run(cut_chat(args))
    return asyncio.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
