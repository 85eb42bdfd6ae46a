"""One watch: an async iterator of WatchResponse with a bounded buffer.

A synced watcher receives live events from the hub into its buffer. One that starts
behind, or whose buffer overflowed because its consumer is slow, is unsynced: it pulls
its events from the history as its consumer asks for them, then rejoins the live
stream. Either way the consumer sees every revision once, in order.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING, NamedTuple

from kvstore.errors import CompactedError
from kvstore.messages import Event, WatchFilterType, WatchResponse

if TYPE_CHECKING:
    from kvstore.watch.hub import WatchHub


class Watcher:
    """Iterate with ``async for resp in watcher``; stop with `cancel()`.

    Iteration ends when the watch is canceled or the store closes, and raises
    CompactedError if the events it still has to deliver were compacted away.
    """

    __slots__ = (
        "_closed",
        "_compacted",
        "_header_rev",
        "_hub",
        "_min_rev",
        "_pending",
        "_pending_bytes",
        "_pending_events",
        "_progress",
        "_waiter",
        "cancel_reason",
        "filters",
        "key",
        "listener",
        "next_revision",
        "prev_kv",
        "progress_notify",
        "range_end",
        "synced",
        "watch_id",
    )

    def __init__(
        self,
        hub: WatchHub,
        watch_id: int,
        key: bytes,
        range_end: bytes,
        *,
        prev_kv: bool,
        filters: frozenset[WatchFilterType],
        progress_notify: bool,
    ) -> None:
        self._hub = hub
        self.watch_id = watch_id
        self.key = key
        self.range_end = range_end
        self.prev_kv = prev_kv
        self.filters = filters
        self.progress_notify = progress_notify
        self.synced = False
        self.next_revision = 0  # while unsynced: the first revision still to read from history
        self.cancel_reason = ""
        self._min_rev = 0  # a watch of a future revision skips events below it
        self._pending: deque[tuple[tuple[Event, ...], int]] = deque()  # (events, size in bytes)
        self._pending_events = 0
        self._pending_bytes = 0
        self._header_rev = 0
        self._waiter: asyncio.Future[None] | None = None
        self._progress = False
        self._closed = False
        self._compacted = 0
        self.listener: Callable[[Watcher], None] | None = None  # told when there is work to poll

    @property
    def canceled(self) -> bool:
        return self._closed

    def __aiter__(self) -> Watcher:
        return self

    async def __aenter__(self) -> Watcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.cancel()

    def cancel(self, reason: str = "") -> None:
        """Stop watching; buffered events are dropped and iteration ends."""
        if self._closed:
            return
        self._closed = True
        self.cancel_reason = reason
        self._hub.remove(self)
        self._pending.clear()
        self._wake()

    async def wait_created(self) -> None:
        """An embedded watch exists from the moment `watch()` returns; nothing to wait for."""
        return None

    def request_progress(self) -> None:
        """Ask for a progress notification: an empty response at the current revision,
        sent once every earlier event has been delivered."""
        self._progress = True
        self._wake()

    # ------------------------------------------------------------ hub side

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)
        if self.listener is not None:
            self.listener(self)

    def deliver(self, events: tuple[Event, ...], revision: int, nbytes: int) -> bool:
        """Buffer live events; True if the buffer is now over its limits."""
        if self._min_rev:
            if events[-1].kv.mod_revision < self._min_rev:
                return False
            events = tuple(e for e in events if e.kv.mod_revision >= self._min_rev)
            if not events:
                return False
        self._pending.append((events, nbytes))
        self._pending_events += len(events)
        self._pending_bytes += nbytes
        self._header_rev = revision
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)
        if self.listener is not None:
            self.listener(self)
        hub = self._hub
        return self._pending_events > hub.max_pending_events or self._pending_bytes > hub.max_pending_bytes

    def drop_buffer(self) -> int:
        """Forget buffered events; return the first revision among them (0 if none)."""
        first = self._pending[0][0][0].kv.mod_revision if self._pending else 0
        self._pending.clear()
        self._pending_events = 0
        self._pending_bytes = 0
        return first

    def mark_compacted(self, compact_revision: int) -> None:
        self._compacted = compact_revision
        self._wake()

    # ------------------------------------------------------------ consumer side

    def has_work(self) -> bool:
        """Whether `poll` would return something now (or has history to read)."""
        return bool(self._pending) or self._closed or bool(self._compacted) or not self.synced or self._progress

    def poll(self) -> Batch | None:
        """What the consumer gets next, if it can get it without waiting.

        Buffered events come first, as one batch of whole chunks; an unsynced watcher reads
        a chunk of history; then a requested progress notification. None: wait.
        """
        pending = self._pending
        if pending:
            # Whole chunks, up to the response size limit (always at least one).
            limit = self._hub.max_response_bytes
            events, size = pending.popleft()
            chunks = [events]
            taken = len(events)
            while pending and size + pending[0][1] <= limit:
                events, nbytes = pending.popleft()
                chunks.append(events)
                size += nbytes
                taken += len(events)
            self._pending_events -= taken
            self._pending_bytes -= size
            return Batch(BatchKind.EVENTS, chunks, self._header_rev)
        if self._closed:
            return _END
        if self._compacted:
            rev = self._compacted
            self.cancel("compacted")
            return Batch(BatchKind.COMPACTED, [], rev)
        if not self.synced:
            try:
                got = self._hub.catch_up(self)
            except CompactedError as err:
                self.cancel("compacted")
                return Batch(BatchKind.COMPACTED, [], err.compact_revision)
            if got is not None:
                return Batch(BatchKind.EVENTS, [tuple(got[0])], got[1])
            if not self.synced:
                return _AGAIN
        if self._progress:
            self._progress = False
            return Batch(BatchKind.PROGRESS, [], self._hub.revision)
        return None

    async def __anext__(self) -> WatchResponse:
        while True:
            batch = self.poll()
            if batch is None:
                waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                self._waiter = waiter
                try:
                    await waiter
                finally:
                    if self._waiter is waiter:
                        self._waiter = None
                continue
            kind = batch.kind
            if kind is BatchKind.EVENTS:
                chunks = batch.chunks
                events = chunks[0] if len(chunks) == 1 else tuple(ev for c in chunks for ev in c)
                return WatchResponse(self._hub.header.at(batch.revision), self.watch_id, events)
            if kind is BatchKind.PROGRESS:
                return WatchResponse(self._hub.header.at(batch.revision), self.watch_id)
            if kind is BatchKind.AGAIN:
                await asyncio.sleep(0)  # a chunk of history held nothing for us; let others run
                continue
            if kind is BatchKind.END:
                raise StopAsyncIteration
            raise CompactedError(batch.revision)


class BatchKind(Enum):
    EVENTS = 1  # chunks of events, whole revisions, in order
    PROGRESS = 2  # everything up to `revision` has been delivered
    AGAIN = 3  # history was read but held nothing for this watcher yet; poll again
    END = 4  # canceled or the store closed
    COMPACTED = 5  # the events still due were compacted; `revision` is the compact revision


class Batch(NamedTuple):
    kind: BatchKind
    chunks: list[tuple[Event, ...]]
    revision: int


_END = Batch(BatchKind.END, [], 0)
_AGAIN = Batch(BatchKind.AGAIN, [], 0)
