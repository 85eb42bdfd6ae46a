"""One watch: an async iterator of WatchResponse with a bounded buffer.

A synced watcher receives live events from its owner (the hub) into its buffer. One that
starts behind, or whose buffer overflowed because its consumer is slow, is unsynced: it
pulls its events from the history as its consumer asks for them, then rejoins the live
stream. Either way the consumer sees every revision once, in order.

The watcher keeps only its own state: options and limits given at construction, the
buffer, and the consumer's side (waiter, listener, progress, cancel). Where it stands
(in which group, or from which revision it reads history) is its owner's, the hub's; the
watcher reaches the owner only through `WatcherOwner`, and the owner only calls public
methods here. The owner tells it of each move: at construction (`synced`), when it falls
behind (`fall_behind`), and when a history chunk brings it back (`CatchUp.synced`).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from enum import Enum
from typing import NamedTuple, Protocol

from kvstore.errors import CompactedError
from kvstore.messages import Event, ResponseHeader, WatchFilterType, WatchResponse


class CatchUp(NamedTuple):
    """One chunk of history for an unsynced watcher."""

    events: list[Event]  # may be empty: the chunk held nothing for this watcher
    revision: int  # the header revision of a response carrying them
    synced: bool  # the watcher has read up to the owner's revision and is live again


class WatcherOwner(Protocol):
    """What a watcher needs of the hub that feeds it."""

    @property
    def revision(self) -> int:
        """Every event up to this revision has been handed to the synced watchers."""

    def catch_up(self, w: Watcher, /) -> CatchUp:
        """The next chunk of history for unsynced `w`. Raises CompactedError if the
        history it needs is gone."""

    def remove(self, w: Watcher, /) -> None:
        """Forget `w`: it was canceled."""

    def header_at(self, revision: int, /) -> ResponseHeader:
        """The response header at `revision`."""


class Watcher:
    """Iterate with ``async for resp in watcher``; stop with `cancel()`.

    Iteration ends when the watch is canceled or the store closes, and raises
    CompactedError if the events it still has to deliver were compacted away.
    """

    __slots__ = (
        "_closed",
        "_header_rev",
        "_max_pending_bytes",
        "_max_pending_events",
        "_max_response_bytes",
        "_min_rev",
        "_owner",
        "_pending",
        "_pending_bytes",
        "_pending_events",
        "_progress",
        "_synced",
        "_waiter",
        "cancel_reason",
        "filters",
        "key",
        "listener",
        "prev_kv",
        "progress_notify",
        "range_end",
        "watch_id",
    )

    def __init__(
        self,
        owner: WatcherOwner,
        watch_id: int,
        key: bytes,
        range_end: bytes,
        *,
        prev_kv: bool,
        filters: frozenset[WatchFilterType],
        progress_notify: bool,
        max_pending_events: int,
        max_pending_bytes: int,
        max_response_bytes: int,
        synced: bool,
        min_revision: int = 0,
    ) -> None:
        self._owner = owner
        self.watch_id = watch_id
        self.key = key
        self.range_end = range_end
        self.prev_kv = prev_kv
        self.filters = filters
        self.progress_notify = progress_notify
        self.cancel_reason = ""
        self._max_pending_events = max_pending_events  # over either, `deliver_all` reports an overflow
        self._max_pending_bytes = max_pending_bytes
        self._max_response_bytes = max_response_bytes  # `poll` joins buffered chunks up to this
        self._min_rev = min_revision  # a watch of a future revision skips live events below it
        # Mirrors the owner's membership (the owner tells us of each move, see the module
        # docstring): True while the owner feeds us live events, False while we read
        # history, and False once canceled.
        self._synced = synced
        self._pending: deque[tuple[tuple[Event, ...], int]] = deque()  # (events, size in bytes)
        self._pending_events = 0  # the events and bytes in _pending
        self._pending_bytes = 0
        self._header_rev = 0  # the revision of the last batch delivered
        self._waiter: asyncio.Future[None] | None = None
        self._progress = False
        self._closed = False
        self.listener: Callable[[Watcher], None] | None = None  # told when there is work to poll

    @property
    def canceled(self) -> bool:
        return self._closed

    @property
    def synced(self) -> bool:
        """Whether the watcher is on the live stream (else it reads history first)."""
        return self._synced

    @property
    def pending_events(self) -> int:
        """How many events are buffered, waiting for the consumer."""
        return self._pending_events

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
        self._synced = False
        self._owner.remove(self)
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

    # ------------------------------------------------------------ owner side

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)
        listener = self.listener
        if listener is not None:
            listener(self)

    @staticmethod
    def deliver_all(
        watchers: list[Watcher], events: tuple[Event, ...], nbytes: int, revision: int, overflow: list[Watcher]
    ) -> None:
        """Buffer one tuple of live events (`nbytes` in all) in each of `watchers`, and wake
        each; add to `overflow` those now over their buffer limits. The fan-out's inner
        loop: one Python call per watcher (its wake-up), whatever the group's size."""
        count = len(events)
        last = events[-1].kv.mod_revision
        for w in watchers:
            evs, n = events, count
            if w._min_rev:
                if last < w._min_rev:
                    continue
                evs = tuple(e for e in events if e.kv.mod_revision >= w._min_rev)
                n = len(evs)
            w._pending.append((evs, nbytes))
            n = w._pending_events = w._pending_events + n
            size = w._pending_bytes = w._pending_bytes + nbytes
            w._header_rev = revision
            w._wake()
            if n > w._max_pending_events or size > w._max_pending_bytes:
                overflow.append(w)

    def fall_behind(self) -> int:
        """The owner moves this watcher to history catch-up (its buffer overflowed): forget
        the buffered events, which history will give again; return the first revision among
        them (0 if none)."""
        first = self._pending[0][0][0].kv.mod_revision if self._pending else 0
        self._synced = False
        self._pending.clear()
        self._pending_events = 0
        self._pending_bytes = 0
        return first

    # ------------------------------------------------------------ consumer side

    def has_work(self) -> bool:
        """Whether `poll` would return something now (or has history to read)."""
        return bool(self._pending) or self._closed or not self._synced or self._progress

    def poll(self) -> Batch | None:
        """What the consumer gets next, if it can get it without waiting.

        Buffered events come first, as one batch of whole chunks; an unsynced watcher reads
        a chunk of history; then a requested progress notification. None: wait.
        """
        pending = self._pending
        if pending:
            # Whole chunks, up to the response size limit (always at least one).
            limit = self._max_response_bytes
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
        if not self._synced:
            try:
                got = self._owner.catch_up(self)
            except CompactedError as err:
                self.cancel("compacted")
                return Batch(BatchKind.COMPACTED, [], err.compact_revision)
            self._synced = got.synced
            if got.events:
                return Batch(BatchKind.EVENTS, [tuple(got.events)], got.revision)
            if not got.synced:
                return _AGAIN
        if self._progress:
            self._progress = False
            return Batch(BatchKind.PROGRESS, [], self._owner.revision)
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
                return WatchResponse(self._owner.header_at(batch.revision), self.watch_id, events)
            if kind is BatchKind.PROGRESS:
                return WatchResponse(self._owner.header_at(batch.revision), self.watch_id)
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
