"""Reflector: keep a store in step with a server by list-then-watch (client-go's cache.Reflector).

    list (paged, 500 per page) at RV  --replace-->  store         RV: "0" the first time, then the
      |                                                            last synced RV, and "" (a
      v                                                            consistent read) only after the
    watch from the list's RV, bookmarks on, timeout 5..10 min      server said that RV is gone
      | ADDED / MODIFIED / DELETED  -> store.add / update / delete
      | BOOKMARK                    -> only the resourceVersion moves
      | stream ended (timeout)      -> watch again from the last RV, no relist
      | 410 Gone / Expired          -> relist at the last RV (then "" if that is gone too)
      | 503 / 429 / refused         -> back off, watch again, no relist
      | any other error             -> back off, relist

With `use_watch_list` (the default: try it), the list is a streaming one: a watch with
`sendInitialEvents=true` whose ADDED events up to the BOOKMARK annotated
`k8s.io/initial-events-end` make up the `replace`; a server that refuses it
(400/422) is listed the classic way from then on. Every resourceVersion the store has seen is
remembered, so no update is lost or applied twice across these transitions. Backoff:
800 ms doubling to 30 s with jitter, reset after 2 quiet minutes.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from typing import Any, Protocol

from apimachinery import errors, meta, watch
from informer.backoff import Backoff
from informer.listwatch import ListerWatcher, ListOptions
from informer.workqueue.clock import Clock, RealClock

log = logging.getLogger("informer.reflector")

Object = dict[str, Any]
PAGE_SIZE = 500
MIN_WATCH_TIMEOUT = 300.0  # seconds; each watch asks for a random timeout in [min, 2 * min)


class ReflectorStore(Protocol):
    """What a reflector writes to: a DeltaFIFO, or a plain Store/Indexer."""

    def add(self, obj: Any) -> None: ...

    def update(self, obj: Any) -> None: ...

    def delete(self, obj: Any) -> None: ...

    def replace(self, objects: list[Any], resource_version: str) -> None: ...

    def resync(self) -> None: ...


class _Relist(Exception):
    """The watch cannot go on from the last resourceVersion: list again."""


def _is_retryable_watch_error(err: BaseException) -> bool:
    """client-go: connection refused and 429 back off and watch again, without relisting."""
    return isinstance(err, errors.ServiceUnavailableError | errors.TooManyRequestsError | ConnectionError)


class Reflector:
    """Lists and watches one resource into `store` until `run()` is cancelled."""

    def __init__(
        self,
        lister_watcher: ListerWatcher,
        store: ReflectorStore,
        *,
        name: str = "",
        resync_period: float = 0.0,
        should_resync: Callable[[], bool] | None = None,
        page_size: int = PAGE_SIZE,
        use_watch_list: bool = True,
        min_watch_timeout: float = MIN_WATCH_TIMEOUT,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.lister_watcher = lister_watcher
        self.store = store
        self.name = name or "reflector"
        self.resync_period = resync_period
        self.should_resync = should_resync
        self.page_size = page_size
        self.use_watch_list = use_watch_list
        self.min_watch_timeout = min_watch_timeout
        self.clock = clock or RealClock()
        self._rng = rng or random.Random()
        self.backoff = Backoff(clock=self.clock, rng=self._rng)
        self.last_sync_resource_version = ""
        self.last_sync_resource_version_unavailable = False
        self.watch_error_handler: Callable[[Reflector, BaseException], None] = _log_watch_error
        # Counters for tests and metrics.
        self.lists = 0
        self.watches = 0
        self.relists_after_gone = 0

    # ------------------------------------------------------------ the loop

    async def run(self) -> None:
        """List and watch until cancelled; errors back off and start over."""
        resync = asyncio.create_task(self._resync_loop()) if self.resync_period > 0 else None
        try:
            while True:
                try:
                    await self.list_and_watch()
                except asyncio.CancelledError:
                    raise
                except _Relist:
                    continue  # the last RV is still the best place to relist from: no backoff
                except Exception as exc:
                    self.watch_error_handler(self, exc)
                    await self.backoff.wait()
        finally:
            if resync is not None:
                resync.cancel()

    async def _resync_loop(self) -> None:
        while True:
            await self.clock.sleep(self.resync_period)
            if self.should_resync is None or self.should_resync():
                self.store.resync()

    def _relist_resource_version(self) -> str:
        if self.last_sync_resource_version_unavailable:
            return ""  # a consistent read from the store
        return self.last_sync_resource_version or "0"

    async def list_and_watch(self) -> None:
        """One list (or streaming list), then watches until one cannot go on."""
        if self.use_watch_list:
            try:
                w = await self._watch_list()
            except (errors.BadRequestError, errors.InvalidError) as exc:
                log.info("%s: the server does not offer streaming lists (%s); listing instead", self.name, exc)
                self.use_watch_list = False
                await self._list()
                w = None
        else:
            await self._list()
            w = None
        while True:
            if w is None:
                try:
                    w = await self._start_watch()
                except Exception as exc:
                    if _is_retryable_watch_error(exc):
                        await self.backoff.wait()
                        continue
                    raise
            try:
                await self._watch_handler(w)
            finally:
                w.stop()
            w = None  # ended cleanly (timeout): watch again from the last RV

    # ------------------------------------------------------------ list

    async def _list(self) -> None:
        rv = self._relist_resource_version()
        try:
            items, list_rv = await self._paged_list(rv)
        except (errors.GoneError, errors.ExpiredError) as exc:
            if rv in ("", "0"):
                raise
            # The RV we asked for was compacted: only now read "" (consistent, from the store).
            log.info("%s: list at %s: %s; listing at the latest", self.name, rv, exc)
            self.last_sync_resource_version_unavailable = True
            self.relists_after_gone += 1
            items, list_rv = await self._paged_list("")
        self.lists += 1
        self.last_sync_resource_version_unavailable = False
        self.store.replace(items, list_rv)
        self.last_sync_resource_version = list_rv

    async def _paged_list(self, rv: str) -> tuple[list[Object], str]:
        options = ListOptions(resource_version=rv, limit=self.page_size)
        items: list[Object] = []
        while True:
            try:
                page = await self.lister_watcher.list(options)
            except errors.ExpiredError:
                if not options.continue_:
                    raise
                # The continue token outlived the compaction: one full list instead (client-go's pager).
                page = await self.lister_watcher.list(ListOptions(resource_version=rv))
                return list(page.get("items") or []), meta.resource_version(page)
            items.extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue") or ""
            if not token:
                return items, meta.resource_version(page)
            options = options.with_(continue_=token, resource_version="")

    async def _watch_list(self) -> watch.Interface:
        """A streaming list: replace with the initial events, then go on with the same watch."""
        options = ListOptions(
            resource_version=self.last_sync_resource_version if not self.last_sync_resource_version_unavailable else "",
            resource_version_match="NotOlderThan",
            send_initial_events=True,
            allow_watch_bookmarks=True,
            timeout_seconds=self._watch_timeout(),
        )
        w = await self.lister_watcher.watch(options)
        items: dict[tuple[str, str], Object] = {}
        try:
            async for event in w:
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == watch.ERROR:
                    raise errors.from_status(obj)
                md = obj.get("metadata") or {}
                if kind == watch.BOOKMARK:
                    if (md.get("annotations") or {}).get(watch.INITIAL_EVENTS_END) == "true":
                        self.lists += 1
                        self.store.replace(list(items.values()), meta.resource_version(obj))
                        self.last_sync_resource_version = meta.resource_version(obj)
                        self.last_sync_resource_version_unavailable = False
                        return w
                    continue
                key = (str(md.get("namespace", "")), str(md.get("name", "")))
                if kind == watch.DELETED:
                    items.pop(key, None)
                else:
                    items[key] = obj
        except BaseException:
            w.stop()
            raise
        w.stop()
        raise ConnectionError("the streaming list ended before its initial-events-end bookmark")

    # ------------------------------------------------------------ watch

    def _watch_timeout(self) -> float:
        return self.min_watch_timeout * (1.0 + self._rng.random())

    async def _start_watch(self) -> watch.Interface:
        options = ListOptions(
            resource_version=self.last_sync_resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=self._watch_timeout(),
        )
        self.watches += 1
        return await self.lister_watcher.watch(options)

    async def _watch_handler(self, w: watch.Interface) -> None:
        store = self.store
        async for event in w:
            kind, obj = event.get("type"), event.get("object") or {}
            if kind == watch.ERROR:
                err = errors.from_status(obj)
                if isinstance(err, errors.GoneError | errors.ExpiredError):
                    log.info("%s: watch at %s: %s; relisting", self.name, self.last_sync_resource_version, err)
                    raise _Relist(str(err))
                raise err
            if kind == watch.ADDED:
                store.add(obj)
            elif kind == watch.MODIFIED:
                store.update(obj)
            elif kind == watch.DELETED:
                store.delete(obj)
            elif kind != watch.BOOKMARK:
                raise errors.InternalError(f"unexpected watch event type {kind!r}")
            rv = meta.resource_version(obj)
            if rv:
                self.last_sync_resource_version = rv


def _log_watch_error(reflector: Reflector, err: BaseException) -> None:
    """client-go's DefaultWatchErrorHandler: say what happened; the reflector backs off and relists."""
    log.warning("%s: list/watch failed: %r", reflector.name, err)
