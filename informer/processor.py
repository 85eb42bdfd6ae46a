"""Handlers of a shared informer: each with its own buffer and task (client-go's sharedProcessor).

    informer ── distribute(n) ──> listener A: buffer [n1 n2 n3] ──task──> handler A
                            └───> listener B: buffer [n3]       ──task──> handler B (slow)

`distribute` only appends to buffers, so a slow handler never delays the informer, the
cache or another handler; buffers grow as needed (client-go's growing ring buffer). Each
listener calls its handler one notification at a time, in order. A handler may be plain
functions or coroutine functions; an exception in a handler is logged and the listener
goes on (client-go logs and crashes the process; here one handler cannot stop the
others). Resyncs (`sync=True` updates) go only to listeners whose resync is due.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from informer.workqueue.clock import Clock

log = logging.getLogger("informer.processor")

MINIMUM_RESYNC_PERIOD = 1.0  # seconds, as client-go's minimumResyncPeriod


class ResourceEventHandler(Protocol):
    """What an informer calls; methods may be plain or `async def`."""

    def on_add(self, obj: Any, is_in_initial_list: bool) -> Awaitable[None] | None: ...

    def on_update(self, old: Any, new: Any) -> Awaitable[None] | None: ...

    def on_delete(self, obj: Any) -> Awaitable[None] | None: ...


@dataclass
class ResourceEventHandlerFuncs:
    """A handler from up to three functions (client-go's ResourceEventHandlerFuncs); None ignores the event."""

    add_func: Callable[[Any, bool], Awaitable[None] | None] | None = None
    update_func: Callable[[Any, Any], Awaitable[None] | None] | None = None
    delete_func: Callable[[Any], Awaitable[None] | None] | None = None

    def on_add(self, obj: Any, is_in_initial_list: bool) -> Awaitable[None] | None:
        return self.add_func(obj, is_in_initial_list) if self.add_func else None

    def on_update(self, old: Any, new: Any) -> Awaitable[None] | None:
        return self.update_func(old, new) if self.update_func else None

    def on_delete(self, obj: Any) -> Awaitable[None] | None:
        return self.delete_func(obj) if self.delete_func else None


class Notification(NamedTuple):
    kind: str  # "add", "update" or "delete"
    old: Any
    new: Any
    is_in_initial_list: bool = False


class ProcessorListener:
    """One handler, its buffer and its task; also its handler registration (has_synced)."""

    def __init__(
        self,
        handler: ResourceEventHandler,
        resync_period: float,
        informer_synced: Callable[[], bool],
        clock: Clock,
    ) -> None:
        self.handler = handler
        self.requested_resync_period = resync_period
        self.resync_period = resync_period
        self.clock = clock
        self.next_resync = clock.now() + resync_period if resync_period > 0 else 0.0
        self._informer_synced = informer_synced
        self._buffer: deque[Notification] = deque()
        self._wakeup = asyncio.Event()
        self._initial_pending = 0  # buffered or running notifications with is_in_initial_list
        self._task: asyncio.Task[None] | None = None
        self.handled = 0  # notifications the handler has finished (for tests and metrics)

    # ------------------------------------------------------------ registration

    def has_synced(self) -> bool:
        """The informer has synced and this handler has seen every object of the initial list."""
        return self._informer_synced() and self._initial_pending == 0

    # ------------------------------------------------------------ producer side

    def add(self, n: Notification) -> None:
        if n.is_in_initial_list:
            self._initial_pending += 1
        self._buffer.append(n)
        self._wakeup.set()

    def should_resync(self, now: float) -> bool:
        return self.resync_period > 0 and now >= self.next_resync

    def determine_next_resync(self, now: float) -> None:
        if self.resync_period > 0:
            self.next_resync = now + self.resync_period

    # ------------------------------------------------------------ consumer side

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="informer-listener")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        buffer = self._buffer
        while True:
            while not buffer:
                self._wakeup.clear()
                await self._wakeup.wait()
            n = buffer.popleft()
            try:
                # The handler is called inline (no coroutine per notification: the hot path);
                # an async handler's awaitable is awaited before the next notification.
                kind = n.kind
                if kind == "add":
                    result = self.handler.on_add(n.new, n.is_in_initial_list)
                elif kind == "update":
                    result = self.handler.on_update(n.old, n.new)
                else:
                    result = self.handler.on_delete(n.old)
                if result is not None and inspect.isawaitable(result):
                    await result
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("event handler failed on %s", n.kind)
            finally:
                if n.is_in_initial_list:
                    self._initial_pending -= 1
                self.handled += 1


class SharedProcessor:
    """Every listener of one informer; `distribute` hands a notification to each."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.listeners: list[ProcessorListener] = []
        self._syncing: list[ProcessorListener] = []
        self.started = False

    def add_listener(self, listener: ProcessorListener) -> None:
        self.listeners.append(listener)
        self._syncing.append(listener)
        if self.started:
            listener.start()

    async def remove_listener(self, listener: ProcessorListener) -> None:
        if listener in self.listeners:
            self.listeners.remove(listener)
        if listener in self._syncing:
            self._syncing.remove(listener)
        await listener.stop()

    def distribute(self, n: Notification, sync: bool) -> None:
        for listener in self._syncing if sync else self.listeners:
            listener.add(n)

    def start(self) -> None:
        self.started = True
        for listener in self.listeners:
            listener.start()

    async def stop(self) -> None:
        self.started = False
        for listener in list(self.listeners):
            await listener.stop()

    def should_resync(self) -> bool:
        """Which listeners are due for a resync now; True if any (the reflector then resyncs)."""
        now = self.clock.now()
        self._syncing = []
        for listener in self.listeners:
            if listener.should_resync(now):
                self._syncing.append(listener)
                listener.determine_next_resync(now)
        return bool(self._syncing)
