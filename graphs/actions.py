"""Action formats of the agent loop: how a model's reply becomes actions, and tools become prompts.

Two formats, chosen per model (``LoopConfig.actions``):

- ``"tools"``: the model's native tool calls (chat models served with tool calling). Tools go
  in the request as OpenAI tool definitions; the calls come back in ``Completion.tool_calls``.
  A reply with no call is the final answer, as in OpenAI's own loop.
- ``"text"``: a plain-text format that works with any model, base models included. Each reply
  holds exactly one fenced block whose info string names the tool (mini-swe-agent style)::

      ```python
      print(17 * 23)
      ```

  A tool with a single string parameter takes the block's body as that parameter (``code`` for
  the Python tool); other tools take a JSON object of arguments. A fenced
  ``{"name": ..., "arguments": {...}}`` object is read as a call too. The final answer is the
  ``final_answer`` tool (```` ```final_answer ````) or a ``Final answer: ...`` line. What small
  models write instead is read too: the tool's name on the block's first line, a closing fence at
  the end of the body's last line, a last line naming a tool in words (``follow_link 3``), and
  several action blocks in one reply (the first runs; its observation says the rest did not).

Whatever is wrong with an action (no fence, several fences, an unknown tool, bad JSON,
arguments the tool's schema refuses) becomes an ``Action`` with ``error`` set: the loop shows
the model that message as the observation, and the step counts.

``canonical_action`` writes an action as a vote key (tool name, then canonicalised arguments);
``last_action`` reads a rollout's last action back from its trajectory, in either format.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from agentscale.actions import FENCE, FENCE_ALIASES, canonical_action, canonical_arguments, last_action
from agentscale.llm import bare_tool_calls
from agentscale.protocols import Tool
from agentscale.types import Message

__all__ = [
    "FINAL_MARKER",
    "Action",
    "Reply",
    "body_parameter",
    "canonical_action",
    "canonical_arguments",
    "check_arguments",
    "last_action",
    "parse_text_reply",
    "parse_tool_calls",
    "tool_definition",
    "tools_prompt",
]

FINAL_MARKER = "Final answer:"
"""The line that gives the final answer in the text format (case-insensitive)."""


CUT_OFF = "the reply was cut off at its length limit before it finished; keep replies and actions short"


def _new_call_id() -> str:
    return "call_" + uuid.uuid4().hex[:12]


@dataclass(frozen=True)
class Action:
    """One action the model asked for.

    Attributes:
        tool: the tool's name (as the model wrote it; unknown names carry an ``error``).
        arguments: the parsed arguments.
        call_id: the native call's id (text actions get a fresh one); ``""`` for an error about a
            reply that made no call (answered by a ``user`` message in either format).
        error: what is wrong with the action, said so the model can fix it; ``None`` when valid.
        note: added below the action's observation (e.g. that the reply's later actions did not run).
    """

    tool: str
    arguments: dict[str, Any] = field(default_factory=dict)
    call_id: str = field(default_factory=_new_call_id)
    error: str | None = None
    note: str = ""


@dataclass(frozen=True)
class Reply:
    """A model reply read in one action format.

    Attributes:
        message: the assistant message to append to the trajectory (OpenAI shape).
        actions: what to run, in order (malformed ones carry ``error``).
        final: the final answer's text when the reply gives one, else ``None``.
    """

    message: Message
    actions: list[Action] = field(default_factory=list)
    final: str | None = None


def tool_definition(tool: Tool) -> dict[str, Any]:
    """A tool as an OpenAI tool definition (``{"type": "function", "function": {...}}``)."""
    return {
        "type": "function",
        "function": {"name": tool.name, "description": tool.description, "parameters": dict(tool.parameters)},
    }


def body_parameter(tool: Tool) -> str | None:
    """The parameter a fenced body fills: the tool's only parameter when it is a string, else ``None``."""
    props = tool.parameters.get("properties") or {}
    if len(props) == 1:
        ((name, spec),) = props.items()
        if isinstance(spec, Mapping) and spec.get("type", "string") == "string":
            return str(name)
    return None


def check_arguments(tool: Tool, arguments: Any) -> str | None:
    """What is wrong with ``arguments`` for ``tool`` (its JSON schema), or ``None`` when they fit."""
    if not isinstance(arguments, Mapping):
        return f"the arguments of {tool.name} must be a JSON object, got {type(arguments).__name__}"
    from jsonschema import Draft202012Validator  # noqa: PLC0415 - a few ms, only when actions run

    problems = sorted(Draft202012Validator(dict(tool.parameters)).iter_errors(dict(arguments)), key=str)
    if not problems:
        return None
    said = []
    for p in problems[:3]:
        where = ".".join(str(x) for x in p.absolute_path)
        said.append(f"{where}: {p.message}" if where else p.message)
    return f"bad arguments for {tool.name}: " + "; ".join(said)


def _usage_hint(tool: Tool) -> str:
    # a real example where the tool has one: small models copy placeholders like <code> literally
    example = getattr(tool, "example", None)
    param = body_parameter(tool)
    if param is not None:
        body = str(example[param]) if isinstance(example, Mapping) and param in example else f"<{param}>"
        return f"```{tool.name}\n{body}\n```"
    if not isinstance(example, Mapping):
        props = tool.parameters.get("properties") or {}
        example = {k: f"<{(v or {}).get('type', 'value')}>" for k, v in props.items()}
    return f"```{tool.name}\n{json.dumps(dict(example))}\n```"


def tools_prompt(tools: Sequence[Tool], *, final_tool: str | None = "final_answer") -> str:
    """How to act in the text format: each tool with its description and the block that calls it."""
    lines = [
        "Act by ending your reply with exactly one fenced block; its first line names the tool.",
        "Tools:",
    ]
    for tool in tools:
        lines.append(f"- {tool.name}: {tool.description.strip()}\n{_usage_hint(tool)}")
    final = f" (or the {final_tool} tool)" if final_tool else ""
    lines.append(f"When you know the answer, reply with a line `{FINAL_MARKER} <answer>`{final} and no block.")
    lines.append("After each action you get its result; then act again.")
    return "\n".join(lines)


def _named(tools: Sequence[Tool], name: str) -> Tool | None:
    by_name = {t.name: t for t in tools}
    if name in by_name:
        return by_name[name]
    alias = FENCE_ALIASES.get(name.lower())
    for tool in tools:
        if name.lower() == tool.name.lower() or alias == tool.name or name.lower() in getattr(tool, "aliases", ()):
            return tool
    return None


def _checked(tools: Sequence[Tool], name: str, arguments: Any, call_id: str | None = None) -> Action:
    cid = call_id or _new_call_id()
    tool = _named(tools, name)
    if tool is None:
        known = ", ".join(t.name for t in tools) or "none"
        return Action(
            name,
            arguments if isinstance(arguments, dict) else {},
            cid,
            f"unknown tool {name!r}; the tools are: {known}",
        )
    args = arguments if isinstance(arguments, dict) else {}
    return Action(tool.name, args, cid, check_arguments(tool, arguments))


def _final_line(text: str) -> str | None:
    found = None
    for match in re.finditer(
        rf"^\W*{re.escape(FINAL_MARKER.rstrip(':'))}\W*:?\s*(.*)$", text, re.IGNORECASE | re.MULTILINE
    ):
        found = match
    if found is None:
        return None
    return text[found.start(1) :].strip() or None


def _line_action(text: str, tools: Sequence[Tool]) -> Action | None:
    """The action of a reply without a fence whose last line names a tool and gives its arguments
    in words: ``follow_link 3``, ``Follow link 3``, ``go_back()``, ``find_in_page: opening hours``.

    Weak models drift into this once they have seen a few observations. Only a tool with no
    parameters or one parameter qualifies; the rest of the line is that parameter (an integer
    parameter takes only a number), or a JSON object of the tool's arguments."""
    if not text.strip():
        return None
    lines = [line.strip("`*_ ") for line in text.strip().splitlines()]
    found = _named_line(lines[-1], tools)
    if found is None and len(lines) > 1 and _named(tools, lines[-2].rstrip(":").strip()) is not None:
        found = _named_line(f"{lines[-2]} {lines[-1]}", tools)  # the tool alone on a line, its argument below
    return found


def _named_line(last: str, tools: Sequence[Tool]) -> Action | None:
    """The action of one line that names a tool and gives its arguments (see ``_line_action``)."""
    for tool in tools:
        words = r"[\s_]+".join(re.escape(w) for w in re.split(r"[_\s]+", tool.name) if w)
        match = re.fullmatch(rf"{words}\s*(?:[:=(]\s*)?(.*?)\s*\)?\.?", last, re.IGNORECASE)
        if match is None:
            continue
        rest = match[1].strip().strip("\"'")
        props = tool.parameters.get("properties") or {}
        if rest.startswith("{"):
            try:
                return _checked(tools, tool.name, json.loads(rest))
            except json.JSONDecodeError:
                return None
        if not props:
            return _checked(tools, tool.name, {}) if not rest else None
        if len(props) != 1 or not rest:
            return None
        ((name, spec),) = props.items()
        kind = spec.get("type", "string") if isinstance(spec, Mapping) else "string"
        if kind == "integer":
            number = re.fullmatch(r"\[?(\d+)\]?", rest)
            return _checked(tools, tool.name, {name: int(number[1])}) if number else None
        return _checked(tools, tool.name, {name: rest}) if kind == "string" else None
    return None


def _as_arguments(body: str, param: str) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except json.JSONDecodeError:
        return {param: body}
    return value if isinstance(value, dict) and set(value) == {param} else {param: body}


_GLUED_FENCE = re.compile(r"(?<=\S)```[ \t]*$", re.MULTILINE)
"""A closing fence written at the end of a line of the body (`...}```): small models do this."""

_NO_TOOL_INFO = ("", "json", "text", "txt", "plaintext")
"""Info strings that name no tool: the body's own first line may name it (```` ```\nsearch\n{...} ````)."""


def _blocks(text: str) -> list[tuple[str, str, bool]]:
    """The reply's fenced blocks as ``(info string, body, closed)``."""
    text = _GLUED_FENCE.sub("\n```", text)
    return [(m[1], m[2], m[0].rstrip().endswith("```") and m[0].count("```") >= 2) for m in FENCE.finditer(text)]


def _tool_named_inside(lang: str, body: str, tools: Sequence[Tool]) -> tuple[str, str]:
    """``(tool, rest of the body)`` for a block that names no tool in its info string but on its
    first line; else ``(lang, body)`` as they are."""
    if lang.lower() not in _NO_TOOL_INFO:
        return lang, body
    first, _, rest = body.lstrip("\n").partition("\n")
    name = first.strip().rstrip(":").strip()
    tool = _named(tools, name) if re.fullmatch(r"[\w.+-]+", name) else None
    return (tool.name, rest) if tool is not None else (lang, body)


def _names_tool(lang: str, body: str, tools: Sequence[Tool]) -> bool:
    """Whether a block is an action (it names a tool), not code shown for illustration."""
    lang, body = _tool_named_inside(lang, body, tools)
    if _named(tools, lang) is not None:
        return True
    return lang.lower() in _NO_TOOL_INFO and bool(bare_tool_calls(body.strip(), [t.name for t in tools]))


def _block_action(lang: str, body: str, closed: bool, truncated: bool, tools: Sequence[Tool]) -> Action:
    """The action one fenced block asks for (``error`` set when it is malformed)."""
    if not closed and truncated:
        return Action(lang, error="the reply was cut off before its block was closed; keep actions short")
    lang, body = _tool_named_inside(lang, body.rstrip("\n"), tools)
    if lang.lower() in _NO_TOOL_INFO:
        calls = bare_tool_calls(body, [t.name for t in tools])
        if calls and len(calls) == 1:
            fn = calls[0]["function"]
            return _checked(tools, fn["name"], json.loads(fn["arguments"] or "{}"))
        names = ", ".join(f"```{t.name}" for t in tools)
        return Action(lang, error=f"the block names no tool: open it with one of {names}")
    tool = _named(tools, lang)
    if tool is None:
        return _checked(tools, lang, {})
    param = body_parameter(tool)
    if param is not None:
        # the body is the parameter, unless it is exactly the arguments object ({"code": "..."})
        return _checked(tools, tool.name, _as_arguments(body, param))
    try:
        arguments = json.loads(body) if body.strip() else {}
    except json.JSONDecodeError as exc:
        return Action(tool.name, error=f"the body of ```{tool.name} must be a JSON object of arguments: {exc}")
    return _checked(tools, tool.name, arguments)


def parse_text_reply(text: str, tools: Sequence[Tool], *, truncated: bool = False, plain_final: bool = False) -> Reply:
    """Read a reply in the text format.

    One action per reply: when a reply holds several blocks that name tools, the first one runs
    and its observation says the others did not (``Action.note``); blocks that name no tool beside
    one that does are code shown for illustration, not actions.

    Args:
        text: the model's reply.
        tools: the tools offered (the final-answer tool among them, where there is one).
        truncated: the reply was cut at its token cap (an unclosed block is then not run).
        plain_final: a reply without a block is the final answer (its ``Final answer:`` line
            when it has one, else the whole reply), not a format error.

    Returns:
        The assistant message (the text as written), and either one action, the final answer,
        or one malformed ``Action`` whose ``error`` says what to do instead.
    """
    message: Message = {"role": "assistant", "content": text}
    blocks = _blocks(text)
    if not blocks:
        final = _final_line(text)
        if final is not None:
            return Reply(message, final=final)
        if (line := _line_action(text, tools)) is not None:
            return Reply(message, [line])
        if truncated:
            return Reply(message, [Action("", call_id="", error=CUT_OFF)])
        if plain_final and text.strip():
            return Reply(message, final=text.strip())
        hint = f"end your reply with one fenced block naming a tool, or with a line `{FINAL_MARKER} <answer>`"
        return Reply(message, [Action("", call_id="", error=f"no action found: {hint}")])
    named = [b for b in blocks if _names_tool(b[0], b[1], tools)]
    if not named and (final := _final_line(text)) is not None:
        # code shown beside the answer, or the answer itself fenced: ```\nFinal answer: 42\n```
        return Reply(message, final=_GLUED_FENCE.sub("", final).strip().removesuffix("```").strip())
    if len(blocks) > 1:
        if not named:
            langs = ", ".join(f"```{lang}" if lang else "``` (unnamed)" for lang, _, _ in blocks)
            return Reply(
                message,
                [Action("", error=f"{len(blocks)} fenced blocks found ({langs}) and none names a tool; "
                                  "reply with exactly one action per turn")],  # fmt: skip
            )
        action = _block_action(*named[0], truncated, tools)
        if len(named) > 1 and not action.error:
            rest = ", ".join(_tool_named_inside(lang, body, tools)[0] or "?" for lang, body, _ in named[1:])
            action = replace(action, note=f"(Only the first action of your reply ran; the other {len(named) - 1} "
                                          f"({rest}) did not. One action per reply: send the next one after "
                                          "reading this result.)")  # fmt: skip
        return Reply(message, [action])
    return Reply(message, [_block_action(*blocks[0], truncated, tools)])


def _json_objects(text: str) -> list[tuple[int, int, Any]]:
    """The whole JSON values that start with ``{`` in ``text``, outermost only: ``(start, end, value)``."""
    decoder, found, at = json.JSONDecoder(), [], text.find("{")
    while at != -1:
        try:
            value, end = decoder.raw_decode(text, at)
        except ValueError:
            at = text.find("{", at + 1)
            continue
        found.append((at, end, value))
        at = text.find("{", end)
    return found


def _embedded_call(text: str, tools: Sequence[Tool]) -> dict[str, Any] | None:
    """The one ``{"name": TOOL, "arguments": {...}}`` object in a reply that also has prose around it.

    Small models in the native format often write the call as JSON text after a sentence; the model
    layer reads a reply that is *only* such JSON (``bare_tool_calls``), this reads the mixed kind.
    Exactly one object naming an offered tool counts; none or several leave the reply as text.
    """
    names = {t.name for t in tools}
    objects = [value for _, _, value in _json_objects(text) if isinstance(value, dict)]
    found = [value for value in objects if value.get("name") in names and set(value) <= {"name", "arguments"}]
    if len(found) != 1 or not isinstance(found[0].get("arguments", {}), dict | str):
        return None
    arguments = found[0].get("arguments", {})
    return {
        "id": _new_call_id(),
        "type": "function",
        "function": {
            "name": found[0]["name"],
            "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments),
        },
    }


def _leading_calls(text: str, tools: Sequence[Tool]) -> list[dict[str, Any]] | None:
    """The whole ``{"name": TOOL, "arguments": ...}`` objects a reply cut at its token cap, or broken
    part way, begins with (small models write a plan of calls one per line until the cap, and break
    a brace in the third); the cut or broken one is dropped."""
    body = re.sub(r"^\s*(?:```(?:json)?|<tool_call>)\s*", "", text)  # the plan may be fenced or tagged
    decoder, at, end = json.JSONDecoder(), 0, 0
    while at < len(body) and body[at] in "{[":
        try:
            _, end = decoder.raw_decode(body, at)
        except ValueError:
            break
        at = end
        while at < len(body) and body[at] in " \t\r\n,":
            at += 1
    return bare_tool_calls(body[:end], [t.name for t in tools]) if end else None


_CALL_NAME = re.compile(r'"name"\s*:\s*"([^"]+)"')
_CALL_START = re.compile(r'^(?:```\w*\s*)?\{\s*"name"\s*:\s*"([^"]+)"')


def _broken_call(text: str, tools: Sequence[Tool]) -> str | None:
    """What is wrong with a reply without calls that tried one in text and failed: JSON naming an
    offered tool that does not parse, or a reply that is a call to an unknown tool. Such a reply is
    no answer (small models break a call's JSON, or invent a tool's name)."""
    known = {t.name for t in tools}
    names = list(_CALL_NAME.finditer(text))
    if "<tool_call>" in text and not names:
        return 'the tool call could not be read: call a tool with a JSON object {"name": ..., "arguments": {...}}'
    spans = _json_objects(text)
    for match in names:
        if match[1] in known and not any(a <= match.start() < b for a, b, _ in spans):
            return (f"the call to {match[1]} could not be read: its JSON is broken. Call it again with "
                    "valid JSON arguments, or answer in plain words when you know the answer.")  # fmt: skip
    start = _CALL_START.match(text.strip())
    if start and start[1] not in known and re.search(r'"(?:arguments|parameters)"\s*:', text):
        return f"unknown tool {start[1]!r}; the tools are: {', '.join(t.name for t in tools) or 'none'}"
    return None


def _fenced_call(text: str, tools: Sequence[Tool]) -> dict[str, Any] | None:
    blocks = list(FENCE.finditer(text))
    if len(blocks) != 1 or not blocks[0][1]:
        return None
    reply = parse_text_reply(text, tools)
    if len(reply.actions) != 1 or reply.actions[0].error or _named(tools, blocks[0][1]) is None:
        return None
    action = reply.actions[0]
    arguments = json.dumps(action.arguments)
    return {"id": action.call_id, "type": "function", "function": {"name": action.tool, "arguments": arguments}}


def parse_tool_calls(
    text: str, calls: Sequence[Mapping[str, Any]], tools: Sequence[Tool], *, truncated: bool = False
) -> Reply:
    """Read a reply in the native format: its tool calls, or (with none) its text as the final answer.

    A call with arguments that are not JSON, or that the tool's schema refuses, or to an unknown
    tool, becomes a malformed ``Action`` answered under the call's own id. A reply without calls
    that is one fenced block naming a tool (small models often write the code instead of calling
    the tool), or that holds exactly one ``{"name": TOOL, "arguments": ...}`` object among prose, is
    read as that call, given an id, and kept in the message's ``tool_calls``. A reply
    without calls that was cut at its token cap (``truncated``), or that tried a call in text and
    broke it (JSON naming an offered tool that does not parse, a call to an unknown tool), is not an
    answer: the whole calls it begins with run, and without any it gets an error (an ``Action``
    with no ``call_id``, answered by a ``user`` message).
    """
    if not calls:
        fallback = _fenced_call(text, tools) or _embedded_call(text, tools)
        broken = _broken_call(text, tools) if fallback is None and not truncated else None
        # a plan of calls cut at the token cap, or broken after its first whole calls: those run
        leading = _leading_calls(text, tools) if fallback is None and (truncated or broken) else None
        if fallback is None and leading is None and truncated:
            return Reply({"role": "assistant", "content": text}, [Action("", call_id="", error=CUT_OFF)])
        if fallback is None and leading is None:
            if broken is not None:
                return Reply({"role": "assistant", "content": text}, [Action("", call_id="", error=broken)])
            return Reply({"role": "assistant", "content": text}, final=text)
        calls = leading or [fallback]
    kept, actions = [], []
    for call in calls:
        fn = call.get("function") or {}
        name, raw, cid = str(fn.get("name") or ""), fn.get("arguments") or "{}", call.get("id") or _new_call_id()
        try:
            arguments = json.loads(raw) if isinstance(raw, str) else raw
        except json.JSONDecodeError as exc:
            arguments, error = raw, f"the arguments of {name} are not valid JSON: {exc}"
        else:
            error = None
        tool = _named(tools, name)
        param = body_parameter(tool) if tool is not None else None
        if not isinstance(arguments, dict) and param is not None and isinstance(arguments, str | int | float):
            arguments, error = {param: str(arguments)}, None  # final_answer("2"): the one string parameter
        if error is not None:
            actions.append(Action(name, {}, cid, error))
        else:
            actions.append(_checked(tools, name, arguments, cid))
        # the message goes back to the server with the next request; chat templates parse each call's
        # arguments as a JSON object, and one that is not fails the whole request
        shown = arguments if isinstance(arguments, dict) else {"unparsed_arguments": raw}
        kept.append({**call, "id": cid, "function": {**fn, "name": name, "arguments": json.dumps(shown)}})
    message: Message = {"role": "assistant", "content": text or None, "tool_calls": kept}
    return Reply(message, actions)
