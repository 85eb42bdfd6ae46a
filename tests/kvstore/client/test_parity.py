"""One API, two places: every test here runs on `kvstore.open()` and on `kvstore.connect()`.

The network client must answer with the same records and raise the same exceptions,
with the same details, as the embedded store (etcd's API contract on both sides).
"""

from __future__ import annotations

import asyncio

import pytest

import kvstore
from kvstore import (
    DeleteRangeRequest,
    EventType,
    PutRequest,
    RangeRequest,
    SortOrder,
    SortTarget,
    TxnRequest,
    WatchFilterType,
    compare_mod_revision,
    compare_value,
    compare_version,
    prefix_range_end,
)
from kvstore.api import KV, Watch

P = b"/par/"
END = prefix_range_end(P)


async def collect(w: Watch, until: int) -> list[kvstore.Event]:
    events: list[kvstore.Event] = []

    async def run() -> None:
        async for resp in w:
            events.extend(resp.events)
            if events and events[-1].kv.mod_revision >= until:
                return

    await asyncio.wait_for(run(), 20)
    return events


async def test_puts_ranges_and_revisions(kv: KV) -> None:
    """etcd: revisions, versions and range options, identical on both sides."""
    r = await kv.put(P + b"a", b"1")
    assert r.header.revision == 2 and r.prev_kv is None
    await kv.put(P + b"b", b"2")
    r = await kv.put(P + b"a", b"3", prev_kv=True)
    assert r.prev_kv == kvstore.KeyValue(P + b"a", 2, 2, 1, b"1", 0)
    got = await kv.range(P, END)
    assert [(x.key, x.value, x.version, x.create_revision, x.mod_revision) for x in got.kvs] == [
        (P + b"a", b"3", 2, 2, 4),
        (P + b"b", b"2", 1, 3, 3),
    ]
    assert got.count == 2 and not got.more and got.header.revision == 4
    limited = await kv.range(P, END, limit=1, sort_order=SortOrder.DESCEND, sort_target=SortTarget.MOD)
    assert [x.key for x in limited.kvs] == [P + b"a"] and limited.more
    assert (await kv.range(P, END, count_only=True)).count == 2
    assert (await kv.range(P + b"a", revision=2)).kvs[0].value == b"1"
    assert (await kv.range(P, END, keys_only=True)).kvs[0].value == b""


async def test_txn_and_delete(kv: KV) -> None:
    """etcd: compare-and-swap txns with nested txns, ranges inside, deletes with prev_kv."""
    await kv.put(P + b"k", b"v")
    t = await kv.txn(
        compare=[compare_value(P + b"k", "=", b"v"), compare_version(P + b"new", "=", 0)],
        success=[
            PutRequest(P + b"new", b"x"),
            TxnRequest(compare=(compare_mod_revision(P + b"k", "=", 2),), success=(RangeRequest(P, END),)),
        ],
        failure=[DeleteRangeRequest(P, END)],
    )
    assert t.succeeded and t.header.revision == 3
    nested = t.responses[1]
    assert isinstance(nested, kvstore.TxnResponse) and nested.succeeded
    inner = nested.responses[0]
    assert isinstance(inner, kvstore.RangeResponse) and [x.key for x in inner.kvs] == [P + b"k", P + b"new"]
    d = await kv.delete_range(P, END, prev_kv=True)
    assert d.deleted == 2 and [x.value for x in d.prev_kvs] == [b"v", b"x"] and d.header.revision == 4


async def test_errors_carry_the_same_details(kv: KV) -> None:
    """Errors are the same classes with the same attributes, embedded or remote."""
    await kv.put(P + b"k", b"1")
    await kv.put(P + b"k", b"2")
    await kv.compact(3)
    with pytest.raises(kvstore.CompactedError) as compacted:
        await kv.range(P + b"k", revision=2)
    assert compacted.value.compact_revision == 3
    with pytest.raises(kvstore.FutureRevisionError) as future:
        await kv.range(P + b"k", revision=10)
    assert (future.value.revision, future.value.current_revision) == (10, 3)
    with pytest.raises(kvstore.EmptyKeyError):
        await kv.put(b"", b"x")
    with pytest.raises(kvstore.TooManyOpsError) as many:
        await kv.txn(success=[PutRequest(P + b"%d" % i) for i in range(129)])
    assert (many.value.ops, many.value.limit, many.value.field) == (129, 128, "success")
    with pytest.raises(kvstore.DuplicateKeyError) as dup:
        await kv.txn(success=[PutRequest(P + b"d"), PutRequest(P + b"d")])
    assert dup.value.key == P + b"d"
    with pytest.raises(kvstore.LeaseNotFoundError) as lease:
        await kv.put(P + b"l", b"x", lease=77)
    assert lease.value.lease_id == 77
    with pytest.raises(kvstore.RequestTooLargeError):
        await kv.put(P + b"big", b"x" * (1536 * 1024))
    with pytest.raises(kvstore.InvalidArgumentError) as bad:
        await kv.range(P, sort_order=7)
    assert bad.value.field == "sort_order"


async def test_leases(kv: KV) -> None:
    """etcd: grant, attach, time-to-live with keys, keep-alive, revoke deleting the keys."""
    g = await kv.lease_grant(60, id=1234)
    assert (g.id, g.ttl) == (1234, 60)
    await kv.put(P + b"x", b"1", lease=1234)
    ttl = await kv.lease_time_to_live(1234, keys=True)
    assert ttl.granted_ttl == 60 and ttl.keys == [P + b"x"] and 58 <= ttl.ttl <= 60
    assert (await kv.lease_keep_alive(1234)).ttl == 60
    assert (await kv.lease_keep_alive(999)).ttl == 0
    assert (await kv.lease_time_to_live(999)).ttl == -1
    assert [s.id for s in (await kv.leases()).leases] == [1234]
    with pytest.raises(kvstore.LeaseExistsError):
        await kv.lease_grant(10, id=1234)
    r = await kv.lease_revoke(1234)
    assert r.header.revision == 3 and (await kv.range(P + b"x")).kvs == []


async def test_an_expiring_lease_deletes_its_key_and_the_watch_sees_it(kv: KV) -> None:
    """etcd: expiry is a DELETE at a new revision, seen by watchers like any other."""
    g = await kv.lease_grant(1)
    await kv.put(P + b"s", b"alive", lease=g.id)
    w = kv.watch(P + b"s", start_revision=2)
    events = await collect(w, 3)
    assert [(e.type, e.kv.mod_revision) for e in events] == [(EventType.PUT, 2), (EventType.DELETE, 3)]
    w.cancel()


async def test_watch_replay_live_prev_kv_filters_and_progress(kv: KV) -> None:
    """etcd: replay from a past revision then live; prev_kv; filters; progress notification."""
    await kv.put(P + b"a", b"1")
    await kv.put(P + b"a", b"2")
    w = kv.watch(P, END, start_revision=2, prev_kv=True)
    deletes = kv.watch(P, END, start_revision=2, filters=[WatchFilterType.NOPUT])
    await w.wait_created()
    await deletes.wait_created()
    await kv.delete_range(P + b"a")
    events = await collect(w, 4)
    assert [(e.type, e.kv.mod_revision) for e in events] == [
        (EventType.PUT, 2),
        (EventType.PUT, 3),
        (EventType.DELETE, 4),
    ]
    assert [e.prev_kv.value if e.prev_kv else None for e in events] == [None, b"1", b"2"]
    assert [e.type for e in await collect(deletes, 4)] == [EventType.DELETE]
    w.request_progress()
    progress = await asyncio.wait_for(anext(w), 10)
    assert progress.is_progress_notify and progress.header.revision == 4
    w.cancel()
    deletes.cancel()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(anext(w), 10)


async def test_watch_from_a_compacted_revision(kv: KV) -> None:
    """etcd: a watch from below the compact revision fails with the compact revision."""
    for i in range(3):
        await kv.put(P + b"c", b"%d" % i)
    await kv.compact(3)
    with pytest.raises(kvstore.CompactedError) as err:
        w = kv.watch(P + b"c", start_revision=2)
        await w.wait_created()
        await asyncio.wait_for(anext(w), 10)
    assert err.value.compact_revision == 3


async def test_maintenance(kv: KV) -> None:
    """Status, HashKV and Snapshot answer the same way on both sides."""
    await kv.put(P + b"a", b"1")
    status = await kv.status()
    assert status.header.revision == 2 and status.db_size > 0 and status.leader == status.header.member_id
    h1 = await kv.hash_kv()
    h2 = await kv.hash_kv(2)
    assert h1.hash == h2.hash and h1.compact_revision == 0
    await kv.put(P + b"b", b"2")
    assert (await kv.hash_kv()).hash != h1.hash and (await kv.hash_kv(2)).hash == h1.hash
    data = b"".join([chunk async for chunk in kv.snapshot()])
    assert len(data) > 0 and len(data) % 4096 == 0  # whole LMDB pages
