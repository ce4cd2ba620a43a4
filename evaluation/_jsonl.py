"""Results files: one JSON record per line, appended and flushed as each problem finishes."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from agentscale.errors import ConfigError

__all__ = ["append_jsonl", "completed", "read_jsonl"]


def append_jsonl(path: Path, record: BaseModel | Mapping[str, Any]) -> None:
    """Append one record as a JSON line and flush it to disk, so a killed run keeps it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = record.model_dump(mode="json") if isinstance(record, BaseModel) else dict(record)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(data) + "\n")
        fh.flush()


def read_jsonl(path: Path, *, kind: str | None = None) -> list[dict[str, Any]]:
    """The records of a results file, skipping a last line cut short by a kill.

    Args:
        path: the file (missing: no records).
        kind: keep only records with this ``"kind"``.

    Raises:
        ConfigError: a line other than the last is not JSON (not a results file).
    """
    if not path.exists():
        return []
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    records = []
    for i, line in enumerate(lines):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            if i == len(lines) - 1:
                break  # written when the run was killed
            raise ConfigError(f"{path} line {i + 1} is not JSON: {exc}") from exc
        if isinstance(record, dict) and (kind is None or record.get("kind") == kind):
            records.append(record)
    return records


def completed(records: Sequence[Mapping[str, Any]]) -> set[str]:
    """Task ids that have a record."""
    return {r["task_id"] for r in records if "task_id" in r}
