"""What every MemoryStore must do, run against each backend."""

from __future__ import annotations

import pytest

from agentscale.errors import MemoryBankError
from agentscale.memory import MemoryItem, MemorySource
from agentscale.protocols import MemoryStore


def _item(i: int, **kw) -> MemoryItem:
    return MemoryItem(
        id=f"i{i}", title=f"title {i}", content=f"content about topic{i}", created_at=1000 + i, **kw
    )


async def test_is_a_memory_store(store):
    assert isinstance(store, MemoryStore)


async def test_add_get_roundtrip_keeps_everything(store):
    item = MemoryItem(
        title="Guard empty input", description="lists that may be empty", content="Return early.",
        kind="pitfall", query="max of a list", embedding=[0.5, 0.25, 0.0],
        embedder="test", provenance=[MemorySource(task_id="t1", rollout_ids=["r1", "r2"], outcome="failure")],
    )  # fmt: skip
    await store.add([item])
    got = await store.get(item.id)
    assert got == item
    assert await store.get("missing") is None
    assert await store.count() == 1


async def test_add_replaces_by_id(store):
    await store.add([_item(1)])
    await store.add([_item(1).model_copy(update={"title": "new title"})])
    assert await store.count() == 1
    assert (await store.get("i1")).title == "new title"


async def test_search_finds_lexical_match_and_skips_unrelated(store):
    await store.add([_item(i) for i in range(5)])
    hits = await store.search("what about topic3?", k=3)
    assert [h.item.id for h in hits] == ["i3"]
    assert hits[0].via == "bm25"
    assert await store.search("nothing shared here", k=3) == []


async def test_vector_search_ranks_by_cosine_then_fills_lexically(store):
    await store.add([
        _item(1, embedding=[1.0, 0.0], embedder="e"),
        _item(2, embedding=[0.6, 0.8], embedder="e"),
        _item(3),  # no vector: found lexically only
    ])  # fmt: skip
    hits = await store.search("topic3", k=3, embedding=[0.0, 1.0])
    assert [h.item.id for h in hits] == ["i2", "i1", "i3"]
    assert [h.via for h in hits] == ["vector", "vector", "bm25"]


async def test_record_use_counts_and_weights(store):
    await store.add([_item(1), _item(2)])
    await store.record_use(["i1", "i1", "i2"])  # duplicates in one call count once
    await store.record_use(["i1"], passed=False)
    await store.record_use(["i2"], passed=True)
    one, two = await store.get("i1"), await store.get("i2")
    assert (one.uses, one.successes, one.failures) == (1, 0, 1)
    assert (two.uses, two.successes, two.failures) == (1, 1, 0)
    assert one.last_used_at is not None
    assert one.weight < 0.5 < two.weight


async def test_weight_changes_ranking_between_equally_relevant_items(store):
    await store.add([
        MemoryItem(id="a", title="sorting", content="sort the list first"),
        MemoryItem(id="b", title="sorting", content="sort the list first"),
    ])  # fmt: skip
    for _ in range(3):
        await store.record_use(["a"], passed=False)
        await store.record_use(["b"], passed=True)
    hits = await store.search("sort a list", k=2)
    assert [h.item.id for h in hits] == ["b", "a"]


async def test_list_orders(store):
    await store.add([_item(i) for i in range(4)])
    await store.record_use(["i0"])
    await store.record_use(["i0"])
    await store.record_use(["i2"], passed=True)
    assert [it.id for it in await store.list()] == ["i3", "i2", "i1", "i0"]
    assert [it.id for it in await store.list(order="uses", limit=1)] == ["i0"]
    assert [it.id for it in await store.list(order="weight", limit=1)] == ["i2"]
    with pytest.raises(MemoryBankError, match="unknown order"):
        await store.list(order="bogus")


async def test_delete_and_search_forgets(store):
    await store.add([_item(1), _item(2)])
    assert await store.delete(["i1", "nope"]) == 1
    assert await store.search("topic1", k=5) == []
    assert await store.count() == 1
    await store.add([_item(1)])  # re-adding a deleted id brings it back
    assert [h.item.id for h in await store.search("topic1", k=5)] == ["i1"]


async def test_evict_drops_lowest_weight_then_least_recently_used(store):
    await store.add([_item(i) for i in range(5)])
    await store.record_use(["i4"], passed=False)  # lowest weight
    await store.record_use(["i0"])  # recently used: kept over i1, i2
    evicted = await store.evict(2)
    assert evicted == ["i4", "i1", "i2"]
    assert sorted(it.id for it in await store.list()) == ["i0", "i3"]
    assert await store.evict(10) == []
    with pytest.raises(MemoryBankError):
        await store.evict(-1)


async def test_ids_with_prefix(store):
    await store.add([MemoryItem(id=i, title=i, content="c") for i in ("ab1", "ab2", "b%_", "abc")])
    assert await store.ids_with_prefix("ab") == ["ab1", "ab2", "abc"]
    assert await store.ids_with_prefix("ab", limit=2) == ["ab1", "ab2"]
    assert await store.ids_with_prefix("b%") == ["b%_"] and await store.ids_with_prefix("%") == []
    assert await store.ids_with_prefix("zz") == []
