"""Test helpers: `until` (wait, bounded, for a condition the system makes true) and a
ListerWatcher wrapper that records every call's options and can hold the next watch until
the test lets it through (to make things happen while the reflector is not watching). It
wraps the real ResourceListerWatcher over a real store; nothing is faked."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from apimachinery import watch
from informer.listwatch import ListerWatcher, ListOptions
from informer.sync import wait_for_cache_sync


async def until(condition: Callable[[], bool], timeout: float = 20) -> None:
    """Wait for `condition` (polled by the library's own wait_for_cache_sync); fail after `timeout` s."""
    assert await wait_for_cache_sync(condition, timeout=timeout), f"not true within {timeout} s"


class RecordingListerWatcher:
    def __init__(self, inner: ListerWatcher) -> None:
        self.inner = inner
        self.lists: list[ListOptions] = []
        self.watches: list[ListOptions] = []
        self.watch_gate = asyncio.Event()
        self.watch_gate.set()
        self.current: watch.Interface | None = None
        self.watch_started = asyncio.Event()

    async def list(self, options: ListOptions) -> dict[str, Any]:
        self.lists.append(options)
        return await self.inner.list(options)

    async def watch(self, options: ListOptions) -> watch.Interface:
        await self.watch_gate.wait()
        self.watches.append(options)
        w = await self.inner.watch(options)
        self.current = w
        self.watch_started.set()
        return w

    def end_current_watch(self) -> None:
        """End the running watch as a server timeout would (the stream just ends)."""
        if self.current is not None:
            self.watch_started.clear()
            self.current.stop()
