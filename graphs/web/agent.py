"""The web agent: the shared agent loop (``agentscale.graphs.loop``) with the web tools.

Each rollout gets its own ``WebSession`` (its own history, page count and clock) and a loop graph
over tools bound to it; the task's start page is opened before the first step (``open_start``),
so the model starts reading instead of spending a step on ``open_url``. The rollout's ``answer``
is the final answer's short form; ``metadata["visits"]`` lists every request it made.

Example:
    ```python
    from agentscale import scale
    from agentscale.graphs.web import SiteServer, WebConfig, site_tasks, web_agent

    with SiteServer() as site:
        task = site_tasks(site.url, ["fair-park-year"])[0]
        graph = scale(web_agent(llm, WebConfig(max_steps=8)), "majority", n=4)
        state = await graph.ainvoke({"task": task}, context=ScaleContext())
    ```
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict
from urllib.parse import urldefrag, urljoin

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from pydantic import BaseModel, ConfigDict, Field

from agentscale.errors import ToolError
from agentscale.graphs._loop_nodes import run_of
from agentscale.graphs.actions import Action
from agentscale.graphs.loop import build_agent_graph
from agentscale.graphs.loop_config import LoopConfig
from agentscale.graphs.web.session import WebLimits, WebSession
from agentscale.graphs.web.tools import web_tools
from agentscale.graphs.web.verify import START_PAGE, link_leads, unread_answer, word_stems
from agentscale.protocols import Model
from agentscale.rollout import RolloutContext
from agentscale.strategies.context import as_task
from agentscale.types import Message, Rollout, RolloutRequest, Task

__all__ = [
    "WEB_SYSTEM", "WebAgent", "WebConfig", "WebState", "build_web_graph", "leads_note", "link_named", "short_answer",
    "web_agent",
]  # fmt: skip

WEB_SYSTEM = (
    "You answer questions by browsing a web site. Read the page you are shown; follow links by their "
    "number [n] with follow_link, fill in forms with submit_form, search a long page with find_in_page. "
    "When you have found the answer on a page, call final_answer with the short answer only "
    "(a number, a name or a few words), exactly as the page writes it."
)
"""The web agent's system prompt (the loop adds the tools' instructions in the text format)."""

WEB_TEXT_EXAMPLE = """Example, on another site:
Question: When does the museum open on Sundays?
You are on this page: ... Home [1] | Visit [2] | Shop [3] ...
Your reply: Opening hours are for visitors, so they should be under Visit.
```follow_link
{"number": 2}
```
Observation: Page: Plan your visit ... Saturday | 09:00 ... Sunday | 10:30 ...
Your reply: The page says Sunday | 10:30.
Final answer: 10:30"""
"""A worked example the text format shows below the tools (one link followed, then the answer as
the page writes it)."""


class WebConfig(BaseModel):
    """The web agent's settings.

    Attributes:
        limits: pages, bytes and seconds per rollout (``WebLimits``).
        allow_hosts: hosts it may fetch: ``"loopback"`` (the default), exact names, ``*.domain``,
            or ``"*"`` for any (see ``agentscale.graphs.web.session``).
        open_start: open the task's ``metadata["start_url"]`` before the first step.
        actions: the loop's action format (``"auto"``, ``"tools"``, ``"text"``).
        system: the system prompt.
        text_example: a worked example shown in the text format ("" for none).
        max_steps: model turns per rollout.
        reply_tokens: cap on each reply's tokens.
        max_seconds: wall seconds per rollout.
        observation_chars: longest observation the loop passes on.
        calls_per_step: actions run per reply (one: each page decides the next step; ``None``: all).
        final_refusals: how many times an answer that is on no page read is sent back (the model
            reads why and looks further); ``0``: any answer ends the rollout.
        repeat_limit: the same reply answered the same way this many times in a row ends the
            rollout (``LoopConfig.repeat_limit``); ``None``: never.
        plain_links: a reply that calls no tool and only names a link of the page on screen
            (``[11]``, ``Parks and gardens [11]``, ``follow_link 11``) follows it (``link_named``):
            small models name the link they choose instead of writing the call.
        leads: below each page, name its links that share words with the question (``leads_note``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    limits: WebLimits = Field(default_factory=WebLimits)
    allow_hosts: tuple[str, ...] = ("loopback",)
    open_start: bool = True
    actions: str = "auto"
    system: str = WEB_SYSTEM
    text_example: str = WEB_TEXT_EXAMPLE
    max_steps: int = Field(default=8, ge=1)
    reply_tokens: int = Field(default=256, ge=1)
    max_seconds: float = Field(default=600.0, gt=0)
    observation_chars: int = Field(default=3000, ge=200)
    calls_per_step: int | None = Field(default=1, ge=1)
    final_refusals: int = Field(default=3, ge=0)
    repeat_limit: int | None = Field(default=3, ge=2)
    plain_links: bool = True
    leads: bool = True

    def loop(self) -> LoopConfig:
        """The loop's settings."""
        return LoopConfig(actions=self.actions, system=self.system, max_steps=self.max_steps,
                          reply_tokens=self.reply_tokens, max_seconds=self.max_seconds,
                          observation_chars=self.observation_chars, tool_timeout=self.limits.timeout + 5,
                          calls_per_step=self.calls_per_step, final_refusals=self.final_refusals,
                          text_example=self.text_example, repeat_limit=self.repeat_limit)


_NAMED_LINK = re.compile(
    r"^\W*(?:follow_link\W*)?(?:[^\[\]\n]{0,80}?\[(?P<n>\d+)\]|(?<=follow_link)\W*(?:number\W*)?(?P<bare>\d+))\W*$",
    re.IGNORECASE,
)


def link_named(reply: str, links: Sequence[tuple[int, str]]) -> int | None:
    """The number of the link a reply names and does nothing else with: ``[11]``, ``Parks and
    gardens [11]``, ``follow_link 11``, ``follow_link(11)``; ``None`` when the number is no link of
    ``links`` (``(number, text)`` of the page on screen) or the reply says more (two lines, two links).

        >>> link_named("Parks and gardens [11]", [(5, "Parks"), (11, "Parks and gardens")])
        11
        >>> link_named("follow_link(5)", [(5, "Parks")]), link_named("[12]", [(5, "Parks")])
        (5, None)
    """
    match = _NAMED_LINK.match(reply.strip())
    if match is None:
        return None
    number = int(match.group("n") or match.group("bare"))
    return number if any(n == number for n, _ in links) else None


_PAGE_TOOLS = frozenset({"open_url", "follow_link", "submit_form", "go_back"})

_LEAD = re.compile(r"^\W*(?:the final answer is|final answer|the answer is|answer)\b\W*?\s*[:=-]?\s*", re.IGNORECASE)


def short_answer(output: str) -> str | None:
    """The final answer's short form: the last line that says it ("Answer: ...", "The final answer
    is ...") or else the first line, without that lead, surrounding quotes and a trailing full stop
    (kept as text: ``B12`` and ``555-0142`` are answers, not numbers)."""
    lines = [ln for ln in output.strip().splitlines() if ln.strip()]
    said = [ln for ln in lines if _LEAD.match(ln) and _LEAD.sub("", ln).strip()]
    line = said[-1] if said else (lines[0] if lines else "")
    line = _LEAD.sub("", line).strip().strip("\"'`*").rstrip(".").strip()
    return line or None


@dataclass
class WebAgent:
    """The web agent for one rollout (an ``Agent``): a fresh ``WebSession`` and loop per rollout.

    Attributes:
        model: the model that acts; ``None`` takes the run's ``ScaleContext.model``.
        config: the agent's settings.
    """

    model: Model | None = None
    config: WebConfig = field(default_factory=WebConfig)

    async def __call__(self, task: Task, run: RolloutContext | None = None) -> Rollout:
        """Browse until a final answer or a limit; the rollout comes back whatever stopped it."""
        run = run or RolloutContext()
        task = as_task(task)
        cfg = self.config
        async with WebSession(cfg.limits, allow_hosts=cfg.allow_hosts) as web:
            seen = task
            start = task.metadata.get("start_url")
            def note() -> str:
                page = web.current
                if not cfg.leads or page is None:
                    return ""
                return leads_note(task.prompt, page.text, _fresh_first(task.prompt, web), title=page.title)

            if cfg.open_start and start:
                first = await _first_page(web, str(start))
                first = "\n\n".join(part for part in (first, note()) if part)
                seen = task.model_copy(update={"prompt": f"{task.prompt}\n\n{first}"})

            def check_final(answer: str, trajectory: Sequence[Message]) -> str | None:
                return unread_answer(answer, trajectory, link_leads(task.prompt, _fresh_first(task.prompt, web)))

            def plain_action(reply: str) -> Action | None:
                number = link_named(reply, _links(web))
                if number is None:
                    return None
                return Action("follow_link", {"number": number}, note=f"(Your reply was read as follow_link {number}.)")

            tools = [_WithLeads(t, note) if t.name in _PAGE_TOOLS else t for t in web_tools(web)]
            graph = build_agent_graph(model=self.model, tools=tools, config=cfg.loop(), answer=short_answer,
                                     check_final=check_final, plain_action=plain_action if cfg.plain_links else None)
            state = await graph.ainvoke({"task": seen, "request": run.request}, context=run)
            rollout: Rollout = state["rollout"]
            visits = list(web.visits)
        return rollout.model_copy(update={"task_id": task.id, "metadata": {**rollout.metadata, "visits": visits}})


def _links(web: WebSession, *, described: bool = False) -> list[tuple[int, str]]:
    """``(number, text)`` of the links of the page on screen; ``described``: a link alone on its
    line is told by the whole line (``Council services: waste and recycling, the community hall``),
    so the words beside a link count as its own."""
    page = web.current
    if not page or not page.document:
        return []
    lines = {}
    if described:
        for line in page.text.splitlines():
            if len(markers := _MARKER.findall(line)) == 1:
                lines[int(markers[0])] = " ".join(_MARKER.sub("", line).replace(" :", ":").lstrip("-*# ").split())
    return [(link.number, lines.get(link.number) or link.text) for link in page.document.links]


_MARKER = re.compile(r"\[(\d+)\]")


def _fresh_first(question: str, web: WebSession) -> list[tuple[int, str]]:
    """The page's links (described, as ``_links``) for naming leads: only those to pages not
    visited yet when one of them shares words with ``question``, else all. Half the 1.5B's web
    rollouts ended going round two pages, each naming the other as the way to the answer."""
    links = _links(web, described=True)
    page = web.current
    if page is None or page.document is None:
        return links
    visited = {urldefrag(v.get(k) or "").url for v in web.visits for k in ("url", "final_url")}
    target = {link.number: urldefrag(urljoin(page.url, link.url)).url for link in page.document.links}
    fresh = [(n, text) for n, text in links if target.get(n) not in visited]
    return fresh if link_leads(question, fresh) else links


def leads_note(
    question: str, page_text: str, links: Sequence[tuple[int, str]], *, title: str = "", max_lines: int = 3
) -> str:
    """What follows a page for a small model: the lines that may answer ``question``, then what to
    do: answer from one of them, or follow a link that shares words with it (``link_leads``). ``""``
    when there is neither. Small models answer the question from memory, or click the first link,
    unless the page's relevant lines and links are named beside the question's words.

    Lines are shown only on a page about the question (its ``title`` or first heading shares a word
    with it), and a line must share one of the question's other words: on ``Oak Hill Park``, for
    "In what year did Oak Hill Park open?", ``Opened | 1962``, not ``Oak Hill Park has woodland
    paths``; on a home page about nothing asked, none (its ``a riverside town of 38,000`` is not the
    size of Riverside Park). Headings and lines with links are left out.

        >>> print(leads_note("How big is Oak Park?", "Oak Park!\\nBig | 14 ha", [(5, "Park")], title="Oak Park"))
        Lines of this page with the question's words:
          Big | 14 ha
        If one of them answers the question, reply `Final answer: <the short answer, as the page writes it>`. \
Which link leads to the answer: Park [5]?
    """
    asked = word_stems(question)
    heading = next((ln.lstrip("# ") for ln in page_text.splitlines() if ln.startswith("# ")), "")
    topic = word_stems(f"{title} {heading}")
    wanted = asked - topic if asked & topic else set()
    scored = []
    for i, line in enumerate(page_text.splitlines()):
        text = line.strip()
        if not text or text.startswith("#") or _MARKER.search(text) or len(text) > 300:
            continue
        if shared := len(wanted & word_stems(text)):
            scored.append((-shared, i, text))
    lines = [text for _, _, text in sorted(scored)[:max_lines]]
    leads = ", ".join(f"{t[:60]} [{n}]" for n, t in link_leads(question, links))
    follow = f"Which link leads to the answer: {leads}?" if leads else ""
    if not lines:
        return follow
    shown = "\n".join(f"  {text[:200]}" for text in lines)
    return (f"Lines of this page with the question's words:\n{shown}\nIf one of them answers the question, "
            f"reply `Final answer: <the short answer, as the page writes it>`. {follow}").strip()


@dataclass
class _WithLeads:
    """A page tool whose page is followed by ``leads_note`` (the ``Tool`` protocol, delegated)."""

    tool: Any
    note: Callable[[], str]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.tool, name)

    async def __call__(self, arguments: Mapping[str, Any], run: RolloutContext) -> str:
        page = await self.tool(arguments, run)
        note = self.note()
        return f"{page}\n\n{note}" if note else page


async def _first_page(web: WebSession, url: str) -> str:
    try:
        return f"{START_PAGE}\n\n{web.render(await web.open(url))}"
    except ToolError as exc:  # the model reads why, and may try another way
        return f"The start page could not be opened: {exc}"


def web_agent(model: Model | None = None, config: WebConfig | None = None) -> WebAgent:
    """A ``WebAgent`` (``scale(web_agent(llm), "majority", n=4)``)."""
    return WebAgent(model, config or WebConfig())


class WebState(TypedDict, total=False):
    """The web graph's state: ``task`` and ``request`` in, ``rollout`` out."""

    task: Any
    request: RolloutRequest
    rollout: Rollout


def build_web_graph(
    *, model: Model | None = None, config: WebConfig | None = None, checkpointer: Any = None,
    store: Any = None, name: str = "web_agent",
) -> CompiledStateGraph:
    """The web agent as a compiled LangGraph graph: one ``browse`` node running ``WebAgent``.

    Invoke it with ``{"task": task}`` (a ``Task`` with ``metadata["start_url"]``, or a prompt that
    names the URL); the rollout is ``state["rollout"]``. ``scale()`` wraps it like any graph, and
    it works as a node of your own graph. Its context may be a ``RolloutContext`` or any object
    with ``model``/``budget`` attributes.
    """
    agent = WebAgent(model, config or WebConfig())

    async def browse(state: WebState, runtime: Runtime[Any]) -> dict[str, Any]:
        run = run_of(runtime)
        if state.get("request") is not None:
            run = RolloutContext(request=state["request"], budget=run.budget, model=run.model, emit=run.emit)
        return {"rollout": await agent(as_task(state.get("task")), run)}

    builder = StateGraph(WebState)
    builder.add_node("browse", browse)
    builder.add_edge(START, "browse")
    builder.add_edge("browse", END)
    return builder.compile(checkpointer=checkpointer, store=store, name=name)
