"""Retrieval quality on a small fixed set: for each task the right lesson must rank first."""

from __future__ import annotations

import pytest

from agentscale.memory import (
    InMemoryMemoryStore,
    MemoryBank,
    MemoryItem,
    SentenceEmbedder,
    embeddings_available,
)

# (id, query it was learned from, title, content); each task below has exactly one right lesson.
MEMORIES = [
    (
        "dates",
        "Convert a timestamp string like 2021-07-04 into a datetime",
        "Parse dates with strptime",
        "Use datetime.strptime with an explicit format such as %Y-%m-%d.",
    ),
    (
        "empty",
        "Find the largest number in a sequence",
        "Guard against empty sequences",
        "Check for an empty input first and return None instead of calling max.",
    ),
    (
        "brackets",
        "Validate that brackets in an expression are balanced",
        "Use a stack for bracket matching",
        "Push opening brackets, pop on closing ones, fail on a mismatch.",
    ),
    (
        "intervals",
        "Combine overlapping ranges in a list of intervals",
        "Sort intervals before merging",
        "Sort by start, then extend the last merged interval while they overlap.",
    ),
    (
        "primes",
        "List every prime number up to a limit",
        "Sieve of Eratosthenes for primes",
        "Mark multiples of each prime as composite in a boolean array.",
    ),
    (
        "fib",
        "Compute Fibonacci numbers quickly",
        "Iterate instead of naive recursion",
        "Keep the last two Fibonacci values in a loop; recursion is exponential.",
    ),
    (
        "palindrome",
        "Tell whether a phrase reads the same backwards",
        "Normalise before a palindrome check",
        "Lower-case the phrase and drop non-alphanumerics before comparing.",
    ),
    (
        "anagram",
        "Decide if two strings use the same letters",
        "Count letters for anagrams",
        "Compare collections.Counter of both strings, or their sorted letters.",
    ),
]

TASKS = [
    ("Parse the date string '2024-03-05' and return its weekday", "dates"),
    ("Return the maximum of a list of numbers, or None when the list is empty", "empty"),
    ("Check whether a string of parentheses and brackets is balanced", "brackets"),
    ("Merge overlapping intervals given as [start, end] pairs", "intervals"),
    ("Return all prime numbers below n", "primes"),
    ("Return the n-th Fibonacci number for n up to 10000", "fib"),
    ("Is the sentence a palindrome, ignoring punctuation and case?", "palindrome"),
    ("Are 'listen' and 'silent' anagrams of each other?", "anagram"),
]


def _items() -> list[MemoryItem]:
    return [MemoryItem(id=i, query=q, title=t, content=c) for i, q, t, c in MEMORIES]


async def _assert_right_first(bank: MemoryBank) -> None:
    await bank.add(_items(), dedupe=False)
    ranked = {}
    for prompt, want in TASKS:
        hits = await bank.search(prompt, k=3)
        ranked[want] = [h.item.id for h in hits]
    assert {want: ids[0] if ids else None for want, ids in ranked.items()} == {w: w for _, w in TASKS}, ranked


async def test_bm25_ranks_the_right_memory_first(tmp_path):
    async with await MemoryBank.open(tmp_path / "bank.db", embedder=None) as bank:
        await _assert_right_first(bank)
        assert all(h.via == "bm25" for h in await bank.search(TASKS[0][0], k=3))


async def test_bm25_in_memory_store_agrees():
    await _assert_right_first(MemoryBank(InMemoryMemoryStore()))


@pytest.mark.slow
@pytest.mark.skipif(not embeddings_available(), reason="the embeddings extra is not installed")
async def test_embeddings_rank_the_right_memory_first(tmp_path):
    embedder = SentenceEmbedder()
    async with await MemoryBank.open(tmp_path / "bank.db", embedder=embedder) as bank:
        await _assert_right_first(bank)
        hits = await bank.search(TASKS[0][0], k=3)
        assert hits[0].via == "vector" and len((await bank.store.get("dates")).embedding) == 384
        # a paraphrase sharing no word with the lesson still finds it: this is what vectors add
        hits = await bank.search("Are these two words made of identical characters, rearranged?", k=1)
        assert hits[0].item.id == "anagram"
