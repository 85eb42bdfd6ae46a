"""The plain work queue (client-go `util/workqueue/queue.go`): fair, deduplicating, one worker per item.

Contract (`QueueInterface`), for items that are hashable (a controller's are "namespace/name" keys):

- `add(item)` marks `item` as needing processing. An item already waiting is not queued twice
  (duplicates collapse into one); an item being processed is queued again only when its worker
  calls `done`. Adds after `shut_down` are ignored.
- `await get()` waits while the queue is empty and returns `(item, False)`, oldest first; the
  caller owns `item` until it calls `done(item)`. Once the queue is shut down and empty it
  returns `(None, True)`: the worker should stop. Items queued before the shut down are still
  handed out (workers drain the queue), as in client-go.
- `done(item)` ends the processing of `item`; if it was added again meanwhile it is queued again.
  `done` of an item that is not being processed does nothing (client-go would queue a dirty
  item a second time).
- `len(q)` / `q.len()` counts the items waiting to be handed out (informational only).
- `shut_down()` ignores new adds and wakes every waiting `get`.
- `await shut_down_with_drain()` does the same and then waits until every item handed out has
  been `done`. A later `shut_down()` stops the wait.
- `shutting_down()` tells whether either shut down was called.

No item is ever processed by two workers at once: a worker is only handed an item that no other
worker holds. Worked example, one item `a`:

    add(a)    queue=[a]  dirty={a}  processing={}     waiting for a worker
    get()->a  queue=[]   dirty={}   processing={a}    a worker holds a
    add(a)    queue=[]   dirty={a}  processing={a}    deferred: a is still held
    add(a)    (no change: a is already dirty)         duplicates collapse
    done(a)   queue=[a]  dirty={a}  processing={}     queued again for the next get

Everything runs on one event loop; a method that does not await is atomic. Like
`asyncio.Queue.get`, `get` returns without yielding to the loop when an item is ready, so a
worker that never awaits while processing starves the others.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Hashable
from typing import Generic, Protocol, TypeVar

from informer.workqueue.clock import Clock, RealClock
from informer.workqueue.metrics import QueueMetrics

__all__ = ["Queue", "QueueInterface"]

T = TypeVar("T", bound=Hashable)


class QueueInterface(Protocol[T]):
    """client-go's `workqueue.Interface`; see the module docstring for the contract."""

    def add(self, item: T) -> None: ...

    def len(self) -> int: ...

    def __len__(self) -> int: ...

    async def get(self) -> tuple[T | None, bool]: ...

    def done(self, item: T) -> None: ...

    def shut_down(self) -> None: ...

    async def shut_down_with_drain(self) -> None: ...

    def shutting_down(self) -> bool: ...


class Queue(Generic[T]):
    """client-go's `workqueue.Type`: the plain queue. `name` names its `metrics`."""

    def __init__(self, name: str = "", clock: Clock | None = None) -> None:
        self.name = name
        self.clock: Clock = clock if clock is not None else RealClock()
        self.metrics = QueueMetrics(name, self.clock)
        # The order in which items are handed out. Invariant: every item in `_queue` is in
        # `_dirty` and not in `_processing`, and appears in `_queue` once.
        self._queue: deque[T] = deque()
        # Every item that needs processing: those in `_queue`, and those re-added while being
        # processed (in `_processing` too), which `done` moves to `_queue`.
        self._dirty: set[T] = set()
        # Items handed out by `get` whose `done` has not been called. An item is handed out only
        # from `_queue`, hence never while it is here: no item is processed twice at once.
        self._processing: set[T] = set()
        # Tasks blocked in `get`, oldest first. Each is woken by having its future resolved (and
        # removed from here); it then re-checks the queue.
        self._getters: deque[asyncio.Future[None]] = deque()
        # Tasks blocked in `shut_down_with_drain`, woken when `_processing` empties or on `shut_down`.
        self._drainers: list[asyncio.Future[None]] = []
        self._shutting_down = False
        # True while a `shut_down_with_drain` should keep waiting for `_processing` to empty.
        self._drain = False

    def add(self, item: T) -> None:
        if self._shutting_down or item in self._dirty:
            return
        self.metrics.add(item)
        self._dirty.add(item)
        if item in self._processing:
            return
        self._queue.append(item)
        self._wake_one_getter()

    def len(self) -> int:
        return len(self._queue)

    def __len__(self) -> int:
        return len(self._queue)

    async def get(self) -> tuple[T | None, bool]:
        while not self._queue and not self._shutting_down:
            await self._wait_for_item()
        if not self._queue:
            return None, True
        item = self._queue.popleft()
        self.metrics.get(item)
        self._processing.add(item)
        self._dirty.discard(item)
        return item, False

    def done(self, item: T) -> None:
        """End the processing of `item`; a call for an item not being processed does nothing."""
        if item not in self._processing:
            return
        self.metrics.done(item)
        self._processing.discard(item)
        if item in self._dirty:
            self._queue.append(item)
            self._wake_one_getter()
        if not self._processing:
            self._wake_drainers()

    def shut_down(self) -> None:
        self._drain = False
        self._shut_down()
        self._wake_drainers()

    async def shut_down_with_drain(self) -> None:
        self._drain = True
        self._shut_down()
        loop = asyncio.get_running_loop()
        while self._processing and self._drain:
            drained: asyncio.Future[None] = loop.create_future()
            self._drainers.append(drained)
            try:
                await drained
            finally:
                if drained in self._drainers:
                    self._drainers.remove(drained)

    def shutting_down(self) -> bool:
        return self._shutting_down

    def _shut_down(self) -> None:
        self._shutting_down = True
        while self._getters:
            getter = self._getters.popleft()
            if not getter.done():
                getter.set_result(None)

    async def _wait_for_item(self) -> None:
        getter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._getters.append(getter)
        try:
            await getter
        except BaseException:
            getter.cancel()  # a no-op unless the wait itself was cancelled
            if getter in self._getters:
                self._getters.remove(getter)
            elif not getter.cancelled() and self._queue:
                # This getter was woken for an item but its task was cancelled before it could
                # take it: pass the wake-up on, or the item would wait for the next add.
                self._wake_one_getter()
            raise

    def _wake_one_getter(self) -> None:
        while self._getters:
            getter = self._getters.popleft()
            if not getter.done():
                getter.set_result(None)
                return

    def _wake_drainers(self) -> None:
        drainers, self._drainers = self._drainers, []
        for drained in drainers:
            if not drained.done():
                drained.set_result(None)
