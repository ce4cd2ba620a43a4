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

    Postings live in dicts (cheap incremental updates). With numpy, each term's postings are
    also cached as arrays the first time a query needs them (and dropped when a document with
    that term changes), so a query costs a few vector operations per term instead of a Python
    loop over every posting: common terms can appear in most of 100k documents.

    Example:
        >>> idx = BM25Index()
        >>> idx.add("a", {"sort": 2, "list": 1}); idx.add("b", {"parse": 1, "date": 1})
        >>> [doc for doc, _ in idx.search(["sort"], k=5)]
        ['a']
    """

    def __init__(self, *, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self._row: dict[str, int] = {}  # doc -> row number (rows of removed docs are not reused)
        self._ids: list[str | None] = []
        self._terms: dict[int, tuple[str, ...]] = {}
        self._lengths: list[int] = []
        self._boosts: list[float] = []
        self._postings: dict[str, dict[int, int]] = {}
        self._total = 0
        self._cache: dict[str, tuple[object, object]] = {}
        self._arrays: tuple[object, object] | None = None  # numpy lengths, boosts (rebuilt after changes)

    def __len__(self) -> int:
        return len(self._row)

    def __contains__(self, doc: str) -> bool:
        return doc in self._row

    def add(self, doc: str, terms: Mapping[str, int], boost: float = 1.0) -> None:
        """Index ``doc`` (replacing an earlier version of it); its scores are multiplied by ``boost``."""
        self.add_many([(doc, terms, boost)])

    def add_many(self, docs: Iterable[tuple[str, Mapping[str, int], float]]) -> None:
        """Index many ``(doc, terms, boost)`` at once (loading a bank: one pass, no per-doc overhead)."""
        postings, cache, rows, ids = self._postings, self._cache, self._row, self._ids
        for doc, terms, boost in docs:
            if doc in rows:
                self.remove(doc)
            row = len(ids)
            ids.append(doc)
            rows[doc] = row
            for term, tf in terms.items():
                posting = postings.get(term)
                if posting is None:
                    postings[term] = {row: tf}
                else:
                    posting[row] = tf
                    if cache:
                        cache.pop(term, None)
            length = sum(terms.values())
            self._terms[row] = tuple(terms)
            self._lengths.append(length)
            self._boosts.append(boost)
            self._total += length
        self._arrays = None
        if len(ids) > 2 * len(rows) + 1024:
            self._compact()

    def _compact(self) -> None:
        # Updates re-add a document under a new row; renumber once dead rows pile up.
        remap: dict[int, int] = {}
        for old, doc in enumerate(self._ids):
            if doc is not None:
                remap[old] = len(remap)
        self._ids = [self._ids[old] for old in remap]
        self._lengths = [self._lengths[old] for old in remap]
        self._boosts = [self._boosts[old] for old in remap]
        self._terms = {new: self._terms[old] for old, new in remap.items()}
        self._postings = {t: {remap[r]: tf for r, tf in p.items()} for t, p in self._postings.items()}
        self._row = {doc: row for row, doc in enumerate(self._ids)}
        self._cache.clear()
        self._arrays = None

    def remove(self, doc: str) -> None:
        """Forget ``doc``; unknown documents are ignored."""
        row = self._row.pop(doc, None)
        if row is None:
            return
        for term in self._terms.pop(row):
            posting = self._postings.get(term)
            if posting is not None:
                posting.pop(row, None)
                self._cache.pop(term, None)
                if not posting:
                    del self._postings[term]
        self._ids[row] = None
        self._total -= self._lengths[row]
        self._lengths[row] = 0

    def search(self, terms: Iterable[str], k: int) -> list[tuple[str, float]]:
        """Top ``k`` documents for the query terms, best first (documents sharing no term are left out)."""
        n = len(self._row)
        if not n or k <= 0:
            return []
        avgdl = self._total / n or 1.0
        present = [t for t in set(terms) if t in self._postings]
        if not present:
            return []
        if _np is not None:
            return self._search_numpy(present, k, n, avgdl)
        k1, b = self.k1, self.b
        lengths, boosts = self._lengths, self._boosts
        scores: dict[int, float] = {}
        for term in present:
            posting = self._postings[term]
            df = len(posting)
            idf = math.log(1.0 + (n - df + 0.5) / (df + 0.5))
            norm, scale = k1 * (1.0 - b), k1 * b / avgdl
            get = scores.get
            for row, tf in posting.items():
                scores[row] = get(row, 0.0) + idf * tf * (k1 + 1.0) / (tf + norm + scale * lengths[row])
        best = heapq.nlargest(k, scores.items(), key=lambda kv: kv[1] * boosts[kv[0]])
        return [(self._ids[row], score * boosts[row]) for row, score in best]

    def _search_numpy(self, terms: list[str], k: int, n: int, avgdl: float) -> list[tuple[str, float]]:
        if self._arrays is None:
            self._arrays = (
                _np.asarray(self._lengths, dtype=_np.float32),
                _np.asarray(self._boosts, dtype=_np.float32),
            )
        lengths, boosts = self._arrays
        scores = _np.zeros(len(self._ids), dtype=_np.float32)
        k1, b = self.k1, self.b
        for term in terms:
            cached = self._cache.get(term)
            if cached is None:
                posting = self._postings[term]
                rows = _np.fromiter(posting.keys(), dtype=_np.int64, count=len(posting))
                tfs = _np.fromiter(posting.values(), dtype=_np.float32, count=len(posting))
                cached = self._cache[term] = (rows, tfs)
            rows, tfs = cached
            idf = math.log(1.0 + (n - len(rows) + 0.5) / (len(rows) + 0.5))
            # rows are unique within a posting, so fancy-index += adds once per document
            scores[rows] += idf * tfs * (k1 + 1.0) / (tfs + k1 * (1.0 - b + b * lengths[rows] / avgdl))
        scores *= boosts
        hits = _np.flatnonzero(scores > 0)
        if len(hits) > k:
            hits = hits[_np.argpartition(-scores[hits], k - 1)[:k]]
        hits = hits[_np.argsort(-scores[hits], kind="stable")]
        return [(self._ids[row], float(scores[row])) for row in hits]


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
        if len(vector) == 0:
            return
        if self._dim is None:
            self._dim = len(vector)
        if len(vector) != self._dim:
            return
        if _np is not None:
            array_ = _np.asarray(vector, dtype=_np.float32)
            norm = float(_np.sqrt(_np.einsum("i,i->", array_, array_))) or 1.0
        else:
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
        self._mat[row] = array_ / norm
        self._boost[row] = boost
        self._alive[row] = True

    def add_many(self, docs: Sequence[tuple[str, Sequence[float], float]]) -> None:
        """Index many ``(doc, vector, boost)`` at once; with numpy, new rows are normalised in one go."""
        if _np is None or not docs:
            for doc, vector, boost in docs:
                self.add(doc, vector, boost)
            return
        if self._dim is None:
            self._dim = len(docs[0][1])
        fresh = [(d, v, b) for d, v, b in docs if d not in self._row and len(v) == self._dim]
        for doc, vector, boost in docs:  # updates and odd dimensions take the one-by-one path
            if doc in self._row:
                self.add(doc, vector, boost)
        if not fresh:
            return
        block = _np.asarray([v for _, v, _ in fresh], dtype=_np.float32)
        norms = _np.sqrt(_np.einsum("ij,ij->i", block, block))
        norms[norms == 0] = 1.0
        start = len(self._ids)
        self._grow(start + len(fresh))
        self._mat[start : start + len(fresh)] = block / norms[:, None]
        self._boost[start : start + len(fresh)] = [b for _, _, b in fresh]
        self._alive[start : start + len(fresh)] = True
        for offset, (doc, _, _) in enumerate(fresh):
            self._ids.append(doc)
            self._row[doc] = start + offset

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
        # einsum, not `@`: a matrix-vector product is memory-bound, and BLAS threads only add
        # contention (measured 8x slower on a busy 2-core machine)
        sims = _np.einsum("ij,j->i", self._mat[:used], query) * self._boost[:used]
        sims[~self._alive[:used]] = -_np.inf
        k = min(k, len(self._row))
        top = _np.argpartition(-sims, k - 1)[:k]
        top = top[_np.argsort(-sims[top])]
        return [(self._ids[i], float(sims[i])) for i in top]
