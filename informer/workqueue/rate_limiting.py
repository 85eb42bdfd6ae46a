"""The rate-limiting queue (client-go `util/workqueue/rate_limiting_queue.go`): retries with back-off.

Contract (`RateLimitingInterface`): a `DelayingInterface` plus

- `add_rate_limited(item)` adds `item` once its rate limiter says so: it is exactly
  `add_after(item, rate_limiter.when(item))`, so each call records one more failure of the item.
- `forget(item)` tells the rate limiter to stop tracking `item` (`rate_limiter.forget`): call it
  when the item succeeded, or was given up on. It does not remove the item from the queue.
- `num_requeues(item)` is how many times `item` has been requeued since its last `forget`.

The queue holds no rate-limiting state of its own: it is all in its `RateLimiter`, by default
`default_controller_rate_limiter()` running on the queue's clock. The usual worker, as with
client-go (`process` being the caller's reconcile function):

    async def worker(queue: RateLimitingQueue[str]) -> None:
        while True:
            key, shutdown = await queue.get()
            if shutdown or key is None:
                return
            try:
                await process(key)
            except Exception:
                queue.add_rate_limited(key)     # retry later, backing off
            else:
                queue.forget(key)               # success: reset its back-off
            finally:
                queue.done(key)                 # always: lets the key be handed out again

A worker gives up on a key by calling `forget` instead of `add_rate_limited` once
`num_requeues(key)` reaches its limit.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Protocol, TypeVar

from informer.workqueue.clock import Clock
from informer.workqueue.delaying import DelayingInterface, DelayingQueue
from informer.workqueue.rate_limiters import RateLimiter, default_controller_rate_limiter

__all__ = ["RateLimitingInterface", "RateLimitingQueue"]

T = TypeVar("T", bound=Hashable)


class RateLimitingInterface(DelayingInterface[T], Protocol[T]):
    """client-go's `workqueue.RateLimitingInterface`; see the module docstring for the contract."""

    def add_rate_limited(self, item: T) -> None: ...

    def forget(self, item: T) -> None: ...

    def num_requeues(self, item: T) -> int: ...


class RateLimitingQueue(DelayingQueue[T]):
    """client-go's rate-limiting queue: a `DelayingQueue` whose retries wait as `rate_limiter` says."""

    def __init__(self, rate_limiter: RateLimiter[T] | None = None, name: str = "", clock: Clock | None = None) -> None:
        super().__init__(name, clock)
        self.rate_limiter: RateLimiter[T] = (
            rate_limiter if rate_limiter is not None else default_controller_rate_limiter(self.clock)
        )

    def add_rate_limited(self, item: T) -> None:
        self.add_after(item, self.rate_limiter.when(item))

    def forget(self, item: T) -> None:
        self.rate_limiter.forget(item)

    def num_requeues(self, item: T) -> int:
        return self.rate_limiter.num_requeues(item)
