"""SWE-bench's two file formats: task instances in, predictions out.

An instance file is JSONL (one instance per line) or a JSON array, as the dataset is exported.
``read_instances`` yields one ``InstanceLine`` per line, so a malformed line is one clear error
for that line and the lines after it are still read. Predictions are written as SWE-bench's own
harness reads them (``instance_id``, ``model_name_or_path``, ``model_patch``), one JSON line per
instance, appended and flushed as each one finishes: a crash loses nothing already written.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agentscale.errors import ConfigError
from agentscale.types import Task

__all__ = [
    "InstanceLine",
    "InstanceSet",
    "Prediction",
    "PredictionLine",
    "PredictionWriter",
    "SWEInstance",
    "load_instances",
    "read_instances",
    "read_predictions",
    "to_task",
    "write_instances",
]


def _test_list(value: Any, name: str) -> list[str]:
    # The published dataset stores the test lists as JSON-encoded strings; files we write use lists.
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else []
        except json.JSONDecodeError as exc:
            raise ValueError(f"{name} is a string but not a JSON list: {exc}") from exc
    if not isinstance(value, list) or not all(isinstance(t, str) and t for t in value):
        raise ValueError(f"{name} must be a list of test ids (strings)")
    return value


class SWEInstance(BaseModel):
    """One SWE-bench task instance. Fields not named here are kept (``model_extra``) and written back.

    Example:
        >>> inst = SWEInstance(instance_id="o__r-1", repo="o/r", base_commit="abc1234",
        ...                    problem_statement="x() crashes", FAIL_TO_PASS='["t.py::test_x"]')
        >>> inst.FAIL_TO_PASS
        ['t.py::test_x']
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    instance_id: str = Field(min_length=1)
    repo: str = Field(min_length=1)
    """``owner/name``; where its checkout comes from is a ``RepoSource``'s business."""
    base_commit: str = Field(min_length=1)
    problem_statement: str
    FAIL_TO_PASS: list[str]
    """Tests that fail at ``base_commit`` and must pass after the fix."""
    PASS_TO_PASS: list[str] = Field(default_factory=list)
    """Tests that pass at ``base_commit`` and must keep passing."""
    test_patch: str = ""
    """Applied after the model's patch, before the tests run (SWE-bench adds the new tests this way)."""
    patch: str = ""
    """The gold patch, where known. Never shown to an agent (``to_task`` leaves it out)."""
    version: str | None = None
    python_deps: list[str] = Field(default_factory=list)
    """Pinned pure-Python requirements (``name==version``) the tests import; put on ``PYTHONPATH``."""
    pythonpath: list[str] = Field(default_factory=list)
    """Repository folders to put on ``PYTHONPATH`` (e.g. ``src`` for a src layout)."""

    @field_validator("FAIL_TO_PASS", "PASS_TO_PASS", "python_deps", "pythonpath", mode="before")
    @classmethod
    def _lists(cls, value: Any, info) -> list[str]:
        return _test_list(value, info.field_name)

    @field_validator("FAIL_TO_PASS")
    @classmethod
    def _fail_to_pass(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("FAIL_TO_PASS is empty: no test would tell a fix from no fix")
        return value

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float) else value  # the dataset has 3.0 and "3.0"

    @field_validator("instance_id")
    @classmethod
    def _instance_id(cls, value: str) -> str:
        if value != value.strip() or any(c in value for c in "\n\r\x00/"):
            raise ValueError(f"instance_id {value!r} has whitespace at its ends, a newline, NUL or '/'")
        return value


def to_task(instance: SWEInstance) -> Task:
    """The agent's view of an instance: the problem statement and where the repository is.

    The gold patch, the test patch and the test lists stay out of it: they are for scoring.

    Example:
        >>> inst = SWEInstance(instance_id="o__r-1", repo="o/r", base_commit="abc1234",
        ...                    problem_statement="x() crashes", FAIL_TO_PASS=["t.py::test_x"], patch="...")
        >>> task = to_task(inst)
        >>> task.id, task.repo, "patch" in task.metadata
        ('o__r-1', 'o/r', False)
    """
    return Task(
        id=instance.instance_id,
        prompt=instance.problem_statement,
        repo=instance.repo,
        metadata={
            "instance_id": instance.instance_id,
            "repo": instance.repo,
            "base_commit": instance.base_commit,
            "version": instance.version,
        },
    )


@dataclass(frozen=True)
class InstanceLine:
    """One line of an instance file: the instance, or why that line could not be read.

    Attributes:
        line: 1-based line number (for a JSON array: the item's 1-based position).
        instance: the instance, or ``None`` when the line is bad.
        error: what is wrong with the line, or ``None``.
        instance_id: the id the line names, when one could be read even from a bad line.
    """

    line: int
    instance: SWEInstance | None = None
    error: str | None = None
    instance_id: str | None = None


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "instance"
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {msg}")
    return "; ".join(parts)


def _parse(line: int, raw: Any) -> InstanceLine:
    if not isinstance(raw, dict):
        return InstanceLine(line, error=f"expected a JSON object, got {type(raw).__name__}")
    iid = raw.get("instance_id") if isinstance(raw.get("instance_id"), str) else None
    try:
        return InstanceLine(line, SWEInstance.model_validate(raw), instance_id=iid)
    except ValidationError as exc:
        return InstanceLine(line, error=_validation_message(exc), instance_id=iid)


def _json_items(path: Path) -> Iterator[tuple[int, Any | Exception]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"no such file: {path}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    if text.lstrip().startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}: not a valid JSON array: {exc}") from exc
        yield from enumerate(items, 1)
        return
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, _BadLine(f"not valid JSON: {exc}", _ID_IN_TEXT.search(line))


_ID_IN_TEXT = re.compile(r'"instance_id"\s*:\s*"([^"\\]+)"')


class _BadLine(ValueError):
    """A line that is not JSON; the instance id, when the broken text still shows one."""

    def __init__(self, message: str, found: re.Match[str] | None) -> None:
        super().__init__(message)
        self.instance_id = found.group(1) if found else None


def read_instances(path: str | Path) -> Iterator[InstanceLine]:
    """Read an instance file line by line; a bad line is reported, never raised.

    Args:
        path: a JSONL file (blank lines are skipped) or a JSON array of instances.

    Yields:
        One ``InstanceLine`` per non-blank line.

    Raises:
        ConfigError: the file cannot be read at all.
    """
    for number, raw in _json_items(Path(path)):
        if isinstance(raw, Exception):
            yield InstanceLine(number, error=str(raw), instance_id=getattr(raw, "instance_id", None))
        else:
            yield _parse(number, raw)


@dataclass
class InstanceSet:
    """The readable instances of a file by id, and the lines that were not.

    Attributes:
        instances: instance id -> instance, in file order.
        errors: the bad lines (a repeated id is an error on its later line).
    """

    instances: dict[str, SWEInstance] = field(default_factory=dict)
    errors: list[InstanceLine] = field(default_factory=list)


def load_instances(path: str | Path) -> InstanceSet:
    """Read a whole instance file into an ``InstanceSet`` (bad lines are collected, not raised).

    Raises:
        ConfigError: the file cannot be read at all.
    """
    result = InstanceSet()
    for item in read_instances(path):
        if item.instance is None:
            result.errors.append(item)
        elif item.instance.instance_id in result.instances:
            result.errors.append(
                InstanceLine(item.line, error="repeats an earlier instance_id", instance_id=item.instance_id)
            )
        else:
            result.instances[item.instance.instance_id] = item.instance
    return result


class Prediction(BaseModel):
    """One prediction in SWE-bench's format. Extra fields are kept.

    Example:
        >>> Prediction(instance_id="o__r-1", model_name_or_path="m", model_patch="").model_dump_json()
        '{"instance_id":"o__r-1","model_name_or_path":"m","model_patch":""}'
    """

    model_config = ConfigDict(extra="allow")

    instance_id: str = Field(min_length=1)
    model_name_or_path: str = ""
    model_patch: str | None = ""
    """The patch (``git diff`` against the base commit); ``None`` or empty means no patch."""


@dataclass(frozen=True)
class PredictionLine:
    """One line of a predictions file: the prediction, or why the line could not be read."""

    line: int
    prediction: Prediction | None = None
    error: str | None = None
    instance_id: str | None = None


def read_predictions(path: str | Path) -> Iterator[PredictionLine]:
    """Read a predictions file (JSONL or a JSON array); a bad line is reported, never raised.

    Raises:
        ConfigError: the file cannot be read at all.
    """
    for number, raw in _json_items(Path(path)):
        if isinstance(raw, Exception):
            yield PredictionLine(number, error=str(raw), instance_id=getattr(raw, "instance_id", None))
            continue
        if not isinstance(raw, dict):
            yield PredictionLine(number, error=f"expected a JSON object, got {type(raw).__name__}")
            continue
        iid = raw.get("instance_id") if isinstance(raw.get("instance_id"), str) else None
        try:
            yield PredictionLine(number, Prediction.model_validate(raw), instance_id=iid)
        except ValidationError as exc:
            yield PredictionLine(number, error=_validation_message(exc), instance_id=iid)


class PredictionWriter:
    """Appends predictions to a JSONL file, one line each, flushed to disk as each is written.

    Example:
        >>> with PredictionWriter(tmp / "preds.jsonl") as out:  # doctest: +SKIP
        ...     out.write(Prediction(instance_id="o__r-1", model_name_or_path="m", model_patch=diff))
        >>> PredictionWriter.done_ids(tmp / "preds.jsonl")  # doctest: +SKIP
        {'o__r-1'}
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file = None

    def __enter__(self) -> PredictionWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in __exit__
        # A crash mid-line leaves a partial last line: start on a fresh one so the next is readable.
        if self.path.stat().st_size and not _ends_with_newline(self.path):
            self._file.write("\n")
        return self

    def __exit__(self, *exc) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def write(self, prediction: Prediction) -> None:
        """Append one prediction and flush it to disk (``fsync``) before returning."""
        if self._file is None:
            raise ConfigError("PredictionWriter is not open (use it in a `with` block)")
        self._file.write(prediction.model_dump_json() + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def write_all(self, predictions: Iterable[Prediction]) -> None:
        """Append several predictions, each flushed as it goes."""
        for prediction in predictions:
            self.write(prediction)

    @staticmethod
    def done_ids(path: str | Path) -> set[str]:
        """Ids already in a predictions file (for resuming); a missing file has none."""
        if not Path(path).exists():
            return set()
        return {p.prediction.instance_id for p in read_predictions(path) if p.prediction is not None}


def write_instances(path: str | Path, instances: Iterable[SWEInstance]) -> None:
    """Write instances as JSONL, replacing ``path`` atomically (extra fields included)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for inst in instances:
            f.write(inst.model_dump_json() + "\n")
    os.replace(tmp, path)


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"
