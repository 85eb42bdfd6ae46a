"""Reading past events from the revision history, for watchers that start behind."""

from __future__ import annotations

from typing import NamedTuple

from kvstore.errors import CompactedError
from kvstore.messages import Event, EventType, KeyValue
from kvstore.mvcc.apply import Applier
from kvstore.mvcc.backend import Backend, decode_kv
from kvstore.mvcc.revision import MAIN_SHIFT, key_of_int, pack_key


class HistoryChunk(NamedTuple):
    events: list[Event]
    next_revision: int  # the first revision not yet read


class HistoryReader:
    """Reads events of a key range between two revisions, whole revisions at a time."""

    def __init__(
        self,
        backend: Backend,
        applier: Applier,
        *,
        max_events: int = 1000,
        max_rows: int = 10_000,
        max_bytes: int = 2 << 20,
    ):
        self.backend = backend
        self.applier = applier
        self.max_events = max_events
        self.max_rows = max_rows
        self.max_bytes = max_bytes

    def read(
        self,
        key: bytes,
        range_end: bytes,
        start: int,
        end: int,
        *,
        prev_kv: bool = False,
        no_put: bool = False,
        no_delete: bool = False,
    ) -> HistoryChunk:
        """Events with start <= revision <= end; stops early at a revision boundary once
        `max_events` events, `max_bytes` bytes of keys and values or `max_rows` rows have
        been read. Raises CompactedError if
        `start` is below the compact revision."""
        if not range_end:

            def wanted(k: bytes) -> bool:
                return k == key
        elif range_end == b"\0":

            def wanted(k: bytes) -> bool:
                return k >= key
        else:

            def wanted(k: bytes) -> bool:
                return key <= k < range_end

        index = self.applier.index
        db = self.backend.history_db
        events: list[Event] = []
        rows = 0
        size = 0
        next_rev = end + 1
        with self.backend.read() as txn:
            with index.lock:
                if start < self.applier.compact_revision:
                    raise CompactedError(self.applier.compact_revision)
            cursor = txn.cursor(db=db)
            if not cursor.set_range(pack_key(start, 0)):
                return HistoryChunk(events, next_rev)
            last_main = 0
            for raw_rev, raw in cursor:
                main = int.from_bytes(raw_rev[:8], "big")
                if main > end:
                    break
                if main != last_main:
                    if len(events) >= self.max_events or rows >= self.max_rows or size >= self.max_bytes:
                        next_rev = main
                        break
                    last_main = main
                rows += 1
                kv = decode_kv(raw)
                if not wanted(kv.key):
                    continue
                is_put = kv.create_revision != 0
                if (no_put and is_put) or (no_delete and not is_put):
                    continue
                events.append(Event(EventType.PUT if is_put else EventType.DELETE, kv))
                size += len(kv.key) + len(kv.value)
            if prev_kv and events:
                events = self._with_prev(txn, events)
        return HistoryChunk(events, next_rev)

    def _with_prev(self, txn: object, events: list[Event]) -> list[Event]:
        index = self.applier.index
        db = self.backend.history_db
        out = []
        with index.lock:
            found = []
            for ev in events:
                ki = index.by_key.get(ev.kv.key)
                found.append(None if ki is None else ki.at(ev.kv.mod_revision << MAIN_SHIFT))
        get = txn.get  # type: ignore[attr-defined]
        for ev, r in zip(events, found, strict=True):
            prev: KeyValue | None = None if r is None else decode_kv(get(key_of_int(r), db=db))
            out.append(Event(ev.type, ev.kv, prev))
        return out
