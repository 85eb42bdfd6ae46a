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
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

from informer.workqueue.clock import FakeClock as MonotonicFakeClock


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


class FakeClock:
    """A clock that moves only through `advance()` and `step()`.

    Wall time over the work queues' fake monotonic clock, which keeps the sleepers.
    Skewed views (`skewed()`) share that clock but read a wall time offset by a fixed
    amount, as two machines whose clocks disagree.
    """

    def __init__(self, start: datetime = FAKE_EPOCH) -> None:
        self._ticks = MonotonicFakeClock()
        self._start = start

    def skewed(self, seconds: float) -> FakeClock:
        """A view of the same timeline whose `now()` is `seconds` ahead (negative: behind)."""
        view = FakeClock.__new__(FakeClock)
        view._ticks = self._ticks
        view._start = self._start + timedelta(seconds=seconds)
        return view

    def _wall(self, ticks: float) -> datetime:
        return self._start + timedelta(seconds=ticks)

    def now(self) -> datetime:
        return self._wall(self._ticks.now())

    async def sleep(self, seconds: float) -> None:
        await self._ticks.sleep(seconds)

    def next_deadline(self) -> datetime | None:
        """When the earliest sleeper wakes, on this view's wall time; None if none sleeps."""
        deadline = self._ticks.next_deadline()
        return None if deadline is None else self._wall(deadline)

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every sleeper whose deadline has come."""
        self._ticks.step(seconds)

    def step(self) -> bool:
        """Jump to the earliest sleeper's deadline and wake it (and any due with it).

        Returns False, without moving, when nobody sleeps.
        """
        deadline = self._ticks.next_deadline()
        if deadline is None:
            return False
        self._ticks.set_time(deadline)
        return True
