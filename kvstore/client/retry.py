"""Retrying idempotent calls while the server is unavailable (restarting, not yet listening)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

_T = TypeVar("_T")
FIRST_DELAY = 0.05
MAX_DELAY = 2.0


async def retry_while_unavailable(
    attempt: Callable[[], Awaitable[_T]], unavailable: type[BaseException], timeout: float | None
) -> _T:
    """`await attempt()` until it does not raise `unavailable`, backing off 50 ms doubling to
    2 s; the last error is raised once the next try would pass `timeout` seconds (None: never)."""
    delay = FIRST_DELAY
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    while True:
        try:
            return await attempt()
        except unavailable:
            if deadline is not None and loop.time() + delay > deadline:
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_DELAY)
