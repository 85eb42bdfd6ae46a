"""The group committer's gathering window: when the loop holds a batch back, and when not."""

from __future__ import annotations

import asyncio
from pathlib import Path

import kvstore
from kvstore.mvcc import committer as committer_mod
from kvstore.mvcc.committer import Committer


def running(store: kvstore.Store) -> Committer:
    assert store._committer is not None
    return store._committer


def cpu_scarce(c: Committer, busy: float = 1.0) -> None:
    """Pretend the loop thread spends `busy` of its time on CPU (for the next minute), so a
    loaded test machine cannot change what the committer measures."""
    c._busy = busy
    c._busy_since = (c.loop.time() + 60, 0.0)


def open_window(c: Committer, seconds: float, recent_peak: int) -> None:
    """Gate the thread behind a gathering window of `seconds`, as if `recent_peak`
    commands had been waiting at once lately (for the next minute)."""
    cpu_scarce(c)
    c._window = seconds
    c._peak_before = recent_peak
    c._epoch_end = c.loop.time() + 60
    c._set_gated(True)


async def test_a_lone_writer_is_never_held_back(store: kvstore.Store) -> None:
    await store.put(b"start", b"")
    c = running(store)
    before = c.batches
    for i in range(20):
        await store.put(b"k%d" % i, b"v")
    assert c.batches - before == 20
    assert c._window == 0.0


async def test_writers_that_submit_together_share_a_batch_without_waiting(store: kvstore.Store) -> None:
    await store.put(b"start", b"")
    c = running(store)
    before = c.batches
    await asyncio.gather(*(store.put(b"k%d" % i, b"v") for i in range(50)))
    assert c.batches - before == 1
    assert c._window == 0.0


async def test_commands_arriving_during_a_commit_gate_the_thread_when_cpu_is_scarce(store: kvstore.Store) -> None:
    await store.put(b"start", b"")
    c = running(store)
    cpu_scarce(c, busy=0.0)
    c._independent = 2  # as if two commands had arrived while the next batch committed
    await store.put(b"k", b"v")
    assert not c._gated, "the loop thread is idle: no reason to wait"

    cpu_scarce(c)
    c._independent = 2
    await store.put(b"k", b"v")
    assert c._gated
    assert c._window == committer_mod._MIN_GATHER

    before = c.batches
    await asyncio.gather(*(store.put(b"k%d" % i, b"v") for i in range(3)))
    assert c.batches - before == 1
    assert not c._gated, "nothing more came while it waited: the window closed again"
    assert c._window == 0.0


async def test_an_open_window_holds_the_batch_until_it_ends(store: kvstore.Store) -> None:
    await store.put(b"start", b"")
    c = running(store)
    open_window(c, 0.05, recent_peak=10)
    loop = asyncio.get_running_loop()
    before, t0 = c.batches, loop.time()
    await asyncio.gather(*(store.put(b"k%d" % i, b"v") for i in range(3)))
    assert loop.time() - t0 >= 0.04
    assert c.batches - before == 1
    assert c._window == 0.025, "only the writers of the first turn came: the window halves"


async def test_the_window_ends_once_every_recent_writer_is_in(store: kvstore.Store) -> None:
    await store.put(b"start", b"")
    c = running(store)
    open_window(c, 30.0, recent_peak=4)

    async def put_after(turns: int, key: bytes) -> None:
        for _ in range(turns):
            await asyncio.sleep(0)
        await store.put(key, b"v")

    before = c.batches
    await asyncio.wait_for(asyncio.gather(*(put_after(i * 3, b"k%d" % i) for i in range(4))), 10)
    assert c.batches - before == 1


async def test_close_commits_what_an_open_window_holds(tmp_path: Path) -> None:
    store = kvstore.open(tmp_path / "s")
    await store.put(b"start", b"")
    c = running(store)
    open_window(c, 30.0, recent_peak=100)
    puts = [asyncio.ensure_future(store.put(b"k%d" % i, b"v%d" % i)) for i in range(3)]
    await asyncio.sleep(0.01)
    assert not any(p.done() for p in puts)
    await asyncio.wait_for(store.close(), 10)
    assert [p.result().header.revision for p in puts] == [3, 4, 5]
    async with kvstore.open(tmp_path / "s") as reopened:
        got = await reopened.range(b"k", b"l")
        assert [(kv.key, kv.value) for kv in got.kvs] == [(b"k%d" % i, b"v%d" % i) for i in range(3)]
