"""MiniWoB++ tasks as agent episodes: the shared agent loop with a browser tool, the reward as the verdict.

A task names a MiniWoB++ environment and a seed (``miniwob_task("click-button", seed=3)``); the
same seed gives every rollout the same page. Each rollout leases a browser from a
``BrowserPool``, starts the episode, and shows the model the instruction and the page's elements;
the tools act on them:

- ``click(ref)``: click element ``[ref]``;
- ``type_text(ref, text)``: click ``[ref]`` to focus it, then type (a field's old text is replaced);
- ``press_key(key, ref=None)``: press ``Enter``, ``Tab``, ``ctrl+a``... (on ``[ref]``, focused first, when given).

Each returns the page after the action; the action that ends the episode ends the rollout too
(the tool returns ``Finished``: the model is not asked to say it is done, and no final-answer
tool is offered, since small models call it before acting). The
rollout's ``answer`` is the episode's actions in canonical form (``click 6; type 5 "Jerald"``), so
a majority vote picks the action sequence most rollouts chose; ``metadata["reward"]`` is
MiniWoB's raw reward (in [-1, 1], no time penalty), which ``EpisodeReward`` turns into the verdict.

Example:
    ```python
    async with BrowserPool(size=2) as browsers:
        agent = miniwob_agent(llm, browsers)
        graph = scale(agent, "best_of_n", n=4, verifier=EpisodeReward())
        state = await graph.ainvoke({"task": miniwob_task("click-button", seed=3)}, context=ScaleContext())
    ```
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from pydantic import BaseModel, ConfigDict, Field

from agentscale.errors import ConfigError, ToolError
from agentscale.graphs._loop_nodes import run_of
from agentscale.graphs.loop import build_agent_graph
from agentscale.graphs.loop_config import LoopConfig
from agentscale.graphs.tools import Finished
from agentscale.graphs.web.browser import Browser, BrowserPool, Observation, is_field
from agentscale.protocols import Model
from agentscale.rollout import RolloutContext
from agentscale.strategies.context import as_task
from agentscale.types import Rollout, RolloutRequest, Task, Verdict
from agentscale.workflows import WorkflowEnv, WorkflowParts

__all__ = [
    "MINIWOB_SYSTEM",
    "MINIWOB_TASKS",
    "EpisodeReward",
    "MiniWoBAgent",
    "MiniWoBConfig",
    "MiniWoBWorkflow",
    "MiniWoBState",
    "browser_tools",
    "build_miniwob_graph",
    "miniwob_agent",
    "miniwob_task",
]

MINIWOB_TASKS = (
    "click-test-2", "click-button", "click-link", "click-dialog", "focus-text", "enter-text", "click-option",
    "click-checkboxes", "login-user", "click-tab",
)
"""Ten MiniWoB++ tasks that element clicks and typing can solve (the benchmark's set)."""

MINIWOB_SYSTEM = (
    "You operate a web page to do the task it states. The page's elements are listed as [ref] tag #id \"text\". "
    "Act with one tool call at a time: click(ref), type_text(ref, text) to type into a field, press_key(key). "
    "The episode ends by itself once the task is done."
)


class MiniWoBConfig(BaseModel):
    """The MiniWoB++ agent's settings.

    Attributes:
        actions: the loop's action format (``"auto"``, ``"tools"``, ``"text"``).
        system: the system prompt.
        max_steps: model turns per episode.
        reply_tokens: cap on each reply's tokens.
        max_seconds: wall seconds per episode.
        max_elements: elements listed at most per observation.
        tool_timeout: seconds one browser action may take before it is stopped (the model then
            reads that it timed out).
        final_refusals: how many times a reply that says it is finished while the episode is still
            on is sent back (small models "finish" before acting); ``None`` (default): every time,
            so only the episode's end or a limit ends the rollout; ``0``: the first one ends it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    actions: str = "auto"
    system: str = MINIWOB_SYSTEM
    max_steps: int = Field(default=6, ge=1)
    reply_tokens: int = Field(default=128, ge=1)
    max_seconds: float = Field(default=600.0, gt=0)
    max_elements: int = Field(default=60, ge=5)
    tool_timeout: float = Field(default=30.0, gt=0)
    final_refusals: int | None = Field(default=None, ge=0)

    def loop(self) -> LoopConfig:
        """The loop's settings: no final-answer tool (the episode's end ends the loop)."""
        refusals = self.max_steps if self.final_refusals is None else self.final_refusals
        return LoopConfig(actions=self.actions, system=self.system, max_steps=self.max_steps,
                          reply_tokens=self.reply_tokens, max_seconds=self.max_seconds, tool_timeout=self.tool_timeout,
                          final_tool=None, final_refusals=refusals, last_step_note=False)


def miniwob_task(name: str, seed: int = 0) -> Task:
    """The task of playing MiniWoB++ environment ``name`` with ``seed`` (id ``miniwob/NAME/SEED``).

    Raises:
        ConfigError: a name that is not a MiniWoB++ task (``click-button``, ``enter-text``...).
    """
    if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name):
        raise ConfigError(f"a MiniWoB++ task name looks like 'click-button', got {name!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"a MiniWoB++ seed is an int, got {seed!r}")
    return Task(id=f"miniwob/{name}/{seed}", prompt=f"Do the task shown on this web page (MiniWoB++ {name}).",
                metadata={"miniwob": name, "seed": seed})


@dataclass
class _Episode:
    """One rollout's episode: its browser and the actions taken so far."""

    browser: Browser
    max_elements: int
    actions: list[str] = field(default_factory=list)
    last: Observation | None = None

    def show(self, obs: Observation) -> str:
        self.last = obs
        return obs.render(self.max_elements)

    def after(self, obs: Observation) -> str | Finished:
        """What an action returns: the page, or, once the episode is over, the end of the rollout."""
        page = self.show(obs)
        return Finished(page, answer="done") if obs.done else page

    def unfinished(self, answer: str, trajectory: Any) -> str | None:
        """The loop's ``check_final``: a reply that says it is finished while the episode is still on is
        sent back."""
        if self.last is None or self.last.done:
            return None
        return ("the episode is not over: the task on the page is not done yet. Do it with click, type_text "
                "or press_key on the elements listed; the episode ends by itself when the task is done.")


def _ref(arguments: Mapping[str, Any]) -> int:
    value = arguments.get("ref")
    text = str(value).strip().strip("[]#") if value is not None else ""
    if isinstance(value, bool) or not re.fullmatch(r"-?\d+", text):
        raise ToolError(f"ref must be an element's number, like 4 (from [4] in the list), not {value!r}.")
    return int(text)


@dataclass
class _Click:
    episode: _Episode
    name: str = "click"
    description: str = "Click the element [ref] of the page."
    parameters: Mapping[str, Any] = field(default_factory=lambda: {
        "type": "object", "properties": {"ref": {"type": "integer", "description": "the element's ref"}},
        "required": ["ref"],
    })

    async def __call__(self, arguments: Mapping[str, Any], run: RolloutContext) -> str | Finished:
        ref = _ref(arguments)
        shown = self.episode.last.elements if self.episode.last else []
        target = next((e for e in shown if e.ref == ref), None)
        text = arguments.get("text")
        if isinstance(text, str) and text and target is not None and is_field(target):
            # click(ref=5, text="10/11/2011") on a field: the 0.5B's way of asking to type it there
            return await _Type(self.episode)({"ref": ref, "text": text}, run)
        obs = await self.episode.browser.click(ref)
        self.episode.actions.append(f"click {ref}")
        result = self.episode.after(obs)
        if target is not None and target.tag == "select" and isinstance(result, str):
            # the 0.5B clicked select lists over and over: a click opens nothing in a headless browser
            result += (f"\n[{ref}] is a select list: choose one of its options with "
                       f"type_text(ref={ref}, text=the option).")
        return result


@dataclass
class _Type:
    episode: _Episode
    name: str = "type_text"
    description: str = ("Click the element [ref] to focus it, then type text into it (in place of what it held); "
                        "for a select list, choose the option with that text.")
    parameters: Mapping[str, Any] = field(default_factory=lambda: {
        "type": "object",
        "properties": {"ref": {"type": "integer", "description": "the field's ref"},
                       "text": {"type": "string", "description": "what to type"}},
        "required": ["ref", "text"],
    })

    async def __call__(self, arguments: Mapping[str, Any], run: RolloutContext) -> str | Finished:
        ref = _ref(arguments)
        text = arguments.get("text")
        if not isinstance(text, str | int | float) or isinstance(text, bool):
            raise ToolError("text must be the text to type.")
        obs = await self.episode.browser.type(ref, str(text))
        self.episode.actions.append(f"type {ref} {json.dumps(str(text))}")
        return self.episode.after(obs)


@dataclass
class _Press:
    episode: _Episode
    name: str = "press_key"
    description: str = ("Press a key: Enter, Tab, Backspace, ArrowDown, a letter, or a combination like ctrl+a; "
                        "on the element [ref] when given.")
    parameters: Mapping[str, Any] = field(default_factory=lambda: {
        "type": "object",
        "properties": {"key": {"type": "string", "description": "the key"},
                       "ref": {"type": "integer", "description": "the element to press it on (optional)"}},
        "required": ["key"],
    })

    async def __call__(self, arguments: Mapping[str, Any], run: RolloutContext) -> str | Finished:
        key = str(arguments.get("key") or "")
        if not key:
            raise ToolError("key must name a key, like Enter.")
        # press_key(key="Enter", ref=7): the 0.5B's way to press the Submit button [7]
        ref = _ref(arguments) if arguments.get("ref") is not None else None
        obs = await self.episode.browser.press(key, ref)
        self.episode.actions.append(f"press {key.lower()}" + (f" {ref}" if ref is not None else ""))
        return self.episode.after(obs)


def browser_tools(episode: Any) -> list[Any]:
    """The browser tools (``click``, ``type_text``, ``press_key``) acting on one episode."""
    return [_Click(episode), _Type(episode), _Press(episode)]


@dataclass
class MiniWoBAgent:
    """Plays one MiniWoB++ episode per rollout in a browser leased from ``browsers``.

    Attributes:
        model: the model that acts; ``None`` takes the run's ``ScaleContext.model``.
        browsers: where browsers come from.
        config: the agent's settings.
    """

    model: Model | None
    browsers: BrowserPool
    config: MiniWoBConfig = field(default_factory=MiniWoBConfig)

    async def __call__(self, task: Task, run: RolloutContext | None = None) -> Rollout:
        """Play the episode; the rollout carries its actions and reward."""
        run = run or RolloutContext()
        task = as_task(task)
        name = task.metadata.get("miniwob")
        if not name:
            raise ConfigError(f"task {task.id} is not a MiniWoB++ task (make it with miniwob_task(name, seed))")
        async with self.browsers.lease() as browser:
            episode = _Episode(browser, self.config.max_elements)
            first = episode.show(await browser.begin(str(name), int(task.metadata.get("seed", 0))))
            seen = task.model_copy(update={"prompt": f"{task.prompt}\n\n{first}"})
            graph = build_agent_graph(model=self.model, tools=browser_tools(episode), config=self.config.loop(),
                                      check_final=episode.unfinished)
            state = await graph.ainvoke({"task": seen, "request": run.request}, context=run)
            final = await browser.observe()
        rollout: Rollout = state["rollout"]
        reward = final.raw_reward if final.done else 0.0
        return rollout.model_copy(update={
            "task_id": task.id,
            "answer": "; ".join(episode.actions) or None,
            "metadata": {**rollout.metadata, "reward": reward, "done": final.done, "reason": final.reason,
                         "actions": list(episode.actions)},
        })


class MiniWoBState(TypedDict, total=False):
    """The MiniWoB++ graph's state: ``task`` and ``request`` in, ``rollout`` out."""

    task: Any
    request: RolloutRequest
    rollout: Rollout


def build_miniwob_graph(
    *, model: Model | None = None, browsers: BrowserPool | None = None, config: MiniWoBConfig | None = None,
    checkpointer: Any = None, name: str = "miniwob_agent",
) -> CompiledStateGraph:
    """The MiniWoB++ agent as a compiled LangGraph graph: one ``play`` node running ``MiniWoBAgent``
    (``browsers``: a ``BrowserPool``, one browser by default). Invoke with ``{"task": miniwob_task(...)}``;
    the rollout is ``state["rollout"]``."""
    agent = MiniWoBAgent(model, browsers or BrowserPool(1), config or MiniWoBConfig())

    async def play(state: MiniWoBState, runtime: Runtime[Any]) -> dict[str, Any]:
        run = run_of(runtime)
        if state.get("request") is not None:
            run = RolloutContext(request=state["request"], budget=run.budget, model=run.model, emit=run.emit)
        return {"rollout": await agent(as_task(state.get("task")), run)}

    builder = StateGraph(MiniWoBState)
    builder.add_node("play", play)
    builder.add_edge(START, "play")
    builder.add_edge("play", END)
    return builder.compile(checkpointer=checkpointer, name=name)


def miniwob_agent(model: Model | None, browsers: BrowserPool, config: MiniWoBConfig | None = None) -> MiniWoBAgent:
    """A ``MiniWoBAgent`` (``scale(miniwob_agent(llm, pool), "best_of_n", n=4, verifier=EpisodeReward())``)."""
    return MiniWoBAgent(model, browsers, config or MiniWoBConfig())


@dataclass
class EpisodeReward:
    """The episode's reward as the verdict: score ``max(reward, 0)``, passed when the reward is
    positive. A rollout that failed, or an episode that never ended, scores 0.

    The reward is the environment's own signal, read during the rollout, so selecting with it is
    what an agent that sees its reward can do: best-of-N with it equals pass@N.
    """

    name: str = "episode_reward"

    async def verify(self, task: Task, rollout: Rollout) -> Verdict:
        """The reward recorded by ``MiniWoBAgent``."""
        reward = float(rollout.metadata.get("reward") or 0.0) if rollout.ok else 0.0
        done = bool(rollout.metadata.get("done")) and rollout.ok
        if not done:
            feedback = "The episode did not end: the task was not completed." if rollout.ok else (
                f"The rollout failed: {rollout.error or rollout.status}.")
        else:
            feedback = f"Reward {reward:g}" + (f" ({rollout.metadata.get('reason')})" if rollout.metadata.get(
                "reason") else "") + "."
        return Verdict(rollout_id=rollout.id, score=max(min(reward, 1.0), 0.0), passed=done and reward > 0,
                       feedback=feedback, verifier=self.name, evidence={"reward": reward, "done": done})


class MiniWoBWorkflow:
    """The ``miniwob`` workflow: a task is ``"click-button"`` or ``"click-button:3"`` (seed 3), or a
    record ``{"task": "click-button", "seed": 3}``. Options: ``MiniWoBConfig``'s fields and
    ``browsers`` (pool size, 2). Call ``aclose()`` to quit its browsers."""

    name = "miniwob"
    profile = "chat"
    needs_sandbox = False

    def __init__(self) -> None:
        self._pools: list[BrowserPool] = []

    def task(self, source: str | Mapping[str, Any]) -> Task:
        """A ``Task`` from ``NAME[:SEED]`` or a record.

        Raises:
            ConfigError: a malformed name or seed.
        """
        if isinstance(source, str):
            name, _, seed = source.strip().partition(":")
            if seed and not seed.isdigit():
                raise ConfigError(f"a miniwob task is NAME or NAME:SEED like click-button:3, got {source!r:.80}")
            return miniwob_task(name, int(seed or 0))
        if not isinstance(source, Mapping) or not source.get("task"):
            raise ConfigError("a miniwob task record needs 'task' (e.g. click-button) and may give 'seed'")
        return miniwob_task(str(source["task"]), source.get("seed", 0))

    def build(self, env: WorkflowEnv) -> WorkflowParts:
        """The agent over a new ``BrowserPool`` (``browsers`` option), ``EpisodeReward`` as
        verifier and scorer, and a majority vote over the episodes' actions.

        Raises:
            ConfigError: an unknown or bad option.
        """
        options = dict(env.options)
        size = options.pop("browsers", 2)
        try:
            config = MiniWoBConfig(**options)
        except ValueError as exc:
            raise ConfigError(f"bad miniwob options: {exc}") from exc
        pool = BrowserPool(size)
        self._pools.append(pool)
        return WorkflowParts(agent=MiniWoBAgent(env.model, pool, config), verifier=EpisodeReward(),
                             scorer=EpisodeReward(), selector="majority")

    async def aclose(self) -> None:
        """Quit the browsers of every ``build``."""
        for pool in self._pools:
            await pool.aclose()
        self._pools.clear()
