"""Revisions and versions, as etcd v3's MVCC defines them."""

from __future__ import annotations

from pathlib import Path

import kvstore
from kvstore import DeleteRangeRequest, EventType, PutRequest, RangeRequest


async def drain_until(watcher: kvstore.Watcher, revision: int) -> list[kvstore.Event]:
    events: list[kvstore.Event] = []
    async for resp in watcher:
        events.extend(resp.events)
        if events and events[-1].kv.mod_revision >= revision:
            break
    return events


async def test_revision_starts_at_1_and_the_first_write_makes_it_2(store: kvstore.Store) -> None:
    """etcd: an empty store is at revision 1; each committed write transaction adds one."""
    assert store.revision == 1
    r = await store.range(b"missing")
    assert r.header.revision == 1
    p = await store.put(b"a", b"1")
    assert p.header.revision == 2
    p = await store.put(b"b", b"1")
    assert p.header.revision == 3
    assert store.revision == 3


async def test_every_op_of_a_txn_shares_one_main_revision(store: kvstore.Store) -> None:
    """etcd: a txn is one main revision; its changes get increasing sub-revisions."""
    await store.put(b"gone", b"x")
    w = store.watch(b"\0", b"\0")
    t = await store.txn(
        success=[
            PutRequest(b"k1", b"a"),
            PutRequest(b"k2", b"b"),
            DeleteRangeRequest(b"gone"),
            RangeRequest(b"k1"),
        ]
    )
    assert t.succeeded and t.header.revision == 3
    assert t.responses[3].kvs[0].mod_revision == 3  # a read in the txn sees its own write
    events = await drain_until(w, 3)
    assert [(e.type, e.kv.key, e.kv.mod_revision) for e in events] == [
        (EventType.PUT, b"k1", 3),
        (EventType.PUT, b"k2", 3),
        (EventType.DELETE, b"gone", 3),
    ]
    got = await store.range(b"k", b"l")
    assert [kv.mod_revision for kv in got.kvs] == [3, 3]
    assert [kv.create_revision for kv in got.kvs] == [3, 3]


async def test_writes_that_change_nothing_do_not_bump_the_revision(store: kvstore.Store) -> None:
    """etcd: only a write transaction with changes creates a revision; deleting a missing key,
    a read-only txn, a compaction and a lease grant do not."""
    await store.put(b"a", b"1")
    d = await store.delete_range(b"missing")
    assert d.deleted == 0 and d.header.revision == 2
    t = await store.txn(success=[RangeRequest(b"a")])
    assert t.header.revision == 2
    await store.compact(2)
    lease = await store.lease_grant(60)
    assert lease.header.revision == 2
    revoke = await store.lease_revoke(lease.id)  # no keys attached: nothing deleted
    assert revoke.header.revision == 2
    assert store.revision == 2


async def test_version_counts_puts_since_creation_and_resets_after_delete(store: kvstore.Store) -> None:
    """etcd: version is 1 on creation, +1 per put; a delete ends the generation, and the next
    put starts a new one with version 1 and a new create_revision."""
    for expected in (1, 2, 3):
        await store.put(b"k", b"v")
        kv = (await store.range(b"k")).kvs[0]
        assert kv.version == expected
        assert kv.create_revision == 2
    assert kv.mod_revision == 4
    await store.delete_range(b"k")
    assert (await store.range(b"k")).kvs == []
    await store.put(b"k", b"again")
    kv = (await store.range(b"k")).kvs[0]
    assert (kv.version, kv.create_revision, kv.mod_revision) == (1, 6, 6)


async def test_a_delete_bumps_the_revision_and_leaves_a_tombstone_in_history(store: kvstore.Store) -> None:
    """etcd: a delete is a new revision; history keeps the old value and the tombstone."""
    await store.put(b"k", b"v1")
    d = await store.delete_range(b"k", prev_kv=True)
    assert d.header.revision == 3 and d.deleted == 1
    assert d.prev_kvs[0].value == b"v1"
    assert (await store.range(b"k", revision=2)).kvs[0].value == b"v1"
    assert (await store.range(b"k", revision=3)).kvs == []
    w = store.watch(b"k", start_revision=1)
    events = await drain_until(w, 3)
    assert [e.type for e in events] == [EventType.PUT, EventType.DELETE]
    tomb = events[1].kv
    assert tomb == kvstore.KeyValue(b"k", 0, 3, 0, b"", 0)  # a DELETE kv carries key and mod_revision only
    w.cancel()


async def test_put_returns_prev_kv_only_when_asked(store: kvstore.Store) -> None:
    """etcd: PutResponse.prev_kv is set only with prev_kv=true, and only if the key existed."""
    first = await store.put(b"k", b"v1", prev_kv=True)
    assert first.prev_kv is None
    plain = await store.put(b"k", b"v2")
    assert plain.prev_kv is None
    second = await store.put(b"k", b"v3", prev_kv=True)
    assert second.prev_kv is not None and second.prev_kv.value == b"v2"
    assert second.prev_kv.version == 2


async def test_state_survives_close_and_reopen(tmp_path: Path) -> None:
    """etcd: revision, history, versions and the compact revision are durable."""
    path = tmp_path / "s"
    async with kvstore.open(path) as s:
        await s.put(b"a", b"1")
        await s.put(b"a", b"2")
        await s.put(b"b", b"1")
        await s.delete_range(b"b")
        await s.compact(3)
    async with kvstore.open(path) as s:
        assert s.revision == 5
        assert s.compact_revision == 3
        kv = (await s.range(b"a")).kvs[0]
        assert (kv.value, kv.version, kv.create_revision, kv.mod_revision) == (b"2", 2, 2, 3)
        assert (await s.range(b"b", revision=4)).kvs[0].value == b"1"
        assert (await s.range(b"b")).kvs == []
        p = await s.put(b"a", b"3")
        assert p.header.revision == 6
