"""One watch served from the watch cache, with the interface of registry.watch.ResourceWatch.

The cacher pushes shared `Delivery`s into a bounded buffer. A watcher whose consumer falls
more than `capacity` events behind is detached: it keeps what it has, and once its consumer
has drained that, it catches up from the cacher's ring in chunks of at most `capacity`
and rejoins the live stream, or, if the ring no longer reaches back far enough, goes on
from the store (a store watch from its last revision, which ends with 410 if that was
compacted). Memory per watcher stays bounded whatever its consumer does; the consumer sees
every event once, in order.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
from typing import Any, Protocol

from apimachinery.watch import BOOKMARK
from apimachinery.watch import Event as WatchEvent
from kvstore.registry.cache.entry import Delivery
from kvstore.registry.selection import Selection
from kvstore.registry.watch import RawEvent, ResourceWatch, bookmark

Item = Delivery | RawEvent | WatchEvent


class WatcherOwner(Protocol):
    """What a cache watcher needs of its cacher."""

    @property
    def revision(self) -> int:
        """Everything up to here has been pushed to the attached watchers."""

    def refresh(self) -> None:
        """Bring `revision` up to the store's, where that needs no waiting."""

    def resume(self, w: CacheWatcher, /) -> bool:
        """Push the next chunk of the ring to detached `w` (attaching it again once it has
        caught up); False when the ring no longer holds what `w` needs."""

    def store_watch(self, w: CacheWatcher, /) -> ResourceWatch:
        """A store-backed watch going on from `w.resource_version`."""

    def remove(self, w: CacheWatcher, /) -> None:
        """Forget `w`: it stopped."""


class CacheWatcher:
    """An async iterator of watch events; `stop()` ends it (iteration then finishes)."""

    def __init__(
        self,
        owner: WatcherOwner,
        selection: Selection,
        prefix: bytes,
        *,
        resource_version: int,
        initial: Iterable[Item] = (),
        allow_bookmarks: bool = False,
        bookmark_interval: float = 0,
        timeout_seconds: float = 0,
        capacity: int = 1000,
    ) -> None:
        self._owner = owner
        self.selection = selection
        self.prefix = prefix
        self.allow_bookmarks = allow_bookmarks
        self.bookmark_interval = bookmark_interval
        self.capacity = capacity
        self.resource_version = resource_version
        """Everything up to here has been delivered or is pending."""
        self.detached = False
        """Fell behind: not fed live events until it has caught up from the ring."""
        self.api_version = selection.info.gvr.api_version
        self._pending: deque[Item] = deque(initial)
        self._waiter: asyncio.Future[None] | None = None
        self._done = False
        self._fallback: ResourceWatch | None = None
        loop = asyncio.get_running_loop()
        self._timeout: asyncio.TimerHandle | None = None
        self._ticker: asyncio.TimerHandle | None = None
        if timeout_seconds > 0:
            self._timeout = loop.call_later(timeout_seconds, self.stop)
        if allow_bookmarks and bookmark_interval > 0:
            self._ticker = loop.call_later(bookmark_interval, self._bookmark_tick)

    @property
    def pending(self) -> int:
        """Events buffered for the consumer."""
        return len(self._pending)

    @property
    def on_store(self) -> bool:
        """Whether it fell back to a store watch (the ring no longer reached back far enough)."""
        return self._fallback is not None

    # ------------------------------------------------------------ the cacher's side

    def push(self, deliveries: list[Delivery]) -> bool:
        """Buffer live events (whole revisions, in order); False once over capacity."""
        rv = self.resource_version
        if deliveries[0].revision <= rv:
            deliveries = [d for d in deliveries if d.revision > rv]
            if not deliveries:
                return True
        pending = self._pending
        pending.extend(deliveries)
        self.resource_version = deliveries[-1].revision
        self._wake()
        return len(pending) <= self.capacity

    def end(self) -> None:
        """The cacher stopped (the store closed): iteration ends after what is buffered."""
        self._done = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # ------------------------------------------------------------ the consumer's side

    def stop(self) -> None:
        self._done = True
        self._pending.clear()
        for timer in (self._timeout, self._ticker):
            if timer is not None:
                timer.cancel()
        self._timeout = self._ticker = None
        if self._fallback is not None:
            self._fallback.stop()
        self._owner.remove(self)
        self._wake()

    def request_bookmark(self) -> None:
        """A BOOKMARK at the cache's revision, after what is buffered (for tests and tools)."""
        if self._fallback is not None:
            self._fallback.request_bookmark()
            return
        if self._done or self.detached:
            return
        self._owner.refresh()
        rev = max(self.resource_version, self._owner.revision)
        self.resource_version = rev
        pending = self._pending
        mark = bookmark(self.selection.info, rev)
        if pending and isinstance(pending[-1], dict) and pending[-1].get("type") == BOOKMARK:
            pending[-1] = mark  # a stalled consumer gets one bookmark, the latest
        else:
            pending.append(mark)
        self._wake()

    def _bookmark_tick(self) -> None:
        if self._done or self._fallback is not None:
            return
        self.request_bookmark()
        self._ticker = asyncio.get_running_loop().call_later(self.bookmark_interval, self._bookmark_tick)

    def __aiter__(self) -> CacheWatcher:
        return self

    async def __anext__(self) -> WatchEvent:
        pending = self._pending
        while not pending:
            if not await self._fill():
                raise StopAsyncIteration
        item = pending.popleft()
        if type(item) is Delivery:
            return item.event
        if type(item) is RawEvent:
            return item.decode(self.api_version)
        return item  # type: ignore[return-value]

    async def next_batch(self) -> list[Any]:
        """Every event ready now (waiting for at least one); [] once the watch has ended.
        Items are Deliveries and RawEvents (encode from `.value`) or ready-made event dicts."""
        pending = self._pending
        while not pending:
            if not await self._fill():
                return []
        batch = list(pending)
        pending.clear()
        return batch

    async def _fill(self) -> bool:
        """Wait until something is pending; False when the watch has ended."""
        while not self._pending:
            if self._done:
                return False
            fallback = self._fallback
            if fallback is not None:
                batch = await fallback.next_batch()
                if not batch:
                    self._done = True
                    return False
                self._pending.extend(batch)
                self.resource_version = fallback.resource_version
                return True
            if self.detached:
                if not self._owner.resume(self):
                    self._start_fallback()
                continue
            waiter = asyncio.get_running_loop().create_future()
            self._waiter = waiter
            try:
                await waiter
            finally:
                if self._waiter is waiter:
                    self._waiter = None
        return True

    def _start_fallback(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()  # the store watch sends its own bookmarks
            self._ticker = None
        self._fallback = self._owner.store_watch(self)
