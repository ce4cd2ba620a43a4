"""Several slow preparation jobs at once (a compile, downloads, a root filesystem), in threads, with one
progress view: a rich table on a terminal, one prefixed line per message otherwise (logs, CI).

Each job is a function taking a ``say(message)`` callback; its return value is shown when it ends.
A job that fails does not stop the others; ``run_jobs`` returns every outcome.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

__all__ = ["Job", "JobsView", "run_jobs"]


@dataclass
class Job:
    """One job: ``run(say)`` does the work and returns what to show when done."""

    name: str
    run: Callable[[Callable[[str], None]], Any]
    state: str = "waiting"
    message: str = ""
    result: Any = None
    error: BaseException | None = None
    started: float | None = None
    ended: float | None = None

    @property
    def seconds(self) -> float:
        if self.started is None:
            return 0.0
        return (self.ended or time.monotonic()) - self.started


@dataclass
class JobsView:
    """The jobs' table: state, time, latest message."""

    jobs: list[Job]
    title: str = "agentscale setup"
    started: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __rich__(self) -> RenderableType:
        with self.lock:
            table = Table(title=f"{self.title} ({time.monotonic() - self.started:.0f} s)", title_justify="left")
            for name, justify in (("job", "left"), ("state", "left"), ("seconds", "right"), ("latest", "left")):
                table.add_column(name, justify=justify, overflow="fold")
            for job in self.jobs:
                style = {"done": "green", "failed": "red", "running": "yellow"}.get(job.state, "dim")
                latest = str(job.error) if job.error is not None else job.message
                table.add_row(job.name, Text(job.state, style=style), f"{job.seconds:.0f}", latest[-90:])
            return table


def run_jobs(jobs: list[Job], console: Console, *, title: str = "agentscale setup") -> list[Job]:
    """Run every job at once (one thread each) with one progress view; returns them with their outcomes.

    Raises:
        KeyboardInterrupt: Ctrl-C (the jobs' child processes get it too and stop).
    """
    view = JobsView(jobs, title=title)
    live = console.is_terminal

    def runner(job: Job) -> None:
        def say(message: str) -> None:
            with view.lock:
                job.message = message.strip()
            if not live:
                console.print(f"[{job.name}] {message.strip()}", markup=False, highlight=False, soft_wrap=True)

        with view.lock:
            job.state, job.started = "running", time.monotonic()
        try:
            result = job.run(say)
        except BaseException as exc:  # one failed job is reported; the others go on
            with view.lock:
                job.state, job.error, job.ended = "failed", exc, time.monotonic()
            if not live:
                console.print(f"[{job.name}] failed: {exc}", markup=False, highlight=False, soft_wrap=True)
            return
        with view.lock:
            job.state, job.result, job.ended = "done", result, time.monotonic()
            job.message = str(result) if result is not None else job.message

    pool = ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="setup")
    try:
        with Live(view, console=console, refresh_per_second=2) if live else contextlib.nullcontext():
            futures = [pool.submit(runner, job) for job in jobs]
            for future in futures:
                future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return jobs
