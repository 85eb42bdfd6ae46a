"""The rate-limiting queue, against client-go's util/workqueue/rate_limiting_queue.go (and its test)."""

from __future__ import annotations

import asyncio

import pytest

from informer.workqueue import (
    FakeClock,
    ItemExponentialFailureRateLimiter,
    MaxOfRateLimiter,
    RateLimitingQueue,
)
from tests.informer.workqueue.helpers import settle


async def test_rate_limiting_queue() -> None:
    """client-go TestRateLimitingQueue: add_rate_limited waits as the limiter says (1 ms, 2 ms, ...
    per item), num_requeues counts the retries, forget resets them."""
    clock = FakeClock()
    limiter = ItemExponentialFailureRateLimiter(0.001, 1.0)
    q: RateLimitingQueue[str] = RateLimitingQueue(limiter, clock=clock)

    q.add_rate_limited("one")  # ready at 0.001
    q.add_rate_limited("one")  # 0.002: the waiting 0.001 wins
    q.add_rate_limited("two")  # ready at 0.001
    assert q.num_requeues("one") == 2
    assert q.num_requeues("two") == 1
    await settle()
    assert len(q) == 0
    clock.step(0.001)
    await settle()
    assert len(q) == 2

    q.forget("one")
    assert q.num_requeues("one") == 0
    q.add_rate_limited("one")  # back to 1 ms, but "one" is already queued: it collapses
    clock.step(0.001)
    await settle()
    assert len(q) == 2
    assert q.metrics.retries == 4
    q.shut_down()


async def test_default_rate_limiter_runs_on_the_queue_clock() -> None:
    """client-go NewRateLimitingQueue defaults to DefaultControllerRateLimiter; here its bucket reads
    the queue's clock, so a fake clock drives it."""
    clock = FakeClock()
    q: RateLimitingQueue[int] = RateLimitingQueue(clock=clock, name="controller")
    assert isinstance(q.rate_limiter, MaxOfRateLimiter)
    for i in range(101):  # the 101st has to wait for a token: 0.1 s
        q.add_rate_limited(i)
    await settle()
    assert len(q) == 0
    clock.step(0.005)
    await settle()
    assert len(q) == 100
    clock.step(0.095)
    await settle()
    assert len(q) == 101
    q.shut_down()


async def test_worker_retries_with_backoff_until_success() -> None:
    """The client-go worker pattern: a failure re-adds the key rate limited, a success forgets it,
    done always; the retries wait 5 ms, 10 ms, 20 ms on the clock."""
    clock = FakeClock()
    q: RateLimitingQueue[str] = RateLimitingQueue(ItemExponentialFailureRateLimiter(0.005, 1.0), clock=clock)
    attempts: list[float] = []

    async def worker() -> None:
        while True:
            key, shutdown = await q.get()
            if shutdown or key is None:
                return
            attempts.append(clock.now())
            if len(attempts) < 4:
                q.add_rate_limited(key)
            else:
                q.forget(key)
            q.done(key)

    task = asyncio.create_task(worker())
    q.add("key")
    await settle()
    for _ in range(40):
        clock.step(0.001)
        await settle()
    assert attempts == pytest.approx([0.0, 0.005, 0.015, 0.035])
    assert q.num_requeues("key") == 0
    q.shut_down()
    await task
