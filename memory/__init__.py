"""The memory bank: agents learn from their successes and failures across tasks (ReasoningBank).

Before a task, :func:`recall` (a LangGraph node) or :meth:`MemoryBank.recall` finds the lessons
most similar to it; after the task, :func:`remember` / :meth:`MemoryBank.remember` judges the
rollouts, distils at most a few new lessons (contrasting passing and failing rollouts when a
task had several) and stores them. Items live in SQLite by default (:class:`SQLiteMemoryStore`:
WAL, safe across processes, migrated schema) and are found by local sentence embeddings when
the ``embeddings`` extra is installed, by BM25 otherwise.
"""

from agentscale.memory._bank import MemoryBank, task_outcome
from agentscale.memory._distill import Distiller, JudgedRollout, normalise_verdicts
from agentscale.memory._embed import SentenceEmbedder, embeddings_available
from agentscale.memory._inmemory import InMemoryMemoryStore
from agentscale.memory._item import MemoryItem, MemorySource, ScoredMemory
from agentscale.memory._jsonl import export_jsonl, import_jsonl, read_jsonl
from agentscale.memory._nodes import (
    MemoryContext,
    MemoryState,
    inject_memories,
    recall,
    remember,
    render_memories,
)
from agentscale.memory._parse import parse_items, parse_judgement
from agentscale.memory._sqlite import SQLiteMemoryStore

__all__ = [
    "Distiller",
    "InMemoryMemoryStore",
    "JudgedRollout",
    "MemoryBank",
    "MemoryContext",
    "MemoryItem",
    "MemorySource",
    "MemoryState",
    "SQLiteMemoryStore",
    "ScoredMemory",
    "SentenceEmbedder",
    "embeddings_available",
    "export_jsonl",
    "import_jsonl",
    "inject_memories",
    "normalise_verdicts",
    "parse_items",
    "parse_judgement",
    "read_jsonl",
    "recall",
    "remember",
    "render_memories",
    "task_outcome",
]
