"""The memory bank: agents learn from their successes and failures across tasks (ReasoningBank).

Before a task, :data:`recall` (a LangGraph node) or :meth:`MemoryBank.recall` finds the lessons
most similar to it; after the task, :data:`remember` / :meth:`MemoryBank.remember` judges the
rollouts, distils at most a few new lessons (contrasting passing and failing rollouts when a
task had several) and stores them. The nodes are core's (``agentscale.strategies.Recall`` and
``Remember``, the same ones every ``scale()`` graph runs), re-exported here for your own graphs:
``recall`` writes ``lessons`` (texts for your agent's prompt, e.g. through
``agentscale.prompts.render_lessons``) and ``memories`` (ids); ``remember`` reads ``task``,
``rollouts``, ``verdicts`` and ``memories`` and writes ``remembered``. Items live in SQLite by
default (:class:`SQLiteMemoryStore`: WAL, safe across processes, migrated schema) and are found
by local sentence embeddings when the ``embeddings`` extra is installed, by BM25 otherwise.
"""

from agentscale.memory._bank import MemoryBank, task_outcome
from agentscale.memory._context import MemoryContext
from agentscale.memory._distill import Distiller, JudgedRollout, normalise_verdicts
from agentscale.memory._embed import SentenceEmbedder, embeddings_available
from agentscale.memory._inmemory import InMemoryMemoryStore
from agentscale.memory._item import MemoryItem, MemorySource, ScoredMemory
from agentscale.memory._jsonl import export_jsonl, import_items, import_jsonl, read_jsonl
from agentscale.memory._parse import parse_items, parse_judgement
from agentscale.memory._sqlite import SQLiteMemoryStore
from agentscale.strategies.lessons import Recall, Remember

recall = Recall(require_memory=True)
"""Node: the lessons the context's bank recalls for ``state["task"]`` (``lessons``, ``memories``)."""

remember = Remember(require_memory=True)
"""Node: the context's bank learns from ``state["rollouts"]`` and ``verdicts`` (``remembered``)."""

__all__ = [
    "Distiller",
    "InMemoryMemoryStore",
    "JudgedRollout",
    "MemoryBank",
    "MemoryContext",
    "MemoryItem",
    "MemorySource",
    "Recall",
    "Remember",
    "SQLiteMemoryStore",
    "ScoredMemory",
    "SentenceEmbedder",
    "embeddings_available",
    "export_jsonl",
    "import_items",
    "import_jsonl",
    "normalise_verdicts",
    "parse_items",
    "parse_judgement",
    "read_jsonl",
    "recall",
    "remember",
    "task_outcome",
]
