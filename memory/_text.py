"""Tokenising for lexical retrieval: lower-case words, stop words dropped, a light suffix strip."""

from __future__ import annotations

import re
from collections import Counter

__all__ = ["jaccard", "term_counts", "tokenize"]

_WORD = re.compile(r"[^\W_]+")  # letters and digits of any script; "_" splits snake_case

# Words that carry no topic; kept short on purpose (code words like "return" or "list" matter here).
_STOP = frozenset(
    """a an and are as at be been but by can do does for from has have how if in into is it its
    itself of on or so such that the their then there these they this to was were what when where
    which while who will with would you your we our not no yes should must may might use using about
    given write returns return function""".split()
)


def _stem(word: str) -> str:
    # A deliberately small stemmer: plural and -ing/-ed forms of one word should match each other.
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 5 and word.endswith("ing"):
        return word[:-3]
    if len(word) > 4 and word.endswith("ed"):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def tokenize(text: str) -> list[str]:
    """Split text into index terms.

    Example:
        >>> tokenize("Sorting the Lists of numbers_in place")
        ['sort', 'list', 'number', 'place']
    """
    return [_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 1]


def term_counts(text: str) -> dict[str, int]:
    """Term frequencies of a text, as stored with each item."""
    return dict(Counter(tokenize(text)))


def jaccard(a: str, b: str) -> float:
    """Overlap of two texts' term sets in [0, 1] (near-duplicate detection)."""
    sa, sb = set(tokenize(a)), set(tokenize(b))
    if not sa or not sb:
        return 0.0
    return len(sa & sb) / len(sa | sb)
