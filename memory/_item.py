"""The records a memory bank keeps: a distilled lesson, where it came from, how it has fared."""

from __future__ import annotations

import time
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["MemoryItem", "MemorySource", "ScoredMemory"]

Outcome = Literal["success", "failure", "contrast", "imported"]


def _new_id() -> str:
    return uuid.uuid4().hex[:12]


class MemorySource(BaseModel):
    """Provenance: one task (and its rollouts) an item was learned from.

    Attributes:
        task_id: the task's id.
        rollout_ids: the rollouts the lesson was distilled from.
        outcome: ``"success"`` (learned from passing rollouts), ``"failure"`` (from failing ones),
            ``"contrast"`` (passing versus failing rollouts of one task) or ``"imported"``.
        created_at: Unix time the lesson was distilled.
        model: the model that distilled it, where known.
    """

    task_id: str
    rollout_ids: list[str] = Field(default_factory=list)
    outcome: Outcome
    created_at: float = Field(default_factory=time.time)
    model: str | None = None


class MemoryItem(BaseModel):
    """One reusable lesson: a strategy that worked or a pitfall to avoid.

    ``uses`` counts retrievals; ``successes`` and ``failures`` count how the tasks it was
    retrieved for ended, which sets its :attr:`weight`. ``embedding`` is stored with the item
    (``embedder`` names the model that made it) so retrieval never re-embeds the bank.

    Example:
        >>> item = MemoryItem(title="Check empty input", content="Return [] early for empty lists.")
        >>> item.weight
        0.5
    """

    model_config = ConfigDict(extra="forbid")

    id: str = Field(default_factory=_new_id, min_length=1, max_length=200)
    title: str = Field(min_length=1, max_length=500)
    description: str = Field(default="", max_length=2000)
    """One line: when the lesson applies."""
    content: str = Field(min_length=1, max_length=20_000)
    """The lesson itself, a few sentences."""
    kind: Literal["strategy", "pitfall"] = "strategy"
    query: str = Field(default="", max_length=4000)
    """The task prompt the lesson was learned from; indexed, so similar tasks find it."""
    provenance: list[MemorySource] = Field(default_factory=list)
    uses: int = Field(default=0, ge=0)
    successes: int = Field(default=0, ge=0)
    failures: int = Field(default=0, ge=0)
    created_at: float = Field(default_factory=time.time)
    updated_at: float = Field(default_factory=time.time)
    last_used_at: float | None = None
    embedding: list[float] | None = None
    embedder: str | None = None

    @property
    def weight(self) -> float:
        """How well tasks went when this item was recalled: Laplace-smoothed success rate in (0, 1)."""
        return (1 + self.successes) / (2 + self.successes + self.failures)

    def index_text(self) -> str:
        """The text retrieval matches a new task against."""
        return "\n".join(part for part in (self.query, self.title, self.description, self.content) if part)

    def render(self) -> str:
        """The item as the agent sees it in its prompt."""
        label = "Pitfall to avoid" if self.kind == "pitfall" else "Strategy"
        head = f"{label}: {self.title}"
        if self.description:
            head += f" ({self.description})"
        return f"{head}\n{self.content}"


class ScoredMemory(BaseModel):
    """An item returned by a search, with its ranking score (higher is more relevant)."""

    item: MemoryItem
    score: float
    via: Literal["vector", "bm25"] = "bm25"
    """Which index found it."""
