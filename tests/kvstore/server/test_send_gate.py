"""The watch senders' turnstile: bounded writes per loop iteration, fair order, pacing by load."""

from __future__ import annotations

import asyncio

import pytest

from kvstore.server.send_gate import SendGate


def test_pace_grows_with_open_streams_up_to_the_cap() -> None:
    """Idle servers add no delay; the per-stream interval grows with the streams, bounded."""
    gate = SendGate(pace_per_stream=0.001, max_pace=0.05)
    assert gate.pace() == 0
    gate.streams = 10
    assert gate.pace() == pytest.approx(0.01)
    gate.streams = 1000
    assert gate.pace() == 0.05
    assert SendGate(max_pace=0).pace() == 0


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="per_tick"):
        SendGate(per_tick=0)
    with pytest.raises(ValueError, match="negative"):
        SendGate(max_pace=-1)


async def test_at_most_per_tick_senders_pass_per_iteration_in_arrival_order() -> None:
    """Ten senders through a gate of three per iteration: 3, 3, 3, 1, first come first served."""
    gate = SendGate(per_tick=3)
    order: list[int] = []
    iteration = 0

    async def sender(i: int) -> None:
        await gate.turn()
        order.append(i)

    async def count_iterations() -> None:
        nonlocal iteration
        while len(order) < 10:
            iteration += 1
            await asyncio.sleep(0)

    passes_by_iteration: dict[int, int] = {}

    async def record(i: int) -> None:
        await sender(i)
        passes_by_iteration[iteration] = passes_by_iteration.get(iteration, 0) + 1

    counter = asyncio.create_task(count_iterations())
    await asyncio.gather(*(record(i) for i in range(10)))
    await counter
    assert order == list(range(10))
    assert max(passes_by_iteration.values()) <= 3
    assert sorted(passes_by_iteration.values(), reverse=True) == [3, 3, 3, 1]
    assert gate.waited == 7


async def test_a_cancelled_waiter_does_not_use_a_turn() -> None:
    gate = SendGate(per_tick=1)
    await gate.turn()  # uses this iteration's only turn
    cancelled = asyncio.create_task(gate.turn())
    waiting = asyncio.create_task(gate.turn())
    await asyncio.sleep(0)
    cancelled.cancel()
    await asyncio.wait_for(waiting, 5)
    assert waiting.done() and not waiting.cancelled()
