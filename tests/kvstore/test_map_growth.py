"""The LMDB map grows by itself: writes far beyond the initial map size never fail,
and readers running meanwhile (ranges, on the loop and on other threads, and a watcher
reading history) keep seeing correct data."""

from __future__ import annotations

import asyncio
import hashlib
import random
import threading
from pathlib import Path

import pytest

import kvstore
from kvstore import DeleteRangeRequest, EventType, PutRequest, RangeRequest, compare_version
from kvstore.validation import DEFAULT_MAX_REQUEST_BYTES

MiB = 1 << 20
INITIAL_MAP = 1 * MiB
OP_OVERHEAD = 16  # what the size check counts per put on top of key and value
DONE = b"zz/done"


def value_for(key: bytes, size: int) -> bytes:
    return random.Random(key).randbytes(size)


def digest(value: bytes) -> bytes:
    return hashlib.sha256(value).digest()


class Expected:
    """What each key should hold; filled in before the write is submitted."""

    def __init__(self) -> None:
        self.digests: dict[bytes, bytes] = {}
        self.deleted: set[bytes] = set()
        self.lock = threading.Lock()

    def add(self, key: bytes, size: int) -> bytes:
        value = value_for(key, size)
        with self.lock:
            self.digests[key] = digest(value)
        return value

    def check(self, kv: kvstore.KeyValue) -> None:
        with self.lock:
            want = self.digests.get(kv.key)
        assert want is not None, f"unexpected key {kv.key!r}"
        assert digest(kv.value) == want, f"wrong value for {kv.key!r} at {kv.mod_revision}"

    def keys(self) -> list[bytes]:
        with self.lock:
            return list(self.digests)


def plan() -> list[tuple[bytes, int]]:
    """(key, value size) of the single puts: ~36 MiB, 16 of them at the request limit."""
    big = [
        (key, DEFAULT_MAX_REQUEST_BYTES - OP_OVERHEAD - len(key))
        for key in (f"big/{i:02d}".encode() for i in range(16))
    ]
    medium = [(f"med/{i:04d}".encode(), 10_000 + (i * 7919) % 5000) for i in range(800)]
    small = [(f"small/{i:04d}".encode(), 100) for i in range(400)]
    items = big + medium + small
    random.Random(7).shuffle(items)
    return items


async def write_all(store: kvstore.Store, expected: Expected, writers: int) -> list[int]:
    """Write the plan from `writers` concurrent tasks, plus one large txn; return the revisions."""
    items = plan()
    revisions: list[int] = []

    async def writer(part: list[tuple[bytes, int]]) -> None:
        for key, size in part:
            r = await store.put(key, expected.add(key, size))
            revisions.append(r.header.revision)

    await asyncio.gather(*(writer(items[i::writers]) for i in range(writers)))

    # One txn near the request limit: three large puts and a delete.
    txn_puts = [PutRequest(f"txn/{i}".encode(), expected.add(f"txn/{i}".encode(), 500_000)) for i in range(3)]
    gone = b"med/0000"
    t = await store.txn(
        compare=[compare_version(gone, ">", 0)],
        success=[*txn_puts, DeleteRangeRequest(gone)],
    )
    assert t.succeeded
    expected.deleted.add(gone)
    revisions.append(t.header.revision)
    return revisions


def check_everything(store_range: list[kvstore.KeyValue], expected: Expected) -> None:
    by_key = {kv.key: kv for kv in store_range}
    assert set(by_key) == set(expected.keys()) - expected.deleted
    for kv in by_key.values():
        expected.check(kv)


@pytest.mark.timeout(120)
async def test_map_grows_from_one_mib_while_readers_and_a_watcher_run(tmp_path: Path) -> None:
    """The map grows by itself: ~37 MiB written into a store opened with a 1 MiB map,
    including values at the 1.5 MiB request limit and a large txn, without any error;
    ranges on the loop and on two threads, and a watcher replaying history from
    revision 1, keep returning correct data while the map is resized; everything reads
    back, also after reopening."""
    path = tmp_path / "store"
    store = kvstore.open(path, map_size=INITIAL_MAP, fsync=False, watch_max_pending_bytes=1 * MiB)
    expected = Expected()
    writing = True
    reads = {"loop": 0, "thread": 0}
    try:
        # A watcher from revision 1 whose buffer is smaller than the large values: each
        # of them pushes it back to reading history, which it does while the map grows.
        watcher = store.watch(b"\0", b"\0", start_revision=1)

        async def watch_all() -> dict[bytes, int]:
            last_rev = 1
            seen: dict[bytes, int] = {}
            async for resp in watcher:
                for ev in resp.events:
                    assert ev.kv.mod_revision in (last_rev, last_rev + 1), f"gap before {ev.kv.mod_revision}"
                    last_rev = ev.kv.mod_revision
                    if ev.type == EventType.PUT:
                        if ev.kv.key != DONE:
                            expected.check(ev.kv)
                        seen[ev.kv.key] = ev.kv.mod_revision
                    else:
                        seen.pop(ev.kv.key)
                if DONE in seen:
                    return seen
                await asyncio.sleep(0)  # a slow consumer
            raise AssertionError("watch ended early")

        async def loop_reader() -> None:
            rng = random.Random(1)
            while writing:
                keys = expected.keys()
                key = rng.choice(keys) if keys else b"big/00"
                for kv in (await store.range(key)).kvs:
                    expected.check(kv)
                r = await store.range(b"big/", b"big0", limit=2)
                for kv in r.kvs:
                    expected.check(kv)
                old = rng.randint(1, store.revision)
                counted = await store.range(b"\0", b"\0", revision=old, count_only=True)
                assert counted.count <= old + 2
                reads["loop"] += 1
                await asyncio.sleep(0)

        errors: list[BaseException] = []

        def thread_reader(seed: int) -> None:
            rng = random.Random(seed)
            try:
                while writing:
                    start = rng.choice([b"big/", b"med/", b"txn/"])
                    resp = store.range_now(RangeRequest(start, start[:-1] + b"0", limit=3))
                    for kv in resp.kvs:
                        expected.check(kv)
                    reads["thread"] += 1
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=thread_reader, args=(s,)) for s in (2, 3)]
        for t in threads:
            t.start()
        watch_task = asyncio.create_task(watch_all())
        reader_task = asyncio.create_task(loop_reader())
        try:
            revisions = await write_all(store, expected, writers=4)
            done = await store.put(DONE, b"")
        finally:
            writing = False
            for t in threads:
                await asyncio.to_thread(t.join, 30)
        await reader_task
        seen = await asyncio.wait_for(watch_task, 60)
        assert not errors, errors

        assert sorted(revisions) == list(range(2, len(revisions) + 2))
        assert store.revision == done.header.revision == len(revisions) + 2
        assert store._backend.resizes >= 1
        assert store._backend.map_size > 30 * MiB
        assert reads["loop"] > 0 and reads["thread"] > 0
        assert store._hub.demotions > 0  # the watcher did read from history meanwhile
        assert set(seen) == set(expected.keys()) - expected.deleted | {DONE}
        check_everything([kv for kv in (await store.range(b"\0", b"\0")).kvs if kv.key != DONE], expected)
        for rev in (2, len(revisions) // 2, store.revision):  # past revisions still read back
            for kv in (await store.range(b"\0", b"\0", revision=rev)).kvs:
                if kv.key != DONE:
                    expected.check(kv)
    finally:
        await store.close()

    reopened = kvstore.open(path, map_size=INITIAL_MAP, fsync=False)
    try:
        assert reopened.revision == len(revisions) + 2
        check_everything([kv for kv in (await reopened.range(b"\0", b"\0")).kvs if kv.key != DONE], expected)
        p = await reopened.put(b"after/reopen", value_for(b"after/reopen", 1 * MiB))
        assert p.header.revision == len(revisions) + 3
    finally:
        await reopened.close()


@pytest.mark.timeout(120)
async def test_a_small_request_that_writes_more_than_the_free_map_still_commits(tmp_path: Path) -> None:
    """The map grows by itself even when a request is small but its changes are large:
    a range delete of many long keys writes a tombstone (holding the key) per key, more
    bytes than the map has free, and still commits with nothing lost or half-applied."""
    path = tmp_path / "store"
    store = kvstore.open(path, map_size=INITIAL_MAP, fsync=False)
    backend = store._backend
    pad = b"p" * 10_000
    keys: list[bytes] = []
    try:
        # Write long keys until their tombstones alone will not fit in the free map.
        while len(keys) * len(pad) <= backend.map_size - backend.used_bytes():
            batch = [b"k/%06d/" % (len(keys) + i) + pad for i in range(100)]
            await store.txn(success=[PutRequest(k, b"") for k in batch])
            keys += batch
        before = store.revision
        resizes = backend.resizes
        d = await store.delete_range(b"k/", b"k0")
        assert d.deleted == len(keys)
        assert d.header.revision == store.revision == before + 1
        assert backend.resizes > resizes
        assert (await store.range(b"k/", b"k0", count_only=True)).count == 0
        old = await store.range(b"k/", b"k0", revision=before, keys_only=True)
        assert [kv.key for kv in old.kvs] == keys
        p = await store.put(b"after", b"1")
        assert p.header.revision == before + 2
    finally:
        await store.close()

    reopened = kvstore.open(path, map_size=INITIAL_MAP, fsync=False)
    try:
        assert reopened.revision == before + 2
        assert (await reopened.range(b"k/", b"k0", count_only=True)).count == 0
        old = await reopened.range(b"k/", b"k0", revision=before, count_only=True)
        assert old.count == len(keys)
        assert [kv.key for kv in (await reopened.range(b"\0", b"\0")).kvs] == [b"after"]
    finally:
        await reopened.close()
