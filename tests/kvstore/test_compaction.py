"""Compaction: etcd v3 drops history below a revision but keeps every live key's latest version."""

from __future__ import annotations

from pathlib import Path

import pytest

import kvstore
from kvstore import CompactedError, EventType, FutureRevisionError


async def test_compaction_keeps_the_latest_version_of_every_live_key(store: kvstore.Store) -> None:
    """etcd: after compact(N), reads at N and later answer as before; reads below N fail."""
    await store.put(b"old", b"1")  # 2, never touched again
    await store.put(b"hot", b"1")  # 3
    await store.put(b"hot", b"2")  # 4
    await store.put(b"dead", b"1")  # 5
    await store.delete_range(b"dead")  # 6
    await store.put(b"hot", b"3")  # 7
    before = {rev: (await store.range(b"\0", b"\0", revision=rev)).kvs for rev in range(5, 8)}
    await store.compact(5)
    assert store.compact_revision == 5
    after = {rev: (await store.range(b"\0", b"\0", revision=rev)).kvs for rev in range(5, 8)}
    assert after == before
    for rev in (1, 2, 4):
        with pytest.raises(CompactedError) as err:
            await store.range(b"old", revision=rev)
        assert err.value.compact_revision == 5


async def test_compaction_physically_removes_superseded_history(store: kvstore.Store) -> None:
    """etcd: compaction frees the rows of versions no reader can ask for any more."""
    for i in range(50):
        await store.put(b"k", b"%d" % i)
    await store.put(b"gone", b"x")
    await store.delete_range(b"gone")
    await store.put(b"k", b"last")
    backend = store._backend
    with backend.read() as txn:
        rows_before = txn.stat(backend.history_db)["entries"]
    await store.compact(store.revision)
    with backend.read() as txn:
        rows_after = txn.stat(backend.history_db)["entries"]
    assert rows_before == 53
    assert rows_after == 1  # only k's latest version; the deleted key is gone entirely
    assert len(store._applier.index) == 1


async def test_compact_errors(store: kvstore.Store) -> None:
    """etcd: compacting at or below the compact revision is ErrCompacted; above the current one ErrFutureRev."""
    await store.put(b"k", b"1")
    await store.put(b"k", b"2")
    with pytest.raises(FutureRevisionError):
        await store.compact(4)
    await store.compact(3)
    with pytest.raises(CompactedError) as err:
        await store.compact(3)
    assert err.value.compact_revision == 3
    with pytest.raises(CompactedError):
        await store.compact(2)
    assert store.revision == 3 and store.compact_revision == 3


async def test_watch_below_the_compact_revision_is_refused(store: kvstore.Store) -> None:
    """etcd: a watch whose start revision was compacted gets ErrCompacted with the compact revision."""
    await store.put(b"k", b"1")
    await store.put(b"k", b"2")
    await store.put(b"k", b"3")
    await store.compact(3)
    with pytest.raises(CompactedError) as err:
        store.watch(b"k", start_revision=2)
    assert err.value.compact_revision == 3
    w = store.watch(b"k", start_revision=3)  # from the compact revision itself: allowed
    resp = await anext(w)
    assert [(e.type, e.kv.mod_revision) for e in resp.events] == [(EventType.PUT, 3), (EventType.PUT, 4)]
    w.cancel()


async def test_events_at_the_compact_revision_still_replay(store: kvstore.Store) -> None:
    """A watch from the compact revision sees every event at it, deletes included.

    (etcd drops a tombstone that sits exactly at the compact revision, so such a watch misses
    that delete there; this store keeps history from the compact revision on complete.)"""
    await store.put(b"a", b"1")  # 2
    await store.put(b"b", b"1")  # 3
    await store.txn(success=[kvstore.DeleteRangeRequest(b"a"), kvstore.PutRequest(b"b", b"2")])  # 4
    await store.compact(4)
    w = store.watch(b"\0", b"\0", start_revision=4)
    resp = await anext(w)
    assert [(e.type, e.kv.key) for e in resp.events] == [(EventType.DELETE, b"a"), (EventType.PUT, b"b")]
    w.cancel()


async def test_compaction_survives_reopen(tmp_path: Path) -> None:
    """etcd: the compact revision is durable; history below it stays gone after a restart."""
    async with kvstore.open(tmp_path / "s") as s:
        for i in range(5):
            await s.put(b"k", b"%d" % i)
        await s.compact(4)
    async with kvstore.open(tmp_path / "s") as s:
        assert s.compact_revision == 4
        with pytest.raises(CompactedError):
            await s.range(b"k", revision=3)
        assert (await s.range(b"k", revision=4)).kvs[0].value == b"2"
        assert (await s.range(b"k")).kvs[0].value == b"4"


async def test_compact_zero_works_once_on_a_never_compacted_store(store: kvstore.Store) -> None:
    """etcd starts with compact revision -1: compact(0) succeeds once, then is ErrCompacted."""
    await store.compact(0)
    with pytest.raises(CompactedError):
        await store.compact(0)
    await store.compact(1)
