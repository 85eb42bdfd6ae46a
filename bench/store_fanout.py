"""c) In-process watch fan-out: deliveries/s to 1, 10, 100 and 1000 watchers of one prefix.

Every watcher is consumed by its own asyncio task (`async for resp in watcher:
count += len(resp.events)`) while a writer puts `fanout_events` events of 512 bytes
under the prefix, keeping up to 64 puts in flight so that writes are group-committed.
Deliveries are counted by the receivers; time runs from the first put to the last
delivery. The run FAILS if any watcher missed or duplicated an event: each must see
exactly the revisions written, in order. Also measured: the latency from a put being
issued to each watcher receiving its event (p50, p99).
Reference: appending each event to N deques in a plain Python loop.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import kvstore
from bench.common import Config, bench_value, committed_batches, fresh_dir, interleaved, log
from bench.report import Figure
from bench.stats import percentile
from kvstore import Event, EventType, KeyValue, prefix_range_end

SCENARIO = "store_fanout"
SCENARIO_LATENCY = "store_fanout_latency"
PREFIX = b"/bench/fanout/"
TARGET_WATCHERS = 1000
TARGET_DELIVERIES = 1_000_000.0

_Log = list[tuple[float, tuple[Event, ...]]]  # (time received, events) per response


@dataclass(frozen=True)
class FanoutRun:
    watchers: int
    events: int
    deliveries: int  # counted by the receivers
    seconds: float  # first put issued -> last delivery
    p50_ms: float
    p99_ms: float
    commits: int
    responses: int  # WatchResponses received, all watchers together
    problems: tuple[str, ...]

    @property
    def rate(self) -> float:
        return self.deliveries / self.seconds


@dataclass(frozen=True)
class ReferenceRun:
    deliveries: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.deliveries / self.seconds


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _compare(seen: list[int], expected: list[int]) -> str:
    """Why a watcher's revisions differ from those written ("" if they do not)."""
    if seen == expected:
        return ""
    distinct = set(seen)
    missed = len(set(expected) - distinct)
    duplicated = len(seen) - len(distinct)
    extra = len(distinct - set(expected))
    parts = [f"saw {len(seen)} events of {len(expected)}"]
    if missed:
        parts.append(f"missed {missed}")
    if duplicated:
        parts.append(f"{duplicated} duplicated")
    if extra:
        parts.append(f"{extra} never written")
    if not (missed or duplicated or extra):
        parts.append("out of order")
    return ", ".join(parts)


async def _ours(path: str, n: int, cfg: Config, value: bytes) -> FanoutRun:
    events = cfg.fanout_events
    clock = time.perf_counter
    async with kvstore.open(path) as store:
        await store.put(b"/bench/start", b"")  # starts the committer thread; outside the prefix
        watchers = [store.watch(PREFIX, prefix_range_end(PREFIX)) for _ in range(n)]
        logs: list[_Log] = [[] for _ in range(n)]
        counts = [0] * n
        reached = [0.0] * n  # when each watcher had counted every event
        waiting = n
        all_reached = asyncio.Event()

        async def consume(i: int) -> None:
            nonlocal waiting
            received = logs[i]
            count = 0
            async for resp in watchers[i]:
                count += len(resp.events)
                now = clock()
                received.append((now, resp.events))
                if count >= events and not reached[i]:
                    reached[i] = now
                    waiting -= 1
                    if not waiting:
                        all_reached.set()
            counts[i] = count

        keys = [PREFIX + b"%08d" % i for i in range(events)]
        issued = [0.0] * events
        revisions = [0] * events
        todo = iter(range(events))

        async def writer() -> None:
            put = store.put
            for i in todo:  # shared by every writer task: at most `in_flight` puts outstanding
                issued[i] = clock()
                revisions[i] = (await put(keys[i], value)).header.revision

        consumers = [asyncio.create_task(consume(i)) for i in range(n)]
        await asyncio.sleep(0)  # every consumer is now waiting on its watcher
        first_batches = committed_batches(store)
        start = clock()
        await asyncio.gather(*(writer() for _ in range(cfg.fanout_in_flight)))
        commits = committed_batches(store) - first_batches
        problems: list[str] = []
        try:
            await asyncio.wait_for(all_reached.wait(), cfg.fanout_timeout)
            end = max(reached)
        except TimeoutError:
            end = clock()
            problems.append(f"{waiting} of {n} watchers had not received every event {cfg.fanout_timeout:g} s later")
        for _ in range(3):
            await asyncio.sleep(0)  # let anything still queued (a duplicate) arrive before we stop
        for w in watchers:
            w.cancel()
        await asyncio.gather(*consumers)

    # Untimed: check every watcher saw exactly the revisions written, in order.
    expected = sorted(revisions)
    if len(set(expected)) != events:
        problems.append("the puts did not get distinct revisions")
    issue_time = dict(zip(revisions, issued, strict=True))
    latencies: list[float] = []
    bad = 0
    for i in range(n):
        seen = [e.kv.mod_revision for _, chunk in logs[i] for e in chunk]
        why = _compare(seen, expected) or (f"counted {counts[i]} events" if counts[i] != events else "")
        if why:
            bad += 1
            if bad <= 3:
                problems.append(f"watcher {i}: {why}")
            continue
        latencies.extend([t - issue_time[e.kv.mod_revision] for t, chunk in logs[i] for e in chunk])
    if bad > 3:
        problems.append(f"... {bad} watchers in all got the wrong events")
    deliveries = sum(counts)
    if deliveries != n * events:
        problems.append(f"counted {deliveries} deliveries, expected {n} x {events} = {n * events}")
    latencies.sort()
    p50 = percentile(latencies, 50) * 1000 if latencies else 0.0
    p99 = percentile(latencies, 99) * 1000 if latencies else 0.0
    responses = sum(len(received) for received in logs)
    return FanoutRun(n, events, deliveries, end - start, p50, p99, commits, responses, tuple(problems))


def _reference(n: int, events: list[Event], min_seconds: float) -> ReferenceRun:
    clock = time.perf_counter
    deliveries = 0
    elapsed = 0.0
    while elapsed < min_seconds:
        deques: list[deque[Event]] = [deque() for _ in range(n)]
        start = clock()
        for ev in events:
            for d in deques:
                d.append(ev)
        elapsed += clock() - start
        deliveries += n * len(events)
    return ReferenceRun(deliveries, elapsed)


def run(cfg: Config) -> tuple[list[Figure], list[str]]:
    value = bench_value(cfg.fanout_value_size)
    ref_events = [
        Event(EventType.PUT, KeyValue(PREFIX + b"%08d" % i, i + 2, i + 2, 1, value)) for i in range(cfg.fanout_events)
    ]

    def ours(n: int) -> FanoutRun:
        with fresh_dir(cfg, "fanout") as path:
            return asyncio.run(_ours(path, n, cfg, value))

    throughput: list[Figure] = []
    latency: list[Figure] = []
    notes = [
        f"fan-out: a writer puts {cfg.fanout_events:,} events of {cfg.fanout_value_size} bytes under one prefix, "
        f"keeping up to {cfg.fanout_in_flight} puts in flight, so writes are group-committed; "
        "each watcher is consumed by its own task; time runs from the first put to the last delivery",
        "fan-out reference: append each event to N deques in a Python loop; latency: put issued -> event received",
    ]
    for n in cfg.fanout_watchers:
        log(f"c) watch fan-out: {_plural(n, 'watcher')} x {cfg.fanout_events} events, and the deque reference ...")
        runs: list[Callable[[], FanoutRun | ReferenceRun]] = [
            functools.partial(ours, n),
            functools.partial(_reference, n, ref_events, cfg.reference_min_seconds),
        ]
        m_ours, m_ref = interleaved(cfg, runs)
        samples = [r for r in m_ours.samples if isinstance(r, FanoutRun)]
        every = [r for r in m_ours.all if isinstance(r, FanoutRun)]
        failures = [p for r in every for p in r.problems]
        label = f"watch fan-out, {_plural(n, 'watcher')}"
        throughput.append(
            Figure(
                SCENARIO,
                label,
                "deliveries/s",
                [r.rate for r in samples],
                reference=[r.rate for r in m_ref.samples],
                reference_label=f"append to {_plural(n, 'deque')}",
                target=TARGET_DELIVERIES if n == TARGET_WATCHERS else None,
                failures=failures,
                details=[
                    {
                        "watchers": r.watchers,
                        "events": r.events,
                        "deliveries": r.deliveries,
                        "seconds": r.seconds,
                        "p50_ms": r.p50_ms,
                        "p99_ms": r.p99_ms,
                        "commits": r.commits,
                        "responses": r.responses,
                        "problems": list(r.problems),
                    }
                    for r in samples
                ],
            )
        )
        for q in ("p50", "p99"):
            latency.append(
                Figure(
                    SCENARIO_LATENCY,
                    f"fan-out {_plural(n, 'watcher')}, put -> delivery {q}",
                    "ms",
                    [r.p50_ms if q == "p50" else r.p99_ms for r in samples],
                    failures=failures,
                )
            )
        counted = ", ".join(str(r.deliveries) for r in every)
        verdict = "FAILED" if failures else "OK, every watcher saw exactly the revisions written, in order"
        per_commit = sum(r.events for r in every) / max(1, sum(r.commits for r in every))
        per_response = sum(r.deliveries for r in every) / max(1, sum(r.responses for r in every))
        notes.append(
            f"{label}: deliveries counted per run (warm-up first) [{counted}] "
            f"(expected {_plural(n, 'watcher')} x {cfg.fanout_events} events = {n * cfg.fanout_events}): "
            f"{verdict}; {per_commit:.1f} puts per group commit, {per_response:.1f} events per WatchResponse"
        )
    return throughput + latency, notes
