"""Queue metrics, against client-go's util/workqueue/metrics.go (and metrics_test.go's TestMetrics)."""

from __future__ import annotations

import pytest

from informer.workqueue import FakeClock, ItemFastSlowRateLimiter, Queue, QueueMetrics, RateLimitingQueue
from tests.informer.workqueue.helpers import settle


async def test_metrics() -> None:
    """client-go TestMetrics: a scripted sequence on a fake clock gives exact depth, adds, queue
    latencies, work durations, unfinished work and longest running processor."""
    clock = FakeClock()
    q: Queue[str] = Queue(name="test", clock=clock)
    m = q.metrics
    assert m.name == "test"

    q.add("foo")
    q.add("bar")
    assert (m.adds, m.depth) == (2, 2)
    clock.step(0.05)
    item, _ = await q.get()
    assert item == "foo"
    assert m.depth == 1
    assert list(m.latencies) == pytest.approx([0.05])
    assert m.longest_running_processor_seconds() == 0.0

    clock.step(0.025)
    await q.get()  # bar: waited 75 ms
    assert m.depth == 0
    assert list(m.latencies) == pytest.approx([0.05, 0.075])
    clock.step(0.01)
    assert m.unfinished_work_seconds() == pytest.approx(0.035 + 0.01)
    assert m.longest_running_processor_seconds() == pytest.approx(0.035)  # foo, started first

    q.done("foo")
    assert list(m.work_durations) == pytest.approx([0.035])
    assert m.longest_running_processor_seconds() == pytest.approx(0.01)  # bar
    q.add("bar")  # re-added while processing: counted as added and dirty, not yet queued
    assert (m.adds, m.depth, len(q)) == (3, 1, 0)
    clock.step(0.02)
    q.done("bar")
    assert list(m.work_durations) == pytest.approx([0.035, 0.03])
    assert m.unfinished_work_seconds() == 0.0
    await q.get()
    assert list(m.latencies) == pytest.approx([0.05, 0.075, 0.02])
    assert (m.latency_count, m.work_duration_count) == (3, 2)


async def test_metrics_retries() -> None:
    """client-go counts a retry for every AddAfter the queue takes, so for every AddRateLimited."""
    clock = FakeClock()
    q: RateLimitingQueue[str] = RateLimitingQueue(ItemFastSlowRateLimiter(0.001, 1.0, 1), name="r", clock=clock)
    q.add_rate_limited("a")
    q.add_rate_limited("a")
    q.add_after("b", 0)
    assert q.metrics.retries == 3
    assert q.metrics.adds == 1  # only b is in the queue yet
    clock.step(0.001)
    await settle()
    assert q.metrics.adds == 2 and q.metrics.depth == 2
    q.shut_down()
    q.add_rate_limited("c")
    assert q.metrics.retries == 3  # ignored once shut down


def test_metrics_samples_are_bounded() -> None:
    """Keeping metrics cheap: only the most recent max_samples samples are kept; counts keep all."""
    clock = FakeClock()
    m = QueueMetrics("bounded", clock, max_samples=3)
    for i in range(5):
        m.add(i)
        clock.step(float(i))
        m.get(i)
        m.done(i)
    assert list(m.latencies) == [2.0, 3.0, 4.0]
    assert m.latency_count == 5
    assert len(m.work_durations) == 3 and m.work_duration_count == 5
