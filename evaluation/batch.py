"""Batches of tasks into a JSONL results file that survives Ctrl-C, SIGKILL and reruns.

``run_batch(items, run_one, out=..., workers=K)`` runs ``run_one`` on each item, at most ``K`` at a
time, and appends each result to ``out`` as one JSON line, flushed the moment it is made. Run it
again with the same ``out`` and the items already finished there are not redone: a line cut short
by a kill is dropped, and lines of items that did not finish (``status`` ``"error"`` or
``"none_ran"``) are taken out so those items run again; every other line stays as it was, so the
file ends with one line per item. A line in the middle that is not JSON means ``out`` is not a
results file: nothing is touched and ``ConfigError`` says which line.

``read_tasks(path, make_task)`` reads a tasks file (one JSON string or object per line); a bad line
is reported with its number and the rest is read.

Example:
    ```python
    tasks = read_tasks("tasks.jsonl", workflow.task)        # tasks.errors: the bad lines
    report = await run_batch([(t.key, t.task) for t in tasks.tasks], runner.run, out=Path("results.jsonl"),
                             workers=2, on_event=print)
    report.done, report.skipped, report.failed
    ```
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel

from agentscale.errors import AgentScaleError, ConfigError
from agentscale.types import Task

__all__ = [
    "BatchEvent",
    "BatchReport",
    "LineError",
    "TaskLine",
    "TasksFile",
    "is_finished",
    "read_results",
    "read_tasks",
    "run_batch",
]

T = TypeVar("T")


# ---- tasks files ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskLine:
    """A task read from line ``line`` of a tasks file; ``key`` identifies it in the results file."""

    line: int
    key: str
    task: Task


@dataclass(frozen=True)
class LineError:
    """A line of a tasks file that is not a task, and why."""

    line: int
    error: str
    text: str = ""


@dataclass
class TasksFile:
    """What a tasks file held: its tasks, and its bad lines (which do not stop the rest)."""

    path: Path
    tasks: list[TaskLine] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)


def read_tasks(path: str | Path, make_task: Callable[[Any], Task]) -> TasksFile:
    """Read a tasks file: one JSON value per line (a string such as ``"What is 2+2?"``, or an object
    the workflow understands); blank lines are skipped.

    Each task's key is its ``id``/``task_id`` when the line names one, else the id the workflow
    gives it when that is stable (``humaneval`` turns ``"12"`` into ``HumanEval/12``), else a hash
    of the line, so a rerun finds the same keys. The task's id is set to its key.

    Args:
        path: the file.
        make_task: the workflow's ``task`` (a JSON value -> ``Task``, ``ConfigError`` when it is not one).

    Raises:
        ConfigError: the file cannot be read (a bad line is not raised: it lands in ``errors``).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"no tasks file {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the tasks file {path}: {exc}") from exc
    found = TasksFile(path)
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        clip = line.strip()[:80]
        try:
            source = json.loads(line)
        except ValueError as exc:
            found.errors.append(LineError(number, f"not JSON ({exc.msg}); write a JSON string or object", clip))
            continue
        if not isinstance(source, str | dict):
            found.errors.append(
                LineError(number, f"a task is a JSON string or object, not {type(source).__name__}", clip)
            )
            continue
        try:
            task, key = _task_and_key(source, make_task, line)
        except AgentScaleError as exc:
            found.errors.append(LineError(number, str(exc), clip))
            continue
        except Exception as exc:  # a workflow's task() that fails another way still costs one line only
            found.errors.append(LineError(number, f"{type(exc).__name__}: {exc}", clip))
            continue
        if key in seen:
            found.errors.append(LineError(number, f"task {key!r} is already on line {seen[key]}", clip))
            continue
        seen[key] = number
        found.tasks.append(TaskLine(number, key, task))
    return found


def _task_and_key(source: str | dict, make_task: Callable[[Any], Task], line: str) -> tuple[Task, str]:
    task = make_task(source)
    if not isinstance(task, Task):
        raise ConfigError(f"the workflow made a {type(task).__name__}, not a Task")
    named = source.get("id", source.get("task_id")) if isinstance(source, dict) else None
    if named not in (None, ""):
        key = str(named)
    elif make_task(source).id == task.id:  # the workflow derives its ids (HumanEval/12): keep them
        key = task.id
    else:
        key = "t-" + hashlib.sha256(line.strip().encode()).hexdigest()[:12]
    return (task if task.id == key else task.model_copy(update={"id": key})), key


# ---- results files -------------------------------------------------------------------------


def is_finished(record: Mapping[str, Any]) -> bool:
    """A results line whose task need not run again: anything but ``status`` ``"error"``/``"none_ran"``."""
    return record.get("status") not in ("error", "none_ran")


@dataclass
class _Results:
    records: list[dict[str, Any]]
    lines: list[str]
    torn: bool


def read_results(path: Path) -> list[dict[str, Any]]:
    """The records of a results file (a torn last line is left out).

    Raises:
        ConfigError: a line other than the last is not a JSON object.
    """
    return _read(path).records


def _read(path: Path) -> _Results:
    if not path.exists():
        return _Results([], [], False)
    raw = path.read_bytes().decode("utf-8", errors="replace")
    lines = raw.split("\n")
    tail = lines.pop()  # "" when the file ends with a newline; else a line the kill cut short
    records, kept, torn = [], [], bool(tail.strip())
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            if i == len(lines) - 1 and not tail:
                torn = True  # a last line that ended in a newline but not in JSON: also cut short
                continue
            raise ConfigError(f"{path} line {i + 1} is not a results record ({exc}); give another --out") from exc
        records.append(record)
        kept.append(line)
    return _Results(records, kept, torn)


# ---- the batch -----------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchEvent:
    """What happened to one item: ``"skipped"`` (finished in an earlier run; ``record`` is that
    line), ``"started"``, ``"finished"`` (``record`` was written), ``"failed"`` (``run_one`` raised;
    ``error`` says what; nothing was written, so a rerun tries it again) or ``"stopped"`` (the batch
    stops starting items: ``error`` says why)."""

    kind: Literal["skipped", "started", "finished", "failed", "stopped"]
    key: str = ""
    record: Mapping[str, Any] | None = None
    error: str | None = None


@dataclass
class BatchReport:
    """How a batch went.

    Attributes:
        total: items given.
        skipped: keys finished in an earlier run (not redone).
        done: keys run and written in this run (finished or not: see ``records``).
        failed: ``(key, error)`` of items whose ``run_one`` raised (not written).
        records: every record for the given items, earlier and new, in item order.
        dropped: lines taken out of the file before the run (unfinished items, a torn last line).
        stopped: why the batch stopped starting items early, if it did.
    """

    total: int = 0
    skipped: list[str] = field(default_factory=list)
    done: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    records: list[Mapping[str, Any]] = field(default_factory=list)
    dropped: int = 0
    stopped: str | None = None


async def run_batch(
    items: Sequence[tuple[str, T]],
    run_one: Callable[[T], Awaitable[BaseModel | Mapping[str, Any]]],
    *,
    out: str | Path,
    workers: int = 1,
    on_event: Callable[[BatchEvent], None] | None = None,
    finished: Callable[[Mapping[str, Any]], bool] = is_finished,
    same_run: Callable[[Mapping[str, Any]], str | None] | None = None,
    stop_after: int | None = None,
    key_field: str = "task_id",
) -> BatchReport:
    """Run ``run_one`` on every item not finished in ``out`` yet, ``workers`` at a time, appending each
    result to ``out`` as a JSON line flushed as soon as it is made.

    Args:
        items: ``(key, payload)`` pairs; ``key`` must be unique, and is what ``record[key_field]`` holds.
        run_one: payload -> record (a pydantic model or a JSON-able mapping with ``key_field``).
            A failure it returns as data (``status="error"``) is written; one it raises is reported
            (``BatchEvent("failed")``) and not written.
        out: the results file (created, or continued).
        workers: items run at once.
        on_event: told about each item (see ``BatchEvent``); called on the event loop.
        finished: whether an earlier line means its item is done (default ``is_finished``).
        same_run: ``record -> None``, or why an earlier line was made another way (another
            strategy or model): then nothing runs and ``ConfigError`` says so.
        stop_after: stop starting items after this many fail in a row (raised or unfinished), e.g.
            when the model endpoint went away; the report's ``stopped`` says why.
        key_field: the record field holding the key.

    Returns:
        The report. Cancelling the call (Ctrl-C) cancels the items in flight and keeps every line
        already written.

    Raises:
        ConfigError: ``workers < 1``, duplicate keys, a results file that is not one, or (with
            ``same_run``) lines made another way.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers must be an int >= 1, got {workers!r}")
    keys = [k for k, _ in items]
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise ConfigError(f"task {dup!r} is given twice")
    path = Path(out)
    emit = on_event or (lambda _e: None)
    report = BatchReport(total=len(items))
    earlier = _resume(path, set(keys), finished, same_run, key_field, report)
    todo = [(k, p) for k, p in items if k not in earlier]
    for key, _ in items:
        if key in earlier:
            report.skipped.append(key)
            emit(BatchEvent("skipped", key, earlier[key]))
    fresh: dict[str, Mapping[str, Any]] = {}
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        await _work(
            todo, run_one, fh, min(workers, max(len(todo), 1)), emit, finished, stop_after, key_field, report, fresh
        )
    report.records = [r for k, _ in items if (r := earlier.get(k) or fresh.get(k)) is not None]
    return report


def _resume(
    path: Path,
    keys: set[str],
    finished: Callable[[Mapping[str, Any]], bool],
    same_run: Callable[[Mapping[str, Any]], str | None] | None,
    key_field: str,
    report: BatchReport,
) -> dict[str, Mapping[str, Any]]:
    """Finished earlier records by key; rewrites ``path`` without unfinished lines and a torn tail."""
    found = _read(path)
    done: dict[str, Mapping[str, Any]] = {}
    kept: list[str] = []
    for record, line in zip(found.records, found.lines, strict=True):
        key = record.get(key_field)
        if key in keys and same_run is not None and (why := same_run(record)) is not None:
            raise ConfigError(f"{path} holds task {key!r} made differently ({why}); give another --out")
        if key in keys and (not finished(record) or key in done):
            continue  # unfinished (redone now) or a duplicate line: taken out
        if key in keys:
            done[str(key)] = record
        kept.append(line)
    report.dropped = len(found.lines) - len(kept) + int(found.torn)
    if report.dropped:
        # Write the kept lines whole to a new file, then swap it in: a kill here loses nothing.
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")
        os.replace(tmp, path)
    return done


async def _work(
    todo: list[tuple[str, Any]],
    run_one: Callable[[Any], Awaitable[Any]],
    fh: Any,
    workers: int,
    emit: Callable[[BatchEvent], None],
    finished: Callable[[Mapping[str, Any]], bool],
    stop_after: int | None,
    key_field: str,
    report: BatchReport,
    fresh: dict[str, Mapping[str, Any]],
) -> None:
    queue = list(reversed(todo))
    streak = 0

    async def one(key: str, payload: Any) -> None:
        nonlocal streak
        emit(BatchEvent("started", key))
        try:
            result = await run_one(payload)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # one task's failure is reported; the batch goes on
            error = f"{type(exc).__name__}: {exc}" if not isinstance(exc, AgentScaleError) else str(exc)
            report.failed.append((key, error))
            streak += 1
            emit(BatchEvent("failed", key, error=error))
            return
        record = result.model_dump(mode="json") if isinstance(result, BaseModel) else dict(result)
        if record.get(key_field) != key:
            record[key_field] = key
        fh.write(json.dumps(record, ensure_ascii=False) + "\n")  # one write: a line is whole or torn
        fh.flush()
        fresh[key] = record
        report.done.append(key)
        streak = 0 if finished(record) else streak + 1
        emit(BatchEvent("finished", key, record))

    async def worker() -> None:
        while queue and report.stopped is None:
            if stop_after is not None and streak >= stop_after:
                last = report.failed[-1][1] if report.failed else _last_error(fresh)
                report.stopped = f"{streak} tasks in a row did not finish (last: {last})"
                emit(BatchEvent("stopped", error=report.stopped))
                return
            key, payload = queue.pop()
            await one(key, payload)

    tasks = [asyncio.create_task(worker(), name=f"batch-worker-{i}") for i in range(workers)]
    try:
        await asyncio.gather(*tasks)
    finally:
        for t in tasks:
            t.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)


def _last_error(fresh: Mapping[str, Mapping[str, Any]]) -> str:
    last = list(fresh.values())[-1] if fresh else {}
    return str(last.get("error") or last.get("reason") or last.get("status") or "?")
