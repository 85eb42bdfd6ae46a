"""SharedIndexInformer: one list+watch, one cache, any number of handlers (client-go's cache.sharedIndexInformer).

    ListerWatcher ──Reflector──> DeltaFIFO ──pop──> _handle_deltas ──> Indexer (the cache)
                                   (known objects: the Indexer)      └─> SharedProcessor ──> handlers

Each popped key's Deltas, oldest first: Sync / Replaced / Added / Updated update the cache
and become `on_update(old, new)` if the key was cached, else `on_add(obj,
is_in_initial_list)`; Deleted removes it and becomes `on_delete(obj)` (obj may be a
`DeletedFinalStateUnknown`). An update whose resourceVersion did not change is a resync:
it goes only to handlers whose resync is due. The cache is updated before any handler
hears of the change, and in the same step as the pop.

A handler added after start first receives a synthetic `on_add(obj, True)` for every
cached object, before any live event; its registration's `has_synced()` turns true once
it has handled them (and the informer has synced).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from apimachinery import meta
from informer.delta_fifo import DeltaFIFO, Deltas, DeltaType
from informer.keys import DeletedFinalStateUnknown, meta_namespace_key_func
from informer.listwatch import ListerWatcher
from informer.processor import (
    MINIMUM_RESYNC_PERIOD,
    Notification,
    ProcessorListener,
    ResourceEventHandler,
    SharedProcessor,
)
from informer.reflector import Reflector
from informer.store import Indexer, Indexers
from informer.workqueue.clock import Clock, RealClock

log = logging.getLogger("informer")

TransformFunc = Callable[[Any], Any]
WatchErrorHandler = Callable[[Reflector, BaseException], None]


class SharedIndexInformer:
    """Keeps `indexer` in step with the server and tells every handler about each change."""

    def __init__(
        self,
        lister_watcher: ListerWatcher,
        *,
        resync_period: float = 0.0,
        indexers: Indexers | None = None,
        name: str = "",
        use_watch_list: bool = True,
        clock: Clock | None = None,
    ) -> None:
        self.lister_watcher = lister_watcher
        self.name = name or "informer"
        self.clock = clock or RealClock()
        self.indexer = Indexer(meta_namespace_key_func, indexers)
        self.default_resync_period = resync_period
        self._resync_check_period = resync_period
        self.processor = SharedProcessor(self.clock)
        self._fifo: DeltaFIFO | None = None
        self._reflector: Reflector | None = None
        self._use_watch_list = use_watch_list
        self._transform: TransformFunc | None = None
        self._watch_error_handler: WatchErrorHandler | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._started = False
        self._stopped = False

    # ------------------------------------------------------------ configuration (before start)

    def _before_start(self, what: str) -> None:
        if self._started:
            raise RuntimeError(f"{what} must be called before the informer starts")

    def set_transform(self, transform: TransformFunc) -> None:
        """A function applied to every object before it is cached (e.g. to drop managedFields)."""
        self._before_start("set_transform")
        self._transform = transform

    def set_watch_error_handler(self, handler: WatchErrorHandler) -> None:
        """Called with the reflector and the error whenever a list or watch fails."""
        self._before_start("set_watch_error_handler")
        self._watch_error_handler = handler

    def add_indexers(self, indexers: Indexers) -> None:
        self._before_start("add_indexers")
        self.indexer.add_indexers(indexers)

    def get_indexer(self) -> Indexer:
        return self.indexer

    get_store = get_indexer

    # ------------------------------------------------------------ handlers

    def add_event_handler(self, handler: ResourceEventHandler, resync_period: float | None = None) -> ProcessorListener:
        """Register a handler; the returned registration has `has_synced()`."""
        if self._stopped:
            raise RuntimeError("the informer has stopped; it takes no more handlers")
        period = self.default_resync_period if resync_period is None else resync_period
        if 0 < period < MINIMUM_RESYNC_PERIOD:
            period = MINIMUM_RESYNC_PERIOD
        if period > 0:
            if not self._started:
                if self._resync_check_period <= 0 or period < self._resync_check_period:
                    self._resync_check_period = period
            elif period < self._resync_check_period:
                period = self._resync_check_period  # cannot check more often once running
        listener = ProcessorListener(handler, period, self.has_synced, self.clock)
        if self._started:
            for obj in self.indexer.list():  # synthetic adds first, before any live event
                listener.add(Notification("add", None, obj, True))
        self.processor.add_listener(listener)
        return listener

    async def remove_event_handler(self, registration: ProcessorListener) -> None:
        await self.processor.remove_listener(registration)

    # ------------------------------------------------------------ state

    def has_synced(self) -> bool:
        """The first list has been popped and applied to the cache."""
        return self._fifo is not None and self._fifo.has_synced()

    def last_sync_resource_version(self) -> str:
        return self._reflector.last_sync_resource_version if self._reflector else ""

    @property
    def reflector(self) -> Reflector | None:
        return self._reflector

    @property
    def is_stopped(self) -> bool:
        return self._stopped

    # ------------------------------------------------------------ running

    def start(self) -> None:
        """Start the reflector, the processing loop and the handlers' tasks (owned here; `stop()` ends them)."""
        if self._started:
            return
        self._started = True
        fifo = DeltaFIFO(meta_namespace_key_func, known_objects=self.indexer, emit_delta_type_replaced=True)
        self._fifo = fifo
        reflector = Reflector(
            self.lister_watcher,
            fifo,
            name=self.name,
            resync_period=self._resync_check_period,
            should_resync=self.processor.should_resync,
            use_watch_list=self._use_watch_list,
            clock=self.clock,
        )
        if self._watch_error_handler is not None:
            reflector.watch_error_handler = self._watch_error_handler
        self._reflector = reflector
        self.processor.start()
        self._tasks = [
            asyncio.create_task(reflector.run(), name=f"{self.name}-reflector"),
            asyncio.create_task(self._process_loop(fifo), name=f"{self.name}-process"),
        ]

    async def run(self) -> None:
        """Start and run until cancelled (then stop)."""
        self.start()
        try:
            await asyncio.gather(*self._tasks)
        finally:
            await self.stop()

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._fifo is not None:
            self._fifo.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.processor.stop()

    async def _process_loop(self, fifo: DeltaFIFO) -> None:
        while True:
            await fifo.pop(self._handle_deltas)

    def _handle_deltas(self, deltas: Deltas, is_in_initial_list: bool) -> None:
        """Apply one key's deltas to the cache and tell the handlers (client-go's processDeltas)."""
        indexer, processor, transform = self.indexer, self.processor, self._transform
        # The queue's key: the indexer's key function is the queue's (a Deltas built elsewhere has none).
        key = deltas.key or meta_namespace_key_func(deltas[-1].object)
        for delta in deltas:
            obj = delta.object
            if transform is not None and not isinstance(obj, DeletedFinalStateUnknown):
                obj = transform(obj)
            if delta.type is DeltaType.DELETED:
                indexer.delete_by_key(key)
                processor.distribute(Notification("delete", obj, None), False)
                continue
            old = indexer.get_by_key(key)
            indexer.put_by_key(key, obj)
            if old is not None:
                old_rv = meta.resource_version(old)
                is_sync = delta.type is DeltaType.SYNC or (old_rv != "" and old_rv == meta.resource_version(obj))
                processor.distribute(Notification("update", old, obj), is_sync)
            else:
                processor.distribute(Notification("add", None, obj, is_in_initial_list), False)
