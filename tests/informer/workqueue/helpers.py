"""Test helpers: let the event loop run the tasks that are ready, without sleeping."""

from __future__ import annotations

import asyncio


async def settle(rounds: int = 20) -> None:
    """Yield to the event loop `rounds` times, so that woken tasks (a stepped FakeClock's sleepers,
    the delaying queue's waiting loop, blocked getters) run as far as they can."""
    for _ in range(rounds):
        await asyncio.sleep(0)
