"""The plain queue, against client-go's util/workqueue/queue.go behaviour (queue_test.go's cases)."""

from __future__ import annotations

import asyncio
import random

from informer.workqueue import Queue
from tests.informer.workqueue.helpers import settle


async def test_basic_concurrent_producers_and_consumers() -> None:
    """client-go TestBasic: with several producers and workers, every added item is processed,
    no item is ever processed by two workers at once, and no add is lost (each add is followed by
    a processing of that item that started after it)."""
    q: Queue[int] = Queue()
    rng = random.Random(7)
    in_flight: set[int] = set()
    overlaps: list[int] = []
    step = 0
    last_add: dict[int, int] = {}
    last_start: dict[int, int] = {}

    async def producer(seed: int) -> None:
        nonlocal step
        for i in range(60):
            item = (i * 7 + seed) % 25
            step += 1
            last_add[item] = step
            q.add(item)
            await settle(rng.randrange(3))

    async def worker() -> None:
        nonlocal step
        while True:
            item, shutdown = await q.get()
            if shutdown:
                return
            assert item is not None
            if item in in_flight:
                overlaps.append(item)
            in_flight.add(item)
            step += 1
            last_start[item] = step
            await settle(rng.randrange(4))
            in_flight.discard(item)
            q.done(item)

    workers = [asyncio.create_task(worker()) for _ in range(5)]
    await asyncio.gather(*(producer(seed) for seed in range(3)))
    q.shut_down()
    await asyncio.gather(*workers)

    assert overlaps == []
    assert set(last_start) == set(last_add)
    assert all(last_start[item] > last_add[item] for item in last_add)
    assert len(q) == 0


async def test_add_while_processing() -> None:
    """client-go TestAddWhileProcessing: an item added while it is processed is not handed to
    another worker; it is queued again when its worker calls done."""
    q: Queue[str] = Queue()
    q.add("a")
    item, _ = await q.get()
    assert item == "a"
    q.add("a")
    assert len(q) == 0
    second = asyncio.create_task(q.get())
    await settle()
    assert not second.done()
    q.done(item)
    await settle()
    assert second.result() == ("a", False)


async def test_len() -> None:
    """client-go TestLen: len counts the items waiting to be handed out, once each."""
    q: Queue[str] = Queue()
    q.add("foo")
    assert len(q) == 1 and q.len() == 1
    q.add("bar")
    assert len(q) == 2
    q.add("foo")
    assert len(q) == 2
    await q.get()
    assert len(q) == 1


async def test_reinsert() -> None:
    """client-go TestReinsert: get, add again, done: the item comes back out of get."""
    q: Queue[str] = Queue()
    q.add("foo")
    item, _ = await q.get()
    assert item is not None
    q.add(item)
    q.done(item)
    assert await q.get() == ("foo", False)
    assert len(q) == 0


async def test_collapse() -> None:
    """client-go TestCollapse: duplicates waiting in the queue collapse into one."""
    q: Queue[str] = Queue()
    for _ in range(3):
        q.add("bar")
    assert len(q) == 1
    assert await q.get() == ("bar", False)
    assert len(q) == 0


async def test_collapse_while_processing() -> None:
    """client-go TestCollapseWhileProcessing: repeated adds during processing yield one re-queue."""
    q: Queue[str] = Queue()
    q.add("foo")
    await q.get()
    q.add("foo")
    q.add("foo")
    q.done("foo")
    assert len(q) == 1
    assert await q.get() == ("foo", False)
    assert len(q) == 0


async def test_get_waits_while_empty_and_is_fifo() -> None:
    """client-go Get blocks until an item is added; items come out in the order they were added."""
    q: Queue[str] = Queue()
    getter = asyncio.create_task(q.get())
    await settle()
    assert not getter.done()
    q.add("x")
    q.add("y")
    await settle()
    assert getter.result() == ("x", False)
    assert await q.get() == ("y", False)


async def test_shut_down_drains_then_reports_shutdown() -> None:
    """client-go ShutDown: new adds are ignored, items already queued are still handed out, then
    Get returns (nil, true); a blocked Get is released at once."""
    q: Queue[str] = Queue()
    q.add("a")
    empty: Queue[str] = Queue()
    released = asyncio.create_task(empty.get())
    await settle()
    empty.shut_down()
    q.shut_down()
    assert q.shutting_down()
    q.add("b")
    assert await q.get() == ("a", False)
    assert await q.get() == (None, True)
    await settle()
    assert released.result() == (None, True)


async def test_queue_drainage_using_shut_down_with_drain() -> None:
    """client-go TestQueueDrainageUsingShutDownWithDrain: ShutDownWithDrain returns only once every
    item handed out is done; adds during the drain are ignored."""
    q: Queue[str] = Queue()
    q.add("foo")
    q.add("bar")
    first, _ = await q.get()
    second, _ = await q.get()
    assert first is not None and second is not None
    drain = asyncio.create_task(q.shut_down_with_drain())
    await settle()
    assert not drain.done() and q.shutting_down()
    q.add("baz")
    assert len(q) == 0
    q.done(first)
    await settle()
    assert not drain.done()
    q.done(second)
    await settle()
    assert drain.done()
    assert await q.get() == (None, True)


async def test_queue_drainage_using_shut_down_with_drain_with_dirty_item() -> None:
    """client-go TestQueueDrainageUsingShutDownWithDrainWithDirtyItem: an item re-added before the
    shut down is queued again by done and handed out; the drain ends when nothing is processing."""
    q: Queue[str] = Queue()
    q.add("foo")
    await q.get()
    q.add("foo")
    drain = asyncio.create_task(q.shut_down_with_drain())
    await settle()
    q.done("foo")
    assert await q.get() == ("foo", False)
    await settle()
    assert not drain.done()
    q.done("foo")
    await settle()
    assert drain.done()
    assert await q.get() == (None, True)


async def test_force_queue_shutdown_using_shut_down() -> None:
    """client-go TestForceQueueShutdownUsingShutDown: ShutDown ends a ShutDownWithDrain that is
    still waiting for items in processing."""
    q: Queue[str] = Queue()
    q.add("foo")
    await q.get()
    drain = asyncio.create_task(q.shut_down_with_drain())
    await settle()
    assert not drain.done()
    q.shut_down()
    await settle()
    assert drain.done()


async def test_shut_down_with_drain_returns_at_once_when_nothing_is_processing() -> None:
    """client-go ShutDownWithDrain does not wait on a queue with no item in processing."""
    q: Queue[str] = Queue()
    await q.shut_down_with_drain()
    assert q.shutting_down()


async def test_cancelled_get_passes_its_wakeup_on() -> None:
    """asyncio: a get cancelled after being woken for an item does not strand the item; another
    waiting get receives it."""
    q: Queue[str] = Queue()
    first = asyncio.create_task(q.get())
    second = asyncio.create_task(q.get())
    await settle()
    q.add("a")  # wakes `first`...
    first.cancel()  # ...which is cancelled before it runs
    await settle()
    assert first.cancelled()
    assert second.result() == ("a", False)


async def test_done_on_an_item_not_processing_does_nothing() -> None:
    """Done on an item never handed out leaves the queue as it was (no duplicate in the queue)."""
    q: Queue[str] = Queue()
    q.add("a")
    q.done("a")
    assert len(q) == 1
    assert await q.get() == ("a", False)
    assert len(q) == 0
