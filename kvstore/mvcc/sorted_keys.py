"""A sorted set of byte keys, kept as a list of bounded sorted chunks.

Inserting into one flat sorted list moves every later key, which costs microseconds per
new key once a store holds 100k keys. Chunks of at most `2 * load` keys keep an insert
to a bisect over the chunk maxima plus a short list insert.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable, Iterator

_LOAD = 512


class SortedKeys:
    __slots__ = ("_chunks", "_len", "_load", "_maxes")

    def __init__(self, keys: Iterable[bytes] = (), load: int = _LOAD) -> None:
        self._load = load
        ordered = sorted(set(keys))
        self._chunks: list[list[bytes]] = [ordered[i : i + load] for i in range(0, len(ordered), load)]
        self._maxes: list[bytes] = [c[-1] for c in self._chunks]
        self._len = len(ordered)

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            yield from chunk

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SortedKeys):
            return list(self) == list(other)
        if isinstance(other, list):
            return list(self) == other
        return NotImplemented

    def __repr__(self) -> str:
        return f"SortedKeys({list(self)!r})"

    def add(self, key: bytes) -> None:
        """Insert a key that is not present yet."""
        maxes = self._maxes
        if not maxes:
            self._chunks.append([key])
            maxes.append(key)
            self._len = 1
            return
        i = bisect_left(maxes, key)
        if i == len(maxes):
            i -= 1
            self._chunks[i].append(key)
            maxes[i] = key
        else:
            insort(self._chunks[i], key)
        self._len += 1
        chunk = self._chunks[i]
        if len(chunk) > 2 * self._load:
            half = len(chunk) // 2
            self._chunks[i : i + 1] = [chunk[:half], chunk[half:]]
            maxes[i : i + 1] = [chunk[half - 1], chunk[-1]]

    def discard(self, key: bytes) -> None:
        """Remove one key if present."""
        maxes = self._maxes
        i = bisect_left(maxes, key)
        if i == len(maxes):
            return
        chunk = self._chunks[i]
        j = bisect_left(chunk, key)
        if j == len(chunk) or chunk[j] != key:
            return
        del chunk[j]
        self._len -= 1
        if not chunk:
            del self._chunks[i]
            del maxes[i]
        elif j == len(chunk):
            maxes[i] = chunk[-1]

    def discard_all(self, dead: set[bytes]) -> None:
        """Remove many keys at once (compaction)."""
        kept = [k for k in self if k not in dead]
        load = self._load
        self._chunks = [kept[i : i + load] for i in range(0, len(kept), load)]
        self._maxes = [c[-1] for c in self._chunks]
        self._len = len(kept)

    def slice(self, lo: bytes, hi: bytes | None) -> list[bytes]:
        """Keys k with lo <= k < hi (hi None: no upper bound), in order."""
        maxes = self._maxes
        chunks = self._chunks
        i = bisect_left(maxes, lo)
        out: list[bytes] = []
        n = len(chunks)
        while i < n:
            chunk = chunks[i]
            start = bisect_left(chunk, lo) if chunk[0] < lo else 0
            if hi is not None and maxes[i] >= hi:
                out.extend(chunk[start : bisect_left(chunk, hi)])
                break
            out.extend(chunk[start:] if start else chunk)
            i += 1
        return out
