"""Export and import a bank as JSON Lines: one item per line.

An import is all or nothing: every line is read and checked first, then all items are written
in one transaction, so a bad file names its first bad line and leaves the bank as it was.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from agentscale.errors import MemoryBankError
from agentscale.memory._bank import MemoryBank
from agentscale.memory._item import MemoryItem

__all__ = ["export_jsonl", "import_items", "import_jsonl", "read_jsonl"]


async def export_jsonl(bank: MemoryBank, path: str | Path, *, embeddings: bool = False) -> int:
    """Write every item to ``path``; returns how many. Vectors are left out unless ``embeddings``."""
    items = await bank.store.list(order="recent")
    exclude = None if embeddings else {"embedding", "embedder"}
    tmp = Path(f"{path}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as out:
            for item in reversed(items):  # oldest first, so an import keeps the order
                out.write(item.model_dump_json(exclude=exclude) + "\n")
        tmp.replace(path)  # never leave a half-written export under the real name
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise MemoryBankError(f"cannot write {path}: {exc}") from exc
    return len(items)


def read_jsonl(path: str | Path) -> list[MemoryItem]:
    """Parse and validate an export; raises on the first bad line.

    Raises:
        MemoryBankError: the file cannot be read, or a line is not a valid item (the message
            names the file and line), or two lines share an id.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MemoryBankError(f"cannot read {path}: {exc}") from exc
    items: list[MemoryItem] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}, line {number}"
        try:
            data = json.loads(line)
        except ValueError as exc:
            raise MemoryBankError(f"{where}: not valid JSON ({exc})") from exc
        if not isinstance(data, dict):
            raise MemoryBankError(f"{where}: expected a JSON object, got {type(data).__name__}")
        try:
            item = MemoryItem.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'item'}: {err['msg']}" for err in exc.errors()[:3]
            )
            raise MemoryBankError(f"{where}: not a memory item ({problems})") from exc
        if item.id in seen:
            raise MemoryBankError(f"{where}: id {item.id!r} already used on line {seen[item.id]}")
        seen[item.id] = number
        items.append(item)
    return items


async def import_jsonl(bank: MemoryBank, path: str | Path) -> int:
    """Add every item in ``path`` (replacing items with the same id) in one transaction; returns how many.

    Items keep their ids, stats and provenance; vectors are made for those that lack them.
    Nothing is merged or evicted, so an export re-imports as it was.
    """
    return await import_items(bank, read_jsonl(path))


async def import_items(bank: MemoryBank, items: list[MemoryItem]) -> int:
    """Add items already read with ``read_jsonl`` (see ``import_jsonl``) in one transaction."""
    if bank.embedder is not None:
        missing = [it for it in items if not it.embedding or it.embedder != bank.embedder.name]
        vectors = await bank.embedder.embed([it.index_text() for it in missing])
        for it, vector in zip(missing, vectors, strict=True):
            it.embedding, it.embedder = vector, bank.embedder.name
    await bank.store.add(items)
    return len(items)
