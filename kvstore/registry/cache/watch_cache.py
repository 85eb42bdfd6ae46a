"""The state of one resource in memory: the current objects by key, in key order, and a
bounded ring of the latest changes, complete through `revision`.

    ring: changes with revision in (oldest, revision]     objects: every key's state at `revision`

A watch from a resourceVersion R with oldest <= R is served from the ring; an older one
goes to the store. The ring keeps at most `max_events` changes and `max_bytes` of stored
bytes, dropping whole revisions from the old end (kube-apiserver's watchCache keeps a
cyclic buffer the same way).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from kvstore.messages import Event, EventType, KeyValue
from kvstore.mvcc.sorted_keys import SortedKeys
from kvstore.registry.cache.entry import Change, Entry


class WatchCache:
    """Objects and recent changes of one resource (all namespaces) at a known revision."""

    def __init__(self, revision: int, kvs: Iterable[KeyValue], api_version: str, *, max_events: int, max_bytes: int):
        self.api_version = api_version
        self.objects: dict[bytes, Entry] = {
            kv.key: Entry(kv.key, kv.value, kv.mod_revision, api_version, kv.create_revision) for kv in kvs
        }
        self.keys = SortedKeys(self.objects)
        self.revision = revision
        """Every change up to here is applied."""
        self.oldest = revision
        """The ring holds every change after this revision."""
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.ring: deque[Change] = deque()
        self.ring_bytes = 0

    def apply(self, events: Iterable[Event]) -> list[Change]:
        """Apply store events (whole revisions, in order); the changes they made."""
        objects, ring, api_version = self.objects, self.ring, self.api_version
        changes: list[Change] = []
        size = 0
        for event in events:
            kv = event.kv
            key, rev = kv.key, kv.mod_revision
            if rev <= self.revision:
                continue  # already applied (a history replay overlapping what we had)
            old = objects.get(key)
            if event.type == EventType.DELETE:
                if old is None:
                    continue  # nothing the cache had
                del objects[key]
                self.keys.discard(key)
                change = Change(rev, key, None, old)
            else:
                new = objects[key] = Entry(key, kv.value, rev, api_version, kv.create_revision)
                if old is None:
                    self.keys.add(key)
                change = Change(rev, key, new, old)
            changes.append(change)
            size += change.size
        if changes:
            self.revision = changes[-1].revision
            ring.extend(changes)
            self.ring_bytes += size
            self._trim()
        return changes

    def advance(self, revision: int) -> None:
        """The store reported nothing for this resource up to `revision`."""
        if revision > self.revision:
            self.revision = revision

    def _trim(self) -> None:
        ring = self.ring
        while ring and (len(ring) > self.max_events or self.ring_bytes > self.max_bytes):
            gone = ring.popleft()
            self.ring_bytes -= gone.size
            while ring and ring[0].revision == gone.revision:  # whole revisions only
                self.ring_bytes -= ring.popleft().size
            self.oldest = gone.revision

    def since(self, revision: int) -> list[Change] | None:
        """The changes after `revision`, or None when the ring no longer holds them all."""
        if revision < self.oldest:
            return None
        ring = self.ring
        if not ring or ring[-1].revision <= revision:
            return []
        out: list[Change] = []
        for change in reversed(ring):  # the newest first: a live watcher wants only the tail
            if change.revision <= revision:
                break
            out.append(change)
        out.reverse()
        return out

    def list(self, prefix: bytes, end: bytes) -> list[Entry]:
        """The current entries with keys in [prefix, end), in key order."""
        objects = self.objects
        return [objects[k] for k in self.keys.slice(prefix, end)]
