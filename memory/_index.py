"""In-process search indexes: BM25 over an inverted index, and cosine similarity over vectors.

Both are kept incrementally (add/remove one document) so a store can mirror its table into them
without rebuilding. numpy is used for vectors when it is installed (it always is with the
``embeddings`` extra); without it a plain-Python loop does the same, slowly.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Mapping, Sequence

try:  # optional: vectors only come from the embeddings extra, which brings numpy
    import numpy as _np
except ImportError:  # pragma: no cover - exercised only where numpy is absent
    _np = None

__all__ = ["BM25Index", "VectorIndex"]


class BM25Index:
    """Okapi BM25 over documents given as term counts.

    Example:
        >>> idx = BM25Index()
        >>> idx.add("a", {"sort": 2, "list": 1}); idx.add("b", {"parse": 1, "date": 1})
        >>> [doc for doc, _ in idx.search(["sort"], k=5)]
        ['a']
    """

    def __init__(self, *, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self._postings: dict[str, dict[str, int]] = {}
        self._docs: dict[str, tuple[str, ...]] = {}
        self._lengths: dict[str, int] = {}
        self._boost: dict[str, float] = {}
        self._total = 0

    def __len__(self) -> int:
        return len(self._docs)

    def __contains__(self, doc: str) -> bool:
        return doc in self._docs

    def add(self, doc: str, terms: Mapping[str, int], boost: float = 1.0) -> None:
        """Index ``doc`` (replacing an earlier version of it); its scores are multiplied by ``boost``."""
        if doc in self._docs:
            self.remove(doc)
        if boost != 1.0:
            self._boost[doc] = boost
        for term, tf in terms.items():
            self._postings.setdefault(term, {})[doc] = tf
        length = sum(terms.values())
        self._docs[doc] = tuple(terms)
        self._lengths[doc] = length
        self._total += length

    def remove(self, doc: str) -> None:
        """Forget ``doc``; unknown documents are ignored."""
        terms = self._docs.pop(doc, None)
        if terms is None:
            return
        for term in terms:
            posting = self._postings.get(term)
            if posting is not None:
                posting.pop(doc, None)
                if not posting:
                    del self._postings[term]
        self._total -= self._lengths.pop(doc)
        self._boost.pop(doc, None)

    def search(self, terms: Iterable[str], k: int) -> list[tuple[str, float]]:
        """Top ``k`` documents for the query terms, best first (documents sharing no term are left out)."""
        n = len(self._docs)
        if not n or k <= 0:
            return []
        avgdl = self._total / n or 1.0
        k1, b = self.k1, self.b
        scores: dict[str, float] = {}
        lengths = self._lengths
        for term in set(terms):
            posting = self._postings.get(term)
            if not posting:
                continue
            df = len(posting)
            idf = math.log(1.0 + (n - df + 0.5) / (df + 0.5))
            norm = k1 * (1.0 - b)
            scale = k1 * b / avgdl
            get = scores.get
            for doc, tf in posting.items():
                scores[doc] = get(doc, 0.0) + idf * tf * (k1 + 1.0) / (tf + norm + scale * lengths[doc])
        if self._boost:
            boost = self._boost
            scores = {doc: s * boost.get(doc, 1.0) for doc, s in scores.items()}
        return heapq.nlargest(k, scores.items(), key=lambda kv: kv[1])


class VectorIndex:
    """Cosine similarity over stored vectors (normalised on insert), boosted per document.

    With numpy the vectors live in one growing float32 matrix, so a search is one matrix-vector
    product and updating or removing a document touches one row.
    """

    def __init__(self) -> None:
        self._dim: int | None = None
        self._row: dict[str, int] = {}
        self._ids: list[str | None] = []
        # numpy path: preallocated rows; plain path: python lists
        self._mat = None
        self._boost = None
        self._alive = None
        self._plain: dict[str, tuple[list[float], float]] = {}

    def __len__(self) -> int:
        return len(self._row) if _np is not None else len(self._plain)

    def add(self, doc: str, vector: Sequence[float], boost: float = 1.0) -> None:
        """Index ``doc``'s vector; scores are multiplied by ``boost``. A new dimension is ignored."""
        if not vector:
            return
        if self._dim is None:
            self._dim = len(vector)
        if len(vector) != self._dim:
            return
        norm = math.sqrt(sum(v * v for v in vector)) or 1.0
        if _np is None:
            self._plain[doc] = ([v / norm for v in vector], boost)
            return
        row = self._row.get(doc)
        if row is None:
            row = len(self._ids)
            self._grow(row + 1)
            self._ids.append(doc)
            self._row[doc] = row
        self._mat[row] = _np.asarray(vector, dtype=_np.float32) / norm
        self._boost[row] = boost
        self._alive[row] = True

    def _grow(self, rows: int) -> None:
        if self._mat is not None and rows <= len(self._mat):
            return
        cap = max(1024, rows, 2 * (len(self._mat) if self._mat is not None else 0))
        mat = _np.zeros((cap, self._dim), dtype=_np.float32)
        boost = _np.zeros(cap, dtype=_np.float32)
        alive = _np.zeros(cap, dtype=bool)
        if self._mat is not None:
            used = len(self._ids)
            mat[:used], boost[:used], alive[:used] = self._mat[:used], self._boost[:used], self._alive[:used]
        self._mat, self._boost, self._alive = mat, boost, alive

    def remove(self, doc: str) -> None:
        """Forget ``doc``."""
        if _np is None:
            self._plain.pop(doc, None)
            return
        row = self._row.pop(doc, None)
        if row is not None:
            self._ids[row] = None
            self._alive[row] = False

    def search(self, vector: Sequence[float], k: int) -> list[tuple[str, float]]:
        """Top ``k`` documents by cosine similarity times boost, best first."""
        if k <= 0 or not len(self) or len(vector) != self._dim:
            return []
        norm = math.sqrt(sum(v * v for v in vector)) or 1.0
        if _np is None:
            query = [v / norm for v in vector]
            sims = {
                doc: boost * sum(a * b for a, b in zip(vec, query, strict=True))
                for doc, (vec, boost) in self._plain.items()
            }
            return heapq.nlargest(k, sims.items(), key=lambda kv: kv[1])
        used = len(self._ids)
        query = _np.asarray(vector, dtype=_np.float32) / norm
        sims = (self._mat[:used] @ query) * self._boost[:used]
        sims[~self._alive[:used]] = -_np.inf
        k = min(k, len(self._row))
        top = _np.argpartition(-sims, k - 1)[:k]
        top = top[_np.argsort(-sims[top])]
        return [(self._ids[i], float(sims[i])) for i in top]
