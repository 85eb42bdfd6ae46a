"""The clocks: FakeClock behaves as client-go's testing.FakeClock (Step wakes due sleepers)."""

from __future__ import annotations

import asyncio

import pytest

from informer.workqueue import FakeClock, RealClock
from tests.informer.workqueue.helpers import settle


async def test_fake_clock_step_wakes_due_sleepers_only() -> None:
    """FakeClock.Step advances time and wakes the sleepers whose deadline has come, in deadline order."""
    clock = FakeClock(start=10.0)
    woken: list[str] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woken.append(name)

    tasks = [asyncio.create_task(sleeper(name, s)) for name, s in (("late", 2.0), ("early", 1.0))]
    await settle()
    assert clock.waiters() == 2
    clock.step(0.5)
    await settle()
    assert woken == [] and clock.now() == 10.5
    clock.step(1.5)
    await settle()
    assert woken == ["early", "late"]
    assert not clock.has_waiters()
    await asyncio.gather(*tasks)


async def test_fake_clock_cancelled_sleeper_is_not_a_waiter() -> None:
    """A cancelled sleep leaves nothing behind (HasWaiters turns false)."""
    clock = FakeClock()
    task = asyncio.create_task(clock.sleep(5.0))
    await settle()
    assert clock.has_waiters()
    task.cancel()
    await settle()
    assert not clock.has_waiters()
    clock.step(10.0)


async def test_fake_clock_non_positive_sleep_only_yields() -> None:
    """sleep(0) returns after a yield, without waiting for a step."""
    clock = FakeClock()
    await asyncio.wait_for(clock.sleep(0), timeout=1.0)
    assert not clock.has_waiters()


def test_fake_clock_does_not_go_backwards() -> None:
    """Time is monotonic: neither step nor set_time moves it back."""
    clock = FakeClock(start=5.0)
    with pytest.raises(ValueError):
        clock.step(-1.0)
    with pytest.raises(ValueError):
        clock.set_time(4.0)
    clock.set_time(7.0)
    assert clock.now() == 7.0


async def test_real_clock_is_the_event_loop_clock() -> None:
    """RealClock reads the loop's monotonic time and sleeps on the loop."""
    clock = RealClock()
    assert abs(clock.now() - asyncio.get_running_loop().time()) < 1.0
    before = clock.now()
    await clock.sleep(0)
    assert clock.now() >= before


async def test_fake_clock_next_deadline_skips_cancelled_sleepers() -> None:
    """The earliest live sleeper's deadline (what the leader-election clock's step() jumps to)."""
    clock = FakeClock(start=5.0)
    assert clock.next_deadline() is None
    early = asyncio.create_task(clock.sleep(1.0))
    late = asyncio.create_task(clock.sleep(3.0))
    await settle()
    assert clock.next_deadline() == 6.0
    early.cancel()
    await settle()
    assert clock.next_deadline() == 8.0
    clock.set_time(8.0)
    await settle()
    assert late.done() and clock.next_deadline() is None
