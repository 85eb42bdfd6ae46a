"""Rate limiters, against client-go's util/workqueue/default_rate_limiters.go (and its tests)."""

from __future__ import annotations

import pytest

from informer.workqueue import (
    BucketRateLimiter,
    FakeClock,
    ItemExponentialFailureRateLimiter,
    ItemFastSlowRateLimiter,
    MaxOfRateLimiter,
    default_controller_rate_limiter,
)


def test_item_exponential_failure_rate_limiter() -> None:
    """client-go TestItemExponentialFailureRateLimiter: base * 2**failures per item, capped at the
    maximum; items are counted apart; forget starts an item over."""
    limiter = ItemExponentialFailureRateLimiter(0.005, 1000.0)
    expected = [0.005 * 2**n for n in range(18)]  # 5 ms, 10 ms, 20 ms ... 655.36 s
    assert [limiter.when("one") for _ in range(18)] == pytest.approx(expected)
    assert [limiter.when("one") for _ in range(3)] == [1000.0, 1000.0, 1000.0]
    assert limiter.num_requeues("one") == 21

    assert limiter.when("two") == pytest.approx(0.005)
    assert limiter.when("two") == pytest.approx(0.010)
    assert limiter.num_requeues("two") == 2

    limiter.forget("one")
    assert limiter.num_requeues("one") == 0
    assert limiter.when("one") == pytest.approx(0.005)


def test_item_exponential_failure_rate_limiter_overflow() -> None:
    """client-go TestItemExponentialFailureRateLimiterOverFlow: a huge failure count returns the
    maximum delay instead of overflowing."""
    limiter = ItemExponentialFailureRateLimiter(0.001, 1000.0)
    for _ in range(2000):
        limiter.when("overflow")
    assert limiter.when("overflow") == 1000.0


def test_item_fast_slow_rate_limiter() -> None:
    """client-go TestItemFastSlowRateLimiter: the fast delay for the first max_fast_attempts failures
    of an item, the slow delay after; forget starts it over."""
    limiter = ItemFastSlowRateLimiter(0.005, 10.0, 3)
    assert [limiter.when("one") for _ in range(5)] == [0.005, 0.005, 0.005, 10.0, 10.0]
    assert [limiter.when("two") for _ in range(2)] == [0.005, 0.005]
    assert limiter.num_requeues("one") == 5
    assert limiter.num_requeues("two") == 2
    limiter.forget("one")
    assert limiter.num_requeues("one") == 0
    assert limiter.when("one") == 0.005


def test_bucket_rate_limiter() -> None:
    """x/time/rate Reserve().Delay() under client-go's BucketRateLimiter: a full bucket of `burst`
    tokens answers 0 that many times, then each reservation waits 1/qps longer than the previous;
    refills at qps tokens per second, never above burst. Not per item: forget does nothing."""
    clock = FakeClock()
    limiter = BucketRateLimiter(qps=10, burst=100, clock=clock)
    assert [limiter.when(i) for i in range(100)] == [0.0] * 100
    assert [limiter.when(i) for i in range(100, 105)] == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])

    clock.step(0.5)  # repays the debt of 5 tokens exactly
    assert limiter.when("x") == pytest.approx(0.1)
    clock.step(100.0)  # refills, but only up to burst
    assert [limiter.when(i) for i in range(100)] == pytest.approx([0.0] * 100)
    assert limiter.when("y") == pytest.approx(0.1)

    limiter.forget("y")
    assert limiter.num_requeues("y") == 0


def test_bucket_rate_limiter_rejects_an_empty_bucket() -> None:
    """A bucket that can never hold a token (x/time/rate would answer an infinite delay) is refused."""
    with pytest.raises(ValueError):
        BucketRateLimiter(qps=10, burst=0)
    with pytest.raises(ValueError):
        BucketRateLimiter(qps=0, burst=10)


def test_max_of_rate_limiter() -> None:
    """client-go TestMaxOfRateLimiter: the largest when of all limiters (each records the failure);
    num_requeues is the largest count; forget reaches every limiter."""
    limiter = MaxOfRateLimiter(
        ItemFastSlowRateLimiter(0.005, 3.0, 3),
        ItemExponentialFailureRateLimiter(0.001, 1.0),
    )
    assert [limiter.when("one") for _ in range(5)] == pytest.approx([0.005, 0.005, 0.005, 3.0, 3.0])
    assert limiter.num_requeues("one") == 5
    assert [limiter.when("two") for _ in range(2)] == pytest.approx([0.005, 0.005])
    assert limiter.num_requeues("two") == 2
    limiter.forget("one")
    assert limiter.num_requeues("one") == 0
    assert limiter.when("one") == pytest.approx(0.005)


def test_default_controller_rate_limiter() -> None:
    """client-go DefaultControllerRateLimiter: per item exponential from 5 ms, overall a bucket of
    100 at 10 qps; whichever waits longer."""
    clock = FakeClock()
    limiter = default_controller_rate_limiter(clock)
    assert limiter.when("a") == pytest.approx(0.005)
    assert limiter.when("a") == pytest.approx(0.010)
    for i in range(98):
        limiter.when(i)  # the bucket is now empty
    assert limiter.when("b") == pytest.approx(0.1)  # the bucket, not b's 5 ms, decides
    assert limiter.num_requeues("a") == 2
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0
    clock.step(10.0)
    for _ in range(14):
        limiter.when("c")
    assert limiter.when("c") == pytest.approx(0.005 * 2**14)  # c's back-off, not the bucket, decides
