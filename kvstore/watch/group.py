"""A group: the synced watchers of one [key, range_end), by option variant.

A commit touches each group once: the group picks the events of its range, and within it
the watchers with the same options (prev_kv, filters) share one tuple of events per
response, shaped once for all of them (`shape`). The hub decides who is in a group; the
group only keeps the lists it fans out to.
"""

from __future__ import annotations

from kvstore.messages import Event, EventType, WatchFilterType
from kvstore.watch.watcher import Watcher

Variant = tuple[bool, bool, bool]  # (prev_kv, no_put, no_delete)

_EVENT_OVERHEAD = 24  # bytes of protobuf framing per event, roughly


def variant_of(w: Watcher) -> Variant:
    return (w.prev_kv, WatchFilterType.NOPUT in w.filters, WatchFilterType.NODELETE in w.filters)


class Group:
    """Synced watchers of one [key, range_end), by option variant.

    Invariant: no variant's list is empty (an empty group is false, and the hub drops it).
    """

    __slots__ = ("hi", "key", "lo", "range_end", "variants")

    def __init__(self, key: bytes, range_end: bytes) -> None:
        self.key = key
        self.range_end = range_end
        self.lo = key
        self.hi: bytes | None = None if range_end == b"\0" else range_end
        self.variants: dict[Variant, list[Watcher]] = {}

    def __bool__(self) -> bool:
        return bool(self.variants)

    def add(self, w: Watcher) -> None:
        self.variants.setdefault(variant_of(w), []).append(w)

    def discard(self, w: Watcher) -> None:
        """Take out a member (KeyError or ValueError if it is not one)."""
        variant = variant_of(w)
        members = self.variants[variant]
        members.remove(w)
        if not members:
            del self.variants[variant]

    def select(self, events: list[Event]) -> list[Event]:
        lo, hi = self.lo, self.hi
        if hi is None:
            return [e for e in events if e.kv.key >= lo]
        return [e for e in events if lo <= e.kv.key < hi]


def shape(events: list[Event], variant: Variant, max_bytes: int) -> list[tuple[tuple[Event, ...], int]]:
    """The events a variant wants, as tuples of whole revisions of about `max_bytes` at most
    (a single larger revision stays whole), each with its size."""
    prev_kv, no_put, no_delete = variant
    if no_put:
        events = [e for e in events if e.type != EventType.PUT]
    if no_delete:
        events = [e for e in events if e.type != EventType.DELETE]
    if not events:
        return []
    if not prev_kv:
        events = [Event(e.type, e.kv) for e in events]
    pieces: list[tuple[tuple[Event, ...], int]] = []
    start = 0
    size = 0
    last_rev = 0
    for i, e in enumerate(events):
        kv = e.kv
        rev = kv.mod_revision
        if size >= max_bytes and rev != last_rev:
            pieces.append((tuple(events[start:i]), size))
            start = i
            size = 0
        size += len(kv.key) + len(kv.value) + _EVENT_OVERHEAD
        if prev_kv and e.prev_kv is not None:
            size += len(e.prev_kv.key) + len(e.prev_kv.value) + _EVENT_OVERHEAD
        last_rev = rev
    pieces.append((tuple(events[start:]) if start else tuple(events), size))
    return pieces
