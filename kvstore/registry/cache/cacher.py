"""The cacher of one served resource: one store watch feeding a WatchCache, every list and
watch of the resource served from it (kube-apiserver's storage/cacher).

    store ──prefix watch──> WatchCache (objects at revision R, ring of changes)
                                 │  each change decoded at most once, on first use
                                 ├──> lists: from memory, pages and selectors included
                                 └──> watcher groups (namespace + selectors): one selection
                                      per group, the same Delivery to each member

On the embedded store the cacher is fed synchronously: the store tells its watch of a commit
before any writer of that commit resumes, so the cache already holds every acknowledged
write, and a progress request (answered at once) moves its revision to the store's. That is
how a consistent read (resourceVersion "") is served from memory without waiting (KEP-2340
waits for a progress notification instead; over a network store we do that, with a timeout
after which the caller reads the store).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from apimachinery.schema import ResourceInfo
from kvstore.api import KV, Watch
from kvstore.errors import CacheMutationError, CompactedError
from kvstore.messages import WatchResponse, prefix_range_end
from kvstore.registry import keys
from kvstore.registry.cache import mutation
from kvstore.registry.cache.cache_watcher import CacheWatcher, Item
from kvstore.registry.cache.entry import Change, Delivery, Entry
from kvstore.registry.cache.watch_cache import WatchCache
from kvstore.registry.selection import Selection
from kvstore.registry.watch import ResourceWatch, bookmark
from kvstore.watch.watcher import BatchKind, Watcher

log = logging.getLogger("kvstore.registry.cache")


@dataclass(frozen=True, slots=True)
class CacheConfig:
    """Sizes of a resource's watch cache."""

    max_events: int = 10_000
    """Changes the ring keeps (kube-apiserver's watch cache sizes are of this order)."""
    max_bytes: int = 64 << 20
    """Stored bytes of the changes the ring keeps."""
    watcher_capacity: int = 1000
    """Events buffered per watcher before it is detached to catch up from the ring."""
    fresh_timeout: float = 3.0
    """Seconds a consistent read waits for the cache over a network store (KEP-2340's 3 s)."""
    detect_mutations: bool = field(default_factory=mutation.enabled_by_environment)


class _Group:
    """Attached watchers with the same namespace and selectors: one selection for all."""

    __slots__ = ("prefix", "selection", "watchers", "whole")

    def __init__(self, prefix: bytes, selection: Selection, whole: bool) -> None:
        self.prefix = prefix
        self.selection = selection
        self.whole = whole  # the prefix is the resource's: every change is in it
        self.watchers: dict[CacheWatcher, None] = {}


def select(changes: list[Change], prefix: bytes, selection: Selection, whole: bool = False) -> list[Delivery]:
    """The events `changes` make for watchers of `prefix` with `selection` (kube's selector
    transitions: an object that stops matching is DELETED, one that starts matching ADDED)."""
    out: list[Delivery] = []
    plain = selection.empty
    matches = selection.matches
    for c in changes:
        if not whole and not c.key.startswith(prefix):
            continue
        if plain:
            out.append(c.plain())
            continue
        old, new = c.old, c.new
        old_ok = old is not None and matches(old.obj())
        if new is not None and matches(new.obj()):
            out.append(c.plain() if old_ok else c.added())
        elif old_ok:
            out.append(c.deleted())
    return out


class Cacher:
    """Serves lists and watches of one resource from memory; `start()` before use."""

    def __init__(self, kv: KV, info: ResourceInfo, config: CacheConfig | None = None) -> None:
        self.kv = kv
        self.info = info
        self.config = config or CacheConfig()
        self.prefix = keys.collection_prefix(info.gvr)
        self.cache: WatchCache | None = None
        self.stopped = False
        """The store watch ended (the store closed, or it fell too far behind): build anew."""
        self._watch: Watch | None = None
        self._sync = False
        self._task: asyncio.Task[None] | None = None
        self._groups: dict[tuple[bytes, str, str], _Group] = {}
        self._group_of: dict[CacheWatcher, tuple[bytes, str, str]] = {}
        self._detached: dict[CacheWatcher, tuple[bytes, str, str]] = {}
        self._advanced: asyncio.Event | None = None
        self._started: asyncio.Future[None] | None = None

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """List the resource and open the store watch from there (once; callers share it)."""
        if self._started is None:
            self._started = asyncio.get_running_loop().create_future()
            try:
                await self._start()
            except BaseException as exc:
                self._started.set_exception(exc)
                self._started.exception()  # retrieved: the caller gets it raised
                self._started = None
                raise
            self._started.set_result(None)
            return
        if not self._started.done():
            await asyncio.shield(self._started)

    async def _start(self) -> None:
        prefix, end = self.prefix, prefix_range_end(self.prefix)
        resp = await self.kv.range(prefix, end)
        cfg = self.config
        self.cache = WatchCache(
            resp.header.revision,
            resp.kvs,
            self.info.gvr.api_version,
            max_events=cfg.max_events,
            max_bytes=cfg.max_bytes,
        )
        w = self.kv.watch(prefix, end, start_revision=resp.header.revision + 1)
        self._watch = w
        if isinstance(w, Watcher):
            self._sync = True
            w.listener = self._on_ready
            self._on_ready(w)
        else:
            self._advanced = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._follow(w))

    def stop(self) -> None:
        """Stop the store watch and end every watcher served from here."""
        if self.stopped:
            return
        self.stopped = True
        if self._watch is not None:
            if isinstance(self._watch, Watcher):
                self._watch.listener = None
            self._watch.cancel()
        if self._task is not None:
            self._task.cancel()
        for w in [*self._group_of, *self._detached]:
            w.end()
        self._groups.clear()
        self._group_of.clear()
        self._detached.clear()

    @property
    def revision(self) -> int:
        assert self.cache is not None
        return self.cache.revision

    # ------------------------------------------------------------ feeding the cache

    def _on_ready(self, w: Watcher) -> None:
        """The embedded store's watch has something: take it all now (within the commit)."""
        cache = self.cache
        assert cache is not None
        while not self.stopped:
            batch = w.poll()
            if batch is None:
                return
            kind = batch.kind
            if kind is BatchKind.EVENTS:
                for chunk in batch.chunks:
                    self._apply(chunk)
                cache.advance(batch.revision)
            elif kind is BatchKind.PROGRESS:
                cache.advance(batch.revision)
            elif kind is BatchKind.AGAIN:
                continue
            else:  # END, or COMPACTED: the history we needed is gone; start over
                self._lost(kind.name.lower())
                return

    async def _follow(self, w: Watch) -> None:
        """A network store's watch: apply each response as it arrives."""
        try:
            async for resp in w:
                self._on_response(resp)
        except CompactedError:
            self._lost("compacted")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the connection failed for good: rebuild on next use
            self._lost(repr(exc))
        else:
            self._lost("the store watch ended")

    def _on_response(self, resp: WatchResponse) -> None:
        cache = self.cache
        assert cache is not None and self._advanced is not None
        if resp.events:
            self._apply(resp.events)
        cache.advance(resp.header.revision)
        self._advanced.set()
        self._advanced.clear()

    def _lost(self, why: str) -> None:
        if not self.stopped:
            log.info("watch cache of %s stopped: %s", self.info.gvr.resource, why)
        self.stop()

    def _apply(self, events: Any) -> None:
        cache = self.cache
        assert cache is not None
        if self.config.detect_mutations:
            for e in events:
                old = cache.objects.get(e.kv.key)
                if old is not None:
                    mutation.check(old, self.info.gvr.resource)
        changes = cache.apply(events)
        if changes:
            self._dispatch(changes)

    def _dispatch(self, changes: list[Change]) -> None:
        overflow: list[CacheWatcher] = []
        for group in self._groups.values():
            deliveries = select(changes, group.prefix, group.selection, group.whole)
            if deliveries:
                for w in group.watchers:
                    if not w.push(deliveries):
                        overflow.append(w)
        for w in overflow:
            self._detach(w)

    def _detach(self, w: CacheWatcher) -> None:
        gk = self._group_of.pop(w, None)
        if gk is None:
            return
        group = self._groups[gk]
        del group.watchers[w]
        if not group.watchers:
            del self._groups[gk]
        w.detached = True
        self._detached[w] = gk

    # ------------------------------------------------------------ freshness

    def refresh(self) -> None:
        """Embedded store: move the revision up to the store's now (answered synchronously)."""
        if self._sync and not self.stopped and self._watch is not None:
            self._watch.request_progress()

    async def wait_fresh(self, revision: int | None = None) -> bool:
        """Wait until the cache is at `revision` (None: the store's current one); False when it
        did not get there within `fresh_timeout` (the caller then reads the store)."""
        self.refresh()
        if self._sync and revision is None:
            return not self.stopped
        if revision is None:
            revision = (await self.kv.range(b"\0", limit=1, count_only=True)).header.revision
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.fresh_timeout
        while self.revision < revision and not self.stopped:
            left = deadline - loop.time()
            if left <= 0:
                return False
            if self._sync:
                # The store committed `revision` but has not told its watchers yet (they are
                # told on the loop right after the commit): give that a moment.
                await asyncio.sleep(min(left, 0.001))
            else:
                assert self._advanced is not None and self._watch is not None
                self._watch.request_progress()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._advanced.wait(), min(left, 0.1))
            self.refresh()
        return not self.stopped

    # ------------------------------------------------------------ serving

    def get(self, key: bytes) -> Entry | None:
        """The current entry of one stored key, or None when the cache holds none."""
        assert self.cache is not None
        return self.cache.objects.get(key)

    def entries(self, namespace: str) -> list[Entry]:
        """Current entries of one namespace ("" all), in key order."""
        assert self.cache is not None
        prefix = keys.collection_prefix(self.info.gvr, namespace)
        return self.cache.list(prefix, prefix_range_end(prefix))

    def watch(
        self,
        selection: Selection,
        namespace: str,
        label_selector: str,
        field_selector: str,
        *,
        resource_version: int,
        initial_state: bool,
        initial_end_bookmark: bool,
        allow_bookmarks: bool,
        bookmark_interval: float,
        timeout_seconds: float,
    ) -> CacheWatcher | None:
        """A watcher from `resource_version` (with `initial_state`: ADDED for every matching
        object now, from the cache's revision); None when the ring does not reach back to
        `resource_version` (the caller watches the store)."""
        cache = self.cache
        if cache is None or self.stopped:
            return None
        prefix = keys.collection_prefix(self.info.gvr, namespace)
        initial: list[Item] = []
        if initial_state:
            start = max(cache.revision, resource_version)
            matches = selection.matches
            for entry in self.entries(namespace):
                if selection.empty or matches(entry.obj()):
                    initial.append(entry.added())
            if initial_end_bookmark:
                initial.append(bookmark(self.info, start, initial_end=True))
            replay: list[Change] = []
        else:
            start = resource_version
            since = cache.since(start)
            if since is None:
                return None
            replay = since
        w = CacheWatcher(
            self,
            selection,
            prefix,
            resource_version=start,
            initial=initial,
            allow_bookmarks=allow_bookmarks,
            bookmark_interval=bookmark_interval,
            timeout_seconds=timeout_seconds,
            capacity=self.config.watcher_capacity,
        )
        gk = (prefix, label_selector, field_selector)
        self._detached[w] = gk
        w.detached = True
        if replay or not initial_state:
            self._catch_up(w, replay)
        else:
            self._attach(w)
        return w

    def _attach(self, w: CacheWatcher) -> None:
        gk = self._detached.pop(w)
        w.detached = False
        group = self._groups.get(gk)
        if group is None:
            group = self._groups[gk] = _Group(gk[0], w.selection, gk[0] == self.prefix)
        group.watchers[w] = None
        self._group_of[w] = gk

    def _catch_up(self, w: CacheWatcher, changes: list[Change]) -> None:
        """Push what `w` missed (at most its capacity, whole revisions); attach it once caught up."""
        ds = select(changes, w.prefix, w.selection, w.prefix == self.prefix)
        ds = [d for d in ds if d.revision > w.resource_version]
        cap = w.capacity
        if len(ds) > cap:
            cut = cap
            while cut < len(ds) and ds[cut].revision == ds[cap - 1].revision:
                cut += 1
            if cut < len(ds):
                w.push(ds[:cut])
                return  # still behind: the rest once the consumer has taken these
        if ds:
            w.push(ds)
        w.resource_version = max(w.resource_version, self.revision)
        self._attach(w)

    # ------------------------------------------------------------ WatcherOwner

    def resume(self, w: CacheWatcher) -> bool:
        if self.stopped:
            w.end()
            return True
        if w not in self._detached:
            return True  # attached meanwhile
        assert self.cache is not None
        since = self.cache.since(w.resource_version)
        if since is None:
            return False
        self._catch_up(w, since)
        return True

    def store_watch(self, w: CacheWatcher) -> ResourceWatch:
        self._detached.pop(w, None)
        rv = w.resource_version
        source: Watch | CompactedError
        try:
            source = self.kv.watch(
                w.prefix,
                prefix_range_end(w.prefix),
                start_revision=rv + 1,
                prev_kv=True,
                progress_notify=w.allow_bookmarks,
            )
        except CompactedError as exc:
            source = exc
        return ResourceWatch(
            w.selection,
            source,
            resource_version=rv,
            allow_bookmarks=w.allow_bookmarks,
            bookmark_interval=w.bookmark_interval,
        )

    def remove(self, w: CacheWatcher) -> None:
        self._detached.pop(w, None)
        gk = self._group_of.pop(w, None)
        if gk is not None:
            group = self._groups[gk]
            del group.watchers[w]
            if not group.watchers:
                del self._groups[gk]

    # ------------------------------------------------------------ mutation detector

    def check_mutations(self) -> None:
        """Compare every decoded object the cache holds with its stored bytes; raise
        CacheMutationError for the first that a reader changed."""
        if self.cache is None:
            return
        first: CacheMutationError | None = None
        seen: set[int] = set()
        entries = list(self.cache.objects.values())
        for c in self.cache.ring:
            entries.extend(e for e in (c.new, c.old) if e is not None)
        for entry in entries:
            if id(entry) in seen:
                continue
            seen.add(id(entry))
            err = mutation.check(entry, self.info.gvr.resource)
            first = first or err
        if first is not None:
            raise first

    @property
    def watchers(self) -> int:
        return len(self._group_of) + len(self._detached)
