"""The watch hub: fans each committed batch of events out to the synced watchers.

Watchers of the same range form a group, and within a group those with the same
options (prev_kv, filters) share one tuple of events per batch: a commit touches each
group once and every watcher in it gets the same objects. A watcher whose buffer
overflows is moved out of its group to catch up from history at its own pace, so a
slow consumer never holds back a writer or another watcher and never grows memory
beyond its buffer limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Iterable

from kvstore.errors import CompactedError, InvalidArgumentError
from kvstore.messages import Event, ResponseHeader, WatchFilterType
from kvstore.watch.group import Group, shape, variant_of
from kvstore.watch.history import HistoryReader
from kvstore.watch.watcher import Watcher

DEFAULT_MAX_PENDING_EVENTS = 10_000
DEFAULT_MAX_PENDING_BYTES = 16 << 20
DEFAULT_PROGRESS_NOTIFY_INTERVAL = 600.0  # etcd's default, ten minutes
DEFAULT_MAX_RESPONSE_BYTES = 2 << 20  # below the 4 MiB most gRPC clients accept by default


class WatchHub:
    def __init__(
        self,
        history: HistoryReader,
        revision: int,
        *,
        max_pending_events: int = DEFAULT_MAX_PENDING_EVENTS,
        max_pending_bytes: int = DEFAULT_MAX_PENDING_BYTES,
        progress_notify_interval: float = DEFAULT_PROGRESS_NOTIFY_INTERVAL,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self.history = history
        self.max_response_bytes = max_response_bytes
        history.max_bytes = max_response_bytes
        self.revision = revision  # every event up to here has been handed to the watchers
        self.header = ResponseHeader()
        self.max_pending_events = max_pending_events
        self.max_pending_bytes = max_pending_bytes
        self.progress_notify_interval = progress_notify_interval
        self.demotions = 0
        self._groups: dict[tuple[bytes, bytes], Group] = {}
        self._single: dict[bytes, Group] = {}
        self._ranged: list[Group] = []
        self._unsynced: set[Watcher] = set()
        self._ids = itertools.count(1)
        self._progress_task: asyncio.Task[None] | None = None
        self._closed = False

    # ------------------------------------------------------------ registration

    def watch(
        self,
        key: bytes,
        range_end: bytes = b"",
        *,
        start_revision: int = 0,
        prev_kv: bool = False,
        filters: Iterable[WatchFilterType] = (),
        progress_notify: bool = False,
        watch_id: int | None = None,
    ) -> Watcher:
        if range_end not in (b"", b"\0") and key >= range_end:
            raise InvalidArgumentError("mvcc: watcher range is empty", "range_end")
        compact = self.history.applier.compact_revision
        if 0 < start_revision < compact:
            raise CompactedError(compact)
        w = Watcher(
            self,
            next(self._ids) if watch_id is None else watch_id,
            key,
            range_end,
            prev_kv=prev_kv,
            filters=frozenset(WatchFilterType(f) for f in filters),
            progress_notify=progress_notify,
        )
        if self._closed:
            w.cancel("store closed")
            return w
        if start_revision <= 0 or start_revision > self.revision:
            if start_revision > self.revision + 1:
                w._min_rev = start_revision
            self._join(w)
        else:
            w.next_revision = start_revision
            self._unsynced.add(w)
        if progress_notify:
            self._ensure_progress_task()
        return w

    def _join(self, w: Watcher) -> None:
        group = self._groups.get((w.key, w.range_end))
        if group is None:
            group = self._groups[(w.key, w.range_end)] = Group(w.key, w.range_end)
            if w.range_end:
                self._ranged.append(group)
            else:
                self._single[w.key] = group
        group.variants.setdefault(variant_of(w), []).append(w)
        self._unsynced.discard(w)
        w.synced = True

    def _leave(self, w: Watcher) -> None:
        group = self._groups.get((w.key, w.range_end))
        if group is None:
            return
        variant = variant_of(w)
        members = group.variants.get(variant)
        if members is None or w not in members:
            return
        members.remove(w)
        if not members:
            del group.variants[variant]
        if not group:
            del self._groups[(w.key, w.range_end)]
            if w.range_end:
                self._ranged.remove(group)
            else:
                del self._single[w.key]

    def remove(self, w: Watcher) -> None:
        if w.synced:
            self._leave(w)
            w.synced = False
        self._unsynced.discard(w)

    @property
    def watcher_count(self) -> int:
        return len(self._unsynced) + sum(len(m) for g in self._groups.values() for m in g.variants.values())

    # ------------------------------------------------------------ live events

    def notify(self, revision: int, events: list[Event]) -> None:
        """Hand one committed batch (events of whole revisions, in order) to the watchers."""
        self.revision = revision
        if not events or not self._groups:
            return
        overflow: list[Watcher] = []
        if self._single:
            single = self._single
            hits: dict[bytes, list[Event]] = {}
            for e in events:
                if e.kv.key in single:
                    hits.setdefault(e.kv.key, []).append(e)
            for key, evs in hits.items():
                self._fan_out(single[key], evs, revision, overflow)
        for group in self._ranged:
            evs = group.select(events)
            if evs:
                self._fan_out(group, evs, revision, overflow)
        for w in overflow:
            if w.synced:  # a batch split into several responses can overflow a watcher more than once
                self._demote(w)

    def _fan_out(self, group: Group, events: list[Event], revision: int, overflow: list[Watcher]) -> None:
        for variant, watchers in group.variants.items():
            for shaped, nbytes in shape(events, variant, self.max_response_bytes):
                for w in watchers:
                    if w.deliver(shaped, revision, nbytes):
                        overflow.append(w)

    def _demote(self, w: Watcher) -> None:
        """Move a watcher whose buffer overflowed to history catch-up."""
        first = w.drop_buffer()
        self._leave(w)
        w.synced = False
        w.next_revision = first or self.revision + 1
        self._unsynced.add(w)
        self.demotions += 1

    # ------------------------------------------------------------ catch-up

    def catch_up(self, w: Watcher) -> tuple[list[Event], int] | None:
        """Read the next chunk of history for an unsynced watcher: (events, header revision),
        or None if the chunk held nothing for it. The watcher joins the live stream once it
        has read everything up to the hub's revision."""
        end = self.revision
        events: list[Event] = []
        if w.next_revision <= end:
            chunk = self.history.read(
                w.key,
                w.range_end,
                w.next_revision,
                end,
                prev_kv=w.prev_kv,
                no_put=WatchFilterType.NOPUT in w.filters,
                no_delete=WatchFilterType.NODELETE in w.filters,
            )
            w.next_revision = chunk.next_revision
            events = chunk.events
        if w.next_revision > end:
            self._join(w)
        return (events, end) if events else None

    # ------------------------------------------------------------ progress and shutdown

    def _ensure_progress_task(self) -> None:
        if self._progress_task is None and not self._closed:
            self._progress_task = asyncio.get_running_loop().create_task(self._progress_loop())

    async def _progress_loop(self) -> None:
        while not self._closed:
            await asyncio.sleep(self.progress_notify_interval)
            self.send_progress_notifications()

    def send_progress_notifications(self) -> None:
        """Tell every synced watcher with progress_notify that it is up to date."""
        for group in list(self._groups.values()):
            for watchers in group.variants.values():
                for w in watchers:
                    if w.progress_notify and not w._pending:
                        w.request_progress()

    async def close(self) -> None:
        self._closed = True
        for group in list(self._groups.values()):
            for watchers in list(group.variants.values()):
                for w in list(watchers):
                    w.cancel("store closed")
        for w in list(self._unsynced):
            w.cancel("store closed")
        if self._progress_task is not None:
            self._progress_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._progress_task
