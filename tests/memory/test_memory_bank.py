"""The bank's upkeep: near-duplicates merge, the cap evicts, outcomes move weights; export/import."""

from __future__ import annotations

import json

import pytest

from agentscale.errors import MemoryBankError
from agentscale.memory import (
    InMemoryMemoryStore,
    MemoryBank,
    MemoryItem,
    MemorySource,
    export_jsonl,
    import_jsonl,
)
from agentscale.testing import FakeModel
from agentscale.types import Rollout, Task, Verdict


def _lesson(title: str, content: str) -> str:
    return json.dumps([{"title": title, "description": "lists", "content": content}])


def _run(task: Task, passed: bool) -> tuple[list[Rollout], dict[str, Verdict]]:
    rollout = Rollout(task_id=task.id, output="an attempt")
    return [rollout], {rollout.id: Verdict(rollout_id=rollout.id, score=float(passed), passed=passed)}


@pytest.fixture(params=["inmemory", "sqlite"])
async def bank(request, tmp_path):
    if request.param == "inmemory":
        b = MemoryBank(InMemoryMemoryStore())
    else:
        b = await MemoryBank.open(tmp_path / "bank.db", embedder=None)
    yield b
    await b.aclose()


async def test_near_duplicates_merge_and_keep_provenance(bank):
    t1, t2 = Task(id="t1", prompt="sum a list of numbers"), Task(id="t2", prompt="sum the numbers in a list")
    model = FakeModel([
        _lesson("Handle the empty list", "Return 0 for an empty list before summing the numbers."),
        _lesson("Handle the empty list first", "Return 0 for an empty list before summing numbers."),
    ])  # fmt: skip
    first = await bank.remember(t1, *_run(t1, True), model)
    second = await bank.remember(t2, *_run(t2, False), model)
    assert await bank.store.count() == 1
    assert second[0].id == first[0].id
    item = await bank.store.get(first[0].id)
    assert [(p.task_id, p.outcome) for p in item.provenance] == [("t1", "success"), ("t2", "failure")]


async def test_distinct_lessons_are_both_kept(bank):
    task = Task(id="t1", prompt="sum a list")
    reply = json.dumps([
        {"title": "Handle the empty list", "content": "Return 0 for an empty list."},
        {"title": "Use the builtin sum", "content": "sum() is faster and clearer than a manual loop."},
    ])  # fmt: skip
    assert len(await bank.remember(task, *_run(task, True), FakeModel([reply]))) == 2
    assert await bank.store.count() == 2


async def test_size_cap_evicts_lowest_value(bank):
    bank.max_items = 3
    await bank.add(
        [MemoryItem(id=f"m{i}", title=f"lesson {i}", content=f"topic{i} advice") for i in range(3)]
    )
    await bank.store.record_use(["m1"], passed=False)
    stored = await bank.add([MemoryItem(id="new", title="fresh", content="fresh advice")])
    assert [it.id for it in stored] == ["new"]
    assert sorted(it.id for it in await bank.store.list()) == ["m0", "m2", "new"]


async def test_recalled_items_gain_on_success_and_lose_on_failure(bank):
    await bank.add(
        [MemoryItem(id="m", title="Sort first", content="Sort the intervals before merging them.")]
    )
    task = Task(id="t1", prompt="merge the intervals")
    assert [h.item.id for h in await bank.recall(task, k=2)] == ["m"]
    await bank.remember(task, *_run(task, False))
    task2 = Task(id="t2", prompt="merge intervals again")
    await bank.recall(task2, k=2)
    await bank.remember(task2, *_run(task2, False))
    item = await bank.store.get("m")
    assert (item.uses, item.successes, item.failures) == (2, 0, 2)
    assert item.weight == pytest.approx(0.25)
    task3 = Task(id="t3", prompt="merge intervals once more")
    await bank.recall(task3)
    await bank.remember(task3, *_run(task3, True))
    assert (await bank.store.get("m")).successes == 1


async def test_prune_by_weight_and_size(bank):
    await bank.add([MemoryItem(id=f"m{i}", title=f"l{i}", content=f"c{i} topic") for i in range(4)])
    await bank.store.record_use(["m0"], passed=False)
    assert await bank.prune(min_weight=0.4) == ["m0"]
    assert len(await bank.prune(max_items=1)) == 2
    assert await bank.store.count() == 1


async def test_recall_of_empty_query_or_bank(bank):
    assert await bank.recall(Task(prompt="anything"), k=3) == []
    assert await bank.search("   ", k=3) == []


def _prov() -> list[MemorySource]:
    return [MemorySource(task_id="t1", rollout_ids=["r1"], outcome="success", created_at=1.0)]


async def test_export_import_roundtrip(bank, tmp_path):
    await bank.add(
        [MemoryItem(id=f"m{i}", title=f"l{i}", content=f"c{i}", provenance=_prov()) for i in range(3)]
    )
    await bank.store.record_use(["m1"], passed=True)
    path = tmp_path / "out.jsonl"
    assert await export_jsonl(bank, path) == 3
    other = await MemoryBank.open(tmp_path / "other.db", embedder=None)
    try:
        assert await import_jsonl(other, path) == 3
        for i in range(3):
            a, b = await bank.store.get(f"m{i}"), await other.store.get(f"m{i}")
            assert a.model_dump(exclude={"embedding", "embedder"}) == b.model_dump(
                exclude={"embedding", "embedder"}
            )
    finally:
        await other.aclose()


GOOD = MemoryItem(id="ok1", title="fine", content="fine").model_dump_json()


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([GOOD, GOOD.replace("ok1", "ok2"), "{not json"], r"line 3: not valid JSON"),
        ([GOOD, '{"id": "x", "content": "no title"}'], r"line 2: not a memory item \(title: Field required"),
        ([GOOD, "", GOOD], r"line 3: id 'ok1' already used on line 1"),
        (['["a list"]'], r"line 1: expected a JSON object"),
        ([GOOD.replace('"uses":0', '"uses":-1')], r"line 1: not a memory item \(uses"),
        ([GOOD.replace('"kind":"strategy"', '"kind":"magic"')], r"line 1: not a memory item \(kind"),
        ([GOOD.replace('"title":"fine"', '"title":"fine","surprise":1')], r"line 1: .*surprise"),
    ],
)
async def test_bad_import_names_the_line_and_changes_nothing(bank, tmp_path, lines, message):
    await bank.add(
        [
            MemoryItem(id="keep", title="kept", content="kept"),
            MemoryItem(id="ok1", title="old", content="old"),
        ]
    )
    before = [it.model_dump() for it in await bank.store.list()]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(MemoryBankError, match=message):
        await import_jsonl(bank, path)
    assert [it.model_dump() for it in await bank.store.list()] == before


async def test_unreadable_import_file(bank, tmp_path):
    with pytest.raises(MemoryBankError, match="cannot read"):
        await import_jsonl(bank, tmp_path / "missing.jsonl")
    binary = tmp_path / "bin.jsonl"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(MemoryBankError, match="cannot read"):
        await import_jsonl(bank, binary)
