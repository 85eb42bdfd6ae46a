"""client-go's `util/workqueue` for asyncio: work queues for controllers, one behaviour per layer.

    Queue              queue.py          fair FIFO, duplicates collapse, one worker per item
      DelayingQueue    delaying.py       + add_after(item, delay)
        RateLimitingQueue rate_limiting.py + add_rate_limited, forget, num_requeues
    rate limiters      rate_limiters.py  when/forget/num_requeues: exponential, fast-slow, token bucket, max-of
    Clock              clock.py          now() and sleep(); RealClock, FakeClock for tests
    QueueMetrics       metrics.py        depth, adds, latencies, work durations, retries, ...

Each module opens with its contract. Items are hashable (a controller's are "namespace/name").
"""

from informer.workqueue.clock import Clock, FakeClock, RealClock
from informer.workqueue.delaying import DelayingInterface, DelayingQueue
from informer.workqueue.metrics import QueueMetrics
from informer.workqueue.queue import Queue, QueueInterface
from informer.workqueue.rate_limiters import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    ItemFastSlowRateLimiter,
    MaxOfRateLimiter,
    RateLimiter,
    default_controller_rate_limiter,
)
from informer.workqueue.rate_limiting import RateLimitingInterface, RateLimitingQueue

__all__ = [
    "BucketRateLimiter",
    "Clock",
    "DelayingInterface",
    "DelayingQueue",
    "FakeClock",
    "ItemExponentialFailureRateLimiter",
    "ItemFastSlowRateLimiter",
    "MaxOfRateLimiter",
    "Queue",
    "QueueInterface",
    "QueueMetrics",
    "RateLimiter",
    "RateLimitingInterface",
    "RateLimitingQueue",
    "RealClock",
    "default_controller_rate_limiter",
]
