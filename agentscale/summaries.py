"""Trajectory summaries: a rollout as a compact, structured account that fits many to a prompt.

A long agent rollout (dozens of tool calls and observations) is too big to compare with others or
to show to a later rollout. A ``TrajectorySummary`` keeps what matters: the hypotheses tried, the
progress made, the failure modes met, and the final change or answer. Selectors
(``agentscale.selectors.RecursiveTournament``) compare summaries instead of raw trajectories, and
Parallel-Distill-Refine (``agentscale.strategies.ParallelDistillRefine``) hands the best ones to a
second wave of rollouts.

``Summarizer`` writes them:

- a rollout **with tool steps** is summarised by the model, its reply constrained to
  ``SUMMARY_SCHEMA`` (structured output: ``json_schema=`` where the model takes one, else read
  leniently); the model sees the task, the steps (each action and the start of its observation,
  the middle cut when long), the final output and, when given, the verifier's feedback. It writes
  the hypotheses, progress and failure modes; the final change or answer is the rollout's own
  output (clipped), never a paraphrase;
- a **single-shot** rollout (no tool steps), or one whose summary the model could not write (an
  error, an exhausted budget, an unreadable reply), gets a deterministic summary built from its
  trajectory and verdict: the actions it took, its last observation, the failures its
  observations and checks report, and its output. ``source`` says which it is.

Example:
    >>> from agentscale.types import Rollout, Verdict
    >>> r = Rollout(id="r1", task_id="t", output="def f(): return 1")
    >>> s = summary_of(r, Verdict(rollout_id="r1", score=0.5, passed=False, feedback="FAIL f(): expected 2"))
    >>> s.source, s.failure_modes, s.final
    ('output', ['FAIL f(): expected 2'], 'def f(): return 1')
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from langgraph.errors import GraphBubbleUp
from pydantic import BaseModel, Field

from agentscale._judging import json_objects, schema_options
from agentscale.budget import Budget, charged_generate
from agentscale.errors import BudgetExhausted, ModelError
from agentscale.protocols import Model
from agentscale.types import Candidate, Message, Rollout, Task, Verdict

__all__ = ["SUMMARY_SCHEMA", "Summarizer", "TrajectorySummary", "has_steps", "summary_candidate", "summary_of"]

_ITEM_CHARS = 200
_PROGRESS_CHARS = 400
_FINAL_CHARS = 1500
_OBSERVATION_CHARS = 300

SUMMARY_SCHEMA: dict[str, Any] = {
    "title": "TrajectorySummary",
    "type": "object",
    "properties": {
        "hypotheses": {"type": "array", "items": {"type": "string", "maxLength": _ITEM_CHARS}, "maxItems": 5},
        "progress": {"type": "string", "maxLength": _PROGRESS_CHARS},
        "failure_modes": {"type": "array", "items": {"type": "string", "maxLength": _ITEM_CHARS}, "maxItems": 5},
    },
    "required": ["hypotheses", "progress", "failure_modes"],
    "additionalProperties": False,
}
"""The JSON schema the model's part of a summary is constrained to (lengths capped so the reply fits its
tokens). The final change or answer is never the model's paraphrase: it is the rollout's own output."""


class TrajectorySummary(BaseModel):
    """A rollout, summarised.

    Attributes:
        rollout_id: the rollout summarised.
        hypotheses: the approaches or hypotheses it tried, in order.
        progress: what it established or achieved.
        failure_modes: what went wrong (failed checks, errors, dead ends).
        final: its final change or answer (clipped).
        score: its verifier score, when a verdict was given.
        source: ``"model"`` (written by the model), ``"trajectory"`` (built from the steps) or
            ``"output"`` (a single-shot rollout: its output and verdict).
    """

    rollout_id: str
    hypotheses: list[str] = Field(default_factory=list)
    progress: str = ""
    failure_modes: list[str] = Field(default_factory=list)
    final: str = ""
    score: float | None = None
    source: Literal["model", "trajectory", "output"] = "output"

    def notes(self) -> str:
        """Hypotheses, progress and failure modes as a few lines (``""`` when there are none)."""
        lines = []
        if self.hypotheses:
            lines.append("Tried: " + "; ".join(self.hypotheses))
        if self.progress:
            lines.append("Progress: " + self.progress)
        if self.failure_modes:
            lines.append("Failures: " + "; ".join(self.failure_modes))
        return "\n".join(lines)

    def text(self, *, max_chars: int = 2500) -> str:
        """The whole summary as prompt text: the notes, then the final change or answer."""
        notes = self.notes()
        final = _clip(self.final, max(max_chars - len(notes) - 20, 200)) or "(no output)"
        return f"{notes}\nFinal:\n{final}" if notes else final


def _clip(text: str, limit: int) -> str:
    text = (text or "").strip()
    if len(text) <= limit:
        return text
    half = max(limit // 2 - 8, 1)
    return text[:half] + "\n[... cut ...]\n" + text[-half:]


def _content(message: Message) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return " ".join(str(p.get("text", "")) if isinstance(p, dict) else str(p) for p in content)
    return "" if content is None else str(content)


def has_steps(rollout: Rollout) -> bool:
    """Whether the rollout's trajectory holds tool steps (calls or observations)."""
    return any(m.get("role") == "tool" or m.get("tool_calls") for m in rollout.trajectory)


def _actions(rollout: Rollout) -> list[str]:
    actions = []
    for message in rollout.trajectory:
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            args = function.get("arguments", "")
            args = args if isinstance(args, str) else json.dumps(args)
            actions.append(f"{function.get('name', 'tool')}({_clip(args, 80)})")
    return actions


_FAILURE_WORDS = ("error", "traceback", "fail", "exception", "not found", "timed out", "refused")


def _failures(rollout: Rollout, verdict: Verdict | None) -> list[str]:
    found = []
    for message in rollout.trajectory:
        if message.get("role") == "tool":
            text = _content(message).strip()
            if any(w in text.lower() for w in _FAILURE_WORDS):
                name = message.get("name") or "tool"
                found.append(f"[{name}] {_clip(text.splitlines()[-1] if text else '', _ITEM_CHARS)}")
    if rollout.error:
        found.append(_clip(rollout.error, _ITEM_CHARS))
    if verdict is not None and not verdict.passed and verdict.feedback.strip():
        lines = [ln.strip() for ln in verdict.feedback.splitlines() if ln.strip()]
        failing = [ln for ln in lines if any(w in ln.lower() for w in _FAILURE_WORDS)] or lines[:1]
        found.extend(_clip(ln, _ITEM_CHARS) for ln in failing)
    seen: list[str] = []
    for item in found:  # keep order, drop repeats (loops repeat the same error)
        if item not in seen:
            seen.append(item)
    return seen[-5:]


def summary_of(rollout: Rollout, verdict: Verdict | None = None) -> TrajectorySummary:
    """The deterministic summary: from the trajectory's steps when it has some, else from the output.

    Args:
        rollout: the rollout.
        verdict: its verdict, whose failing checks become failure modes (``None``: not shown).
    """
    failures = _failures(rollout, verdict)
    score = verdict.score if verdict is not None else None
    if not has_steps(rollout):
        progress = ""
        if verdict is not None and verdict.passed:
            progress = _clip(verdict.feedback or "passed its checks", _PROGRESS_CHARS)
        return TrajectorySummary(
            rollout_id=rollout.id,
            progress=progress,
            failure_modes=failures,
            final=_clip(rollout.output, _FINAL_CHARS),
            score=score,
            source="output",
        )
    actions = _actions(rollout)
    observations = [_content(m) for m in rollout.trajectory if m.get("role") == "tool"]
    last = _clip(observations[-1], _OBSERVATION_CHARS) if observations else ""
    distinct = list(dict.fromkeys(actions))
    return TrajectorySummary(
        rollout_id=rollout.id,
        hypotheses=distinct[:5] + ([f"... and {len(distinct) - 5} more actions"] if len(distinct) > 5 else []),
        progress=f"{len(actions)} actions; last observation: {last}" if last else f"{len(actions)} actions",
        failure_modes=failures,
        final=_clip(rollout.output, _FINAL_CHARS),
        score=score,
        source="trajectory",
    )


def summary_candidate(summary: TrajectorySummary, rollout: Rollout, verdict: Verdict | None = None) -> Candidate:
    """A summary as a request's ``Candidate``: ``output`` is its final change or answer,
    ``observations`` its hypotheses, progress and failure modes, ``feedback`` the verifier's."""
    return Candidate(
        rollout_id=rollout.id,
        output=summary.final,
        score=verdict.score if verdict is not None else summary.score,
        feedback=(verdict.feedback if verdict is not None else "") or "",
        observations=summary.notes(),
    )


_SYSTEM = "You summarise an agent's attempt at a task for a reviewer. You reply with JSON only."
_ASK = """Task:
{task}

The agent's steps (actions and what it observed):
{steps}

Its final output:
{final}
{check}
Summarise the attempt as JSON with these keys: "hypotheses" (the approaches it tried, in order,
at most 5 short items), "progress" (what it established or achieved, one or two sentences) and
"failure_modes" (what went wrong: failed checks, errors, dead ends; at most 5 short items)."""


@dataclass
class Summarizer:
    """Writes ``TrajectorySummary``s (see the module docstring).

    Attributes:
        model: writes the summaries of rollouts with tool steps; ``None``: every summary is the
            deterministic one.
        max_steps_chars: how much of the trajectory the model is shown (the middle is cut).
        temperature: sampling temperature for the model.
        max_tokens: reply length cap.
        structured: constrain the reply with ``SUMMARY_SCHEMA`` where the model takes a schema.
    """

    model: Model | None = None
    max_steps_chars: int = 6000
    temperature: float | None = 0.0
    max_tokens: int | None = 600
    structured: bool = True

    def messages(self, task: Task, rollout: Rollout, verdict: Verdict | None = None) -> list[Message]:
        """The prompt asking the model for the summary of ``rollout``."""
        steps = []
        for message in rollout.trajectory:
            role = message.get("role")
            if role == "assistant":
                for call in message.get("tool_calls") or []:
                    function = call.get("function") or {}
                    arguments = _clip(str(function.get("arguments", "")), 300)
                    steps.append(f"ACTION {function.get('name', 'tool')} {arguments}")
                if _content(message).strip():
                    steps.append(f"SAID {_clip(_content(message), 300)}")
            elif role == "tool":
                steps.append(f"OBSERVED {_clip(_content(message), _OBSERVATION_CHARS)}")
        check = ""
        if verdict is not None:
            check = f"\nA check of the output (score {verdict.score:.2f} of 1): {_clip(verdict.feedback, 800)}\n"
        ask = _ASK.format(
            task=_clip(task.prompt, 2000),
            steps=_clip("\n".join(steps), self.max_steps_chars) or "(none)",
            final=_clip(rollout.output, _FINAL_CHARS) or "(empty)",
            check=check,
        )
        return [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": ask}]

    async def summarize(
        self, task: Task, rollout: Rollout, verdict: Verdict | None = None, *, budget: Budget | None = None
    ) -> TrajectorySummary:
        """The summary of one rollout; never raises for the model's failure (falls back instead).

        Args:
            task: the task the rollout attempted.
            rollout: the rollout.
            verdict: its verdict, shown to the model and kept as the summary's score.
            budget: charged for the model's call (``None``: the caller's ledger counts it).

        Raises:
            asyncio.CancelledError: the caller cancelled it.
        """
        if self.model is None or not has_steps(rollout):
            return summary_of(rollout, verdict)
        options: dict[str, Any] = {"temperature": self.temperature, "max_tokens": self.max_tokens}
        options |= schema_options(self.model, SUMMARY_SCHEMA if self.structured else None)
        prompt = self.messages(task, rollout, verdict)
        try:
            if budget is not None:
                completion = await charged_generate(self.model, budget, prompt, **options)
            else:
                completion = await self.model.generate(prompt, **options)
        except GraphBubbleUp:
            raise
        except (ModelError, BudgetExhausted):
            return summary_of(rollout, verdict)
        return _read(completion.text, rollout, verdict) or summary_of(rollout, verdict)

    async def summarize_all(
        self,
        task: Task,
        rollouts: Sequence[Rollout],
        verdicts: dict[str, Verdict] | None = None,
        *,
        budget: Budget | None = None,
    ) -> dict[str, TrajectorySummary]:
        """Summaries of several rollouts, written concurrently, by rollout id."""
        import asyncio

        verdicts = verdicts or {}
        done = await asyncio.gather(
            *(self.summarize(task, r, verdicts.get(r.id), budget=budget) for r in rollouts)
        )
        return {s.rollout_id: s for s in done}


def _strings(value: Any, limit: int) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return []
    return [_clip(str(v), limit) for v in value if str(v).strip()][:5]


def _read(text: str, rollout: Rollout, verdict: Verdict | None) -> TrajectorySummary | None:
    for obj in reversed(json_objects(text)):
        if not {"hypotheses", "progress", "failure_modes"} & set(obj):
            continue
        return TrajectorySummary(
            rollout_id=rollout.id,
            hypotheses=_strings(obj.get("hypotheses"), _ITEM_CHARS),
            progress=_clip(str(obj.get("progress") or ""), _PROGRESS_CHARS),
            failure_modes=_strings(obj.get("failure_modes"), _ITEM_CHARS),
            final=_clip(rollout.output, _FINAL_CHARS),
            score=verdict.score if verdict is not None else None,
            source="model",
        )
    return None
