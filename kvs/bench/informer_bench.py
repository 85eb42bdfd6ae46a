"""Informers, embedded and over gRPC: initial list+sync, cache memory, and events through many informers.

- Sync: a store holding N pods (about 1 KiB each, `informer_objects`) and one
  SharedIndexInformer of them; time from `start()` to `has_synced()`, and the traced
  memory the cache holds per object (tracemalloc, in a separate run since tracing slows
  it). Reference: one range read of the same keys, each value decoded with json.loads
  into a dict kept in a list (the least any cache of these objects costs).
- Events: 1, 10 and 100 informers (`informer_counts`) of one resource in one process,
  each with its own watch and a counting handler, while a writer creates
  `resource_events` ConfigMaps (`fanout_in_flight` in flight) in a fresh namespace;
  handler calls/s from the first create to the last handler call, and p99 create ->
  handler latency. Every handler must see every object exactly once. Reference: as many
  raw watches of the same keys.

Embedded: the informers list and watch the in-process `Registry`. gRPC: a `kvs serve`
subprocess; every informer of the process lists and watches through ONE shared client
(`kvstore.connect(endpoint).resources`, one HTTP/2 connection, as client-go's shared
informer factory shares one clientset), and the raw etcd watches of the reference ride
that same kind of single shared client. The writer has a client of its own, and the
server's CPU seconds are read around the timed part of every events run.

Every figure is measured with the registry's watch cache on (the default) and off:
embedded, `Registry(watch_cache=True|False)` over a fresh store per run; over gRPC, two
`kvs serve` subprocesses side by side, the second with `--watch-cache=false`. The runs take
turns (cache on, cache off, reference) and both figures are given against the one reference,
measured with the cache off (embedded: the writes through a registry without a cache; gRPC:
on the `--watch-cache=false` server). Targets, cache on: events through 100 informers
embedded >= 0.5x the raw watches, with a p99 create -> handler <= 50 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import itertools
import json
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import kvstore
from apimachinery.client import ResourceClient
from apimachinery.schema import GroupVersionResource
from informer import ResourceEventHandlerFuncs, ResourceListerWatcher, SharedIndexInformer
from kvs.bench.common import (
    CACHE_RUNS,
    WATCH_CACHE,
    WATCH_CACHE_OFF,
    Config,
    Measured,
    cache_variant,
    config_map,
    fresh_dir,
    interleaved,
    log,
    planned,
    plural,
    serve_args,
)
from kvs.bench.report import Figure
from kvs.bench.resource_list import pod
from kvs.bench.servers import ServerProcess, kvs_server
from kvs.bench.stats import percentile
from kvstore import PutRequest
from kvstore.api import KV, Watch
from kvstore.registry import Registry, codec, keys

T = TypeVar("T")

SCENARIO = "informer"
PODS = GroupVersionResource("", "v1", "pods")
_FILL_BATCH = 100  # puts per txn while filling (etcd allows 128)
CMS = GroupVersionResource("", "v1", "configmaps")
NAMESPACES = GroupVersionResource("", "v1", "namespaces")
WHERE = {"embedded": "embedded", "grpc": "gRPC"}  # how a mode is named in labels
SERIES = {"embedded": "kvs embedded", "grpc": "kvs gRPC"}
SYNC_REFERENCE = "range + json.loads"
EVENTS_REFERENCE = {"embedded": "raw store watches", "grpc": "raw etcd watches"}
BIG_SYNC = 100_000  # sync sizes from here on are measured once after the warm-up
CLIENT_TIMEOUT = 120.0  # seconds a unary call of a benchmark client may take
_names = itertools.count()
TARGET_INFORMERS = 100  # events through this many informers, embedded, watch cache on:
TARGET_RAW_RATIO = 0.5  # ... at least half the raw watches' handler calls/s
TARGET_P99_MS = 50.0  # ... and a p99 create -> handler of at most this


def _sync_repeat(cfg: Config, mode: str, n: int) -> int:
    """Repetitions of a sync figure: one for the biggest stores, else the mode's usual count."""
    if n >= BIG_SYNC:
        return 1
    return cfg.net_repeat if mode == "grpc" else cfg.repeat


def _events_repeat(cfg: Config, mode: str) -> int:
    """Repetitions of an events figure: gRPC ones count as net figures (`net_repeat`)."""
    return cfg.net_repeat if mode == "grpc" else cfg.repeat


def _modes(cfg: Config) -> list[str]:
    """The modes this run measures, embedded first."""
    return [mode for mode in WHERE if cfg.wants(mode)]


def planned_runs(cfg: Config) -> int:
    """How many runs `run(cfg)` makes through `interleaved` (ours and the reference, warm-ups included)."""
    modes = _modes(cfg)
    syncs = sum(planned(len(CACHE_RUNS), _sync_repeat(cfg, mode, n)) for n in cfg.informer_objects for mode in modes)
    events = sum(planned(len(CACHE_RUNS), _events_repeat(cfg, mode)) for _ in cfg.informer_counts for mode in modes)
    return syncs + events


# ------------------------------------------------------------ sync


@dataclass(frozen=True)
class SyncRun:
    objects: int
    seconds: float
    bytes_per_object: float


async def _fill(kv: KV, n: int) -> None:
    """n pods put straight to their keys in the registry's own layout (untimed setup)."""
    todo = iter(range(0, n, _FILL_BATCH))

    def put(i: int) -> PutRequest:
        obj = {"apiVersion": "v1", "kind": "Pod", **pod(i)}
        obj["metadata"]["namespace"] = "default"
        return PutRequest(keys.object_key(PODS, "default", obj["metadata"]["name"]), codec.encode(obj))

    async def writer() -> None:
        for first in todo:  # a txn of up to _FILL_BATCH puts at a time
            await kv.txn(success=[put(i) for i in range(first, min(n, first + _FILL_BATCH))])

    await asyncio.gather(*(writer() for _ in range(16)))


async def _sync_once(api: ResourceClient, kv: KV, reference: bool, traced: bool) -> tuple[int, float, int]:
    """(objects held, seconds to hold them, traced bytes held afterwards if `traced`)."""
    gc.collect()
    if traced:
        tracemalloc.start()
    start = time.perf_counter()
    holder: Any
    if reference:
        prefix = keys.collection_prefix(PODS, "default")
        resp = await kv.range(prefix, kvstore.prefix_range_end(prefix))
        holder = [json.loads(item.value) for item in resp.kvs]
        del resp  # keep only the decoded objects, as a cache would
        count = len(holder)
    else:
        holder = SharedIndexInformer(ResourceListerWatcher(api, PODS, "default"))
        holder.start()
        while not holder.has_synced():
            await asyncio.sleep(0.001)
        count = len(holder.indexer.list_keys())
    seconds = time.perf_counter() - start
    used = 0
    if traced:
        gc.collect()
        used = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
    if not reference:
        await holder.stop()
    return count, seconds, used


async def _sync_measure(api: ResourceClient, kv: KV, reference: bool) -> SyncRun:
    """A timed sync, then a traced one for the memory."""
    count, seconds, _ = await _sync_once(api, kv, reference, traced=False)
    _, _, used = await _sync_once(api, kv, reference, traced=True)
    return SyncRun(count, seconds, used / max(1, count))


def _embedded_sync(cfg: Config, n: int, reference: bool, watch_cache: bool) -> Callable[[], SyncRun]:
    """A run in a fresh store filled with n pods."""

    async def go() -> SyncRun:
        with fresh_dir(cfg, "inf-sync") as path:
            async with kvstore.open(path) as store:
                reg = Registry(store, watch_cache=watch_cache)
                await reg.bootstrap()
                await _fill(store, n)
                return await _sync_measure(reg, store, reference)

    return lambda: asyncio.run(go())


def _remote_sync(server: ServerProcess, reference: bool) -> Callable[[], SyncRun]:
    """A run with a new client of a server already holding the pods (connected before the clock starts)."""

    async def go() -> SyncRun:
        async with kvstore.connect(server.endpoint, timeout=CLIENT_TIMEOUT) as client:
            await client.range(b"/bench/ready")
            return await _sync_measure(client.resources, client, reference)

    return lambda: asyncio.run(go())


async def _remote_fill(endpoint: str, n: int) -> None:
    """Put the n pods through a client of the server (etcd's API, untimed)."""
    async with kvstore.connect(endpoint, timeout=CLIENT_TIMEOUT) as client:
        await _fill(client, n)


def _sync_figures(mode: str, n: int, cache: bool, ours: Measured[SyncRun], ref: Measured[SyncRun]) -> list[Figure]:
    where = WHERE[mode]
    variant = cache_variant(where, cache)
    failures = [f"informer synced {r.objects} of {n} pods" for r in ours.all if r.objects != n]
    failures += [f"the reference read {r.objects} of {n} pods" for r in ref.all if r.objects != n]
    return [
        Figure(
            SCENARIO,
            f"informer list+sync, {n:,} pods, {variant}",
            "s",
            [r.seconds for r in ours.samples],
            reference=[r.seconds for r in ref.samples],
            reference_label=f"range + json.loads of every pod ({where})",
            failures=failures,
            details=[{"mode": mode, "watch_cache": cache, **vars(r)} for r in ours.samples],
            lower_is_better=True,
            plot="informer_sync",
            series=cache_variant(SERIES[mode], cache),
            x=n,
            reference_series=f"{SYNC_REFERENCE} ({where})",
        ),
        Figure(
            SCENARIO,
            f"informer cache memory per pod, {n:,} pods, {variant}",
            "bytes",
            [r.bytes_per_object for r in ours.samples],
            reference=[r.bytes_per_object for r in ref.samples],
            reference_label=f"a list of decoded dicts ({where})",
            failures=list(failures),
            lower_is_better=True,
        ),
    ]


def _both(
    figures: Callable[[bool, Measured[T], Measured[T]], list[Figure]], measured: list[Measured[T]]
) -> list[Figure]:
    """The figures of the cache-on and the cache-off runs, each against the one reference (the last run)."""
    on, off, ref = measured
    return [*figures(True, on, ref), *figures(False, off, ref)]


def _sync_mode(cfg: Config, mode: str, n: int) -> list[Figure]:
    repeat = _sync_repeat(cfg, mode, n)
    if mode == "embedded":
        log(f"informer: sync, embedded: {n:,} pods, watch cache on and off (and a decode-everything reference) ...")
        measured = interleaved(cfg, [_embedded_sync(cfg, n, ref, cache) for ref, cache in CACHE_RUNS], repeat=repeat)
        return _both(functools.partial(_sync_figures, mode, n), measured)
    log(f"informer: sync over gRPC: starting kvs serve and kvs serve --watch-cache=false, putting {n:,} pods ...")
    with contextlib.ExitStack() as stack:
        servers = {cache: stack.enter_context(kvs_server(cfg, serve_args(cache))) for cache in WATCH_CACHE}
        for server in servers.values():
            asyncio.run(_remote_fill(server.endpoint, n))
        log(f"informer: sync over gRPC: {n:,} pods, watch cache on and off (and a decode-everything reference) ...")
        measured = interleaved(cfg, [_remote_sync(servers[cache], ref) for ref, cache in CACHE_RUNS], repeat=repeat)
    return _both(functools.partial(_sync_figures, mode, n), measured)


# ------------------------------------------------------------ events


@dataclass(frozen=True)
class EventsRun:
    informers: int
    deliveries: int  # handler (or raw receiver) calls, duplicates included
    seconds: float
    p99_ms: float
    problems: tuple[str, ...]
    server_cpu_s: float = 0.0  # gRPC: the server's CPU from the first create to the last handler call

    @property
    def rate(self) -> float:
        return self.deliveries / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_per_million(self) -> float:
        return self.server_cpu_s / self.deliveries * 1e6 if self.deliveries else 0.0


class _Tally:
    """What each of n receivers got: every call counted, the time of each object's last arrival."""

    def __init__(self, n: int, events: int) -> None:
        self.events = events
        self.seen: list[dict[str, float]] = [{} for _ in range(n)]
        self.calls = [0] * n
        self.unexpected: list[str] = []
        self.done = asyncio.Event()
        self._complete = 0
        self._n = n

    def receiver(self, i: int) -> Callable[[str], None]:
        seen, clock = self.seen[i], time.monotonic

        def receive(name: str) -> None:
            self.calls[i] += 1
            fresh = name not in seen
            seen[name] = clock()
            if fresh and len(seen) == self.events:  # duplicates are counted, and reported afterwards
                self._complete += 1
                if self._complete == self._n:
                    self.done.set()

        return receive

    def handler(self, i: int) -> ResourceEventHandlerFuncs:
        """Adds counted; an update or a delete in a namespace only ever created into is a fault."""
        receive = self.receiver(i)

        def on_add(obj: Any, initial: bool) -> None:
            receive(obj["metadata"]["name"])

        def on_update(old: Any, new: Any) -> None:
            self.unexpected.append(f"informer {i}: an update of {new['metadata']['name']}")

        def on_delete(obj: Any) -> None:
            self.unexpected.append(f"informer {i}: a delete")

        return ResourceEventHandlerFuncs(add_func=on_add, update_func=on_update, delete_func=on_delete)

    def problems(self) -> list[str]:
        """The faults seen: unexpected updates/deletes, then receivers that missed or duplicated an object."""
        out = self.unexpected[:3]
        bad = [
            i
            for i, (calls, seen) in enumerate(zip(self.calls, self.seen, strict=True))
            if calls != self.events or len(seen) != self.events
        ]
        for i in bad[:3]:
            out.append(f"receiver {i}: {self.calls[i]} calls for {len(self.seen[i])} distinct of {self.events} objects")
        if len(bad) > 3:
            out.append(f"... {len(bad)} of {self._n} receivers missed or duplicated objects")
        return out


async def _new_namespace(api: ResourceClient) -> tuple[str, int]:
    """A fresh namespace for one run, and the revision right after creating it."""
    name = f"inf-{next(_names)}-{time.monotonic_ns() % 10**9}"
    created = await api.create(NAMESPACES, {"metadata": {"name": name}})
    return name, int(created["metadata"]["resourceVersion"])


async def _until(check: Callable[[], bool], timeout: float) -> bool:
    """Poll `check` every millisecond; False if it is still false after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.001)
    return True


async def _consume_raw(w: Watch, receive: Callable[[str], None]) -> None:
    """Hand the name of every event's key to `receive` (the raw watch's "handler")."""
    async for resp in w:
        for e in resp.events:
            receive(e.kv.key.rsplit(b"/", 1)[1].decode())


async def _events_once(
    cfg: Config,
    n: int,
    reference: bool,
    api: ResourceClient,
    kv: KV,
    writer_api: ResourceClient,
    timeout: float,
    cpu: Callable[[], float] | None = None,
) -> EventsRun:
    """n informers (or n raw watches) over `api`/`kv`, objects created through `writer_api`."""
    events = cfg.resource_events
    ns, rev = await _new_namespace(writer_api)
    tally = _Tally(n, events)
    informers: list[SharedIndexInformer] = []
    watches: list[Watch] = []
    tasks: list[asyncio.Task[None]] = []
    problems: list[str] = []
    if reference:
        prefix = keys.collection_prefix(CMS, ns)
        for i in range(n):
            w = kv.watch(prefix, kvstore.prefix_range_end(prefix), start_revision=rev + 1)
            watches.append(w)
            tasks.append(asyncio.create_task(_consume_raw(w, tally.receiver(i))))
        for w in watches:
            await w.wait_created()
    else:
        for i in range(n):
            inf = SharedIndexInformer(ResourceListerWatcher(api, CMS, ns))
            inf.add_event_handler(tally.handler(i))
            inf.start()
            informers.append(inf)
        if not await _until(lambda: all(inf.has_synced() for inf in informers), timeout):
            problems.append(f"not every informer synced within {timeout:g} s")
    template = config_map("x", cfg.object_size, ns)
    todo = iter(range(events))
    issued: dict[str, float] = {}
    clock = time.monotonic

    async def writer() -> None:
        for k in todo:
            name = f"obj-{k:06d}"
            issued[name] = clock()
            try:
                await writer_api.create(CMS, {**template, "metadata": {"name": name, "namespace": ns}}, ns)
            except Exception as exc:  # reported as the run's failure
                problems.append(f"a create failed: {exc!r}")
                return

    cpu_start = cpu() if cpu else 0.0
    start = clock()
    if not problems:
        await asyncio.gather(*(writer() for _ in range(cfg.fanout_in_flight)))
        try:
            await asyncio.wait_for(tally.done.wait(), timeout)
        except TimeoutError:
            problems.append(f"not every receiver saw all {events} objects within {timeout:g} s")
    cpu_used = cpu() - cpu_start if cpu else 0.0
    end = max((max(s.values()) for s in tally.seen if s), default=clock())
    for inf in informers:
        await inf.stop()
    for w in watches:
        w.cancel()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    problems.extend(tally.problems())
    latencies = sorted(t - issued[name] for s in tally.seen for name, t in s.items() if name in issued)
    p99 = percentile(latencies, 99) * 1000 if latencies else 0.0
    return EventsRun(n, sum(tally.calls), end - start, p99, tuple(problems), cpu_used)


def _embedded_events(cfg: Config, n: int, reference: bool, watch_cache: bool) -> Callable[[], EventsRun]:
    """A run in a fresh store: the informers, the raw watches and the writer all on it."""

    async def go() -> EventsRun:
        with fresh_dir(cfg, "inf-events") as path:
            async with kvstore.open(path) as store:
                reg = Registry(store, watch_cache=watch_cache)
                await reg.bootstrap()
                return await _events_once(cfg, n, reference, reg, store, reg, cfg.fanout_timeout)

    return lambda: asyncio.run(go())


def _remote_events(cfg: Config, server: ServerProcess, n: int, reference: bool) -> Callable[[], EventsRun]:
    """A run on the shared server: one client for every informer (or raw watch), one for the writer."""

    async def go() -> EventsRun:
        async with (
            kvstore.connect(server.endpoint, timeout=CLIENT_TIMEOUT) as shared,
            kvstore.connect(server.endpoint, timeout=CLIENT_TIMEOUT) as writer,
        ):
            return await _events_once(
                cfg, n, reference, shared.resources, shared, writer.resources, cfg.net_timeout, server.cpu_seconds
            )

    return lambda: asyncio.run(go())


def _events_figures(
    mode: str, n: int, cache: bool, ours: Measured[EventsRun], ref: Measured[EventsRun]
) -> list[Figure]:
    where = WHERE[mode]
    variant = cache_variant(where, cache)
    informers = plural(n, "informer")
    ref_label = f"{EVENTS_REFERENCE[mode]} of the same keys ({where})"
    ref_series = f"{EVENTS_REFERENCE[mode]} ({where})"
    failures = [p for r in ours.all + ref.all for p in r.problems]
    rate = Figure(
        SCENARIO,
        f"events through {informers}, {variant}",
        "handler calls/s",
        [r.rate for r in ours.samples],
        reference=[r.rate for r in ref.samples],
        reference_label=ref_label,
        failures=failures,
        details=[{"mode": mode, "watch_cache": cache, **vars(r)} for r in ours.samples],
        plot="informer_events",
        series=cache_variant(SERIES[mode], cache),
        x=n,
        reference_series=ref_series,
    )
    p99 = Figure(
        SCENARIO,
        f"events through {informers}, {variant}: p99 create -> handler",
        "ms",
        [r.p99_ms for r in ours.samples],
        reference=[r.p99_ms for r in ref.samples],
        reference_label=ref_label,
        failures=list(failures),
        lower_is_better=True,
    )
    if mode == "embedded" and cache and n == TARGET_INFORMERS:
        rate.ratio_target, rate.ratio_target_of = TARGET_RAW_RATIO, "raw watches"
        p99.target = TARGET_P99_MS
    figures = [rate, p99]
    if mode == "grpc":
        figures.append(
            Figure(
                SCENARIO,
                f"events through {informers}, {variant}: kvs serve CPU",
                "CPU s / 1M handler calls",
                [r.cpu_per_million for r in ours.samples],
                reference=[r.cpu_per_million for r in ref.samples],
                reference_label=f"{ref_label}, per 1M receipts",
                failures=list(failures),
                lower_is_better=True,
            )
        )
    return figures


def _events_grpc(cfg: Config) -> list[Figure]:
    figures: list[Figure] = []
    log("informer: events over gRPC: starting kvs serve and kvs serve --watch-cache=false ...")
    with contextlib.ExitStack() as stack:
        servers = {cache: stack.enter_context(kvs_server(cfg, serve_args(cache))) for cache in WATCH_CACHE}
        for n in cfg.informer_counts:
            log(
                f"informer: events over gRPC: {n} informer(s) x {cfg.resource_events} objects, watch cache on and "
                "off, raw etcd watches ..."
            )
            measured = interleaved(
                cfg,
                [_remote_events(cfg, servers[cache], n, ref) for ref, cache in CACHE_RUNS],
                repeat=_events_repeat(cfg, "grpc"),
            )
            figures.extend(_both(functools.partial(_events_figures, "grpc", n), measured))
    return figures


# ------------------------------------------------------------ the scenario


def run(cfg: Config) -> tuple[list[Figure], list[str]]:
    figures: list[Figure] = []
    modes = _modes(cfg)
    for n in cfg.informer_objects:
        for mode in modes:
            figures.extend(_sync_mode(cfg, mode, n))
    if "embedded" in modes:
        for n in cfg.informer_counts:
            log(
                f"informer: events, embedded: {n} informer(s) x {cfg.resource_events} objects, watch cache on and "
                "off, raw store watches ..."
            )
            measured = interleaved(
                cfg,
                [_embedded_events(cfg, n, ref, cache) for ref, cache in CACHE_RUNS],
                repeat=_events_repeat(cfg, "embedded"),
            )
            figures.extend(_both(functools.partial(_events_figures, "embedded", n), measured))
    if "grpc" in modes:
        figures.extend(_events_grpc(cfg))
    notes = [
        "informer sync: start() to has_synced() (a streaming list); memory = tracemalloc's traced bytes held after "
        "the sync, per object (lower is better for both). reference: one range of the same keys, every value "
        "json.loads'ed into a kept list. gRPC: a kvs serve subprocess filled by etcd puts; a new client per run, "
        "connected before the clock starts; memory is the client's",
        f"informer events: {cfg.resource_events} creates of {cfg.object_size}-byte ConfigMaps in a fresh namespace, "
        f"{cfg.fanout_in_flight} in flight; time from the first create to the last handler call; every handler must "
        "see every object once. reference: as many raw watches of the same keys. gRPC: every informer of the "
        "process shares one client (one connection; each informer's watch is its own stream on it, as with "
        "client-go's shared informer factory), the raw etcd watches share one client the same way (etcd's one "
        "Watch stream); the writer has its own client. kvs serve CPU = its user+system seconds from the first create "
        "to the last handler call (the creates included) per million handler calls, read from /proc in clock "
        "ticks (coarse for short runs)",
        f"informer, watch cache: figures without a suffix have the registry's watch cache on, '{WATCH_CACHE_OFF}' "
        "ones ran with it off (embedded: Registry(watch_cache=False); gRPC: a second kvs serve, --watch-cache=false, "
        "beside the first), the runs taking turns, both against the same reference, measured with the cache off "
        "(gRPC: on the --watch-cache=false server)",
    ]
    return figures, notes
