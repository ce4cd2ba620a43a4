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
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from pydantic import BaseModel, ConfigDict, Field

from agentscale.errors import ToolError
from agentscale.graphs._loop_nodes import run_of
from agentscale.graphs.loop import build_agent_graph
from agentscale.graphs.loop_config import LoopConfig
from agentscale.graphs.web.session import WebLimits, WebSession
from agentscale.graphs.web.tools import web_tools
from agentscale.graphs.web.verify import START_PAGE, link_leads, unread_answer
from agentscale.protocols import Model
from agentscale.rollout import RolloutContext
from agentscale.strategies.context import as_task
from agentscale.types import Message, Rollout, RolloutRequest, Task

__all__ = ["WEB_SYSTEM", "WebAgent", "WebConfig", "WebState", "build_web_graph", "short_answer", "web_agent"]

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
    final_refusals: int = Field(default=1, ge=0)
    repeat_limit: int | None = Field(default=3, ge=2)

    def loop(self) -> LoopConfig:
        """The loop's settings."""
        return LoopConfig(actions=self.actions, system=self.system, max_steps=self.max_steps,
                          reply_tokens=self.reply_tokens, max_seconds=self.max_seconds,
                          observation_chars=self.observation_chars, tool_timeout=self.limits.timeout + 5,
                          calls_per_step=self.calls_per_step, final_refusals=self.final_refusals,
                          text_example=self.text_example, repeat_limit=self.repeat_limit)


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
            if cfg.open_start and start:
                seen = task.model_copy(update={"prompt": f"{task.prompt}\n\n{await _first_page(web, str(start))}"})
            def check_final(answer: str, trajectory: Sequence[Message]) -> str | None:
                page = web.current
                links = [(link.number, link.text) for link in page.document.links] if page and page.document else []
                return unread_answer(answer, trajectory, link_leads(task.prompt, links))

            graph = build_agent_graph(model=self.model, tools=web_tools(web), config=cfg.loop(), answer=short_answer,
                                     check_final=check_final)
            state = await graph.ainvoke({"task": seen, "request": run.request}, context=run)
            rollout: Rollout = state["rollout"]
            visits = list(web.visits)
        return rollout.model_copy(update={"task_id": task.id, "metadata": {**rollout.metadata, "visits": visits}})


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
