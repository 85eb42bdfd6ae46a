"""Exponential backoff with jitter that forgets after a quiet spell (client-go's
`wait.NewExponentialBackoffManager(800ms, 30s, 2min, 2.0, 1.0)` used by reflectors).

    attempt:   1      2      3      4   ...  (each plus up to 100% jitter)
    delay:   0.8 s  1.6 s  3.2 s  6.4 s ...  30 s cap
    no backoff for 2 minutes: back to 0.8 s
"""

from __future__ import annotations

import random

from informer.workqueue.clock import Clock, RealClock


class Backoff:
    def __init__(
        self,
        initial: float = 0.8,
        cap: float = 30.0,
        reset_after: float = 120.0,
        factor: float = 2.0,
        jitter: float = 1.0,
        *,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.initial, self.cap, self.reset_after = initial, cap, reset_after
        self.factor, self.jitter = factor, jitter
        self.clock = clock or RealClock()
        self._rng = rng or random.Random()
        self._next = initial
        self._last = float("-inf")  # when the last backoff was handed out
        self.count = 0  # backoffs handed out (for tests and metrics)

    def next_delay(self) -> float:
        """The next delay to wait: doubled each time, capped, jittered; reset after a quiet spell."""
        now = self.clock.now()
        if now - self._last > self.reset_after:
            self._next = self.initial
        self._last = now
        base = self._next
        self._next = min(self._next * self.factor, self.cap)
        self.count += 1
        return base + self._rng.random() * self.jitter * base if self.jitter > 0 else base

    async def wait(self) -> None:
        await self.clock.sleep(self.next_delay())
