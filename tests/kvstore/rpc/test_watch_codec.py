"""The hand-made WatchResponse encoding parses as etcd's protobuf WatchResponse."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from h2grpc.wire import varint
from kvstore.messages import Event, EventType, KeyValue, ResponseHeader
from kvstore.pb import kv_pb2, rpc_pb2
from kvstore.rpc import convert
from kvstore.rpc.watch_codec import EventBlobCache, encode_events, encode_kv, watch_response

int64 = st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1)
uint64 = st.integers(min_value=0, max_value=(1 << 64) - 1)
kvs = st.builds(KeyValue, st.binary(max_size=20), int64, int64, int64, st.binary(max_size=40), int64)
events = st.builds(Event, st.sampled_from(list(EventType)), kvs, st.one_of(st.none(), kvs))


@settings(max_examples=300, deadline=None)
@given(kvs)
def test_key_value_bytes_equal_protobufs(kv: KeyValue) -> None:
    """Field for field (proto3 drops defaults), the encoding is what protobuf itself emits."""
    assert encode_kv(kv) == convert.kv_to_pb(kv).SerializeToString()


@settings(max_examples=200, deadline=None)
@given(
    st.builds(ResponseHeader, uint64, uint64, int64, uint64),
    int64,
    st.lists(events, max_size=5),
    st.booleans(),
    st.booleans(),
    int64,
    st.text(max_size=10),
)
def test_watch_response_round_trips(
    header: ResponseHeader,
    watch_id: int,
    evs: list[Event],
    created: bool,
    canceled: bool,
    compact: int,
    reason: str,
) -> None:
    """A response built from a pre-encoded events blob parses back to the same values."""
    data = watch_response(
        header,
        watch_id,
        encode_events(evs),
        created=created,
        canceled=canceled,
        compact_revision=compact,
        cancel_reason=reason,
    )
    m = rpc_pb2.WatchResponse.FromString(data)
    assert convert.header_from_pb(m.header) == header
    assert (m.watch_id, m.created, m.canceled, m.compact_revision, m.cancel_reason) == (
        watch_id,
        created,
        canceled,
        compact,
        reason,
    )
    assert [convert.event_from_pb(e) for e in m.events] == evs


def test_varint_matches_protobuf_for_edge_values() -> None:
    """Negative int64 values take ten bytes, as protobuf encodes them (0 is left out)."""
    assert kv_pb2.KeyValue(lease=0).SerializeToString() == b""
    for n in (1, 127, 128, 300, (1 << 63) - 1, -1, -(1 << 63)):
        assert kv_pb2.KeyValue(lease=n).SerializeToString() == b"\x30" + varint(n)


def test_a_shared_batch_is_encoded_once() -> None:
    """Fan-out: the same events tuple handed to many watchers costs one encoding."""
    cache = EventBlobCache(capacity=2)
    batch = (Event(EventType.PUT, KeyValue(b"k", 2, 2, 1, b"v")),)
    blobs = {id(cache.blob(batch)) for _ in range(1000)}
    assert len(blobs) == 1 and cache.misses == 1 and cache.hits == 999
    other = tuple(batch)  # equal but a different object: a separate entry
    assert cache.blob(other) == cache.blob(batch)
