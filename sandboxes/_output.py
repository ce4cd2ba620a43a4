"""Capped collection of a process's output."""

from __future__ import annotations

__all__ = ["CappedBuffer", "decode"]


class CappedBuffer:
    """Keeps the first ``cap`` bytes written to it and counts the rest.

    The rest must still be read (and dropped) so a chatty process never blocks on a full pipe.
    """

    __slots__ = ("_cap", "_chunks", "_kept", "dropped")

    def __init__(self, cap: int) -> None:
        self._cap = cap
        self._chunks: list[bytes] = []
        self._kept = 0
        self.dropped = 0

    def write(self, data: bytes) -> None:
        room = self._cap - self._kept
        if room > 0:
            keep = data[:room]
            self._chunks.append(keep)
            self._kept += len(keep)
            self.dropped += len(data) - len(keep)
        else:
            self.dropped += len(data)

    @property
    def truncated(self) -> bool:
        return self.dropped > 0

    def getvalue(self) -> bytes:
        return b"".join(self._chunks)

    def text(self) -> str:
        return decode(self.getvalue())


def decode(data: bytes) -> str:
    """Decode output as UTF-8; bytes that are not UTF-8 become U+FFFD, never an exception."""
    return data.decode("utf-8", errors="replace")
