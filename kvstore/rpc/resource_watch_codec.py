"""Hand-made encoding of kvsresourcespb.WatchResponse, the object fan-out hot path.

A response is the concatenation of `repeated WatchEvent events = 1` entries. A live
event's entry is built once from the stored bytes (resourceVersion spliced in, never
decoded) and kept in `EventBytesCache`, so a thousand watchers of one resource share
one encoding of each event. The output parses as the generated WatchResponse (tests
check it).
"""

from __future__ import annotations

from typing import Any, Protocol

from apimachinery.watch import EVENT_TYPES
from h2grpc.wire import varint
from kvstore.registry import codec

_TYPES = {t: b"\x0a" + varint(len(t)) + t.encode() for t in EVENT_TYPES}


def encode_event(event_type: str, obj_json: bytes) -> bytes:
    """One `events` field entry: WatchEvent{type, object} with its tag and length."""
    body = _TYPES.get(event_type) or (b"\x0a" + varint(len(event_type.encode())) + event_type.encode())
    body += b"\x12" + varint(len(obj_json)) + obj_json
    return b"\x0a" + varint(len(body)) + body


class StoredEvent(Protocol):
    """A live event still in its stored form: a store-backed watch's RawEvent, or a watch
    cache's Delivery; `value` is the stored object, `revision` the event's."""

    @property
    def type(self) -> str: ...
    @property
    def revision(self) -> int: ...
    @property
    def key(self) -> bytes: ...
    @property
    def value(self) -> bytes: ...


class EventBytesCache:
    """Encoded entries of recent live events, keyed by (type, revision, key, apiVersion).

    Bounded: the oldest entries go first (revisions only grow, so those are the ones no
    watcher needs any more). A miss costs one encoding and is always correct.
    """

    def __init__(self, max_entries: int = 16384) -> None:
        self.max_entries = max_entries
        self._entries: dict[tuple[str, int, bytes, str], bytes] = {}
        self.hits = 0
        self.misses = 0

    def entry(self, raw: StoredEvent, api_version: str) -> bytes:
        key = (raw.type, raw.revision, raw.key, api_version)
        data = self._entries.get(key)
        if data is not None:
            self.hits += 1
            return data
        self.misses += 1
        data = encode_event(raw.type, codec.with_resource_version(raw.value, raw.revision, api_version))
        entries = self._entries
        entries[key] = data
        if len(entries) > self.max_entries:
            for old in list(entries)[: len(entries) - self.max_entries * 3 // 4]:
                del entries[old]
        return data

    def response(self, batch: list[Any], api_version: str) -> bytes:
        """The WatchResponse bytes for a batch of stored (cached) and ready-made (encoded now,
        dicts: bookmarks, errors, initial events of a store-backed watch) events."""
        parts = []
        for item in batch:
            if isinstance(item, dict):
                parts.append(encode_event(item["type"], codec.to_json(item["object"])))
            else:
                parts.append(self.entry(item, api_version))
        return b"".join(parts)
