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

Live events are kept as `RawEvent`s (the stored bytes) until a consumer asks for them:
`__anext__` decodes each into a fresh dict for its caller, while the gRPC server turns
the same bytes into wire bytes once for all its watchers, without decoding.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, NamedTuple

from apimachinery.errors import BadRequestError, GoneError
from apimachinery.schema import GroupVersionResource
from apimachinery.watch import ADDED, BOOKMARK, DELETED, ERROR, INITIAL_EVENTS_END, MODIFIED
from apimachinery.watch import Event as WatchEvent
from kvstore.api import Watch
from kvstore.errors import CompactedError
from kvstore.messages import Event, EventType, prefix_range_end
from kvstore.registry import codec, keys
from kvstore.registry.selection import Selection
from kvstore.registry.versions import parse_resource_version

if TYPE_CHECKING:
    from kvstore.registry.registry import Registry

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
    """An async iterator of watch events; `stop()` ends it (iteration then finishes)."""

    def __init__(
        self,
        selection: Selection,
        allow_bookmarks: bool,
        *,
        bookmark_interval: float = DEFAULT_BOOKMARK_INTERVAL,
        timeout_seconds: float = 0,
    ) -> None:
        self.selection = selection
        self.allow_bookmarks = allow_bookmarks
        self.bookmark_interval = bookmark_interval
        self.timeout_seconds = timeout_seconds
        self._pending: deque[WatchEvent | RawEvent] = deque()
        self._watch: Watch | None = None
        self._stream: AsyncIterator[Any] | None = None
        self._done = False
        self._timers: list[asyncio.TimerHandle] = []
        self.resource_version = 0  # everything up to here has been delivered

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
                self._pending.append(self.bookmark(self.resource_version))
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

    def bookmark(self, revision: int, *, initial_end: bool = False) -> WatchEvent:
        info = self.selection.info
        md: dict[str, Any] = {"resourceVersion": str(revision)}
        if initial_end:
            md["annotations"] = {INITIAL_EVENTS_END: "true"}
        return {"type": BOOKMARK, "object": {"apiVersion": info.gvr.api_version, "kind": info.kind, "metadata": md}}


async def watch(
    registry: Registry,
    gvr: GroupVersionResource,
    namespace: str = "",
    *,
    label_selector: str = "",
    field_selector: str = "",
    resource_version: str = "",
    resource_version_match: str = "",
    allow_watch_bookmarks: bool = False,
    send_initial_events: bool | None = None,
    timeout_seconds: float = 0,
) -> ResourceWatch:
    """Start a watch of `gvr` (in `namespace`, or all) by kube-apiserver's rules (module docstring)."""
    info = await registry.resolve(gvr)
    selection = Selection.parse(info, label_selector, field_selector)
    if timeout_seconds < 0:
        raise BadRequestError(f"timeoutSeconds: Invalid value: {timeout_seconds}: must be non-negative")
    rw = ResourceWatch(
        selection,
        allow_watch_bookmarks,
        bookmark_interval=registry.bookmark_interval,
        timeout_seconds=timeout_seconds,
    )
    if send_initial_events is not None:
        if resource_version_match != "NotOlderThan":
            raise BadRequestError("sendInitialEvents is forbidden unless resourceVersionMatch is NotOlderThan")
        if send_initial_events and not allow_watch_bookmarks:
            raise BadRequestError("sendInitialEvents requires allowWatchBookmarks=true")
    elif resource_version_match:
        raise BadRequestError("resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided")
    ns = namespace if info.namespaced else ""
    prefix = keys.collection_prefix(gvr, ns)
    initial = send_initial_events or (send_initial_events is None and resource_version in ("", "0"))
    if initial:
        listed = await registry.list(gvr, ns, label_selector=label_selector, field_selector=field_selector)
        start = int(listed["metadata"]["resourceVersion"])
        if resource_version not in ("", "0") and start < parse_resource_version(resource_version):
            start = parse_resource_version(resource_version)
        for item in listed["items"]:
            rw._pending.append({"type": ADDED, "object": item})
        if send_initial_events:
            rw._pending.append(rw.bookmark(start, initial_end=True))
    else:
        start = parse_resource_version(resource_version)
    rw.resource_version = start
    try:
        w = registry.kv.watch(
            prefix,
            prefix_range_end(prefix),
            start_revision=start + 1,
            prev_kv=True,
            progress_notify=allow_watch_bookmarks,
        )
    except CompactedError as exc:
        rw._error(exc.compact_revision)
        return rw
    rw._start(w)
    return rw
