"""``agentscale memory list | show | search | export | import | prune``: look after a memory bank.

The bank is a SQLite file: ``--db PATH``, else ``$AGENTSCALE_MEMORY_DB``, else ``memory.db`` in
``$AGENTSCALE_CACHE`` or ``~/.cache/agentscale``. Commands call :mod:`agentscale.memory` and
hold no SQL.
"""

from __future__ import annotations

import argparse
import os
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from agentscale.errors import MemoryBankError
from agentscale.memory import MemoryBank, MemoryItem, export_jsonl, import_items, read_jsonl

__all__ = ["default_db", "register"]

EXAMPLES = """examples:
  agentscale memory list --sort uses                # --db PATH, default $AGENTSCALE_CACHE/memory.db
  agentscale memory show 3f2a                       # an id, or a unique start of one
  agentscale memory search "merge overlapping intervals"
  agentscale memory export bank.jsonl && agentscale memory --db other.db import bank.jsonl
  agentscale memory prune --max-items 1000 --min-weight 0.3
"""


def default_db() -> Path:
    """Where the bank lives when ``--db`` is not given."""
    if path := os.environ.get("AGENTSCALE_MEMORY_DB"):
        return Path(path)
    cache = os.environ.get("AGENTSCALE_CACHE")
    return (Path(cache) if cache else Path.home() / ".cache" / "agentscale") / "memory.db"


def register(subparsers) -> None:
    """Add ``memory`` and its subcommands to the CLI."""
    db = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a --db given before the subcommand must not be reset by the subcommand's default.
    db.add_argument("--db", type=Path, default=argparse.SUPPRESS, help="the bank's SQLite file")
    parser = subparsers.add_parser(
        "memory", parents=[db], help="inspect and maintain the memory bank", epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    commands = parser.add_subparsers(dest="memory_command", metavar="COMMAND", required=True)

    cmd = commands.add_parser("list", parents=[db], help="list items")
    cmd.add_argument("--limit", type=int, default=50, help="most items to show (default 50)")
    cmd.add_argument("--sort", choices=("recent", "uses", "weight"), default="recent")
    cmd.set_defaults(handler=_list)

    cmd = commands.add_parser("show", parents=[db], help="show one item with its provenance")
    cmd.add_argument("id", help="the item's id, or enough of its start to name one item")
    cmd.set_defaults(handler=_show)

    cmd = commands.add_parser("search", parents=[db], help="the items a task like QUERY would recall")
    cmd.add_argument("query")
    cmd.add_argument("-k", type=int, default=5, help="how many (default 5)")
    cmd.add_argument("--lexical", action="store_true", help="BM25 only, even if embeddings are installed")
    cmd.set_defaults(handler=_search)

    cmd = commands.add_parser("export", parents=[db], help="write every item to a JSONL file")
    cmd.add_argument("file", type=Path)
    cmd.add_argument("--with-embeddings", action="store_true", help="include the stored vectors")
    cmd.set_defaults(handler=_export)

    cmd = commands.add_parser("import", parents=[db], help="add items from a JSONL file (all or nothing)")
    cmd.add_argument("file", type=Path)
    cmd.set_defaults(handler=_import)

    cmd = commands.add_parser("prune", parents=[db], help="delete low-weight items and evict down to a size")
    cmd.add_argument("--max-items", type=int, default=5000, help="keep at most this many (default 5000)")
    cmd.add_argument("--min-weight", type=float, help="delete items whose weight is below this (0-1)")
    cmd.set_defaults(handler=_prune)


async def _open(args: argparse.Namespace, *, embeddings: bool = False, create: bool = False) -> MemoryBank:
    path = getattr(args, "db", None) or default_db()
    if not create and not Path(path).exists():
        raise MemoryBankError(
            f"no memory bank at {path} (give --db, or `agentscale memory import` to start one)"
        )
    return await MemoryBank.open(path, embedder="auto" if embeddings else None)


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M") if ts else "-"


def _console() -> Console:
    return Console(highlight=False)


def _items_table(items: list[MemoryItem], scores: list[tuple[float, str]] | None = None) -> Table:
    table = Table(show_lines=False)
    if scores is not None:
        table.add_column("score", justify="right")
        table.add_column("via")
    for name in ("id", "kind", "title"):
        table.add_column(name, overflow="fold")
    for name in ("uses", "pass", "fail", "weight"):
        table.add_column(name, justify="right")
    table.add_column("created")
    for i, it in enumerate(items):
        extra = [f"{scores[i][0]:.3f}", scores[i][1]] if scores is not None else []
        table.add_row(
            *extra, it.id, it.kind, it.title, str(it.uses), str(it.successes), str(it.failures),
            f"{it.weight:.2f}", _when(it.created_at),
        )  # fmt: skip
    return table


async def _list(args: argparse.Namespace) -> int:
    async with await _open(args) as bank:
        items = await bank.store.list(limit=args.limit, order=args.sort)
        total = await bank.store.count()
    console = _console()
    console.print(_items_table(items))
    console.print(f"{len(items)} of {total} items in {getattr(args, 'db', None) or default_db()}")
    return 0


async def _show(args: argparse.Namespace) -> int:
    async with await _open(args) as bank:
        item = await bank.store.get(await bank.resolve_id(args.id))
    if item is None:
        raise MemoryBankError(f"no memory item {args.id!r}")
    console = _console()
    fields = Table.grid(padding=(0, 2))
    fields.add_column(style="bold")
    fields.add_column(overflow="fold")
    for name, value in (
        ("id", item.id), ("title", item.title), ("kind", item.kind), ("description", item.description),
        ("content", item.content), ("learned from", item.query),
        ("uses / pass / fail", f"{item.uses} / {item.successes} / {item.failures}"),
        ("weight", f"{item.weight:.2f}"),
        ("created", _when(item.created_at)), ("last used", _when(item.last_used_at)),
        ("embedding", f"{item.embedder} ({len(item.embedding)} dims)" if item.embedding else "none"),
    ):  # fmt: skip
        fields.add_row(name, value)
    console.print(fields)
    if item.provenance:
        table = Table(title="provenance")
        for name in ("task", "rollouts", "outcome", "when", "model"):
            table.add_column(name, overflow="fold")
        for p in item.provenance:
            table.add_row(p.task_id, ", ".join(p.rollout_ids), p.outcome, _when(p.created_at), p.model or "-")
        console.print(table)
    return 0


async def _search(args: argparse.Namespace) -> int:
    async with await _open(args, embeddings=not args.lexical) as bank:
        hits = await bank.search(args.query, k=args.k)
    console = _console()
    if not hits:
        console.print("no matching items")
        return 0
    console.print(_items_table([h.item for h in hits], [(h.score, h.via) for h in hits]))
    return 0


async def _export(args: argparse.Namespace) -> int:
    async with await _open(args) as bank:
        n = await export_jsonl(bank, args.file, embeddings=args.with_embeddings)
    _console().print(f"exported {n} items to {args.file}")
    return 0


async def _import(args: argparse.Namespace) -> int:
    items = read_jsonl(args.file)  # every line checked before the bank is touched (or made)
    path = Path(getattr(args, "db", None) or default_db())
    made = not path.exists()
    try:
        async with await _open(args, embeddings=True, create=True) as bank:
            n = await import_items(bank, items)
    except BaseException:
        if made:  # a failed import into a new bank leaves no empty bank behind
            for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
                leftover.unlink(missing_ok=True)
        raise
    _console().print(f"imported {n} items from {args.file}")
    return 0


async def _prune(args: argparse.Namespace) -> int:
    if args.max_items < 0:
        raise MemoryBankError(f"--max-items must be >= 0, got {args.max_items}")
    async with await _open(args) as bank:
        gone = await bank.prune(max_items=args.max_items, min_weight=args.min_weight)
        left = await bank.store.count()
    _console().print(f"deleted {len(gone)} items; {left} left")
    return 0
