"""Distilling lessons from rollouts (ReasoningBank), with memory-aware scaling.

Each rollout's outcome comes from its verdict; without one, a failed run (``status != "ok"``)
is a failure and anything else goes to an LLM judge. Then one prompt, chosen by what happened:

* all judged rollouts passed -> *success* prompt: strategies that made it work;
* all failed -> *failure* prompt: pitfalls and how to avoid them;
* some passed and some failed (N rollouts of one task) -> *contrastive* prompt: what the
  passing attempts did that the failing ones did not. This is where scaling feeds memory.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from agentscale.memory._item import MemoryItem, MemorySource
from agentscale.memory._parse import parse_items, parse_judgement
from agentscale.protocols import Model
from agentscale.types import Rollout, Task, Verdict

__all__ = ["Distiller", "JudgedRollout", "normalise_verdicts"]

log = logging.getLogger(__name__)

_SYSTEM = (
    "You keep a memory bank of short, reusable lessons for an AI agent that solves tasks. "
    "A lesson must help on OTHER, similar tasks: no names, numbers or code specific to this task."
)
_FORMAT = (
    'Reply with JSON only: a list of at most {n} objects like {{"title": "...", "description": '
    '"one line: when this applies", "content": "one to three sentences"}}.'
)


@dataclass(frozen=True)
class JudgedRollout:
    """A rollout with its outcome and where the outcome came from."""

    rollout: Rollout
    passed: bool | None
    """``None`` when nobody could tell (the judge's reply was unreadable)."""
    feedback: str
    source: Literal["verdict", "status", "judge", "unknown"]


def normalise_verdicts(verdicts: Mapping[str, Verdict] | Sequence[Verdict] | None) -> dict[str, Verdict]:
    """Verdicts keyed by rollout id, from a mapping or a list."""
    if not verdicts:
        return {}
    if isinstance(verdicts, Mapping):
        return {v.rollout_id: v for v in verdicts.values()}
    return {v.rollout_id: v for v in verdicts}


def _clip(text: str, limit: int) -> str:
    text = text.strip()
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[... {len(text) - limit} characters cut ...]\n{text[-half:]}"


def _attempt_text(rollout: Rollout) -> str:
    if rollout.output.strip():
        return rollout.output
    for message in reversed(rollout.trajectory):
        if message.get("role") == "assistant" and str(message.get("content") or "").strip():
            return str(message["content"])
    return rollout.error or "(no output)"


@dataclass
class Distiller:
    """Turns a finished task's rollouts into at most ``max_items`` memory items.

    Attributes:
        max_items: most items one task may add.
        max_examples: most attempts shown per side (passing / failing) in one prompt.
        max_chars: each attempt is cut to this many characters (small local models have small contexts).
        max_tokens: the reply's token limit.
    """

    max_items: int = 3
    max_examples: int = 2
    max_chars: int = 700
    max_tokens: int = 400

    async def judge(
        self,
        task: Task,
        rollouts: Sequence[Rollout],
        verdicts: Mapping[str, Verdict] | Sequence[Verdict] | None,
        judge: Model | None,
    ) -> list[JudgedRollout]:
        """Outcome of each rollout: its verdict, its status, or the judge's word (in parallel)."""
        by_id = normalise_verdicts(verdicts)

        async def one(rollout: Rollout) -> JudgedRollout:
            if (verdict := by_id.get(rollout.id)) is not None:
                return JudgedRollout(rollout, verdict.passed, verdict.feedback, "verdict")
            if not rollout.ok:
                return JudgedRollout(rollout, False, rollout.error or rollout.status, "status")
            if judge is None:
                return JudgedRollout(rollout, None, "", "unknown")
            prompt = [
                {"role": "system", "content": "You check whether an answer solves a task. Be strict."},
                {
                    "role": "user",
                    "content": f"Task:\n{_clip(task.prompt, 1500)}\n\nAnswer:\n"
                    f"{_clip(_attempt_text(rollout), self.max_chars * 2)}\n\n"
                    "Does the answer correctly and completely solve the task? "
                    "Reply with one word: PASS or FAIL.",
                },
            ]
            reply = (await judge.generate(prompt, temperature=0.0, max_tokens=16)).text
            passed = parse_judgement(reply)
            if passed is None:
                log.warning("memory judge gave no PASS/FAIL for rollout %s: %.200r", rollout.id, reply)
                return JudgedRollout(rollout, None, "", "unknown")
            return JudgedRollout(rollout, passed, "", "judge")

        return list(await asyncio.gather(*(one(r) for r in rollouts)))

    def prompt(self, task: Task, judged: Sequence[JudgedRollout]) -> tuple[str, list[dict[str, str]]] | None:
        """The distillation prompt for these outcomes, as ``(mode, messages)``; ``None`` if nothing is known.

        ``mode`` is ``"success"``, ``"failure"`` or ``"contrast"``.
        """
        passed = self._distinct([j for j in judged if j.passed is True])
        failed = self._distinct([j for j in judged if j.passed is False])
        if not passed and not failed:
            return None
        task_text = _clip(task.prompt, 1200)
        fmt = _FORMAT.format(n=self.max_items)
        if passed and failed:
            mode = "contrast"
            body = (
                f"Task:\n{task_text}\n\nSeveral attempts were made. "
                f"{self._show(passed, 'PASSING attempt')}\n\n{self._show(failed, 'FAILING attempt')}\n\n"
                "Compare them: what did the passing attempts do that the failing ones did not? "
                f"Write those differences as reusable strategies. {fmt}"
            )
        elif passed:
            mode = "success"
            body = (
                f"Task:\n{task_text}\n\n{self._show(passed, 'SUCCESSFUL attempt')}\n\n"
                f"What made this work? Write reusable strategies for similar tasks. {fmt}"
            )
        else:
            mode = "failure"
            body = (
                f"Task:\n{task_text}\n\n{self._show(failed, 'FAILED attempt')}\n\n"
                "Why did it fail? Write pitfalls to avoid on similar tasks, each saying what to do instead. "
                f"{fmt}"
            )
        return mode, [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": body}]

    def _distinct(self, judged: list[JudgedRollout]) -> list[JudgedRollout]:
        # N samples of one task often agree word for word: show each distinct attempt once.
        seen: set[str] = set()
        out = []
        for j in judged:
            key = " ".join(_attempt_text(j.rollout).split())
            if key not in seen:
                seen.add(key)
                out.append(j)
        return out[: self.max_examples]

    def _show(self, judged: list[JudgedRollout], label: str) -> str:
        parts = []
        for i, j in enumerate(judged, 1):
            text = f"{label} {i}:\n{_clip(_attempt_text(j.rollout), self.max_chars)}"
            if j.feedback:
                text += f"\nFeedback: {_clip(j.feedback, 300)}"
            parts.append(text)
        return "\n\n".join(parts)

    async def distill(
        self,
        task: Task,
        rollouts: Sequence[Rollout],
        verdicts: Mapping[str, Verdict] | Sequence[Verdict] | None,
        model: Model,
        *,
        judge: Model | None = None,
    ) -> tuple[list[MemoryItem], list[JudgedRollout]]:
        """Judge the rollouts, then ask ``model`` for lessons.

        Args:
            task: the task that was run.
            rollouts: its rollouts.
            verdicts: their verdicts (by rollout id, or a list); rollouts without one are judged.
            model: writes the lessons.
            judge: decides unverified rollouts (defaults to ``model``).

        Returns:
            The new items (not yet stored; unreadable replies give none) and every rollout's outcome.
        """
        judged = await self.judge(task, rollouts, verdicts, judge or model)
        built = self.prompt(task, judged)
        if built is None:
            return [], judged
        mode, messages = built
        completion = await model.generate(messages, temperature=0.0, max_tokens=self.max_tokens)
        raw = parse_items(completion.text, self.max_items)
        if not raw:
            text = completion.text or ""
            shown = text if len(text) <= 320 else f"{text[:200]} ... {text[-120:]}"
            cut = " (cut off by max_tokens)" if completion.finish_reasons[:1] == ["length"] else ""
            log.warning("memory distillation (%s) for task %s gave no readable items%s: %r",
                        mode, task.id, cut, shown)  # fmt: skip
            return [], judged
        used = [j.rollout.id for j in judged if j.passed is not None]
        source = MemorySource(task_id=task.id, rollout_ids=used, outcome=mode, model=completion.model or None)
        query = task.prompt
        items = [
            MemoryItem(
                title=r["title"],
                description=r["description"],
                content=r["content"],
                kind=r["kind"] or ("pitfall" if mode == "failure" else "strategy"),
                query=query[:4000],
                provenance=[source],
            )  # fmt: skip
            for r in raw
        ]
        return items, judged
