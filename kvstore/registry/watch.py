"""Watching a resource: kube-apiserver's watch events over the store's prefix watch.

    resourceVersion ""/"0"  synthetic ADDED for every object that exists now, then live events
    resourceVersion N       every change after N, in revision order (410 ERROR if N is compacted)
    sendInitialEvents=true  the current state as ADDED, then a BOOKMARK annotated
                            `k8s.io/initial-events-end: "true"`, then live events

Selectors apply with transitions: an object that stops matching arrives as DELETED (its
last matching state, at the revision of the change), one that starts matching as ADDED.
With `allowWatchBookmarks`, a BOOKMARK carrying only a resourceVersion (everything up to
it has been delivered) arrives about every `bookmark_interval` seconds, as
kube-apiserver sends one about every minute. `timeout_seconds` ends the watch cleanly,
as kube's `timeoutSeconds` does.

`Registry.watch` checks the options (`starts_with_current_state`), lists the initial
state and opens the store's watch; a `ResourceWatch` is built with all of it.

Live events are kept as `RawEvent`s (the stored bytes) until a consumer asks for them:
`__anext__` decodes each into a fresh dict for its caller, while the gRPC server turns
the same bytes into wire bytes once for all its watchers, without decoding.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Iterable
from typing import Any, NamedTuple

from apimachinery.errors import BadRequestError, GoneError
from apimachinery.schema import ResourceInfo
from apimachinery.watch import ADDED, BOOKMARK, DELETED, ERROR, INITIAL_EVENTS_END, MODIFIED
from apimachinery.watch import Event as WatchEvent
from kvstore.api import Watch
from kvstore.errors import CompactedError
from kvstore.messages import Event, EventType
from kvstore.registry import codec
from kvstore.registry.selection import Selection

DEFAULT_BOOKMARK_INTERVAL = 60.0


class RawEvent(NamedTuple):
    """A live event before decoding: `value` is the stored object at `revision`."""

    type: str
    revision: int
    key: bytes
    value: bytes
    obj: dict[str, Any] | None = None
    """The object, when a selector check already decoded it (for this one watcher only)."""

    def decode(self, api_version: str = "") -> WatchEvent:
        """The event as a fresh dict, read through `api_version` (see codec.decode)."""
        obj = self.obj
        if obj is None:
            obj = codec.decode(self.value, self.revision, api_version)
        elif api_version and obj.get("apiVersion") != api_version:
            obj["apiVersion"] = api_version
        return {"type": self.type, "object": obj}


class PreviousStateCompacted(Exception):
    """A change whose previous state was compacted away, though the event needs it (a delete,
    or a selector transition): the watcher cannot be told exactly what happened."""

    def __init__(self, key: bytes, revision: int) -> None:
        super().__init__(f"the state of {key!r} before revision {revision} was compacted")
        self.revision = revision


def translate(event: Event, selection: Selection) -> RawEvent | None:
    """The watch event one store event is for a watcher with `selection` (None: nothing).

    Without selectors nothing is decoded: the put that creates a key (version 1) is ADDED,
    any other put MODIFIED, a delete DELETED carrying the last state at the delete's
    revision. Raises PreviousStateCompacted when that last state (or, with selectors, the
    state before a put) is gone: kube-apiserver ends such a watch with an error too.
    """
    kv, prev = event.kv, event.prev_kv
    rev = kv.mod_revision
    if prev is None and (event.type == EventType.DELETE or (kv.version > 1 and not selection.empty)):
        raise PreviousStateCompacted(kv.key, rev)
    prev_value = prev.value if prev is not None else b""  # no prev: a create, or (no selectors) an update
    if selection.empty:
        if event.type == EventType.DELETE:
            return RawEvent(DELETED, rev, kv.key, prev_value)
        return RawEvent(ADDED if kv.version == 1 else MODIFIED, rev, kv.key, kv.value)
    old = codec.decode(prev_value, rev) if prev is not None else None
    old_ok = old is not None and selection.matches(old)
    if event.type == EventType.DELETE:
        return RawEvent(DELETED, rev, kv.key, prev_value, old) if old_ok else None
    new = codec.decode(kv.value, rev)
    if selection.matches(new):
        return RawEvent(MODIFIED if old_ok else ADDED, rev, kv.key, kv.value, new)
    return RawEvent(DELETED, rev, kv.key, prev_value, old) if old_ok else None


class ResourceWatch:
    """An async iterator of watch events; `stop()` ends it (iteration then finishes).

    Built with what it starts with: `initial_events` (the synthetic ADDEDs and the
    initial-events-end BOOKMARK) come first, then the events of `source`, the store's
    watch from `resource_version` + 1; a CompactedError as `source` (the start revision
    is gone) is delivered after them as one 410 ERROR, and the watch ends.
    """

    def __init__(
        self,
        selection: Selection,
        source: Watch | CompactedError,
        *,
        resource_version: int,
        initial_events: Iterable[WatchEvent] = (),
        allow_bookmarks: bool = False,
        bookmark_interval: float = DEFAULT_BOOKMARK_INTERVAL,
        timeout_seconds: float = 0,
    ) -> None:
        self.selection = selection
        self.allow_bookmarks = allow_bookmarks
        self.bookmark_interval = bookmark_interval
        self.timeout_seconds = timeout_seconds
        self._pending: deque[WatchEvent | RawEvent] = deque(initial_events)
        self._watch: Watch | None = None
        self._stream: AsyncIterator[Any] | None = None
        self._done = False
        self._timers: list[asyncio.TimerHandle] = []
        self.resource_version = resource_version
        """Everything up to here has been delivered (or is pending)."""
        if isinstance(source, CompactedError):
            self._error(source.compact_revision)
        else:
            self._start(source)

    def stop(self) -> None:
        self._done = True
        for timer in self._timers:
            timer.cancel()
        if self._watch is not None:
            self._watch.cancel()

    def request_bookmark(self) -> None:
        """Ask for a BOOKMARK as soon as the watch has caught up (for tests and tools)."""
        if self._watch is not None:
            self._watch.request_progress()

    def _start(self, w: Watch) -> None:
        self._watch = w
        self._stream = w.__aiter__()
        loop = asyncio.get_running_loop()
        if self.timeout_seconds > 0:
            self._timers.append(loop.call_later(self.timeout_seconds, self.stop))
        if self.allow_bookmarks and self.bookmark_interval > 0:
            self._timers.append(loop.call_later(self.bookmark_interval, self._bookmark_tick))

    def _bookmark_tick(self) -> None:
        if self._done:
            return
        self.request_bookmark()
        self._timers = [t for t in self._timers if not t.cancelled()]
        self._timers.append(asyncio.get_running_loop().call_later(self.bookmark_interval, self._bookmark_tick))

    def __aiter__(self) -> ResourceWatch:
        return self

    async def __anext__(self) -> WatchEvent:
        while not self._pending:
            if not await self._fill():
                raise StopAsyncIteration
        item = self._pending.popleft()
        if isinstance(item, RawEvent):
            return item.decode(self.selection.info.gvr.api_version)
        return item

    async def next_batch(self) -> list[WatchEvent | RawEvent]:
        """Every event ready now (waiting for at least one); [] once the watch has ended."""
        while not self._pending:
            if not await self._fill():
                return []
        batch = list(self._pending)
        self._pending.clear()
        return batch

    async def _fill(self) -> bool:
        """Wait for the next store response and translate it; False when the watch ended."""
        if self._done or self._stream is None:
            return False
        try:
            resp = await self._stream.__anext__()
        except StopAsyncIteration:
            self._done = True
            return False
        except CompactedError as exc:
            self._error(exc.compact_revision)
            return True
        self._translate(resp)
        return True

    def _error(self, compact_revision: int) -> None:
        gone = GoneError(f"too old resource version: {self.resource_version} ({compact_revision})")
        self._pending.append({"type": ERROR, "object": gone.to_status()})
        self.stop()

    def _translate(self, resp: Any) -> None:
        if resp.canceled:
            if resp.compact_revision:
                self._error(resp.compact_revision)
            else:
                self._done = True
            return
        if not resp.events:
            if self.allow_bookmarks and resp.header.revision >= self.resource_version:
                self.resource_version = resp.header.revision
                self._pending.append(bookmark(self.selection.info, self.resource_version))
            return
        selection, pending = self.selection, self._pending
        for event in resp.events:
            try:
                raw = translate(event, selection)
            except PreviousStateCompacted as exc:
                # The watch cannot go on exactly: end it as a compacted one, so clients relist.
                self.resource_version = exc.revision - 1
                self._error(exc.revision)
                return
            if raw is not None:
                pending.append(raw)
        self.resource_version = max(self.resource_version, resp.events[-1].kv.mod_revision)


def bookmark(info: ResourceInfo, revision: int, *, initial_end: bool = False) -> WatchEvent:
    """A BOOKMARK at `revision`; `initial_end` annotates the one ending the initial events."""
    md: dict[str, Any] = {"resourceVersion": str(revision)}
    if initial_end:
        md["annotations"] = {INITIAL_EVENTS_END: "true"}
    return {"type": BOOKMARK, "object": {"apiVersion": info.gvr.api_version, "kind": info.kind, "metadata": md}}


def starts_with_current_state(
    resource_version: str,
    resource_version_match: str,
    *,
    allow_watch_bookmarks: bool,
    send_initial_events: bool | None,
    timeout_seconds: float,
) -> bool:
    """Whether a watch with these options starts with the current state (synthetic ADDEDs);
    options kube-apiserver refuses are a 400 BadRequest."""
    if timeout_seconds < 0:
        raise BadRequestError(f"timeoutSeconds: Invalid value: {timeout_seconds}: must be non-negative")
    if send_initial_events is not None:
        if resource_version_match != "NotOlderThan":
            raise BadRequestError("sendInitialEvents is forbidden unless resourceVersionMatch is NotOlderThan")
        if send_initial_events and not allow_watch_bookmarks:
            raise BadRequestError("sendInitialEvents requires allowWatchBookmarks=true")
    elif resource_version_match:
        raise BadRequestError("resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided")
    return bool(send_initial_events or (send_initial_events is None and resource_version in ("", "0")))
