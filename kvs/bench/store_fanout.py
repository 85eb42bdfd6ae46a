"""In-process watch fan-out: deliveries/s and latency by watchers of one prefix, and by event rate.

Every watcher is consumed by its own asyncio task (`async for resp in watcher:
count += len(resp.events)`) while a writer puts events of 512 bytes under the prefix.
Unpaced runs keep up to 64 puts in flight (so writes are group-committed) and write
`cfg.events_for(watchers)` events: fewer for many watchers, so a run delivers about the
same number. Paced runs issue puts on a fixed schedule (rate events/s, open loop: a put
is issued at its time whether or not earlier ones were acknowledged) and measure latency
from the scheduled time, so a stall is not hidden (coordinated omission).
Deliveries are counted by the receivers; time runs from the first put to the last
delivery. The run FAILS if any watcher missed or duplicated an event: each must see
exactly the revisions written, in order. Also measured: put -> delivery latency (p50,
p99, p999) and the process's CPU seconds per million deliveries.
Reference: appending each event to N deques in a plain Python loop.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import kvstore
from kvs.bench.common import Config, bench_value, committed_batches, fresh_dir, interleaved, log, planned, plural
from kvs.bench.pacing import paced_events, schedule, write_paced
from kvs.bench.report import Figure
from kvs.bench.stats import percentile
from kvstore import Event, EventType, KeyValue, prefix_range_end

SCENARIO = "store_fanout"
SCENARIO_LATENCY = "store_fanout_latency"
SCENARIO_RATE = "store_fanout_rate"
SCENARIO_CPU = "store_fanout_cpu"
PREFIX = b"/bench/fanout/"
TARGET_WATCHERS = 1000
TARGET_DELIVERIES = 1_000_000.0
TARGET_DEQUE_RATIO = 1 / 15  # within 15x of the bare deque limit

_Log = list[tuple[float, tuple[Event, ...]]]  # (time received, events) per response


@dataclass(frozen=True)
class FanoutRun:
    watchers: int
    events: int
    rate: float  # the paced writer's puts/s, 0 when unpaced
    deliveries: int  # counted by the receivers
    seconds: float  # first put issued -> last delivery
    p50_ms: float
    p99_ms: float
    p999_ms: float
    cpu: float  # CPU seconds of this process (every thread) from the first put to the last delivery
    commits: int
    responses: int  # WatchResponses received, all watchers together
    problems: tuple[str, ...]

    @property
    def delivery_rate(self) -> float:
        return self.deliveries / self.seconds

    @property
    def cpu_per_million(self) -> float:
        return self.cpu / self.deliveries * 1e6 if self.deliveries else 0.0

    def latency(self, q: str) -> float:
        return {"p50": self.p50_ms, "p99": self.p99_ms, "p999": self.p999_ms}[q]

    def to_json(self) -> dict[str, Any]:
        return {
            "watchers": self.watchers,
            "events": self.events,
            "rate": self.rate,
            "deliveries": self.deliveries,
            "seconds": self.seconds,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "p999_ms": self.p999_ms,
            "cpu_seconds": self.cpu,
            "commits": self.commits,
            "responses": self.responses,
            "problems": list(self.problems),
        }


@dataclass(frozen=True)
class ReferenceRun:
    deliveries: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.deliveries / self.seconds


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


async def _ours(path: str, n: int, cfg: Config, value: bytes, events: int, rate: float = 0.0) -> FanoutRun:
    """One run; `rate` > 0 paces the writer at that many puts/s (open loop)."""
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

        async def one_put(i: int) -> None:
            revisions[i] = (await store.put(keys[i], value)).header.revision

        consumers = [asyncio.create_task(consume(i)) for i in range(n)]
        await asyncio.sleep(0)  # every consumer is now waiting on its watcher
        first_batches = committed_batches(store)
        cpu0 = time.process_time()
        start = clock()
        if rate > 0:
            await write_paced(one_put, schedule(rate, events), start, issued, clock)
        else:
            await asyncio.gather(*(writer() for _ in range(cfg.fanout_in_flight)))
        commits = committed_batches(store) - first_batches
        problems: list[str] = []
        try:
            await asyncio.wait_for(all_reached.wait(), cfg.fanout_timeout)
            end = max(reached)
        except TimeoutError:
            end = clock()
            problems.append(f"{waiting} of {n} watchers had not received every event {cfg.fanout_timeout:g} s later")
        cpu = time.process_time() - cpu0
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
    p999 = percentile(latencies, 99.9) * 1000 if latencies else 0.0
    responses = sum(len(received) for received in logs)
    return FanoutRun(n, events, rate, deliveries, end - start, p50, p99, p999, cpu, commits, responses, tuple(problems))


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


PERCENTILES = ("p50", "p99", "p999")


def planned_runs(cfg: Config) -> int:
    if not cfg.wants("embedded"):
        return 0
    return len(cfg.fanout_watchers) * planned(2, cfg.repeat) + len(cfg.fanout_rates) * planned(1, cfg.repeat)


def _check_note(label: str, expected: int, every: list[FanoutRun], failures: list[str]) -> str:
    counted = ", ".join(str(r.deliveries) for r in every)
    verdict = "FAILED" if failures else "OK, every watcher saw exactly the revisions written, in order"
    per_commit = sum(r.events for r in every) / max(1, sum(r.commits for r in every))
    per_response = sum(r.deliveries for r in every) / max(1, sum(r.responses for r in every))
    n, events = every[0].watchers, every[0].events
    return (
        f"{label}: deliveries counted per run (warm-up first) [{counted}] "
        f"(expected {plural(n, 'watcher')} x {events} events = {expected}): "
        f"{verdict}; {per_commit:.1f} puts per group commit, {per_response:.1f} events per WatchResponse"
    )


def _unpaced(cfg: Config, n: int, value: bytes) -> tuple[list[Figure], str]:
    events = cfg.events_for(n)
    ref_events = [Event(EventType.PUT, KeyValue(PREFIX + b"%08d" % i, i + 2, i + 2, 1, value)) for i in range(events)]

    def ours() -> FanoutRun:
        with fresh_dir(cfg, "fanout") as path:
            return asyncio.run(_ours(path, n, cfg, value, events))

    log(f"fanout, embedded: {plural(n, 'watcher')} x {events} events, and the deque reference ...")
    runs: list[Callable[[], FanoutRun | ReferenceRun]] = [
        ours,
        functools.partial(_reference, n, ref_events, cfg.reference_min_seconds),
    ]
    m_ours, m_ref = interleaved(cfg, runs)
    samples = [r for r in m_ours.samples if isinstance(r, FanoutRun)]
    every = [r for r in m_ours.all if isinstance(r, FanoutRun)]
    failures = [p for r in every for p in r.problems]
    label = f"watch fan-out, {plural(n, 'watcher')}, embedded"
    throughput = Figure(
        SCENARIO,
        label,
        "deliveries/s",
        [r.delivery_rate for r in samples],
        reference=[r.rate for r in m_ref.samples if isinstance(r, ReferenceRun)],
        reference_label=f"append to {plural(n, 'deque')}",
        failures=failures,
        details=[r.to_json() for r in samples],
        plot="fanout",
        panel="in-process",
        series="kvs embedded",
        x=n,
        reference_series="append to deques",
    )
    if n == TARGET_WATCHERS:
        throughput.target = TARGET_DELIVERIES
        throughput.ratio_target, throughput.ratio_target_of = TARGET_DEQUE_RATIO, "deques"
    figures = [throughput]
    for q in PERCENTILES:
        figures.append(
            Figure(
                SCENARIO_LATENCY,
                f"fan-out {plural(n, 'watcher')}, embedded, put -> delivery {q}",
                "ms",
                [r.latency(q) for r in samples],
                failures=failures,
                lower_is_better=True,
                plot="fanout_latency",
                panel=q,
                series="kvs embedded",
                x=n,
            )
        )
    figures.append(
        Figure(
            SCENARIO_CPU,
            f"fan-out {plural(n, 'watcher')}, embedded, process CPU",
            "CPU s/M deliv.",
            [r.cpu_per_million for r in samples],
            failures=failures,
            lower_is_better=True,
            plot="fanout_cpu",
            series="kvs embedded (whole process)",
            x=n,
        )
    )
    return figures, _check_note(label, n * events, every, failures)


def _paced(cfg: Config, rate: int, value: bytes) -> tuple[list[Figure], str]:
    n = cfg.fanout_rate_watchers
    events = paced_events(cfg, rate)

    def ours() -> FanoutRun:
        with fresh_dir(cfg, "fanout-rate") as path:
            return asyncio.run(_ours(path, n, cfg, value, events, float(rate)))

    log(f"fanout, embedded: {plural(n, 'watcher')}, {events} events paced at {rate} events/s ...")
    (m_ours,) = interleaved(cfg, [ours])
    samples, every = m_ours.samples, m_ours.all
    failures = [p for r in every for p in r.problems]
    label = f"fan-out {plural(n, 'watcher')} at {rate:,} events/s, embedded"
    figures = [
        Figure(
            SCENARIO_RATE,
            f"{label}, put -> delivery {q}",
            "ms",
            [r.latency(q) for r in samples],
            failures=failures,
            details=[r.to_json() for r in samples] if q == "p50" else [],
            lower_is_better=True,
            plot="fanout_rate",
            panel=q,
            series="kvs embedded",
            x=rate,
        )
        for q in PERCENTILES
    ]
    return figures, _check_note(label, n * events, every, failures)


def run(cfg: Config) -> tuple[list[Figure], list[str]]:
    if not cfg.wants("embedded"):
        return [], []
    value = bench_value(cfg.fanout_value_size)
    figures: list[Figure] = []
    notes = [
        f"fan-out, embedded: a writer puts events of {cfg.fanout_value_size} bytes under one prefix; unpaced: "
        f"{cfg.fanout_events:,} events (fewer beyond {cfg.fanout_deliveries // cfg.fanout_events:,} watchers, so a "
        f"run delivers about {cfg.fanout_deliveries:,}), up to {cfg.fanout_in_flight} puts in flight, so writes are "
        "group-committed; paced: open loop at a fixed rate, latency from the scheduled time; each watcher is "
        "consumed by its own task; time runs from the first put to the last delivery",
        "fan-out reference: append each event to N deques in a Python loop; latency: put issued -> event received; "
        "process CPU: this process's CPU seconds (writer, watch hub, consumers, committer thread) per million "
        "deliveries",
    ]
    for n in cfg.fanout_watchers:
        figs, note = _unpaced(cfg, n, value)
        figures.extend(figs)
        notes.append(note)
    for rate in cfg.fanout_rates:
        figs, note = _paced(cfg, rate, value)
        figures.extend(figs)
        notes.append(note)
    return figures, notes
