"""The delaying queue, against client-go's util/workqueue/delaying_queue.go (delaying_queue_test.go)."""

from __future__ import annotations

import asyncio

from informer.workqueue import DelayingQueue, FakeClock
from tests.informer.workqueue.helpers import settle


async def drain_ready(q: DelayingQueue[str]) -> list[str]:
    """Take every item ready now, marking each done."""
    items: list[str] = []
    while len(q):
        item, _ = await q.get()
        assert item is not None
        items.append(item)
        q.done(item)
    return items


async def test_simple_queue() -> None:
    """client-go TestSimpleQueue: an item added after a delay is not in the queue (nor in len)
    until the delay has passed on the clock; then the waiting loop sleeps no more."""
    clock = FakeClock()
    q: DelayingQueue[str] = DelayingQueue(clock=clock)
    q.add_after("foo", 0.05)
    await settle()
    assert len(q) == 0 and clock.has_waiters()
    clock.step(0.049)
    await settle()
    assert len(q) == 0
    clock.step(0.001)
    await settle()
    assert len(q) == 1
    assert await q.get() == ("foo", False)
    q.done("foo")
    await settle()
    assert not clock.has_waiters()
    q.shut_down()


async def test_deduping_earlier_ready_time_wins() -> None:
    """client-go TestDeduping: an item added after a delay while already waiting keeps the earlier
    of its two ready times, and is added once."""
    clock = FakeClock()
    q: DelayingQueue[str] = DelayingQueue(clock=clock)
    q.add_after("foo", 0.05)
    q.add_after("foo", 0.07)  # later: ignored, still ready at 0.05
    await settle()
    clock.step(0.06)
    await settle()
    assert await drain_ready(q) == ["foo"]

    q.add_after("foo", 0.05)
    q.add_after("foo", 0.01)  # earlier: wins, ready at 0.07 instead of 0.11
    await settle()
    clock.step(0.015)
    await settle()
    assert await drain_ready(q) == ["foo"]
    clock.step(0.1)
    await settle()
    assert len(q) == 0  # the superseded ready time does not add it again
    q.shut_down()


async def test_add_two_fire_early() -> None:
    """client-go TestAddTwoFireEarly: an item added later with a shorter delay wakes the waiting
    loop and fires first."""
    clock = FakeClock()
    q: DelayingQueue[str] = DelayingQueue(clock=clock)
    q.add_after("foo", 1.0)
    q.add_after("bar", 0.05)
    await settle()
    clock.step(0.06)
    await settle()
    assert await drain_ready(q) == ["bar"]
    q.add_after("foo", 2.0)  # foo already waits until 1.0: kept
    clock.step(1.0)
    await settle()
    assert await drain_ready(q) == ["foo"]
    q.shut_down()


async def test_copy_shifting() -> None:
    """client-go TestCopyShifting: items become ready in order of ready time, not of add_after."""
    clock = FakeClock()
    q: DelayingQueue[str] = DelayingQueue(clock=clock)
    q.add_after("foo", 1.0)
    q.add_after("bar", 3.0)
    q.add_after("zed", 2.0)
    await settle()
    assert len(q) == 0
    clock.step(2.0)
    await settle()
    assert await drain_ready(q) == ["foo", "zed"]
    clock.step(1.0)
    await settle()
    assert await drain_ready(q) == ["bar"]
    q.shut_down()


async def test_add_after_with_no_delay_adds_at_once() -> None:
    """client-go AddAfter: a duration <= 0 adds the item immediately (no waiting loop needed)."""
    clock = FakeClock()
    q: DelayingQueue[str] = DelayingQueue(clock=clock)
    q.add_after("now", 0)
    q.add_after("past", -1.0)
    assert len(q) == 2
    assert not clock.has_waiters()
    assert q.metrics.retries == 2


def test_construct_outside_an_event_loop() -> None:
    """A delaying queue can be built, and fed undelayed items, with no running event loop; its
    waiting loop starts lazily on the first delayed add."""
    q: DelayingQueue[str] = DelayingQueue()
    q.add_after("a", 0)
    q.add("b")
    assert len(q) == 2


async def test_shut_down_stops_the_waiting_loop() -> None:
    """client-go ShutDown stops the waiting loop: waiting items are never added, later add_after
    calls are ignored, and nothing is left asleep on the clock."""
    clock = FakeClock()
    q: DelayingQueue[str] = DelayingQueue(clock=clock)
    q.add_after("foo", 1.0)
    await settle()
    assert clock.has_waiters()
    q.shut_down()
    await settle()
    assert not clock.has_waiters()
    q.add_after("bar", 0.5)
    clock.step(2.0)
    await settle()
    assert len(q) == 0
    assert q.metrics.retries == 1
    assert await q.get() == (None, True)


async def test_shut_down_with_drain_stops_the_waiting_loop() -> None:
    """ShutDownWithDrain waits for items in processing, and for the waiting loop's end."""
    clock = FakeClock()
    q: DelayingQueue[str] = DelayingQueue(clock=clock)
    q.add("held")
    await q.get()
    q.add_after("foo", 1.0)
    await settle()
    drain = asyncio.create_task(q.shut_down_with_drain())
    await settle()
    assert not drain.done() and not clock.has_waiters()
    q.done("held")
    await drain
    clock.step(2.0)
    await settle()
    assert len(q) == 0
