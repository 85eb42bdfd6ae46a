"""The client's one backoff policy, and retrying idempotent calls while the server is unavailable.

Every wait of the network client follows `Backoff`: the retries of idempotent calls while
the server restarts or is not yet listening, the re-creation of the watch stream after it
broke, and gRPC's own reconnection of the channel (`channel_options`). One set of numbers:
50 ms, doubling, at most 1 s, each wait stretched by up to its own length at random so that
many clients do not come back in step.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

_T = TypeVar("_T")

FIRST_DELAY = 0.05
MAX_DELAY = 1.0
_JITTER = random.Random()  # shared: seeding one per Backoff would cost every call that retries


@dataclass(slots=True)
class Backoff:
    """Exponential backoff with jitter: `next_delay()` is the wait before the next try."""

    first: float = FIRST_DELAY
    maximum: float = MAX_DELAY
    jitter: float = 1.0
    """Each wait is `delay * (1 + jitter * random())`."""
    rng: random.Random = _JITTER
    _delay: float = 0.0

    def next_delay(self) -> float:
        """The wait before the next try; the one after it doubles, up to `maximum`."""
        delay = self._delay or self.first
        self._delay = min(delay * 2, self.maximum)
        return delay * (1 + self.jitter * self.rng.random())

    def reset(self) -> None:
        """A try succeeded: the next failure waits `first` again."""
        self._delay = 0.0


def channel_options() -> list[tuple[str, int]]:
    """gRPC's reconnection backoff of a channel, set to the same policy."""
    return [
        ("grpc.initial_reconnect_backoff_ms", round(FIRST_DELAY * 1000)),
        ("grpc.max_reconnect_backoff_ms", round(MAX_DELAY * 1000)),
    ]


async def retry_while_unavailable(
    attempt: Callable[[], Awaitable[_T]], unavailable: type[BaseException], timeout: float | None
) -> _T:
    """`await attempt()` until it does not raise `unavailable`, waiting as `Backoff` says
    between tries; the last error is raised once the next try would pass `timeout` seconds
    (None: never)."""
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    backoff: Backoff | None = None  # made on the first failure: a call that succeeds pays nothing
    while True:
        try:
            return await attempt()
        except unavailable:
            backoff = backoff or Backoff()
            wait = backoff.next_delay()
            if deadline is not None and loop.time() + wait > deadline:
                raise
            await asyncio.sleep(wait)
