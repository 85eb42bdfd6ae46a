"""Watching a resource: kube-apiserver's watch events over the store's prefix watch.

    resourceVersion ""/"0"  synthetic ADDED for every object that exists now, then live events
    resourceVersion N       every change after N, in revision order (410 ERROR if N is compacted)
    sendInitialEvents=true  the current state as ADDED, then a BOOKMARK annotated
                            `k8s.io/initial-events-end: "true"`, then live events

Selectors apply with transitions: an object that stops matching arrives as DELETED (its
last matching state, at the revision of the change), one that starts matching as ADDED.
With `allowWatchBookmarks`, the store's progress notifications become BOOKMARK events
carrying only the resourceVersion the watcher has seen everything up to.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from apimachinery.errors import BadRequestError, GoneError
from apimachinery.schema import GroupVersionResource
from kvstore.api import Watch
from kvstore.errors import CompactedError
from kvstore.messages import Event, EventType, prefix_range_end
from kvstore.registry import codec, keys
from kvstore.registry.registry import Registry, parse_resource_version
from kvstore.registry.selection import Selection

ADDED, MODIFIED, DELETED, BOOKMARK, ERROR = "ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"
INITIAL_EVENTS_END = "k8s.io/initial-events-end"

WatchEvent = dict[str, Any]  # {"type": ..., "object": ...}, as on kube-apiserver's watch stream


class ResourceWatch:
    """An async iterator of watch events; `stop()` ends it (iteration then finishes)."""

    def __init__(self, selection: Selection, allow_bookmarks: bool) -> None:
        self.selection = selection
        self.allow_bookmarks = allow_bookmarks
        self._pending: deque[WatchEvent] = deque()
        self._watch: Watch | None = None
        self._stream: AsyncIterator[Any] | None = None
        self._done = False
        self.resource_version = 0  # everything up to here has been delivered

    def stop(self) -> None:
        self._done = True
        if self._watch is not None:
            self._watch.cancel()

    def request_bookmark(self) -> None:
        """Ask for a BOOKMARK as soon as the watch has caught up (for tests and tools)."""
        if self._watch is not None:
            self._watch.request_progress()

    def __aiter__(self) -> ResourceWatch:
        return self

    async def __anext__(self) -> WatchEvent:
        while not self._pending:
            if self._done or self._stream is None:
                raise StopAsyncIteration
            try:
                resp = await self._stream.__anext__()
            except StopAsyncIteration:
                self._done = True
                raise
            except CompactedError as exc:
                self._error(exc.compact_revision)
                continue
            self._translate(resp)
        return self._pending.popleft()

    def _error(self, compact_revision: int) -> None:
        gone = GoneError(f"too old resource version: {self.resource_version} ({compact_revision})")
        self._pending.append({"type": ERROR, "object": gone.to_status()})
        self._done = True
        if self._watch is not None:
            self._watch.cancel()

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
        for event in resp.events:
            self._event(event)
        self.resource_version = max(self.resource_version, resp.events[-1].kv.mod_revision)

    def _event(self, event: Event) -> None:
        kv, prev = event.kv, event.prev_kv
        matches = self.selection.matches
        rev = kv.mod_revision
        old = codec.decode(prev.value, rev) if prev is not None else None
        old_ok = old is not None and matches(old)
        if event.type == EventType.DELETE:
            if old is not None and old_ok:
                self._pending.append({"type": DELETED, "object": old})
            return
        new = codec.decode(kv.value, rev)
        new_ok = matches(new)
        if new_ok and old_ok:
            self._pending.append({"type": MODIFIED, "object": new})
        elif new_ok:
            self._pending.append({"type": ADDED, "object": new})
        elif old_ok:
            self._pending.append({"type": DELETED, "object": old})

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
) -> ResourceWatch:
    """Start a watch of `gvr` (in `namespace`, or all) by kube-apiserver's rules (module docstring)."""
    info = registry.info(gvr)
    selection = Selection.parse(info, label_selector, field_selector)
    rw = ResourceWatch(selection, allow_watch_bookmarks)
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
    rw._watch = w
    rw._stream = w.__aiter__()
    return rw
