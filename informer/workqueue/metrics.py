"""In-process metrics of one work queue, the ones client-go's workqueue `MetricsProvider` exposes.

Every queue owns a `QueueMetrics` (`queue.metrics`), named after the queue. The queue calls the
hooks; tests, benchmarks and a future exporter read the fields:

    client-go metric                    here                                 moves on
    ----------------------------------  -----------------------------------  -------------------------------
    depth (gauge)                       depth                                +1 on a new add, -1 on get
    adds_total (counter)                adds                                 an add of an item not yet dirty
    queue_duration_seconds (histogram)  latencies                            get: seconds since its add
    work_duration_seconds (histogram)   work_durations                       done: seconds since its get
    unfinished_work_seconds (gauge)     unfinished_work_seconds()            read: in-flight seconds, summed
    longest_running_processor_seconds   longest_running_processor_seconds()  read: oldest in-flight seconds
    retries_total (counter)             retries                              add_after (so add_rate_limited)

As in client-go, `depth` counts dirty items, including one re-added while it is being processed
(it waits for `done` before it is queued again), so it can exceed `len(queue)`; an item's latency
runs from its first `add` since its last `get`.

Cheap by design: the hooks are a few dict and deque operations, the two gauges client-go
refreshes every 500 ms from a goroutine are computed when read (no task), and the samples are
bounded deques holding the most recent `max_samples` values (`latency_count` and
`work_duration_count` count every sample ever taken). Times come from the queue's `Clock`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable

from informer.workqueue.clock import Clock, RealClock

__all__ = ["DEFAULT_MAX_SAMPLES", "QueueMetrics"]

DEFAULT_MAX_SAMPLES = 100_000
"""How many recent latency and work-duration samples a `QueueMetrics` keeps by default."""


class QueueMetrics:
    """The metrics of the queue named `name`, measured with `clock`."""

    def __init__(self, name: str = "", clock: Clock | None = None, max_samples: int = DEFAULT_MAX_SAMPLES) -> None:
        self.name = name
        self.clock: Clock = clock if clock is not None else RealClock()
        self.depth = 0
        """Dirty items: added and not yet handed out by `get` (gauge)."""
        self.adds = 0
        """Items added (counter)."""
        self.retries = 0
        """Delayed adds, `add_after` and thus `add_rate_limited` (counter)."""
        self.latencies: deque[float] = deque(maxlen=max_samples)
        """Seconds from `add` to `get`, most recent last."""
        self.work_durations: deque[float] = deque(maxlen=max_samples)
        """Seconds from `get` to `done`, most recent last."""
        self.latency_count = 0
        self.work_duration_count = 0
        # Invariant: an item is in `_add_times` iff it is dirty (counted in `depth`), with the time
        # of the add that made it dirty.
        self._add_times: dict[Hashable, float] = {}
        # Invariant: an item is in `_start_times` iff it is being processed (handed out by `get`,
        # `done` not yet called). An item is inserted afresh on each `get` and one item is never
        # processed twice at once, so insertion order is start order: the first entry is the
        # longest running one.
        self._start_times: dict[Hashable, float] = {}

    # Hooks, called by the queue.

    def add(self, item: Hashable) -> None:
        """`item` became dirty."""
        self.adds += 1
        self.depth += 1
        self._add_times.setdefault(item, self.clock.now())

    def get(self, item: Hashable) -> None:
        """`item` was handed to a worker."""
        now = self.clock.now()
        self.depth -= 1
        added = self._add_times.pop(item, None)
        if added is not None:
            self.latencies.append(now - added)
            self.latency_count += 1
        self._start_times[item] = now

    def done(self, item: Hashable) -> None:
        """A worker finished `item`."""
        started = self._start_times.pop(item, None)
        if started is not None:
            self.work_durations.append(self.clock.now() - started)
            self.work_duration_count += 1

    def retry(self) -> None:
        """An item was added with a delay."""
        self.retries += 1

    # Gauges, computed when read.

    def unfinished_work_seconds(self) -> float:
        """Seconds of work in progress not yet observed by `work_durations` (sum over in-flight items)."""
        now = self.clock.now()
        return sum(now - started for started in self._start_times.values())

    def longest_running_processor_seconds(self) -> float:
        """Seconds the longest-running in-flight item has been processed; 0 when none is."""
        for started in self._start_times.values():
            return self.clock.now() - started
        return 0.0

    def __repr__(self) -> str:
        return (
            f"QueueMetrics(name={self.name!r}, depth={self.depth}, adds={self.adds}, retries={self.retries}, "
            f"latency_count={self.latency_count}, work_duration_count={self.work_duration_count})"
        )
