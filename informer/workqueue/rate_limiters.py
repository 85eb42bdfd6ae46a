"""Rate limiters (client-go `util/workqueue/default_rate_limiters.go`): how long an item waits before a retry.

Contract (`RateLimiter`):

- `when(item)` records one more failure of `item` and returns the seconds to wait before
  retrying it (each call is a new retry: calling it changes the limiter's state).
- `forget(item)` ends the tracking of `item` (it succeeded, or was given up on): its failure
  count starts again from zero.
- `num_requeues(item)` is how many failures of `item` are being tracked.

The limiters, all over hashable items:

| limiter                                     | `when(item)` for the n-th failure (n = 0, 1, ...)         |
|---------------------------------------------|-----------------------------------------------------------|
| `ItemExponentialFailureRateLimiter(b, m)`   | `min(b * 2**n, m)`: 5 ms, 10 ms, 20 ms, ... capped at m   |
| `ItemFastSlowRateLimiter(f, s, k)`          | `f` for the first `k` failures, then `s`                  |
| `BucketRateLimiter(qps, burst)`             | token bucket shared by all items, not per item            |
| `MaxOfRateLimiter(*limiters)`               | the largest of the limiters' answers                      |

`BucketRateLimiter` is golang.org/x/time/rate's `Limiter.Reserve().Delay()`: the bucket holds up
to `burst` tokens (full at the start) and refills at `qps` per second; every call takes a token,
going into debt if need be, and returns how long until its token would have been there. With the
clock standing still, `BucketRateLimiter(10, 100)` answers 0 a hundred times, then 0.1, 0.2, ...
It never forgets: `forget` does nothing and `num_requeues` is 0.

`default_controller_rate_limiter()` is client-go's `DefaultControllerRateLimiter()`: per item
exponential 5 ms to 1000 s, and overall 10 qps with bursts of 100, whichever is slower.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, Protocol, TypeVar

from informer.workqueue.clock import Clock, RealClock

__all__ = [
    "BucketRateLimiter",
    "ItemExponentialFailureRateLimiter",
    "ItemFastSlowRateLimiter",
    "MaxOfRateLimiter",
    "RateLimiter",
    "default_controller_rate_limiter",
]

T = TypeVar("T", bound=Hashable)
T_contra = TypeVar("T_contra", bound=Hashable, contravariant=True)


class RateLimiter(Protocol[T_contra]):
    """client-go's `workqueue.RateLimiter`; see the module docstring for the contract."""

    def when(self, item: T_contra) -> float: ...

    def forget(self, item: T_contra) -> None: ...

    def num_requeues(self, item: T_contra) -> int: ...


class ItemExponentialFailureRateLimiter:
    """Waits `base_delay * 2**failures` seconds, at most `max_delay`; failures are counted per item."""

    def __init__(self, base_delay: float, max_delay: float) -> None:
        self.base_delay = base_delay
        self.max_delay = max_delay
        # Failures recorded by `when` per item since its last `forget`; absent means 0.
        self._failures: dict[Hashable, int] = {}

    def when(self, item: Hashable) -> float:
        exp = self._failures.get(item, 0)
        self._failures[item] = exp + 1
        try:
            backoff = self.base_delay * 2.0**exp
        except OverflowError:
            return self.max_delay
        return min(backoff, self.max_delay)

    def forget(self, item: Hashable) -> None:
        self._failures.pop(item, None)

    def num_requeues(self, item: Hashable) -> int:
        return self._failures.get(item, 0)


class ItemFastSlowRateLimiter:
    """Waits `fast_delay` for an item's first `max_fast_attempts` failures, then `slow_delay`."""

    def __init__(self, fast_delay: float, slow_delay: float, max_fast_attempts: int) -> None:
        self.fast_delay = fast_delay
        self.slow_delay = slow_delay
        self.max_fast_attempts = max_fast_attempts
        # Failures recorded by `when` per item since its last `forget`; absent means 0.
        self._failures: dict[Hashable, int] = {}

    def when(self, item: Hashable) -> float:
        failures = self._failures.get(item, 0) + 1
        self._failures[item] = failures
        return self.fast_delay if failures <= self.max_fast_attempts else self.slow_delay

    def forget(self, item: Hashable) -> None:
        self._failures.pop(item, None)

    def num_requeues(self, item: Hashable) -> int:
        return self._failures.get(item, 0)


class BucketRateLimiter:
    """A token bucket of `burst` tokens refilled at `qps` per second, shared by every item."""

    def __init__(self, qps: float, burst: int, clock: Clock | None = None) -> None:
        if qps <= 0:
            raise ValueError(f"qps must be positive: {qps}")
        if burst < 1:
            raise ValueError(f"burst must be at least 1: {burst}")
        self.qps = qps
        self.burst = burst
        self.clock: Clock = clock if clock is not None else RealClock()
        # Tokens as of `_last`; negative when reservations ran ahead of the refill (a debt that
        # later callers wait out). Never above `burst`.
        self._tokens = float(burst)
        self._last: float | None = None

    def when(self, item: Hashable) -> float:
        now = self.clock.now()
        if self._last is not None and now > self._last:
            self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
        self._last = now
        self._tokens -= 1.0
        return -self._tokens / self.qps if self._tokens < 0 else 0.0

    def forget(self, item: Hashable) -> None:
        pass

    def num_requeues(self, item: Hashable) -> int:
        return 0


class MaxOfRateLimiter(Generic[T]):
    """Asks every limiter (each records the failure) and waits for the longest answer."""

    def __init__(self, *limiters: RateLimiter[T]) -> None:
        if not limiters:
            raise ValueError("MaxOfRateLimiter needs at least one limiter")
        self.limiters: tuple[RateLimiter[T], ...] = limiters

    def when(self, item: T) -> float:
        return max([limiter.when(item) for limiter in self.limiters])

    def forget(self, item: T) -> None:
        for limiter in self.limiters:
            limiter.forget(item)

    def num_requeues(self, item: T) -> int:
        return max(limiter.num_requeues(item) for limiter in self.limiters)


def default_controller_rate_limiter(clock: Clock | None = None) -> MaxOfRateLimiter[Hashable]:
    """client-go's `DefaultControllerRateLimiter`: exponential 5 ms .. 1000 s per item, 10 qps burst 100 overall."""
    return MaxOfRateLimiter(
        ItemExponentialFailureRateLimiter(0.005, 1000.0),
        BucketRateLimiter(qps=10.0, burst=100, clock=clock),
    )
