"""The search indexes: the numpy and plain-Python paths agree, and updates never leave stale rows."""

from __future__ import annotations

import random

import pytest

import agentscale.memory._index as index_module
from agentscale.memory._index import BM25Index, VectorIndex
from agentscale.memory._text import tokenize


def _both(monkeypatch, idx, query, k):
    fast = idx.search(query, k)
    monkeypatch.setattr(index_module, "_np", None)
    slow = idx.search(query, k)
    monkeypatch.undo()
    return fast, slow


@pytest.mark.skipif(index_module._np is None, reason="numpy not installed")
def test_bm25_numpy_and_python_agree_under_churn(monkeypatch):
    rng = random.Random(7)
    words = [f"w{i}" for i in range(40)]
    idx, live = BM25Index(), {}
    for step in range(4000):  # enough re-adds to force a compaction
        doc = f"d{rng.randrange(200)}"
        if rng.random() < 0.1:
            idx.remove(doc)
            live.pop(doc, None)
        else:
            terms = {w: rng.randint(1, 3) for w in rng.sample(words, 5)}
            idx.add(doc, terms, rng.choice([0.8, 1.0, 1.3]))
            live[doc] = terms
        if step % 400 == 0:
            fast, slow = _both(monkeypatch, idx, rng.sample(words, 3), 5)
            assert [round(s, 3) for _, s in fast] == [round(s, 3) for _, s in slow]
    assert len(idx) == len(live)
    assert len(idx._ids) < 2 * len(live) + 1100  # compacted
    for doc, terms in live.items():  # every live doc is findable by its own terms
        assert doc in [d for d, _ in idx.search(list(terms), len(live))]


def test_bm25_prefers_rare_terms_and_ignores_no_overlap():
    idx = BM25Index()
    idx.add("common", {"list": 1, "sort": 1})
    idx.add("rare", {"list": 1, "heap": 1})
    for i in range(5):
        idx.add(f"filler{i}", {"list": 1, f"x{i}": 1})
    assert idx.search(["list", "heap"], 1)[0][0] == "rare"
    assert idx.search(["absent"], 3) == []
    assert idx.search(["list"], 0) == []


@pytest.mark.skipif(index_module._np is None, reason="numpy not installed")
def test_vectors_numpy_and_python_agree(monkeypatch):
    rng = random.Random(3)
    fast_idx, slow_idx = VectorIndex(), VectorIndex()
    vectors = {f"d{i}": [rng.gauss(0, 1) for _ in range(8)] for i in range(50)}
    for doc, v in vectors.items():
        fast_idx.add(doc, v, 1.0 + (hash(doc) % 3) / 10)
    fast_idx.remove("d3")
    fast_idx.add("d4", vectors["d5"], 1.0)  # update in place
    monkeypatch.setattr(index_module, "_np", None)
    for doc, v in vectors.items():
        slow_idx.add(doc, v, 1.0 + (hash(doc) % 3) / 10)
    slow_idx.remove("d3")
    slow_idx.add("d4", vectors["d5"], 1.0)
    query = [rng.gauss(0, 1) for _ in range(8)]
    slow = slow_idx.search(query, 5)
    monkeypatch.undo()
    fast = fast_idx.search(query, 5)
    assert [d for d, _ in fast] == [d for d, _ in slow]
    assert "d3" not in [d for d, _ in fast_idx.search(vectors["d3"], 50)]
    assert fast_idx.search([1.0, 2.0], 3) == []  # another dimension matches nothing


def test_tokenize_handles_code_and_unicode():
    code = "def merge_intervals(xs): return sorted(xs)"
    assert tokenize(code) == ["def", "merge", "interval", "xs", "sort", "xs"]
    assert tokenize("") == [] and tokenize("¿Qué pasó? 日本語") == ["qué", "pasó", "日本語"]
