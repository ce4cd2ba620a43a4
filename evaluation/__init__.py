"""Evaluation bookkeeping, apart from the library's core: records of scaled runs, their summaries,
JSONL results files, and the HumanEval experiments behind ``agentscale demo`` and
``benchmarks/humaneval_scaling.py``.

Core never imports this package (ruff ``TID251``); the CLI and the benchmarks do.
"""

from agentscale.evaluation._jsonl import append_jsonl, completed, read_jsonl
from agentscale.evaluation.humaneval import ProblemResult, SampleRecord, Summary, solve, solve_all, summarize

__all__ = [
    "ProblemResult",
    "SampleRecord",
    "Summary",
    "append_jsonl",
    "completed",
    "read_jsonl",
    "solve",
    "solve_all",
    "summarize",
]
