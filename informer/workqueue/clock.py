"""Time for the work queues: the `Clock` protocol, the real clock and a fake one for tests.

Contract (`Clock`), the part of client-go's `k8s.io/utils/clock` the queues use:

- `now()` is a monotonic time in seconds. Only differences between two readings mean anything.
- `await sleep(seconds)` returns once `now()` has advanced by at least `seconds`; `seconds <= 0`
  only yields to the event loop. A cancelled sleep leaves nothing behind.

`RealClock` is the event loop's own clock: `time.monotonic()` (what asyncio's default loop reads)
and `asyncio.sleep`. It can be built and read outside a running loop.

`FakeClock` (client-go's `testing.FakeClock`) never moves on its own: `step(seconds)` advances
it and wakes every sleeper whose deadline has come; `set_time(t)` jumps to `t`. Woken sleepers
resume at the event loop's next turns, so a test steps the clock and then yields a few times
(`await asyncio.sleep(0)`). Nothing sleeps for real, so timing tests are instant and exact:

    clock = FakeClock()
    task = asyncio.create_task(clock.sleep(5))
    await asyncio.sleep(0)          # the task is now asleep: clock.has_waiters() is True
    clock.step(4.9)                 # not yet
    clock.step(0.1)                 # deadline 5.0 reached: the sleep returns
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol

__all__ = ["Clock", "FakeClock", "RealClock"]


class Clock(Protocol):
    """The time source of a work queue, its metrics and its rate limiters."""

    def now(self) -> float:
        """Monotonic seconds; only differences are meaningful."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return once `now()` has advanced by `seconds` (at once, after a yield, if `seconds <= 0`)."""
        ...


class RealClock:
    """The event loop's clock: `time.monotonic()` and `asyncio.sleep`."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0))


class FakeClock:
    """A clock that moves only when told to (`step`, `set_time`), waking sleepers as it goes."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        # Sleepers as a heap of (deadline, seq, future). A future is removed from the heap when it
        # is woken; a cancelled sleeper's entry stays until its deadline passes (it is skipped:
        # setting a result on a cancelled future is never attempted). `seq` keeps the heap from
        # comparing futures and wakes sleepers with equal deadlines in the order they slept.
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._seq), future))
        await future

    def step(self, seconds: float) -> None:
        """Advance the clock by `seconds` and wake every sleeper whose deadline has come."""
        if seconds < 0:
            raise ValueError(f"a clock does not step backwards: {seconds}")
        self.set_time(self._now + seconds)

    def set_time(self, t: float) -> None:
        """Jump to time `t` (not earlier than now) and wake every sleeper whose deadline has come."""
        if t < self._now:
            raise ValueError(f"a clock does not go backwards: {t} < {self._now}")
        self._now = t
        while self._sleepers and self._sleepers[0][0] <= t:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)

    def next_deadline(self) -> float | None:
        """When the earliest sleeper wakes; None if nobody sleeps (cancelled sleepers do not count)."""
        sleepers = self._sleepers
        while sleepers and sleepers[0][2].done():
            heapq.heappop(sleepers)
        return sleepers[0][0] if sleepers else None

    def has_waiters(self) -> bool:
        """Whether some task is asleep on this clock (cancelled sleepers do not count)."""
        return any(not future.done() for _, _, future in self._sleepers)

    def waiters(self) -> int:
        """How many tasks are asleep on this clock."""
        return sum(1 for _, _, future in self._sleepers if not future.done())
