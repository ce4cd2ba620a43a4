"""A recorded model for benchmarks: every distinct call is made once, stored, and replayed after.

``CachedModel`` wraps an ``agentscale.llm.LLM``. A call's key is everything that decides its
answer (the prompt, ``n``, temperature, seed, max_tokens, stops, the JSON schema); the first time a
key is asked, the real model answers and the completion (texts, finish reasons, usage) is appended
to a JSONL file; after that it is replayed, and its usage is recorded into the open usage ledgers
exactly as a real call's is, so budgets and token counts are those of the real call.

What this buys: methods that share calls share their answers. A best-of-N run, the fresh samples
of a tree search and the first wave of reflection all ask for "sample ``k`` of this task" with the
same seed and temperature, so they see the same draw (what real runs with those seeds would draw,
up to llama.cpp's batched sampling, which is not bit-reproducible anyway), and the CPU is spent
once. A killed benchmark resumes without redrawing anything.

``seed_from_candidates`` imports draws of the HumanEval agent's format made elsewhere (issue 13's
``benchmarks/draw_candidates.py --formats fence``: same prompt, seeds, temperatures, stops and
token cap), so they are not drawn again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from agentscale.budget import record_usage
from agentscale.types import Completion, Usage


def call_key(prompt: Any, options: Mapping[str, Any]) -> str:
    """The cache key of one call: a hash of the prompt and every option that shapes the answer."""
    shaped = {k: v for k, v in sorted(options.items()) if v is not None and k not in ("timeout", "budget")}
    if "stop" in shaped and not isinstance(shaped["stop"], str):
        shaped["stop"] = list(shaped["stop"])
    blob = json.dumps({"prompt": prompt, **shaped}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class CachedModel:
    """A ``Model`` that answers each distinct call once (see the module docstring).

    Attributes:
        model: the real model (``agentscale.llm.LLM``).
        path: the JSONL file of recorded calls.
        hits: calls replayed in this process.
        misses: calls sent to the model in this process.
    """

    def __init__(self, model: Any, path: Path, *, name: str = "") -> None:
        self.model = model
        self.path = path
        self.name = name
        self.hits = 0
        self.misses = 0
        self._store: dict[str, Completion] = {}
        self._inflight: dict[str, asyncio.Future[Completion]] = {}
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut short by a kill
                self._store[row["key"]] = Completion.model_validate(row["completion"])

    def __len__(self) -> int:
        return len(self._store)

    def put(self, key: str, completion: Completion) -> None:
        """Record a completion under ``key`` (and append it to the file)."""
        if key in self._store:
            return
        self._store[key] = completion
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps({"key": key, "completion": completion.model_dump(mode="json")}) + "\n")

    async def generate(
        self, prompt: Any, *, json_schema: Mapping[str, Any] | None = None, **options: Any
    ) -> Completion:
        """The recorded answer to this call, or the real model's (recorded for next time)."""
        if json_schema is not None:
            options["json_schema"] = json_schema
        key = call_key(prompt, options)
        if key in self._store:
            self.hits += 1
            completion = self._store[key]
            record_usage(completion.usage)  # as the real call did: the rollout's ledger counts it
            return completion
        if key in self._inflight:  # the same call is on its way: share its answer
            completion = await asyncio.shield(self._inflight[key])
            record_usage(completion.usage)
            return completion
        future: asyncio.Future[Completion] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            completion = await self.model.generate(prompt, **options)  # the real call records its usage
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody shares it
            raise
        finally:
            self._inflight.pop(key, None)
        self.misses += 1
        future.set_result(completion)
        self.put(key, completion)
        return completion


def seed_from_candidates(
    cache: CachedModel,
    records: Sequence[Mapping[str, Any]],
    prompts: Mapping[str, str],
    *,
    max_tokens: int,
    stops: Sequence[str],
    model: str,
) -> int:
    """Import fence-format draws (``candidates`` + per-sample ``samples``) as recorded calls.

    Args:
        cache: where to record them.
        records: lines of a ``draw_candidates.py`` fence file.
        prompts: task id -> the HumanEval prompt (the task's code).
        max_tokens: the agent's token cap (the draws must have used the same).
        stops: the agent's stop sequences.
        model: the model name to put on the completions.

    Returns:
        How many samples were imported.
    """
    from agentscale.graphs.humaneval import render
    from agentscale.types import RolloutRequest, Task

    imported = 0
    for record in records:
        task_id = record.get("task_id")
        if record.get("format") != "fence" or task_id not in prompts or record.get("max_tokens") != max_tokens:
            continue
        code = prompts[task_id]
        head = f"```python\n{code.rstrip()}\n"
        for text, sample in zip(record["candidates"], record["samples"], strict=True):
            if text and not (text.startswith(head) and text.endswith("\n```")):
                continue  # not this agent's output shape: leave it to be drawn
            body = text[len(head) : -len("\n```")] if text else ""
            request = RolloutRequest(index=sample["index"], seed=sample["seed"], temperature=sample["temperature"])
            prompt = render(Task(prompt=code), request)
            options = {
                "temperature": sample["temperature"],
                "seed": sample["seed"],
                "max_tokens": max_tokens,
                "stop": list(stops),
            }
            usage = Usage(
                prompt_tokens=sample["prompt_tokens"],
                completion_tokens=sample["completion_tokens"],
                cached_tokens=sample.get("cached_tokens", 0),
                calls=1,
                seconds=sample.get("seconds", 0.0),
            )
            completion = Completion(
                model=model, texts=[body], finish_reasons=[sample.get("finish_reason")], usage=usage
            )
            key = call_key(prompt, options)
            if key not in cache._store:
                cache.put(key, completion)
                imported += 1
    return imported
