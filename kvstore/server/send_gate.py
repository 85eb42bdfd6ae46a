"""A fair turnstile for watch senders: at most N start a write per event-loop iteration.

With a thousand streams on one prefix, every event would otherwise wake a thousand
senders into the same loop iteration, each writing a one-event response, and the RPCs
that make the events (puts) would wait behind all of them. Letting a bounded number
through per iteration keeps iterations short, so puts keep flowing; a sender that
waited for its turn then finds several revisions pending and sends them in one
WatchResponse (as etcd's protocol allows), which is what makes fan-out cheap per event.
A sender holds nothing while it writes, so a client that stops reading blocks only
its own stream.
"""

from __future__ import annotations

import asyncio
from collections import deque

# Senders that may start a write per loop iteration: a few hundred of our transport's cheap
# responses take about as long as 32 of grpcio's.
DEFAULT_PER_TICK = 256
GRPCIO_PER_TICK = 32
# Seconds between two responses of one busy stream, per open stream: a response costs our
# own transport a few microseconds, grpcio's server about a hundred, so grpcio needs fuller ones.
DEFAULT_PACE_PER_STREAM = 10e-6
GRPCIO_PACE_PER_STREAM = 50e-6
DEFAULT_MAX_PACE = 1.0


class SendGate:
    def __init__(
        self,
        per_tick: int = DEFAULT_PER_TICK,
        pace_per_stream: float = DEFAULT_PACE_PER_STREAM,
        max_pace: float = DEFAULT_MAX_PACE,
    ) -> None:
        if per_tick < 1:
            raise ValueError("per_tick must be at least 1")
        if pace_per_stream < 0 or max_pace < 0:
            raise ValueError("pace_per_stream and max_pace must not be negative")
        self.per_tick = per_tick
        self.pace_per_stream = pace_per_stream
        self.max_pace = max_pace
        self.streams = 0  # open watch streams, kept by the Watch service
        self.waited = 0  # turns that had to wait for a later iteration (for tests and benchmarks)
        self._passed = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._tick_scheduled = False

    def pace(self) -> float:
        """The least time between two responses of one stream: grows with the open streams.

        A stream that sent less than this long ago waits out the rest before its next
        response, so under fan-out load each response carries the revisions of that
        interval; an idle stream sends at once.
        """
        return min(self.streams * self.pace_per_stream, self.max_pace)

    async def wait_pace(self, last_sent: float) -> None:
        """Wait out the rest of `pace()` since a stream's last response (loop time `last_sent`)."""
        wait = last_sent + self.pace() - asyncio.get_running_loop().time()
        if wait > 0:
            await asyncio.sleep(wait)

    async def turn(self) -> None:
        """Return when this sender may start one write."""
        if self._passed < self.per_tick and not self._waiters:
            self._passed += 1
            self._schedule_tick()
            return
        self.waited += 1
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        self._schedule_tick()
        await fut  # a cancelled waiter is skipped by _tick

    def _schedule_tick(self) -> None:
        if not self._tick_scheduled:
            self._tick_scheduled = True
            asyncio.get_running_loop().call_soon(self._tick)

    def _tick(self) -> None:
        """A new loop iteration: release the next waiters, first come first served."""
        self._tick_scheduled = False
        self._passed = 0
        waiters = self._waiters
        while waiters and self._passed < self.per_tick:
            fut = waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                self._passed += 1
        if self._passed or waiters:
            self._schedule_tick()
