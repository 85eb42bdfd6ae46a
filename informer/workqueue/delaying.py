"""The delaying queue (client-go `util/workqueue/delaying_queue.go`): add an item after a delay.

Contract (`DelayingInterface`): a `QueueInterface` plus

- `add_after(item, delay)` adds `item` once `delay` seconds have passed on the queue's clock;
  `delay <= 0` adds it at once. While an item waits, another `add_after` for it keeps the earlier
  of the two ready times (client-go's "earlier wins"). Waiting items are not in the queue yet:
  they do not count in `len` and `get` does not see them. Ignored once the queue is shutting down.
  Every call counts as a retry in `metrics.retries`, as in client-go.

The waiting loop is a task owned by the queue: started by the first `add_after` with a positive
delay (so a queue can be built outside an event loop) and cancelled by `shut_down` or
`shut_down_with_drain` (which also waits for it to end). Items still waiting then are dropped,
as adds are ignored from then on anyway. The loop sleeps on the clock until the earliest ready
time, or until an `add_after` brings an earlier one.

    add_after(a, 5)   at t=0    waiting: a@5
    add_after(b, 2)   at t=0    waiting: b@2 a@5       (b is earlier: the loop is woken)
    add_after(a, 9)   at t=1    waiting: b@2 a@5       (a@5 is earlier than a@10: kept)
    step to t=2                 waiting: a@5           queue: b
    step to t=5                 waiting: -             queue: b a
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import itertools
import math
from collections.abc import Hashable
from typing import Protocol, TypeVar

from informer.workqueue.clock import Clock
from informer.workqueue.queue import Queue, QueueInterface

__all__ = ["DelayingInterface", "DelayingQueue"]

T = TypeVar("T", bound=Hashable)


class DelayingInterface(QueueInterface[T], Protocol[T]):
    """client-go's `workqueue.DelayingInterface`; see the module docstring for the contract."""

    def add_after(self, item: T, delay: float) -> None: ...


class DelayingQueue(Queue[T]):
    """client-go's delaying queue: a `Queue` with `add_after`."""

    def __init__(self, name: str = "", clock: Clock | None = None) -> None:
        super().__init__(name, clock)
        # Waiting items as a heap of (ready_at, seq, item); `seq` orders equal times by arrival and
        # keeps the heap from ever comparing items. Invariant: an item waits iff it is a key of
        # `_entries`, whose value is (ready_at, seq) of its live heap entry; any other heap entry
        # for the item is stale (superseded by an earlier ready time) and skipped when popped.
        self._waiting: list[tuple[float, int, T]] = []
        self._entries: dict[T, tuple[float, int]] = {}
        self._seq = itertools.count()
        # The waiting loop (None until the first delayed add), its wake-up future for the current
        # sleep, and the time that sleep ends (inf: sleeping until an add_after).
        self._waiting_loop: asyncio.Task[None] | None = None
        self._wake: asyncio.Future[None] | None = None
        self._wake_at = math.inf

    def add_after(self, item: T, delay: float) -> None:
        if self.shutting_down():
            return
        self.metrics.retry()
        if delay <= 0:
            self.add(item)
            return
        self._start_waiting_loop()
        ready_at = self.clock.now() + delay
        live = self._entries.get(item)
        if live is not None and live[0] <= ready_at:
            return
        seq = next(self._seq)
        self._entries[item] = (ready_at, seq)
        heapq.heappush(self._waiting, (ready_at, seq, item))
        if ready_at < self._wake_at and self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    def shut_down(self) -> None:
        super().shut_down()
        self._stop_waiting_loop()

    async def shut_down_with_drain(self) -> None:
        task = self._stop_waiting_loop()
        await super().shut_down_with_drain()
        if task is not None:
            await asyncio.wait((task,))  # its end, without raising its CancelledError here

    def _start_waiting_loop(self) -> None:
        if self._waiting_loop is None:
            loop = asyncio.get_running_loop()
            self._waiting_loop = loop.create_task(self._run_waiting_loop(), name=f"workqueue {self.name!r} waiting")

    def _stop_waiting_loop(self) -> asyncio.Task[None] | None:
        task = self._waiting_loop
        if task is not None:
            task.cancel()
        self._waiting.clear()
        self._entries.clear()
        return task

    async def _run_waiting_loop(self) -> None:
        loop = asyncio.get_running_loop()
        sleeper: asyncio.Task[None] | None = None
        try:
            while True:
                self._wake_at = self._add_ready_items()
                wake = self._wake = loop.create_future()
                if self._wake_at < math.inf:
                    sleeper = loop.create_task(self.clock.sleep(self._wake_at - self.clock.now()))
                    sleeper.add_done_callback(functools.partial(_resolve, wake))
                await wake
                if sleeper is not None:
                    sleeper.cancel()
                    sleeper = None
        finally:
            if sleeper is not None:
                sleeper.cancel()
            self._wake = None

    def _add_ready_items(self) -> float:
        """Move every item whose time has come to the queue; return the next ready time (inf if none)."""
        now = self.clock.now()
        while self._waiting:
            ready_at, seq, item = self._waiting[0]
            if self._entries.get(item) != (ready_at, seq):
                heapq.heappop(self._waiting)  # stale: the item got an earlier ready time since
                continue
            if ready_at > now:
                return ready_at
            heapq.heappop(self._waiting)
            del self._entries[item]
            self.add(item)
        return math.inf


def _resolve(future: asyncio.Future[None], _sleeper: asyncio.Task[None]) -> None:
    """Wake the waiting loop: its sleep has ended."""
    if not future.done():
        future.set_result(None)
