"""The lessor: lease deadlines in wall time, renewals, and revocation when they pass.

Deadlines are kept on the event loop, outside the replicated state: like etcd, a
lease's remaining time is not persisted, and after a restart every lease gets its full
TTL again. When a deadline passes, the lessor proposes an ordinary revoke command, so
expiry is applied like any other write and deletes the lease's keys in one revision.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import math
import time
from collections.abc import Awaitable, Callable

from kvstore.errors import KVError, LeaseNotFoundError, StoreClosedError
from kvstore.mvcc.leases import LeaseTable

log = logging.getLogger(__name__)

Clock = Callable[[], float]


class Lessor:
    def __init__(
        self,
        table: LeaseTable,
        revoke: Callable[[int], Awaitable[object]],
        *,
        clock: Clock = time.monotonic,
        retry_interval: float = 0.5,
    ) -> None:
        self.table = table
        self.clock = clock
        self.expired_revocations = 0
        self._revoke = revoke
        self._retry_interval = retry_interval
        self._deadline: dict[int, float] = {}
        self._heap: list[tuple[float, int]] = []
        self._revoking: set[int] = set()
        self._wakeup: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._expiring: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        """Give every existing lease its full TTL and start the expiry loop."""
        now = self.clock()
        for lease in list(self.table.leases.values()):
            self._set_deadline(lease.id, now + lease.ttl)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="kvstore-lessor")

    async def stop(self) -> None:
        for task in list(self._expiring):
            task.cancel()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # ------------------------------------------------------------ events from applied commands

    def granted(self, lease_id: int, ttl: int) -> None:
        self._set_deadline(lease_id, self.clock() + ttl)
        self._poke()

    def revoked(self, lease_id: int) -> None:
        self._deadline.pop(lease_id, None)
        self._revoking.discard(lease_id)

    # ------------------------------------------------------------ queries

    def renew(self, lease_id: int) -> int:
        """Restart the lease's TTL; 0 if it does not exist or has already expired."""
        lease = self.table.get(lease_id)
        deadline = self._deadline.get(lease_id)
        now = self.clock()
        if lease is None or deadline is None or deadline <= now or lease_id in self._revoking:
            return 0
        self._set_deadline(lease_id, now + lease.ttl)
        return lease.ttl

    def remaining(self, lease_id: int) -> int:
        """Whole seconds left (truncated, as etcd reports them); -1 if the lease does not exist."""
        deadline = self._deadline.get(lease_id)
        if deadline is None or lease_id not in self.table:
            return -1
        return max(0, math.floor(deadline - self.clock()))

    # ------------------------------------------------------------ expiry

    def _set_deadline(self, lease_id: int, deadline: float) -> None:
        self._deadline[lease_id] = deadline
        heapq.heappush(self._heap, (deadline, lease_id))
        if len(self._heap) > 2 * len(self._deadline) + 1024:
            self._heap = [(d, i) for i, d in self._deadline.items()]
            heapq.heapify(self._heap)

    def _due(self, now: float) -> list[int]:
        due = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            deadline, lease_id = heapq.heappop(heap)
            if self._deadline.get(lease_id) == deadline and lease_id not in self._revoking:
                due.append(lease_id)
        return due

    def _poke(self) -> None:
        """Wake the expiry loop to look at the deadlines again."""
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            now = self.clock()
            for lease_id in self._due(now):
                self._revoking.add(lease_id)
                task = loop.create_task(self._expire(lease_id))
                self._expiring.add(task)
                task.add_done_callback(self._expiring.discard)
            delay = self._heap[0][0] - now if self._heap else 3600.0
            self._wakeup = wakeup = loop.create_future()
            timer = loop.call_later(max(delay, 0.001), self._poke)
            try:
                await wakeup
            finally:
                timer.cancel()
                self._wakeup = None

    async def _expire(self, lease_id: int) -> None:
        try:
            await self._revoke(lease_id)
            self.expired_revocations += 1
        except LeaseNotFoundError:
            pass  # revoked meanwhile by someone else
        except StoreClosedError:
            return
        except KVError as exc:
            # Try again later; the lease stays expired (renewals answer 0) meanwhile.
            log.warning("revoking expired lease %x failed: %s", lease_id, exc)
            await asyncio.sleep(self._retry_interval)
            self._revoking.discard(lease_id)
            self._set_deadline(lease_id, self.clock())
            self._poke()
            return
        self.revoked(lease_id)
