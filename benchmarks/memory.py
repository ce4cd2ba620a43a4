"""Memory bank speed: insert throughput and retrieval latency at 1k, 10k and 100k items.

    .venv/bin/python benchmarks/memory.py                 # all sizes (100k takes a few minutes)
    .venv/bin/python benchmarks/memory.py --sizes 1000 10000

Items are synthetic (Zipf-distributed words, ~40 terms each, like a distilled lesson plus the
task it came from), stored in a real SQLite file in a temporary folder. Retrieval is measured
on the SQLite store: BM25 (the default without the embeddings extra) and, with numpy, cosine
search over 384-dimensional vectors stored with the items (random vectors: this times the
search, not the embedding model; encoding one query with all-MiniLM-L6-v2 is measured apart
when the extra is installed). "recall" adds what the bank does per task: count the uses.
Goal: retrieval under 10 ms at 10k items.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from agentscale.memory import MemoryBank, MemoryItem, SentenceEmbedder, SQLiteMemoryStore, embeddings_available

try:
    import numpy as np
except ImportError:  # vectors are then skipped
    np = None

DIM = 384
QUERIES = 200


def _vocabulary(rng: random.Random, size: int = 6000) -> list[str]:
    syllables = ["ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "de", "va", "zo", "shi", "gu", "fe", "ba"]
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))))
    return sorted(words)


class _Text:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.words = _vocabulary(self.rng)
        self.weights = [1.0 / (rank + 1) for rank in range(len(self.words))]  # Zipf

    def words_(self, n: int) -> str:
        return " ".join(self.rng.choices(self.words, self.weights, k=n))

    def item(self, i: int) -> MemoryItem:
        vector = None
        if np is not None:
            vector = self.rng.gauss(0, 1), *[self.rng.gauss(0, 1) for _ in range(DIM - 1)]
        return MemoryItem(
            id=f"m{i}", title=self.words_(5), description=self.words_(8), content=self.words_(20),
            query=self.words_(12), embedding=list(vector) if vector else None,
            embedder="synthetic" if vector else None,
        )  # fmt: skip


def _ms(samples: list[float]) -> tuple[float, float]:
    samples = sorted(samples)
    return statistics.median(samples) * 1000, samples[int(0.95 * (len(samples) - 1))] * 1000


async def _timed(fn, queries) -> tuple[float, float]:
    samples = []
    for q in queries:
        t = time.perf_counter()
        await fn(q)
        samples.append(time.perf_counter() - t)
    return _ms(samples)


async def run_size(n: int, folder: Path, text: _Text) -> dict[str, object]:
    db = folder / f"bank-{n}.db"
    items = [text.item(i) for i in range(n)]
    store = await SQLiteMemoryStore.open(db)
    t = time.perf_counter()
    for start in range(0, n, 1000):
        await store.add(items[start : start + 1000])
    batch_rate = n / (time.perf_counter() - t)
    singles = [text.item(n + i) for i in range(300)]
    t = time.perf_counter()
    for item in singles:
        await store.add([item])
    single_rate = len(singles) / (time.perf_counter() - t)
    await store.aclose()

    # A fresh process opening the bank pays for loading the index once.
    store = await SQLiteMemoryStore.open(db)
    t = time.perf_counter()
    await store.search("warm up", k=5)
    cold = time.perf_counter() - t
    queries = [text.words_(12) for _ in range(QUERIES)]
    bm25 = await _timed(lambda q: store.search(q, k=5), queries)
    row: dict[str, object] = {"n": n, "batch": batch_rate, "single": single_rate, "cold": cold, "bm25": bm25}
    if np is not None:
        vectors = [[random.gauss(0, 1) for _ in range(DIM)] for _ in range(QUERIES)]
        pairs = list(zip(queries, vectors, strict=True))
        row["vector"] = await _timed(lambda qv: store.search(qv[0], k=5, embedding=qv[1]), pairs)
    bank = MemoryBank(store, embedder=None, max_items=10 * n)
    row["recall"] = await _timed(lambda q: bank.recall(q, k=5), queries)
    await store.aclose()
    return row


async def _encode_latency() -> tuple[float, float] | None:
    if not embeddings_available():
        return None
    embedder = SentenceEmbedder()
    await embedder.embed(["load the model"])
    text = _Text(1)
    return await _timed(lambda q: embedder.embed([q]), [text.words_(15) for _ in range(30)])


async def main(sizes: list[int]) -> None:
    console = Console()
    table = Table(title="memory bank (SQLite file, one process)")
    for name in ("items", "insert/s (1000 per txn)", "insert/s (1 per txn)", "index load s",
                 "BM25 median/p95 ms", "vector median/p95 ms", "recall (BM25) median/p95 ms"):  # fmt: skip
        table.add_column(name, justify="right")
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            row = await run_size(n, Path(tmp), _Text(0))
            vector = row.get("vector")
            table.add_row(
                f"{n:,}", f"{row['batch']:,.0f}", f"{row['single']:,.0f}", f"{row['cold']:.2f}",
                "{:.2f} / {:.2f}".format(*row["bm25"]),
                "{:.2f} / {:.2f}".format(*vector) if vector else "no numpy",
                "{:.2f} / {:.2f}".format(*row["recall"]),
            )  # fmt: skip
            console.print(f"done: {n:,} items")
    console.print(table)
    encode = await _encode_latency()
    if encode:
        console.print("all-MiniLM-L6-v2, one query on the CPU: median {:.1f} ms, p95 {:.1f} ms".format(*encode))
    else:
        console.print("embeddings extra not installed: query encoding not measured")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    asyncio.run(main(parser.parse_args().sizes))
