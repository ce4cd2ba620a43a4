"""``agentscale memory ...`` on a real bank file, through the CLI's own entry point."""

from __future__ import annotations

import asyncio
import json

import pytest

from agentscale.cli import main
from agentscale.memory import MemoryBank, MemoryItem, MemorySource


@pytest.fixture
async def db(tmp_path):
    path = tmp_path / "bank.db"
    async with await MemoryBank.open(path, embedder=None) as bank:
        source = MemorySource(task_id="task-7", rollout_ids=["r1", "r2"], outcome="contrast")
        first = MemoryItem(
            id="sortfirst", title="Sort intervals before merging", content="Sort by start, then merge.",
            description="interval problems", query="merge overlapping intervals", provenance=[source],
        )  # fmt: skip
        second = MemoryItem(id="emptyguard", title="Guard empty input", content="None.", kind="pitfall")
        await bank.add([first, second], dedupe=False)
        await bank.store.record_use(["emptyguard"], passed=False)
    return path


@pytest.fixture(autouse=True)
def _wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


def test_list_and_sort(db, capsys):
    assert main(["memory", "--db", str(db), "list"]) == 0
    out = capsys.readouterr().out
    assert "Sort intervals before merging" in out and "Guard empty input" in out
    assert "2 of 2 items" in out
    assert main(["memory", "list", "--db", str(db), "--sort", "weight", "--limit", "1"]) == 0
    out = capsys.readouterr().out
    assert "sortfirst" in out and "emptyguard" not in out and "1 of 2 items" in out


def test_show_with_provenance(db, capsys):
    assert main(["memory", "--db", str(db), "show", "sortfirst"]) == 0
    out = capsys.readouterr().out
    assert "Sort by start, then merge." in out
    assert "task-7" in out and "r1, r2" in out and "contrast" in out


def test_show_missing_is_an_error(db, capsys):
    assert main(["memory", "--db", str(db), "show", "nope"]) == 1
    assert "no memory item 'nope'" in capsys.readouterr().err


def test_search(db, capsys):
    assert main(["memory", "--db", str(db), "search", "merge the overlapping intervals", "--lexical"]) == 0
    out = capsys.readouterr().out
    assert "sortfirst" in out and "bm25" in out and "emptyguard" not in out
    assert main(["memory", "--db", str(db), "search", "zzz unrelated", "--lexical"]) == 0
    assert "no matching items" in capsys.readouterr().out


def test_export_then_import_into_a_new_bank(db, tmp_path, capsys):
    out_file = tmp_path / "dump.jsonl"
    assert main(["memory", "--db", str(db), "export", str(out_file)]) == 0
    lines = out_file.read_text().splitlines()
    assert len(lines) == 2 and {json.loads(line)["id"] for line in lines} == {"sortfirst", "emptyguard"}
    fresh = tmp_path / "fresh.db"
    assert main(["memory", "--db", str(fresh), "import", str(out_file)]) == 0
    assert "imported 2 items" in capsys.readouterr().out
    assert main(["memory", "--db", str(fresh), "show", "emptyguard"]) == 0
    assert "0 / 0 / 1" in capsys.readouterr().out  # stats survive the round trip


def test_bad_import_names_the_line_and_changes_nothing(db, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    good = MemoryItem(id="new1", title="t", content="c").model_dump_json()
    bad.write_text(f'{good}\n{good.replace("new1", "new2")}\n{{"id": "x", "title": 5}}\n')
    assert main(["memory", "--db", str(db), "import", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "line 3" in err and "bad.jsonl" in err
    assert main(["memory", "--db", str(db), "list"]) == 0
    assert "2 of 2 items" in capsys.readouterr().out


def test_prune(db, capsys):
    assert main(["memory", "--db", str(db), "prune", "--min-weight", "0.4"]) == 0
    assert "deleted 1 items; 1 left" in capsys.readouterr().out
    assert main(["memory", "--db", str(db), "prune", "--max-items", "0"]) == 0
    assert "deleted 1 items; 0 left" in capsys.readouterr().out


def test_missing_bank_is_not_created(tmp_path, capsys):
    path = tmp_path / "none.db"
    assert main(["memory", "--db", str(path), "list"]) == 1
    assert "no memory bank at" in capsys.readouterr().err
    assert not path.exists()


def test_default_db_follows_the_cache_env(tmp_path, monkeypatch):
    from agentscale.cli.memory import default_db

    monkeypatch.setenv("AGENTSCALE_CACHE", str(tmp_path))
    assert default_db() == tmp_path / "memory.db"
    monkeypatch.setenv("AGENTSCALE_MEMORY_DB", str(tmp_path / "x.db"))
    assert default_db() == tmp_path / "x.db"


@pytest.mark.parametrize("content", [None, "{broken\n"])
def test_a_failed_import_leaves_no_empty_bank_behind(tmp_path, capsys, content):
    source = tmp_path / "items.jsonl"
    if content is not None:
        source.write_text(content)
    fresh = tmp_path / "fresh.db"
    assert main(["memory", "--db", str(fresh), "import", str(source)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(source) in err[0]  # "cannot read ..." or "..., line 1: not valid JSON"
    assert list(tmp_path.glob("fresh.db*")) == []


def test_an_import_that_fails_while_writing_removes_the_bank_it_made(tmp_path, capsys, monkeypatch):
    import agentscale.cli.memory as cli_memory
    from agentscale.errors import MemoryBankError

    source = tmp_path / "items.jsonl"
    source.write_text(MemoryItem(id="new1", title="t", content="c").model_dump_json() + "\n")

    async def failing(bank, items):
        raise MemoryBankError("disk full")

    monkeypatch.setattr(cli_memory, "import_items", failing)
    fresh = tmp_path / "fresh.db"
    assert main(["memory", "--db", str(fresh), "import", str(source)]) == 1
    assert "disk full" in capsys.readouterr().err
    assert list(tmp_path.glob("fresh.db*")) == []


def test_ids_are_accepted_by_unique_prefix(db, capsys):
    async def add() -> None:
        async with await MemoryBank.open(db, embedder=None) as bank:
            await bank.add([MemoryItem(id="sortsecond", title="Another sort", content="x")], dedupe=False)

    asyncio.run(add())
    assert main(["memory", "--db", str(db), "show", "empty"]) == 0
    assert "Guard empty input" in capsys.readouterr().out
    assert main(["memory", "--db", str(db), "show", "sort"]) == 1
    err = capsys.readouterr().err
    assert "'sort' is the start of several ids (sortfirst, sortsecond); give more of it" in err
    assert main(["memory", "--db", str(db), "show", "sortf"]) == 0
    assert main(["memory", "--db", str(db), "show", "zzz"]) == 1
    assert "no memory item 'zzz'" in capsys.readouterr().err
