"""A rich live view of scaled runs: the progress events strategies stream (LangGraph's custom
stream mode) become a table of the current problem's rollouts and a table of finished problems.

Feed it with ``view.handle(event)`` for each event and ``view.finish(result)`` for each finished
problem; hand it to ``rich.live.Live`` (it is a renderable) or print ``view.render()``. ``RunView``
shows one task of any workflow (``agentscale run`` and ``agentscale chat``): each rollout with its
latest step (the agent's ``emit``), its verdict, the vote, the choice, and the budget left.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from agentscale.evaluation import ProblemResult, Summary

__all__ = ["LiveView", "RunView", "summary_table"]


@dataclass
class _RolloutRow:
    index: int
    state: str = "running"
    tokens: int = 0
    seconds: float = 0.0
    verdict: str = ""
    rollout_id: str | None = None
    selected: bool = False
    step: str = ""


@dataclass
class LiveView:
    """What a terminal shows while problems are solved.

    Attributes:
        total: problems in the run (for the "3/5" counter).
        title: shown above the tables.
    """

    total: int = 0
    title: str = "agentscale"
    current: str | None = None
    rollouts: dict[int, _RolloutRow] = field(default_factory=dict)
    spent_tokens: int = 0
    last_vote: str = ""
    stop_reason: str = ""
    results: list[ProblemResult] = field(default_factory=list)
    verdict_label: str = "examples"
    remaining: dict[str, Any] = field(default_factory=dict)
    selection: str = ""
    note: str = ""

    def start(self, task_id: str) -> None:
        """A new problem begins: clear the rollout table."""
        self.current = task_id
        self.rollouts = {}
        self.last_vote = ""
        self.stop_reason = ""
        self.remaining = {}
        self.selection = ""
        self.note = ""

    def handle(self, event: Mapping[str, Any]) -> None:
        """Take one progress event (``rollout_started``, ``rollout_finished``, ``verdict``, ``vote``,
        ``budget``, ``selected``, ``agent``, ``reflect``, ``generation``); unknown events are ignored."""
        kind = event.get("event")
        if event.get("task_id") and event.get("task_id") != self.current:
            self.start(str(event["task_id"]))
        if kind == "rollout_started":
            self.rollouts[int(event["index"])] = _RolloutRow(int(event["index"]))
        elif kind == "rollout_finished":
            row = self.rollouts.setdefault(int(event["index"]), _RolloutRow(int(event["index"])))
            row.state = "checking" if event.get("status") == "ok" else str(event.get("status"))
            row.tokens = int(event.get("tokens") or 0)
            row.seconds = float(event.get("seconds") or 0.0)
            row.rollout_id = event.get("rollout_id")
            if event.get("error"):
                row.verdict = str(event["error"])[:60]
        elif kind == "verdict":
            row = self._by_id(event.get("rollout_id"))
            if row is not None:
                row.state = "done"
                mark = "pass" if event.get("passed") else "fail"
                row.verdict = f"{mark} ({self.verdict_label} {float(event.get('score') or 0.0):.0%})"
        elif kind == "budget":
            self.spent_tokens = int(event.get("spent_tokens") or 0)
            self.remaining = dict(event.get("remaining") or {})
        elif kind == "agent":
            row = self.rollouts.setdefault(int(event.get("index") or 0), _RolloutRow(int(event.get("index") or 0)))
            row.step = _step(event.get("data") or {})
        elif kind == "reflect":
            self.note = f"reflection round {event.get('round')}: revising {len(event.get('revising') or [])}"
        elif kind == "generation":
            self.note = f"generation {event.get('generation')}: best score {float(event.get('best_score') or 0):.2f}"
        elif kind == "vote":
            counts = event.get("counts") or {}
            self.last_vote = (
                f"{sum(counts.values())} votes, confidence {float(event.get('confidence') or 0):.2f}"
            )
            if event.get("settled"):
                self.stop_reason = "settled"
        elif kind == "selected":
            row = self._by_id(event.get("rollout_id"))
            if row is not None:
                row.selected = True
            which = f"#{row.index}" if row is not None else "nothing"
            self.selection = f"chose {which}: {event.get('reason') or event.get('status') or ''}".rstrip(": ")

    def _by_id(self, rollout_id: Any) -> _RolloutRow | None:
        return next((r for r in self.rollouts.values() if r.rollout_id == rollout_id), None)

    def finish(self, result: ProblemResult) -> None:
        """A problem is done and scored."""
        self.results.append(result)
        self.current = None
        self.rollouts = {}

    def render(self) -> RenderableType:
        """The whole view: finished problems, then the problem in progress."""
        parts: list[RenderableType] = [Text(self.title, style="bold")]
        if self.results:
            done = Table(title=f"solved {len(self.results)}/{self.total or '?'}", title_justify="left")
            for name, justify in (
                ("problem", "left"),
                ("one sample", "center"),
                ("scaled", "center"),
                ("samples", "right"),
                ("tokens", "right"),
                ("seconds", "right"),
            ):
                done.add_column(name, justify=justify)
            for r in self.results:
                done.add_row(
                    r.task_id,
                    _mark(r.one_sample_passed),
                    _mark(r.scaled_passed),
                    str(len(r.samples)),
                    str(r.tokens),
                    f"{r.seconds:.1f}",
                )
            parts.append(done)
        if self.current is not None:
            position = len(self.results) + 1
            now = Table(title=f"{self.current} ({position}/{self.total or '?'})", title_justify="left")
            for name, justify in (
                ("sample", "right"),
                ("state", "left"),
                ("tokens", "right"),
                ("seconds", "right"),
                ("docstring examples", "left"),
            ):
                now.add_column(name, justify=justify)
            for row in sorted(self.rollouts.values(), key=lambda r: r.index):
                now.add_row(
                    f"{row.index}{' *' if row.selected else ''}",
                    Text(row.state),
                    str(row.tokens) if row.tokens else "",
                    f"{row.seconds:.1f}" if row.seconds else "",
                    Text(row.verdict),
                )
            parts.append(now)
            status = f"tokens spent on this problem: {self.spent_tokens}"
            if self.last_vote:
                status += f"; vote: {self.last_vote}"
            parts.append(Text(status, style="dim"))
        return Group(*parts)

    def __rich__(self) -> RenderableType:
        return self.render()


def _step(data: Mapping[str, Any]) -> str:
    """One short line for an agent's progress report (``run.emit({...})``)."""
    if not isinstance(data, Mapping):
        return str(data)[:60]
    head = data.get("step", "")
    rest = ", ".join(f"{k}={v}" for k, v in data.items() if k != "step" and isinstance(v, str | int | float))
    return f"{head} {rest}".strip()[:60]


def _left(remaining: Mapping[str, Any]) -> str:
    units = {"tokens": "tokens", "seconds": "s", "rollouts": "rollouts", "usd": "USD"}
    parts = []
    for key, unit in units.items():
        value = remaining.get(key)
        if value is not None:
            parts.append(f"{value:.0f} {unit}" if key != "usd" else f"{value:.2f} {unit}")
    return ", ".join(parts) or "unlimited"


@dataclass
class RunView(LiveView):
    """One task of any workflow, live: rollouts with their latest step and verdict, the vote, the
    choice and the budget left. Feed it events with ``handle``; it is a rich renderable."""

    title: str = "agentscale run"
    verdict_label: str = "score"
    verified: bool = True
    """Whether a verifier judges the rollouts (without one a finished rollout is done, not checking)."""

    def begin(self, task_id: str, settings: Any = None) -> None:
        """A task begins; ``settings`` (a ``RunSettings``) gives the budget shown until the first charge."""
        self.start(task_id)
        if settings is not None:
            self.remaining = {"tokens": settings.max_tokens, "seconds": settings.max_seconds}

    def handle(self, event: Mapping[str, Any]) -> None:
        """Take one progress event (see ``LiveView.handle``)."""
        super().handle(event)
        if event.get("event") == "rollout_finished" and not self.verified:
            row = self.rollouts.get(int(event["index"]))
            if row is not None and row.state == "checking":
                row.state = "done"

    def render(self) -> RenderableType:
        """The rollouts table and a status line."""
        table = Table(title=self.title, title_justify="left")
        for name, justify in (
            ("#", "right"), ("state", "left"), ("latest step", "left"), ("tokens", "right"),
            ("seconds", "right"), ("verdict", "left"),
        ):  # fmt: skip
            table.add_column(name, justify=justify, overflow="fold")
        for row in sorted(self.rollouts.values(), key=lambda r: r.index):
            table.add_row(
                f"{row.index}{' *' if row.selected else ''}",
                Text(row.state),
                Text(row.step),
                str(row.tokens) if row.tokens else "",
                f"{row.seconds:.1f}" if row.seconds else "",
                Text(row.verdict),  # errors and agents' words are shown as they are, never as markup
            )
        status = [f"tokens so far: {self.spent_tokens}", f"budget left: {_left(self.remaining)}"]
        for extra in (self.last_vote and f"vote: {self.last_vote}", self.note, self.selection):
            if extra:
                status.append(extra)
        return Group(table, Text("; ".join(status), style="dim"))


def _mark(passed: bool) -> Text:
    return Text("pass", style="green") if passed else Text("fail", style="red")


def summary_table(summary: Summary, *, strategy: str, n: int) -> Table:
    """The closing table: one sample against the scaled strategy, on the hidden tests."""
    plural = "s" if summary.problems != 1 else ""
    title = (
        f"HumanEval, {summary.problems} problem{plural} (the hidden tests score, docstring examples select)"
    )
    table = Table(title=title)
    for name, justify in (("", "left"), ("pass rate", "right"), ("tokens", "right"), ("seconds", "right")):
        table.add_column(name, justify=justify)
    table.add_row(
        "one sample (pass@1)",
        f"{summary.one_sample_passed}/{summary.problems} ({summary.one_sample_rate:.0%})",
        str(summary.one_sample_tokens),
        f"{summary.one_sample_seconds:.1f}",
    )
    table.add_row(
        f"{strategy}, n={n}",
        f"{summary.scaled_passed}/{summary.problems} ({summary.scaled_rate:.0%})",
        str(summary.scaled_tokens),
        f"{summary.scaled_seconds:.1f}",
    )
    return table
