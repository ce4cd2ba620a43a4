"""Evaluation bookkeeping, apart from the library's core: records of scaled runs, their summaries,
JSONL results files, batches that resume, and the HumanEval experiments behind ``agentscale demo``
and ``benchmarks/humaneval_scaling.py``.

- ``ScaledRunner`` / ``TaskRecord``: one workflow task scaled and recorded with full provenance.
- ``run_batch`` / ``read_tasks``: many tasks into a results file that survives kills and reruns.

Core never imports this package (ruff ``TID251``); the CLI and the benchmarks do.
"""

from agentscale.evaluation._jsonl import append_jsonl, completed, read_jsonl
from agentscale.evaluation.batch import (
    BatchEvent,
    BatchReport,
    LineError,
    TaskLine,
    TasksFile,
    is_finished,
    read_results,
    read_tasks,
    run_batch,
)
from agentscale.evaluation.humaneval import (
    ProblemResult,
    SampleRecord,
    Summary,
    agent_diversity,
    candidates_line,
    solve,
    solve_all,
    summarize,
)
from agentscale.evaluation.scaled import (
    RolloutRecord,
    RunSettings,
    ScaledRunner,
    ScoreRecord,
    TaskRecord,
)

__all__ = [
    "BatchEvent",
    "BatchReport",
    "LineError",
    "ProblemResult",
    "RolloutRecord",
    "RunSettings",
    "SampleRecord",
    "ScaledRunner",
    "ScoreRecord",
    "Summary",
    "TaskLine",
    "TaskRecord",
    "TasksFile",
    "agent_diversity",
    "append_jsonl",
    "candidates_line",
    "completed",
    "is_finished",
    "read_jsonl",
    "read_results",
    "read_tasks",
    "run_batch",
    "solve",
    "solve_all",
    "summarize",
]
