"""The watch hub: fans each committed batch of events out to the synced watchers.

Watchers of the same range form a group, and within a group those with the same
options (prev_kv, filters) share one tuple of events per batch: a commit touches each
group once and every watcher in it gets the same objects. A watcher whose buffer
overflows is moved out of its group to catch up from history at its own pace, so a
slow consumer never holds back a writer or another watcher and never grows memory
beyond its buffer limit. The hub alone decides where a watcher is (see `WatchHub`); a
watcher only asks, through `WatcherOwner`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Iterable, Iterator

from kvstore.errors import CompactedError, InvalidArgumentError
from kvstore.messages import Event, ResponseHeader, WatchFilterType
from kvstore.watch.group import Group, shape
from kvstore.watch.history import HistoryReader
from kvstore.watch.watcher import CatchUp, Watcher

DEFAULT_MAX_PENDING_EVENTS = 10_000
DEFAULT_MAX_PENDING_BYTES = 16 << 20
DEFAULT_PROGRESS_NOTIFY_INTERVAL = 600.0  # etcd's default, ten minutes
DEFAULT_MAX_RESPONSE_BYTES = 2 << 20  # below the 4 MiB most gRPC clients accept by default
_NO_IDS = ResponseHeader()  # no cluster or member ID: a hub outside a store


class WatchHub:
    """Where every watcher is, and the events each one is owed.

    A live watcher is in exactly one of two places (etcd's watchableStore has the same
    two sets)::

        watch(start 0 or future)                      watch(start 1..revision)
                 |                                              |
                 v                  demote: its                 v
        synced: w -> its group  --- buffer overflowed --->  unsynced: w -> next revision
        gets every live event                               reads history in chunks
        into its buffer         <--- catch_up has read ---  (catch_up), from the first
                 |                   up to `revision`       revision it had not received
                 |                                              |
                 +-------- remove: canceled (by its consumer, --+
                           compaction or close): in neither

    The hub tells the watcher of every move (`Watcher.synced` follows), and reaches it only
    through its public methods; the watcher reaches the hub through `WatcherOwner`.
    """

    def __init__(
        self,
        history: HistoryReader,
        revision: int,
        *,
        header: ResponseHeader = _NO_IDS,
        max_pending_events: int = DEFAULT_MAX_PENDING_EVENTS,
        max_pending_bytes: int = DEFAULT_MAX_PENDING_BYTES,
        progress_notify_interval: float = DEFAULT_PROGRESS_NOTIFY_INTERVAL,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self.history = history
        self.max_response_bytes = max_response_bytes
        history.max_bytes = max_response_bytes
        self.revision = revision  # every event up to here has been handed to the watchers (set by notify)
        self.max_pending_events = max_pending_events  # given to each new watcher
        self.max_pending_bytes = max_pending_bytes
        self.progress_notify_interval = progress_notify_interval
        self._header = header
        self._demotions = 0
        # Membership. Invariant: a live (not canceled) watcher is a key of exactly one of
        # _group_of (synced) and _unsynced, never both, never neither; a canceled one is in
        # neither. A synced watcher is listed once in its group, under its variant, and
        # nowhere else; an unsynced one in no group. w.synced == (w in _group_of).
        self._group_of: dict[Watcher, Group] = {}  # synced watcher -> the group it is in
        self._unsynced: dict[Watcher, int] = {}  # unsynced watcher -> next revision to read from history
        # The groups, for fan-out. Invariant: each is non-empty and is in _groups under its
        # (key, range_end) and in exactly one of _single (no range_end) and _ranged.
        self._groups: dict[tuple[bytes, bytes], Group] = {}
        self._single: dict[bytes, Group] = {}
        self._ranged: list[Group] = []
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
        live = start_revision <= 0 or start_revision > self.revision  # else: history first
        w = Watcher(
            self,
            next(self._ids) if watch_id is None else watch_id,
            key,
            range_end,
            prev_kv=prev_kv,
            filters=frozenset(WatchFilterType(f) for f in filters),
            progress_notify=progress_notify,
            max_pending_events=self.max_pending_events,
            max_pending_bytes=self.max_pending_bytes,
            max_response_bytes=self.max_response_bytes,
            synced=live,
            min_revision=start_revision if start_revision > self.revision + 1 else 0,
        )
        if self._closed:
            w.cancel("store closed")
            return w
        if live:
            self._join(w)
        else:
            self._unsynced[w] = start_revision
        if progress_notify:
            self._ensure_progress_task()
        return w

    def _join(self, w: Watcher) -> None:
        """Put a new or caught-up watcher on the live stream."""
        group = self._groups.get((w.key, w.range_end))
        if group is None:
            group = self._groups[(w.key, w.range_end)] = Group(w.key, w.range_end)
            if w.range_end:
                self._ranged.append(group)
            else:
                self._single[w.key] = group
        group.add(w)
        self._unsynced.pop(w, None)
        self._group_of[w] = group

    def _leave(self, w: Watcher) -> None:
        """Take a synced watcher out of its group (the caller says where it goes next)."""
        group = self._group_of.pop(w)
        group.discard(w)
        if not group:
            del self._groups[(w.key, w.range_end)]
            if w.range_end:
                self._ranged.remove(group)
            else:
                del self._single[w.key]

    def remove(self, w: Watcher) -> None:
        """Forget a canceled watcher, wherever it is (nothing if it is already gone)."""
        if w in self._group_of:
            self._leave(w)
        else:
            self._unsynced.pop(w, None)

    # ------------------------------------------------------------ membership, read-only

    def is_synced(self, w: Watcher) -> bool:
        """Whether `w` is in a group, receiving live events."""
        return w in self._group_of

    def next_history_revision(self, w: Watcher) -> int | None:
        """The next revision unsynced `w` reads from history; None if it is synced or gone."""
        return self._unsynced.get(w)

    def watchers(self) -> Iterator[Watcher]:
        """Every live watcher, synced ones first (a snapshot: canceling while iterating is fine)."""
        return iter([*self._group_of, *self._unsynced])

    @property
    def watcher_count(self) -> int:
        """How many live watchers there are, synced or not."""
        return len(self._group_of) + len(self._unsynced)

    @property
    def demotions(self) -> int:
        """How many times a synced watcher was sent back to history since the hub started."""
        return self._demotions

    def check_invariants(self) -> None:
        """Raise AssertionError if the membership invariants (see __init__) do not hold."""
        listed: dict[Watcher, Group] = {}
        for (key, range_end), group in self._groups.items():
            if not group or (group.key, group.range_end) != (key, range_end):
                raise AssertionError(f"group {key!r}..{range_end!r} is empty or filed under another range")
            indexed = group in self._ranged if range_end else self._single.get(key) is group
            if not indexed:
                raise AssertionError(f"group {key!r}..{range_end!r} is not indexed for fan-out")
            for members in group.variants.values():
                for w in members:
                    if w in listed:
                        raise AssertionError(f"watcher {w.watch_id} is listed twice")
                    listed[w] = group
        if len(self._single) + len(self._ranged) != len(self._groups):
            raise AssertionError("the fan-out indexes hold a group that is not in _groups")
        if listed != self._group_of:
            raise AssertionError("the groups' lists and the synced watchers differ")
        both = self._group_of.keys() & self._unsynced.keys()
        if both:
            raise AssertionError(f"watchers {sorted(w.watch_id for w in both)} are both synced and unsynced")
        gone = [w.watch_id for w in self.watchers() if w.canceled]
        if gone:
            raise AssertionError(f"canceled watchers {gone} are still members")
        wrong = [w.watch_id for w in self.watchers() if w.synced != (w in self._group_of)]
        if wrong:
            raise AssertionError(f"watchers {wrong} were not told where they are")

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
            if w in self._group_of:  # a batch split into several pieces can overflow a watcher twice
                self._demote(w)

    def _fan_out(self, group: Group, events: list[Event], revision: int, overflow: list[Watcher]) -> None:
        for variant, watchers in group.variants.items():
            for shaped, nbytes in shape(events, variant, self.max_response_bytes):
                Watcher.deliver_all(watchers, shaped, nbytes, revision, overflow)

    def _demote(self, w: Watcher) -> None:
        """Move a synced watcher whose buffer overflowed to history catch-up, from the first
        revision it had not yet handed to its consumer."""
        first = w.fall_behind()
        self._leave(w)
        self._unsynced[w] = first or self.revision + 1
        self._demotions += 1

    # ------------------------------------------------------------ catch-up

    def catch_up(self, w: Watcher) -> CatchUp:
        """Read the next chunk of history for an unsynced watcher. It joins the live stream
        once it has read everything up to the hub's revision (`CatchUp.synced`)."""
        end = self.revision
        start = self._unsynced[w]
        events: list[Event] = []
        if start <= end:
            chunk = self.history.read(
                w.key,
                w.range_end,
                start,
                end,
                prev_kv=w.prev_kv,
                no_put=WatchFilterType.NOPUT in w.filters,
                no_delete=WatchFilterType.NODELETE in w.filters,
            )
            start = self._unsynced[w] = chunk.next_revision
            events = chunk.events
        if start > end:
            self._join(w)
            return CatchUp(events, end, True)
        return CatchUp(events, end, False)

    def header_at(self, revision: int) -> ResponseHeader:
        """The store's response header (cluster and member IDs) at `revision`."""
        return self._header.at(revision)

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
        for w in list(self._group_of):  # a listener may act on the watcher as it is told
            if w.progress_notify and not w.pending_events:
                w.request_progress()

    async def close(self) -> None:
        self._closed = True
        for w in self.watchers():  # a snapshot: each cancel removes the watcher
            w.cancel("store closed")
        if self._progress_task is not None:
            self._progress_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._progress_task
