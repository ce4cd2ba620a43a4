"""Short, deterministic summaries of SWE rollouts, for a judge that compares patches.

A judge among tied patches should see what each rollout changed and how it got there, not its
raw transcript (tens of thousands of tokens of file views and test output). ``swe_summary``
reads the trajectory in either action format (native tool calls, or the text format's fenced
blocks with ``Observation:`` replies) and keeps:

- ``hypotheses``: the distinct actions, each in a few words (``search 'def camelize'``,
  ``view inflection/__init__.py:160-200``, ``edit inflection/__init__.py``, ``run `pytest -q```);
- ``progress``: the step count, the files edited, whether it submitted (and what it said) or
  which limit stopped it, and the tail of the last ``run`` observation (the last test output it saw);
- ``failure_modes``: edits that did not apply, tool errors, test failures it saw last, and the
  verifier's failing checks when a verdict is given;
- ``final``: the patch itself (clipped by ``TrajectorySummary.text``).

No model is called. ``SWESummarizer`` gives ``agentscale.selectors.RecursiveTournament`` these
summaries (its ``summarizer=``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agentscale.actions import last_action
from agentscale.summaries import TrajectorySummary
from agentscale.types import Message, Rollout, Task, Verdict

__all__ = ["SWESummarizer", "swe_summary"]

_ACTION_CHARS = 80
_TAIL_CHARS = 300
_ITEM_CHARS = 200
_MAX_HYPOTHESES = 6


def _clip(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe(tool: str, args: Mapping[str, Any]) -> str:
    path = str(args.get("path") or "")
    if tool == "search":
        return _clip(f"search {str(args.get('pattern', ''))!r}" + (f" in {path}" if path else ""), _ACTION_CHARS)
    if tool == "view":
        return f"view {path}:{args.get('start', 1)}-{args.get('end', '')}".rstrip("-")
    if tool == "edit":
        return f"edit {path}" if args.get("search") else f"create {path}"
    if tool == "run":
        return _clip(f"run `{args.get('command') or args.get('input') or ''}`", _ACTION_CHARS)
    if tool in ("list_files", "submit"):
        return f"{tool} {path}".strip()
    return _clip(f"{tool} {json.dumps(dict(args), sort_keys=True)}", _ACTION_CHARS)


def _content(message: Message) -> str:
    content = message.get("content")
    return content if isinstance(content, str) else "" if content is None else str(content)


def _observation(message: Message) -> tuple[str, str] | None:
    """``(tool, text)`` of a tool's observation in either format; ``None`` for other messages."""
    role = message.get("role")
    if role == "tool" or (role == "user" and message.get("name")):
        text = _content(message).removeprefix("Observation:").strip()
        return str(message.get("name") or "tool"), text
    return None


def _failures(steps: Sequence[tuple[str, str]]) -> list[str]:
    found: list[str] = []
    for tool, text in steps:
        head = text.splitlines()[0] if text else ""
        if head.startswith("Error:") or head.startswith("edit not applied"):
            found.append(_clip(f"[{tool}] {head}", _ITEM_CHARS))
    # the last test run's failures (what it left unfixed), not every run's
    runs = [text for tool, text in steps if tool == "run"]
    if runs:
        failing = [ln for ln in runs[-1].splitlines() if ln.startswith(("FAILED", "ERROR")) or "Error:" in ln]
        found.extend(_clip(f"[last run] {ln}", _ITEM_CHARS) for ln in failing[-2:])
    return found


def swe_summary(rollout: Rollout, verdict: Verdict | None = None) -> TrajectorySummary:
    """The summary of one SWE rollout (see the module docs).

    Args:
        rollout: the rollout (its output is the patch).
        verdict: its verdict; failing checks become failure modes (``None``: not shown).

    Example:
        >>> r = Rollout(id="r", task_id="t", output="diff --git a/x.py b/x.py", trajectory=[
        ...     {"role": "assistant", "content": '```edit\\n{"path": "x.py", "search": "a", "replace": "b"}\\n```'},
        ...     {"role": "user", "name": "edit", "content": "Observation:\\nEdited x.py at line 3."}])
        >>> s = swe_summary(r)
        >>> s.hypotheses, s.final
        (['edit x.py'], 'diff --git a/x.py b/x.py')
    """
    actions: list[str] = []
    steps: list[tuple[str, str]] = []
    edited: list[str] = []
    for message in rollout.trajectory:
        if message.get("role") == "assistant" and (found := last_action([message])) is not None:
            tool, args = found
            actions.append(_describe(tool, args))
            if tool == "edit" and args.get("path") and str(args["path"]) not in edited:
                edited.append(str(args["path"]))
        elif (seen := _observation(message)) is not None:
            steps.append(seen)
    distinct = list(dict.fromkeys(actions))
    hypotheses = distinct[:_MAX_HYPOTHESES]
    if len(distinct) > _MAX_HYPOTHESES:
        hypotheses.append(f"... and {len(distinct) - _MAX_HYPOTHESES} more actions")
    meta = rollout.metadata
    if meta.get("submitted"):
        said = _clip(str(meta.get("message") or ""), 120)
        ending = "submitted" + (f" ({said})" if said else "")
    else:
        ending = f"stopped by {meta.get('limit') or meta.get('stop') or 'the loop'} without submitting"
    progress = f"{len(actions)} actions; edited {', '.join(edited) or 'nothing'}; {ending}"
    runs = [text for tool, text in steps if tool == "run"]
    if runs:
        progress += f"; last run: {_clip(runs[-1][-_TAIL_CHARS:], _TAIL_CHARS)}"
    failures = _failures(steps)
    if rollout.error:
        failures.append(_clip(rollout.error, _ITEM_CHARS))
    if verdict is not None and not verdict.passed and verdict.feedback.strip():
        failures.extend(_clip(ln, _ITEM_CHARS) for ln in verdict.feedback.strip().splitlines()[:3])
    return TrajectorySummary(
        rollout_id=rollout.id,
        hypotheses=hypotheses,
        progress=progress,
        failure_modes=list(dict.fromkeys(failures))[-5:],
        final=rollout.output.strip(),
        score=verdict.score if verdict is not None else None,
        source="trajectory",
    )


@dataclass
class SWESummarizer:
    """``swe_summary`` behind the ``Summarizer`` interface that ``RecursiveTournament`` calls."""

    async def summarize_all(
        self, task: Task, rollouts: Sequence[Rollout], verdicts: Mapping[str, Verdict] | None = None, **_: Any
    ) -> dict[str, TrajectorySummary]:
        """The summaries by rollout id (no model call; ``task`` is unused)."""
        verdicts = verdicts or {}
        return {r.id: swe_summary(r, verdicts.get(r.id)) for r in rollouts}
