"""Hand-made protobuf encoding of WatchResponse, the fan-out hot path.

Every event is encoded once, as the bytes of a `repeated mvccpb.Event events = 11`
field entry; a batch of events shared by many watchers becomes one blob that each of
their responses reuses. Only the small header, watch_id and flags are encoded per
response. The output parses as etcdserverpb.WatchResponse (tests check it against the
generated classes).
"""

from __future__ import annotations

from collections import OrderedDict

from h2grpc.wire import varint
from kvstore.messages import Event, KeyValue, ResponseHeader


def _len_field(tag: bytes, payload: bytes) -> bytes:
    return tag + varint(len(payload)) + payload


def encode_kv(kv: KeyValue) -> bytes:
    """mvccpb.KeyValue: fields with default values are left out, as proto3 does."""
    key, create, mod, version, value, lease = kv
    out = [b"\x0a", varint(len(key)), key] if key else []
    if create:
        out += (b"\x10", varint(create))
    if mod:
        out += (b"\x18", varint(mod))
    if version:
        out += (b"\x20", varint(version))
    if value:
        out += (b"\x2a", varint(len(value)), value)
    if lease:
        out += (b"\x30", varint(lease))
    return b"".join(out)


def encode_event(ev: Event) -> bytes:
    """mvccpb.Event."""
    parts = [b"\x08\x01"] if ev.type else []
    parts.append(_len_field(b"\x12", encode_kv(ev.kv)))
    if ev.prev_kv is not None:
        parts.append(_len_field(b"\x1a", encode_kv(ev.prev_kv)))
    return b"".join(parts)


def encode_events(events: tuple[Event, ...] | list[Event]) -> bytes:
    """The `events` entries (field 11) of a WatchResponse for these events."""
    return b"".join([_len_field(b"\x5a", encode_event(ev)) for ev in events])


def encode_header(h: ResponseHeader) -> bytes:
    """WatchResponse.header (field 1), including its tag and length."""
    cluster_id, member_id, revision, raft_term = h
    parts: list[bytes] = []
    if cluster_id:
        parts += (b"\x08", varint(cluster_id))
    if member_id:
        parts += (b"\x10", varint(member_id))
    if revision:
        parts += (b"\x18", varint(revision))
    if raft_term:
        parts += (b"\x20", varint(raft_term))
    return _len_field(b"\x0a", b"".join(parts))


def watch_response(
    header: ResponseHeader,
    watch_id: int,
    events_blob: bytes = b"",
    *,
    created: bool = False,
    canceled: bool = False,
    compact_revision: int = 0,
    cancel_reason: str = "",
) -> bytes:
    """A serialized etcdserverpb.WatchResponse around an already encoded events blob."""
    parts = [encode_header(header)]
    if watch_id:
        parts += (b"\x10", varint(watch_id))
    if created:
        parts.append(b"\x18\x01")
    if canceled:
        parts.append(b"\x20\x01")
    if compact_revision:
        parts += (b"\x28", varint(compact_revision))
    if cancel_reason:
        parts.append(_len_field(b"\x32", cancel_reason.encode()))
    parts.append(events_blob)
    return b"".join(parts)


class EventBlobCache:
    """Encoded blobs of recently fanned-out event tuples, keyed by the tuple's identity.

    The hub hands the same tuple object to every watcher of a group; the first sender to
    encode it stores the blob, the others reuse it. Entries keep their tuple alive so an
    id is never reused while cached.
    """

    def __init__(self, capacity: int = 1024) -> None:
        self.capacity = capacity
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[int, tuple[tuple[Event, ...], bytes]] = OrderedDict()

    def blob(self, events: tuple[Event, ...]) -> bytes:
        key = id(events)
        entry = self._entries.get(key)
        if entry is not None and entry[0] is events:
            self.hits += 1
            return entry[1]
        self.misses += 1
        data = encode_events(events)
        self._entries[key] = (events, data)
        if len(self._entries) > self.capacity:
            self._entries.popitem(last=False)
        return data
