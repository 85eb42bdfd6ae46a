"""Watches: etcd v3's replay-then-live event streams, in revision order with no gap or duplicate."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import kvstore
from kvstore import CompactedError, EventType, WatchFilterType, prefix_range_end

P = b"/p/"
END = prefix_range_end(P)


async def collect(watcher: kvstore.Watcher, until_revision: int) -> list[kvstore.Event]:
    """Events from the watcher until one at `until_revision` arrives (bounded in time)."""
    events: list[kvstore.Event] = []

    async def run() -> None:
        async for resp in watcher:
            events.extend(resp.events)
            if events and events[-1].kv.mod_revision >= until_revision:
                return

    await asyncio.wait_for(run(), timeout=30)
    return events


def revisions(events: list[kvstore.Event]) -> list[int]:
    return [e.kv.mod_revision for e in events]


async def test_watch_replays_history_then_streams_live_events(store: kvstore.Store) -> None:
    """etcd: a watch from start_revision N first replays every event >= N, then live ones."""
    for i in range(5):
        await store.put(P + b"%d" % i, b"x")  # revisions 2..6
    w = store.watch(P, END, start_revision=3)
    for i in range(5, 8):
        await store.put(P + b"%d" % i, b"x")  # revisions 7..9
    events = await collect(w, 9)
    assert revisions(events) == list(range(3, 10))
    w.cancel()


async def test_no_gap_or_duplicate_across_the_replay_to_live_hand_off(store: kvstore.Store) -> None:
    """etcd: events arrive in revision order with no gap and no duplicate, even while writes
    land during the replay (the unsynced-to-synced move)."""
    store._hub.history.max_events = 7  # replay in many small chunks
    for i in range(100):
        await store.put(P + b"k%d" % (i % 10), b"%d" % i)
    w = store.watch(P, END, start_revision=2)

    async def writer() -> None:
        for i in range(200):
            await store.put(P + b"w%d" % (i % 13), b"%d" % i)

    task = asyncio.create_task(writer())
    events = await collect(w, 301)
    await task
    assert revisions(events) == list(range(2, 302))
    w.cancel()


async def test_live_events_of_one_range_share_the_same_objects(store: kvstore.Store) -> None:
    """Fan-out: watchers of the same range with the same options get the same event tuple."""
    w1 = store.watch(P, END)
    w2 = store.watch(P, END)
    w3 = store.watch(P, END, prev_kv=True)
    await store.put(P + b"a", b"1")
    r1, r2, r3 = await anext(w1), await anext(w2), await anext(w3)
    assert r1.events is r2.events
    assert r1.events[0].kv is r3.events[0].kv
    assert r1.watch_id != r2.watch_id
    for w in (w1, w2, w3):
        w.cancel()


async def test_prev_kv(store: kvstore.Store) -> None:
    """etcd: with prev_kv, PUT and DELETE events carry the key's previous version, live and replayed."""
    await store.put(P + b"a", b"1")  # 2
    replay = store.watch(P, END, start_revision=2, prev_kv=True)
    live = store.watch(P, END, prev_kv=True)
    plain = store.watch(P, END)
    await store.put(P + b"a", b"2")  # 3
    await store.delete_range(P + b"a")  # 4
    for w, start in ((replay, 2), (live, 3)):
        events = await collect(w, 4)
        assert revisions(events) == list(range(start, 5))
        prevs = [e.prev_kv.value if e.prev_kv else None for e in events]
        assert prevs == [None, b"1", b"2"][start - 2 :]
    assert all(e.prev_kv is None for e in await collect(plain, 4))


async def test_filters_drop_puts_or_deletes(store: kvstore.Store) -> None:
    """etcd: the NOPUT filter drops PUT events, NODELETE drops DELETE events."""
    no_put = store.watch(P, END, filters=[WatchFilterType.NOPUT])
    no_delete = store.watch(P, END, filters=[WatchFilterType.NODELETE])
    await store.put(P + b"a", b"1")
    await store.delete_range(P + b"a")
    await store.put(P + b"a", b"2")
    assert [e.type for e in await collect(no_put, 3)] == [EventType.DELETE]
    assert [e.type for e in await collect(no_delete, 4)] == [EventType.PUT, EventType.PUT]
    replay = store.watch(P, END, start_revision=1, filters=[WatchFilterType.NOPUT])
    assert [e.type for e in await collect(replay, 3)] == [EventType.DELETE]


async def test_watch_of_a_future_revision_starts_there(store: kvstore.Store) -> None:
    """etcd: a watch with start_revision beyond the current one delivers events from it on."""
    w = store.watch(P, END, start_revision=store.revision + 3)
    for i in range(5):
        await store.put(P + b"%d" % i, b"x")
    assert revisions(await collect(w, 6)) == [4, 5, 6]


async def test_single_key_watch_ignores_other_keys(store: kvstore.Store) -> None:
    """etcd: a watch without range_end watches exactly one key."""
    w = store.watch(P + b"a")
    await store.put(P + b"ab", b"x")
    await store.put(P + b"a", b"x")
    assert revisions(await collect(w, 3)) == [3]


async def test_progress_notification_on_request(store: kvstore.Store) -> None:
    """etcd: a progress request gets an empty response whose header revision says the watcher
    has seen everything up to it."""
    w = store.watch(P, END)
    await store.put(b"/other", b"x")  # not in the range, but it moves the revision
    w.request_progress()
    resp = await asyncio.wait_for(anext(w), 5)
    assert resp.events == () and resp.is_progress_notify
    assert resp.header.revision == store.revision == 2


async def test_periodic_progress_notify(tmp_path: Path) -> None:
    """etcd: watchers created with progress_notify get periodic empty responses when idle."""
    async with kvstore.open(tmp_path / "s", progress_notify_interval=0.05) as s:
        w = s.watch(P, END, progress_notify=True)
        quiet = s.watch(P, END)
        await s.put(b"/elsewhere", b"x")
        resp = await asyncio.wait_for(anext(w), 5)
        assert resp.is_progress_notify and resp.header.revision == 2
        quiet.request_progress()  # the watcher without progress_notify gets one only on request
        assert (await asyncio.wait_for(anext(quiet), 5)).is_progress_notify


async def test_cancel_ends_iteration(store: kvstore.Store) -> None:
    """etcd: a canceled watch stops delivering; the iterator ends."""
    w = store.watch(P, END)
    seen: list[kvstore.WatchResponse] = []

    async def consume() -> None:
        async for resp in w:
            seen.append(resp)

    task = asyncio.create_task(consume())
    await store.put(P + b"a", b"1")
    while not seen:
        await asyncio.sleep(0)
    w.cancel()
    await asyncio.wait_for(task, 5)
    await store.put(P + b"a", b"2")
    assert len(seen) == 1 and w.canceled
    assert store._hub.watcher_count == 0


async def test_closing_the_store_ends_every_watch(tmp_path: Path) -> None:
    """A closed store ends its watchers' iteration instead of leaving them hanging."""
    s = kvstore.open(tmp_path / "s")
    w = s.watch(P, END)
    task = asyncio.create_task(anext(w))
    await asyncio.sleep(0)
    await s.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(task, 5)
    assert w.cancel_reason == "store closed"


async def test_a_slow_watcher_is_bounded_and_catches_up_from_history(tmp_path: Path) -> None:
    """etcd: a watcher that cannot keep up leaves the synced group and later replays from
    history; its buffer never exceeds the limit, writers and other watchers are not held up."""
    async with kvstore.open(tmp_path / "s", watch_max_pending_events=10) as s:
        slow = s.watch(P, END, prev_kv=True)
        fast = s.watch(P, END)
        fast_events: list[kvstore.Event] = []

        async def follow() -> None:
            async for resp in fast:
                fast_events.extend(resp.events)

        follower = asyncio.create_task(follow())
        for i in range(300):
            await s.put(P + b"%d" % (i % 7), b"v%d" % i)
            assert slow.pending_events <= 11  # one batch over the limit at most, then dropped
        assert s._hub.demotions >= 1
        assert not s._hub.is_synced(slow)
        events = await collect(slow, 301)
        assert revisions(events) == list(range(2, 302))
        assert all(e.prev_kv is not None for e in events[7:])  # prev_kv survives the replay path
        assert s._hub.is_synced(slow)  # back on the live stream
        await s.put(P + b"x", b"after")
        assert revisions(await collect(slow, 302)) == [302]
        while len(fast_events) < 301:
            await asyncio.sleep(0)
        assert revisions(fast_events) == list(range(2, 303))
        follower.cancel()


async def test_a_watcher_overflowing_on_a_batch_of_several_responses_misses_nothing(tmp_path: Path) -> None:
    """etcd: no gap. A group-committed batch bigger than one response reaches a slow watcher
    as several pieces; overflowing on more than one of them demotes it once, and it replays
    every revision of the batch from history."""
    async with kvstore.open(
        tmp_path / "s", fsync=False, watch_max_pending_events=3, watch_max_response_bytes=1000
    ) as s:
        slow = s.watch(P, END)
        await asyncio.gather(*(s.put(P + b"%d" % i, b"x" * 600) for i in range(30)))  # one or two commits
        assert revisions(await collect(slow, 31)) == list(range(2, 32))


async def test_a_slow_watcher_overtaken_by_compaction_gets_compacted_error(tmp_path: Path) -> None:
    """etcd: a watcher whose next event was compacted before it caught up is canceled with
    the compact revision."""
    async with kvstore.open(tmp_path / "s", watch_max_pending_events=5) as s:
        slow = s.watch(P, END)
        for i in range(20):
            await s.put(P + b"k", b"%d" % i)
        assert not s._hub.is_synced(slow)
        await s.compact(s.revision)
        with pytest.raises(CompactedError) as err:
            await anext(slow)
        assert err.value.compact_revision == 21
        assert slow.canceled and slow.cancel_reason == "compacted"


async def test_both_filters_drop_everything(store: kvstore.Store) -> None:
    """etcd applies every filter: NOPUT and NODELETE together deliver no events at all."""
    w = store.watch(P, END, filters=[WatchFilterType.NOPUT, WatchFilterType.NODELETE])
    await store.put(P + b"a", b"1")
    await store.delete_range(P + b"a")
    w.request_progress()
    resp = await asyncio.wait_for(anext(w), 5)
    assert resp.is_progress_notify and resp.header.revision == 3


async def test_a_watch_over_an_empty_range_is_refused(store: kvstore.Store) -> None:
    """etcd: key >= range_end (other than "" and "\\0") is "mvcc: watcher range is empty"."""
    with pytest.raises(kvstore.InvalidArgumentError) as err:
        store.watch(b"b", b"a")
    assert str(err.value) == "mvcc: watcher range is empty" and err.value.field == "range_end"
