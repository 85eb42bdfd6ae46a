"""The time source of a leader elector: `now()` and `async sleep()`, real or fake.

An elector reads the time for two things: the timestamps it writes into the Lease
(`acquireTime`, `renewTime`, informational only) and the local instant at which it
last saw the record change (`observedTime`), which alone decides whether a lease held
by someone else is still valid. The second must never jump, so `RealClock.now()` is
monotonic: the wall time at start plus the monotonic time elapsed since (k8s.io/utils
`clock.RealClock` gets the same from Go's monotonic clock reading).

`FakeClock` moves only when a test moves it, so timing tests are instant and exact:

    clock = FakeClock()
    other = clock.skewed(-3600)     # the same timeline, an hour behind on the wall
    task = asyncio.create_task(clock.sleep(2))
    clock.advance(1)                # the sleeper still waits
    clock.step()                    # jump to its deadline (t=2): it wakes
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """What an elector needs of time."""

    def now(self) -> datetime:
        """The current time, timezone-aware, never going backwards."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return once `seconds` have passed on this clock."""
        ...


class RealClock:
    """The process's time: wall time at construction, advanced by the monotonic clock."""

    def __init__(self) -> None:
        self._wall_start = datetime.now(UTC)
        self._mono_start = time.monotonic()

    def now(self) -> datetime:
        return self._wall_start + timedelta(seconds=time.monotonic() - self._mono_start)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


FAKE_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass
class _Timeline:
    """The fake time shared by a `FakeClock` and its skewed views, and who sleeps on it.

    Invariant: every unfinished future in `sleepers` belongs to a task blocked in
    `FakeClock.sleep` whose deadline (`sleepers` heap key) is later than `now`.
    """

    now: datetime
    sleepers: list[tuple[datetime, int, asyncio.Future[None]]] = field(default_factory=list)
    order: itertools.count[int] = field(default_factory=itertools.count)

    def prune(self) -> None:
        while self.sleepers and self.sleepers[0][2].done():
            heapq.heappop(self.sleepers)

    def move_to(self, when: datetime) -> None:
        if when < self.now:
            raise ValueError(f"a fake clock cannot go back from {self.now} to {when}")
        self.now = when
        while self.sleepers and self.sleepers[0][0] <= when:
            _, _, waiter = heapq.heappop(self.sleepers)
            if not waiter.done():
                waiter.set_result(None)


class FakeClock:
    """A clock that moves only through `advance()` and `step()`.

    Skewed views (`skewed()`) share the timeline and its sleepers but read a wall time
    offset by a fixed amount, as two machines whose clocks disagree.
    """

    def __init__(self, start: datetime = FAKE_EPOCH) -> None:
        self._timeline = _Timeline(start)
        self._offset = timedelta(0)

    def skewed(self, seconds: float) -> FakeClock:
        """A view of the same timeline whose `now()` is `seconds` ahead (negative: behind)."""
        view = FakeClock.__new__(FakeClock)
        view._timeline = self._timeline
        view._offset = self._offset + timedelta(seconds=seconds)
        return view

    def now(self) -> datetime:
        return self._timeline.now + self._offset

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        timeline = self._timeline
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        deadline = timeline.now + timedelta(seconds=seconds)
        heapq.heappush(timeline.sleepers, (deadline, next(timeline.order), waiter))
        try:
            await waiter
        finally:
            waiter.cancel()  # a cancelled sleeper leaves the heap at the next prune

    def next_deadline(self) -> datetime | None:
        """When the earliest sleeper wakes, on this view's wall time; None if none sleeps."""
        self._timeline.prune()
        return self._timeline.sleepers[0][0] + self._offset if self._timeline.sleepers else None

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every sleeper whose deadline has come."""
        self._timeline.move_to(self._timeline.now + timedelta(seconds=seconds))

    def step(self) -> bool:
        """Jump to the earliest sleeper's deadline and wake it (and any due with it).

        Returns False, without moving, when nobody sleeps.
        """
        self._timeline.prune()
        if not self._timeline.sleepers:
            return False
        self._timeline.move_to(self._timeline.sleepers[0][0])
        return True
