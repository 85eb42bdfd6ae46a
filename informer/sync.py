"""Waiting for caches to sync (client-go's cache.WaitForCacheSync)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

POLL_INTERVAL = 0.01  # seconds; client-go polls every 100 ms


async def wait_for_cache_sync(*has_synced: Callable[[], bool], timeout: float | None = None) -> bool:
    """Wait until every function returns True; False if `timeout` seconds pass first."""

    async def poll() -> None:
        while not all(f() for f in has_synced):
            await asyncio.sleep(POLL_INTERVAL)

    try:
        await asyncio.wait_for(poll(), timeout)
    except TimeoutError:
        return False
    return True
