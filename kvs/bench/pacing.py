"""The open-loop paced writer of the fan-out scenarios, embedded and over gRPC.

Put i starts at its scheduled time whether or not earlier puts were acknowledged, and
latency counts from that time, so a server that stalls the writer cannot hide it
(coordinated omission).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

from kvs.bench.common import Config


def schedule(rate: float, events: int) -> list[float]:
    """When a writer paced at `rate` events/s issues each of `events` puts, in seconds from its start."""
    if rate <= 0:
        raise ValueError(f"rate must be positive, got {rate}")
    return [i / rate for i in range(events)]


def paced_events(cfg: Config, rate: int) -> int:
    """Events of a paced run: `rate` x `fanout_rate_seconds`, at least one."""
    return max(1, round(rate * cfg.fanout_rate_seconds))


async def write_paced(
    put: Callable[[int], Awaitable[None]],
    offsets: Sequence[float],
    start: float,
    issued: list[float],
    clock: Callable[[], float] = time.monotonic,
) -> float:
    """Open loop: start put i at `start + offsets[i]` without waiting for earlier ones; wait for all.

    `issued[i]` becomes the scheduled time, so a writer running late adds to the latency
    instead of hiding it. Returns the most any put started after its scheduled time (s).
    """
    tasks: list[asyncio.Future[None]] = []
    lag = 0.0
    i, total = 0, len(offsets)
    while i < total:
        now = clock()
        while i < total and start + offsets[i] <= now:
            issued[i] = start + offsets[i]
            lag = max(lag, now - issued[i])
            tasks.append(asyncio.ensure_future(put(i)))
            i += 1
        if i < total:
            await asyncio.sleep(max(0.0, start + offsets[i] - clock()))
    await asyncio.gather(*tasks)
    return lag
