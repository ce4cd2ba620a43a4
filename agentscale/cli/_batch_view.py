"""The rich progress view of a batch (tasks done, pass rate so far, tokens, ETA) and its closing table.

``BatchView.handle`` takes the ``BatchEvent``s of ``agentscale.evaluation.run_batch``; the view is a
rich renderable for ``rich.live.Live``. ``batch_summary`` is the table printed at the end.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from agentscale.evaluation import BatchEvent, BatchReport, LineError

__all__ = ["BatchView", "batch_summary"]


@dataclass
class BatchView:
    """Progress of a batch, fed with ``BatchEvent``s.

    Attributes:
        total: tasks in the batch.
        title: shown above the bar.
        workers: tasks run at once (for the ETA).
    """

    total: int
    title: str = "agentscale batch"
    workers: int = 1
    skipped: int = 0
    done: int = 0
    failed: int = 0
    unfinished: int = 0
    scored: int = 0
    passed: int = 0
    tokens: int = 0
    running: dict[str, float] = field(default_factory=dict)
    last_error: str = ""
    stopped: str = ""
    started_at: float = field(default_factory=time.monotonic)
    _seconds: list[float] = field(default_factory=list)

    def handle(self, event: BatchEvent) -> None:
        """Take one batch event."""
        if event.kind == "skipped":
            self.skipped += 1
            self._count(event.record or {})
        elif event.kind == "started":
            self.running[event.key] = time.monotonic()
        elif event.kind == "finished":
            began = self.running.pop(event.key, None)
            if began is not None:
                self._seconds.append(time.monotonic() - began)
            self.done += 1
            record = event.record or {}
            self._count(record)
            if record.get("status") in ("error", "none_ran"):
                self.unfinished += 1
                self.last_error = f"{event.key}: {record.get('error') or record.get('reason') or record.get('status')}"
        elif event.kind == "failed":
            self.running.pop(event.key, None)
            self.failed += 1
            self.last_error = f"{event.key}: {event.error}"
        elif event.kind == "stopped":
            self.stopped = event.error or "stopped"

    def _count(self, record: Mapping[str, Any]) -> None:
        score = record.get("score")
        if isinstance(score, Mapping):
            self.scored += 1
            self.passed += bool(score.get("passed"))
        usage = record.get("usage") or {}
        self.tokens += int(usage.get("prompt_tokens") or 0) + int(usage.get("completion_tokens") or 0)

    @property
    def eta(self) -> float | None:
        """Seconds until the batch is done, from this run's pace; ``None`` before the first task ends."""
        finished_now = self.done + self.failed
        left = self.total - self.skipped - finished_now
        if finished_now == 0 or left <= 0:
            return None if left > 0 else 0.0
        pace = (time.monotonic() - self.started_at) / finished_now
        return pace * left

    def render(self) -> RenderableType:
        """The bar, the counters and the tasks in flight."""
        finished = self.skipped + self.done + self.failed
        line = Text()
        line.append(f"{finished}/{self.total} tasks", style="bold")
        if self.skipped:
            line.append(f" ({self.skipped} from an earlier run)")
        rate = (
            f"{self.passed}/{self.scored} passed ({self.passed / self.scored:.0%})" if self.scored else "no scores yet"
        )
        eta = self.eta
        line.append(f"; {rate}; {self.tokens} tokens")
        line.append(f"; ETA {_clock(eta)}" if eta is not None else "; ETA -")
        parts: list[RenderableType] = [
            Text(self.title, style="bold"),
            ProgressBar(total=max(self.total, 1), completed=finished, width=50),
            line,
        ]
        if self.running:
            now = time.monotonic()
            flight = ", ".join(f"{k} ({now - t:.0f} s)" for k, t in list(self.running.items())[:6])
            parts.append(Text(f"running: {flight}", style="dim"))  # Text: task ids are never markup
        if self.failed or self.unfinished:
            parts.append(
                Text(f"{self.failed + self.unfinished} not finished; last: {self.last_error[:100]}", style="red")
            )
        if self.stopped:
            parts.append(Text(f"stopped: {self.stopped}", style="red"))
        return Group(*parts)

    def __rich__(self) -> RenderableType:
        return self.render()


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return (
        f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        if seconds >= 3600
        else f"{seconds // 60}:{seconds % 60:02d}"
    )


def batch_summary(
    report: BatchReport, bad_lines: Sequence[LineError], *, title: str, seconds: float, out: str
) -> Table:
    """The closing table: tasks by outcome, pass rate, tokens and time, then the lines and tasks that
    need a look."""
    records = list(report.records)
    scored = [r for r in records if isinstance(r.get("score"), Mapping)]
    passed = sum(bool(r["score"].get("passed")) for r in scored)
    tokens = sum(
        int((r.get("usage") or {}).get("prompt_tokens") or 0)
        + int((r.get("usage") or {}).get("completion_tokens") or 0)
        for r in records
    )
    by_status: dict[str, int] = {}
    for r in records:
        by_status[str(r.get("status"))] = by_status.get(str(r.get("status")), 0) + 1
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("what")
    table.add_column("value", overflow="fold")
    table.add_row("tasks", f"{report.total} ({len(report.done)} run now, {len(report.skipped)} from an earlier run)")
    table.add_row("outcomes", ", ".join(f"{k}: {v}" for k, v in sorted(by_status.items())) or "-")
    table.add_row("pass rate", f"{passed}/{len(scored)} ({passed / len(scored):.0%})" if scored else "not scored")
    table.add_row("tokens", str(tokens))
    table.add_row("seconds (this run)", f"{seconds:.1f}")
    table.add_row("results", Text(out))
    for err in bad_lines:
        table.add_row(Text(f"bad line {err.line}", style="red"), Text(f"{err.error}: {err.text}"))
    for key, error in report.failed:
        table.add_row(Text(f"failed {key}", style="red"), Text(error))
    for r in records:
        if r.get("status") in ("error", "none_ran"):
            why = str(r.get("error") or r.get("reason"))
            table.add_row(Text(f"not finished {r.get('task_id')}", style="red"), Text(why))
    if report.stopped:
        table.add_row(Text("stopped", style="red"), Text(report.stopped))
    return table
