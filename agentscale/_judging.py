"""Reading what an LLM judge wrote, and showing it candidates.

Small models do not follow output formats reliably: JSON comes wrapped in fences, followed by
chatter, with the score as a string, or not at all ("Score: 7/10", "I'd give it 8"). Where the
model takes a JSON schema (``agentscale.llm.LLM`` does: llama-server and vLLM enforce it while
generating), judges pass one (:func:`schema_options`) and the reply always parses. These parsers
accept what can be read unambiguously and return ``None`` for the rest, so callers can re-ask or
fall back (models without schemas, replies cut at ``max_tokens``).
"""

from __future__ import annotations

import inspect
import json
import re
from typing import Any

from agentscale.types import Rollout

__all__ = [
    "candidate_text",
    "choice_schema",
    "json_objects",
    "parse_choice",
    "parse_pair_choice",
    "parse_score",
    "schema_options",
    "score_schema",
]

_MAX_CANDIDATE_CHARS = 4000
# A reason capped in characters keeps a constrained reply inside a judge's max_tokens, so it
# closes its JSON (a grammar cannot make a reply cut at max_tokens whole).
_MAX_REASON_CHARS = 300


def score_schema(scale: int = 10) -> dict[str, Any]:
    """The JSON schema of a pointwise verdict: ``{"score": 0..scale, "reason": "..."}``."""
    return {
        "title": "Verdict",
        "type": "object",
        "properties": {
            "score": {"type": "integer", "minimum": 0, "maximum": scale},
            "reason": {"type": "string", "maxLength": _MAX_REASON_CHARS},
        },
        "required": ["score", "reason"],
        "additionalProperties": False,
    }


def choice_schema(count: int) -> dict[str, Any]:
    """The JSON schema of a list-wise pick: ``{"choice": 1..count, "reason": "..."}``."""
    return {
        "title": "Choice",
        "type": "object",
        "properties": {
            "choice": {"type": "integer", "minimum": 1, "maximum": count},
            "reason": {"type": "string", "maxLength": _MAX_REASON_CHARS},
        },
        "required": ["choice", "reason"],
        "additionalProperties": False,
    }


def schema_options(model: Any, schema: dict[str, Any] | None) -> dict[str, Any]:
    """``{"json_schema": schema}`` when ``model.generate`` takes one (``agentscale.llm.LLM``), else ``{}``.

    A test double or a user's ``Model`` without the parameter is asked as before, and its reply
    parsed leniently.
    """
    if schema is None:
        return {}
    try:
        parameters = inspect.signature(model.generate).parameters
    except (TypeError, ValueError, AttributeError):
        return {}
    return {"json_schema": schema} if "json_schema" in parameters else {}


def candidate_text(rollout: Rollout, *, max_chars: int = _MAX_CANDIDATE_CHARS) -> str:
    """A rollout as a judge sees it: its output (cut in the middle when long) and its final answer."""
    text = rollout.output.strip()
    if len(text) > max_chars:
        half = max_chars // 2
        text = text[:half] + "\n[... cut ...]\n" + text[-half:]
    if rollout.answer is not None and rollout.answer.strip() and rollout.answer.strip() not in text[-200:]:
        text += f"\nFinal answer: {rollout.answer.strip()}"
    return text or "(empty)"


def _balanced_objects(text: str) -> list[str]:
    found, depth, start, in_str, esc = [], 0, -1, False, False
    for i, ch in enumerate(text):
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
            continue
        if ch == '"' and depth > 0:
            in_str = True
        elif ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}" and depth > 0:
            depth -= 1
            if depth == 0:
                found.append(text[start : i + 1])
    return found


def json_objects(text: str) -> list[dict[str, Any]]:
    """Every JSON object in ``text`` (fenced or not), in order; Python-style single quotes tolerated."""
    objects = []
    for raw in _balanced_objects(text):
        for attempt in (raw, re.sub(r"'", '"', raw), re.sub(r",\s*}", "}", raw)):
            try:
                value = json.loads(attempt)
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict):
                objects.append(value)
            break
    return objects


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)\s*(?:/\s*(\d+(?:\.\d+)?))?\s*", value)
        if m:
            return float(m[1]) * (10.0 / float(m[2]) if m[2] and float(m[2]) > 0 else 1.0)
    return None


_SCORE_KEYS = ("score", "rating", "grade", "points")
_REASON_KEYS = ("reason", "reasoning", "explanation", "rationale", "justification", "feedback")
_SCORE_RE = re.compile(
    r"(?:score|rating|grade)\**\s*(?:is|of|:|=)?\s*\**\s*(-?\d+(?:\.\d+)?)\s*(?:(?:/|out\s+of)\s*(\d+(?:\.\d+)?))?",
    re.IGNORECASE,
)
_FRACTION_RE = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*(?:/|out\s+of)\s*(10|100|5)\b", re.IGNORECASE)


def parse_score(text: str, *, scale: float = 10.0) -> tuple[float, str] | None:
    """Read a judge's score on a 0..``scale`` scale, and its reason.

    Accepts, in order: a JSON object with ``score`` (or ``rating``/``grade``), anywhere in the
    text; ``Score: 7``, ``Rating: 7/10``, ``score of 4 out of 5`` (rescaled); a bare ``7/10``;
    a reply that is only a number.

    Args:
        text: the judge's reply.
        scale: the top of the scale the judge was asked for.

    Returns:
        ``(score, reason)`` with the score in ``[0, scale]``, or ``None`` when nothing readable was
        found (or the number was out of range).
    """
    for obj in reversed(json_objects(text)):
        lowered = {str(k).lower(): v for k, v in obj.items()}
        for key in _SCORE_KEYS:
            if key in lowered and (score := _number(lowered[key])) is not None:
                reason = next((str(lowered[k]) for k in _REASON_KEYS if k in lowered), "")
                return (score, reason) if 0 <= score <= scale else None
    reason = text.strip()[:500]
    candidates: list[tuple[float, float | None]] = []
    if m := _SCORE_RE.search(text):
        candidates.append((float(m[1]), float(m[2]) if m[2] else None))
    elif m := _FRACTION_RE.search(text):
        candidates.append((float(m[1]), float(m[2])))
    elif m := re.fullmatch(r"\s*\**\s*(-?\d+(?:\.\d+)?)\s*\**\.?\s*", text):
        candidates.append((float(m[1]), None))
    for value, out_of in candidates:
        score = value * scale / out_of if out_of else value
        return (score, reason) if 0 <= score <= scale else None
    return None


def parse_choice(text: str, count: int, *, labels: str = "number") -> int | None:
    """Which candidate a judge chose, as a 0-based index, from a list of ``count`` candidates.

    Candidates were shown numbered from 1 (``labels="number"``) or lettered A, B, ...
    (``labels="letter"``). Reads, in order: JSON (``{"choice": 2}``/``{"best": "B"}``); "Candidate 2",
    "answer B", "choice: 2", "#2", "**2**"; a reply that is only the label. Ambiguous replies (two
    different labels named the same way) give ``None``.

    Args:
        text: the judge's reply.
        count: how many candidates were shown.
        labels: how candidates were labelled.

    Returns:
        The index, or ``None`` when no valid choice could be read.
    """

    def index(label: Any) -> int | None:
        s = str(label).strip().strip("*()[].#:").strip()
        if labels == "letter":
            if len(s) == 1 and s.isalpha():
                i = ord(s.upper()) - ord("A")
                return i if 0 <= i < count else None
            return None
        if re.fullmatch(r"\d+", s):
            i = int(s) - 1
            return i if 0 <= i < count else None
        return None

    for obj in reversed(json_objects(text)):
        lowered = {str(k).lower(): v for k, v in obj.items()}
        for key in ("choice", "best", "winner", "selected", "answer", "candidate", "index", "pick"):
            if key in lowered and (i := index(lowered[key])) is not None:
                return i
    label = r"[A-Za-z]" if labels == "letter" else r"\d+"
    noun = r"(?:candidate|answer|option|response|choice|solution|#)"
    # "The best answer is Candidate 2", "I choose option B", "Winner: B": a verdict phrase first
    verdict = re.search(
        rf"(?:best|winner|choose|chose|choice|select(?:ed)?|pick(?:ed)?|prefer(?:red)?|better)\b[^.\n]{{0,40}}?"
        rf"(?:{noun}\s*(?:is|:|=|no\.?)?\s*\**\s*\(?|[:=]\s*\**\s*\(?)({label})\b",
        text,
        re.IGNORECASE,
    )
    if verdict and (i := index(verdict[1])) is not None:
        return i
    named = re.findall(rf"{noun}\s*(?:is|:|=|no\.?)?\s*\**\s*\(?({label})\b", text, re.IGNORECASE)
    picks = {i for i in (index(n) for n in named) if i is not None}
    if len(picks) == 1:
        return picks.pop()
    if len(picks) > 1:
        return None  # several candidates named and no verdict phrase: ambiguous
    if m := re.fullmatch(rf"\s*[#*(\[]*\s*({label})\s*[)\]*.]*\s*", text):
        return index(m[1])
    if labels == "number" and (m := re.search(r"#(\d+)\b|\*\*(\d+)\*\*", text)):
        return index(m[1] or m[2])
    return None


def parse_pair_choice(text: str) -> int | None:
    """A pairwise judge's pick between ``A`` (0) and ``B`` (1); ``None`` when unreadable or both named."""
    return parse_choice(text, 2, labels="letter")
