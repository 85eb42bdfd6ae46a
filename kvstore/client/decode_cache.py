"""Watch payloads decoded once per client: the watches of one connection (several informers
of one resource, as with a shared informer factory) receive the same bytes for an event, and
get the same decoded object. Shared objects are read-only, as every informer's cache is."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Object = dict[str, Any]


class DecodeCache:
    """Decoded objects by their JSON bytes, the oldest `max_entries`-th dropped first."""

    def __init__(self, loads: Callable[[bytes], Object], max_entries: int = 4096) -> None:
        self._loads = loads
        self.max_entries = max_entries
        self._entries: dict[bytes, Object] = {}
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def decode(self, data: bytes) -> Object:
        entries = self._entries
        obj = entries.get(data)
        if obj is not None:
            self.hits += 1
            return obj
        self.misses += 1
        obj = entries[data] = self._loads(data)
        if len(entries) > self.max_entries:
            del entries[next(iter(entries))]
        return obj
