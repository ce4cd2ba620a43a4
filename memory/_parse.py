"""Reading memory items out of a model's reply, whatever shape it came in.

Small local models answer in JSON (fenced or not, a list or wrapped in an object), in markdown
sections (``## Title`` / ``**Content:**``), or in plain ``Title: ...`` lines. Anything we
cannot read gives no items, never an exception.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["parse_items", "parse_judgement"]

_THINK = re.compile(r"<think>.*?</think>", re.S | re.I)
_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.S)
_KEY = re.compile(
    r"^\s*(?:[-*>#\d.)\s]*)?\**\s*(title|name|description|summary|when|content|lesson|strategy|kind|type)\s*\**\s*[:：\-–]\**\s*(.*)$",
    re.I,
)
# ReasoningBank's own format: "## Title <text>" or "## Content" with the text below.
_HEADING_KEY = re.compile(r"^\s*#{1,6}\s*\**(title|description|content)\**\b\s*:?\s*(.*)$", re.I)
_ALIASES = {
    "name": "title", "summary": "description", "when": "description",
    "lesson": "content", "strategy": "content", "type": "kind",
}  # fmt: skip
_WRAPPERS = ("memories", "memory_items", "items", "lessons", "insights", "memory")


def _clean(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value) if value is not None else ""
    return text.strip().strip("*").strip()


def _normalise(raw: dict[str, Any]) -> dict[str, str] | None:
    fields: dict[str, str] = {}
    for key, value in raw.items():
        name = str(key).strip().lower()
        name = _ALIASES.get(name, name)
        if name in ("title", "description", "content", "kind") and name not in fields:
            fields[name] = _clean(value)
    if not fields.get("content") and fields.get("description"):
        fields["content"] = fields["description"]
    if not fields.get("title") or not fields.get("content"):
        return None
    kind = fields.get("kind", "").lower()
    return {
        "title": " ".join(fields["title"].split())[:200],
        "description": " ".join(fields.get("description", "").split())[:500],
        "content": fields["content"][:4000],
        "kind": "pitfall" if any(w in kind for w in ("pitfall", "avoid", "fail", "mistake")) else "",
    }


def _from_json(value: Any) -> list[dict[str, str]] | None:
    if isinstance(value, dict):
        for wrapper in _WRAPPERS:
            if isinstance(value.get(wrapper), list | dict):
                return _from_json(value[wrapper])
        one = _normalise(value)
        return [one] if one else None
    if isinstance(value, list):
        items = [n for v in value if isinstance(v, dict) and (n := _normalise(v))]
        return items or None
    return None


def _json_candidates(text: str) -> list[str]:
    found = [m.group(1) for m in _FENCE.finditer(text)]
    for open_, close in (("[", "]"), ("{", "}")):
        start, end = text.find(open_), text.rfind(close)
        if 0 <= start < end:
            found.append(text[start : end + 1])
    return found


def _from_sections(text: str) -> list[dict[str, str]]:
    items: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    key: str | None = None
    for line in text.splitlines():
        heading = _HEADING_KEY.match(line)
        match = heading or _KEY.match(line)
        if match:
            key = _ALIASES.get(match.group(1).lower(), match.group(1).lower())
            if key == "title" and current.get("title"):
                items.append(current)  # a new title starts a new item
                current = {}
            value = match.group(2).strip()
            current[key] = (current.get(key, "") + "\n" + value).strip() if key in current else value
        elif key and line.strip() and not line.lstrip().startswith("#"):
            current[key] = (current.get(key, "") + "\n" + line.strip()).strip()
        elif line.lstrip().startswith("#"):
            key = None  # an unrelated heading ("# Memory Item 2") ends the current field
    if current:
        items.append(current)
    return [n for raw in items if (n := _normalise(raw))]


_CLOSERS = ('"}', "}", '"]}', "]}")
"""What a JSON object cut by the token limit may lack: its string, then itself (or a list first)."""


def _cut_object(tail: str) -> dict[str, Any] | None:
    """The object a reply cut by its token limit was writing when it stopped, closed where it was
    cut, its last string kept up to its last whole sentence; ``None`` when closing it does not
    parse or the cut string holds no whole sentence."""
    tail = tail.rstrip().rstrip(",").rstrip("\\")
    for closer in _CLOSERS:
        try:
            value = json.loads(tail + closer)
        except ValueError:
            continue
        if not isinstance(value, dict):
            return None
        key = next(reversed(value), None)
        if isinstance(key, str) and isinstance(value[key], str) and closer.startswith('"'):
            cut = value[key]
            end = max(cut.rfind(". "), cut.rfind(".\n"), len(cut) - 1 if cut.endswith(".") else -1)
            if end <= 0:
                return None  # not one whole sentence: "Keep the units of" is no lesson
            value[key] = cut[: end + 1]
        return value
    return None


def _complete_objects(text: str) -> list[Any]:
    """The JSON objects that parse whole in ``text``, outermost only: what is left of a list cut
    short by the reply's token limit. The last item, cut mid-string, is closed and kept when it
    already has what an item needs (``_cut_object``)."""
    decoder, found, pos, last_end = json.JSONDecoder(), [], text.find("{"), 0
    while pos >= 0:
        try:
            value, end = decoder.raw_decode(text, pos)
        except ValueError:
            pos = text.find("{", pos + 1)
            continue
        found.append(value)
        pos, last_end = text.find("{", end), end
    start = text.find("{", last_end)
    if start >= 0 and (cut := _cut_object(text[start:])) is not None:
        found.append(cut)
    return found


def parse_items(text: str, max_items: int) -> list[dict[str, str]]:
    """Memory items found in a model's reply: dicts with title, description, content, kind.

    ``kind`` is ``"pitfall"``, or ``""`` when the reply did not say. Returns ``[]`` on garbage.

    Example:
        >>> parse_items('[{"title": "Guard empty input", "content": "Return early."}]', 3)[0]["title"]
        'Guard empty input'
    """
    text = _THINK.sub("", text or "")
    found: list[dict[str, str]] = []
    for candidate in _json_candidates(text):
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if items := _from_json(value):
            found = items
            break
    # a list cut by the token limit: its whole objects, and the cut one, are more than any part that parses
    pieces = _from_json(_complete_objects(text)) or []
    if len(pieces) > len(found):
        found = pieces
    return found[:max_items] if found else _from_sections(text)[:max_items]


_VERDICT_WORD = re.compile(
    r"\b(not\s+(?:correct|pass|passed|solved)|pass|passed|fail|failed|failure|correct|incorrect|wrong|"
    r"success|successful|yes|no)\b",
    re.I,
)


def parse_judgement(text: str) -> bool | None:
    """A judge's PASS/FAIL reply as a bool; ``None`` when it says neither.

    Example:
        >>> parse_judgement("Verdict: **FAIL** - off by one"), parse_judgement("hmm")
        (False, None)
    """
    match = _VERDICT_WORD.search(_THINK.sub("", text or ""))
    if not match:
        return None
    word = match.group(1).lower()
    return word in ("pass", "passed", "correct", "success", "successful", "yes")
