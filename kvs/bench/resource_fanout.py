"""Watch fan-out of object events to 1/10/100/1000 watchers, embedded and over gRPC.

A writer creates `resource_events` ConfigMaps of 2 KiB in a fresh namespace with up to
`fanout_in_flight` creates in flight, while N watchers of that namespace receive them;
time runs from the first create to the last delivery. Every watcher's events are
checked (each resourceVersion once, in order); a run where any watcher missed or
duplicated one is FAILED.

- Embedded: N `Registry.watch` iterators in the writer's process, each consumed by its
  own task (each event decoded into a fresh dict per watcher). Reference: N raw store
  watches of the same keys, consumed the same way (what the resource layer adds).
- gRPC: a `kvs serve` subprocess; the receivers are kvs/bench/net_worker.py's lean HTTP/2
  receivers in resource mode (each stream its own connection, every response parsed by
  protobuf, revisions read from the objects). Reference: the same receivers on etcd
  Watch streams of the same keys, in the same run.

Every figure is measured with the registry's watch cache on (the default) and off: embedded,
`Registry(watch_cache=True|False)` over a fresh store per run; over gRPC, two `kvs serve`
subprocesses side by side, the second with `--watch-cache=false`. The runs take turns (cache
on, cache off, reference) and both figures are given against the one reference, measured
with the cache off (embedded: raw watches, the writes through a registry without a cache;
gRPC: etcd Watch streams on the `--watch-cache=false` server), so a cache's own work never
lands in the reference. Target: 1000 watchers embedded, cache on, >= 0.5x the raw watches.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import kvstore
from apimachinery.client import ResourceClient
from apimachinery.schema import GroupVersionResource
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
from kvs.bench.net_fanout import Worker, WorkerError, await_done, check_streams, collect_results, start_receivers
from kvs.bench.net_worker import ETCD_WATCH, RESOURCE_WATCH, StreamResult
from kvs.bench.report import Figure
from kvs.bench.servers import ServerProcess, kvs_server
from kvs.bench.stats import percentile
from kvstore.pb import resources_pb2, rpc_pb2
from kvstore.registry import Registry, keys

SCENARIO = "resource_fanout"
CMS = GroupVersionResource("", "v1", "configmaps")
NAMESPACES = GroupVersionResource("", "v1", "namespaces")
TARGET_WATCHERS = 1000  # object fan-out, embedded, watch cache on: at least half the raw watches' deliveries/s
TARGET_RAW_RATIO = 0.5
_names = itertools.count()


@dataclass(frozen=True)
class FanoutRun:
    watchers: int
    deliveries: int
    seconds: float
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    problems: tuple[str, ...] = ()

    @property
    def rate(self) -> float:
        return self.deliveries / self.seconds if self.seconds > 0 else 0.0


async def _new_namespace(api: ResourceClient) -> tuple[str, int]:
    """A fresh namespace for one run, and the revision right after creating it."""
    name = f"fanout-{next(_names)}-{time.monotonic_ns() % 10**9}"
    created = await api.create(NAMESPACES, {"metadata": {"name": name}})
    return name, int(created["metadata"]["resourceVersion"])


async def _write(api: ResourceClient, ns: str, cfg: Config, issued: dict[int, float]) -> list[str]:
    """Create the run's objects; note when the create of each revision was issued."""
    template = config_map("x", cfg.object_size, ns)
    todo = iter(range(cfg.resource_events))
    problems: list[str] = []
    clock = time.monotonic

    async def writer() -> None:
        for i in todo:
            obj = {**template, "metadata": {"name": f"obj-{i:06d}", "namespace": ns}}
            t0 = clock()
            try:
                done = await api.create(CMS, obj, ns)
            except Exception as exc:  # reported as the run's failure
                problems.append(f"a create failed: {exc!r}")
                return
            issued[int(done["metadata"]["resourceVersion"])] = t0

    await asyncio.gather(*(writer() for _ in range(cfg.fanout_in_flight)))
    return problems


# ------------------------------------------------------------ embedded


async def _embedded_run(store: kvstore.Store, reg: Registry, n: int, cfg: Config, raw: bool) -> FanoutRun:
    ns, rev = await _new_namespace(reg)
    events = cfg.resource_events
    prefix = keys.collection_prefix(CMS, ns)
    clock = time.monotonic
    arrivals: list[list[tuple[int, float]]] = [[] for _ in range(n)]
    done_at = [0.0] * n
    streams: list[Any] = []
    for _ in range(n):
        if raw:
            streams.append(store.watch(prefix, kvstore.prefix_range_end(prefix), start_revision=rev + 1))
        else:
            streams.append(await reg.watch(CMS, ns, resource_version=str(rev)))

    async def consume(i: int) -> None:
        got = arrivals[i]
        if raw:
            async for resp in streams[i]:
                now = clock()
                got.extend((e.kv.mod_revision, now) for e in resp.events)
                if len(got) >= events:
                    break
        else:
            async for event in streams[i]:
                got.append((int(event["object"]["metadata"]["resourceVersion"]), clock()))
                if len(got) >= events:
                    break
        done_at[i] = clock()

    consumers = [asyncio.create_task(consume(i)) for i in range(n)]
    issued: dict[int, float] = {}
    start = clock()
    problems = await _write(reg, ns, cfg, issued)
    try:
        await asyncio.wait_for(asyncio.gather(*consumers), cfg.fanout_timeout)
    except TimeoutError:
        problems.append(f"not every watcher got every event within {cfg.fanout_timeout:g} s")
    for s in streams:
        s.cancel() if raw else s.stop()
    wanted = list(range(rev + 1, rev + 1 + events))
    latencies: list[float] = []
    for i, got in enumerate(arrivals):
        if [r for r, _ in got] != wanted:
            if len(problems) < 3:
                problems.append(f"watcher {i} received {len(got)} events, not revisions {wanted[0]}..{wanted[-1]}")
            continue
        latencies.extend(t - issued.get(r, t) for r, t in got)
    latencies.sort()
    end = max(done_at) if all(done_at) else clock()
    return FanoutRun(
        n,
        sum(len(a) for a in arrivals),
        end - start,
        percentile(latencies, 50) * 1000 if latencies else 0.0,
        percentile(latencies, 99) * 1000 if latencies else 0.0,
        tuple(problems),
    )


def _embedded(cfg: Config, n: int, raw: bool, watch_cache: bool) -> FanoutRun:
    async def go() -> FanoutRun:
        with fresh_dir(cfg, "res-fanout") as path:
            async with kvstore.open(path) as store:
                reg = Registry(store, watch_cache=watch_cache)
                await reg.bootstrap()
                return await _embedded_run(store, reg, n, cfg, raw)

    return asyncio.run(go())


# ------------------------------------------------------------ over gRPC


def _requests(ns: str, rev: int, raw: bool) -> tuple[bytes, str]:
    if raw:
        prefix = keys.collection_prefix(CMS, ns)
        create = rpc_pb2.WatchCreateRequest(
            key=prefix, range_end=kvstore.prefix_range_end(prefix), start_revision=rev + 1
        )
        return rpc_pb2.WatchRequest(create_request=create).SerializeToString(), ETCD_WATCH
    ref = resources_pb2.ResourceRef(version="v1", resource="configmaps", namespace=ns)
    return resources_pb2.WatchRequest(ref=ref, resource_version=str(rev)).SerializeToString(), RESOURCE_WATCH


async def _remote_run(server: ServerProcess, n: int, cfg: Config, raw: bool) -> FanoutRun:
    problems: list[str] = []
    streams: list[StreamResult] = []
    workers: list[Worker] = []
    issued: dict[int, float] = {}
    clock = time.monotonic
    start = clock()
    first = 0
    async with kvstore.connect(server.endpoint, timeout=120) as client:
        try:
            ns, rev = await _new_namespace(client.resources)
            first = rev + 1
            request, path = _requests(ns, rev, raw)
            host, port = server.endpoint.rsplit(":", 1)
            workers, problems = start_receivers(
                cfg, n, host, int(port), first, True, events=cfg.resource_events, request=request, path=path
            )
            if problems:
                return FanoutRun(n, 0, 0.0, problems=tuple(problems))
            start = clock()
            problems.extend(await _write(client.resources, ns, cfg, issued))
            if not problems:
                problems.extend(await asyncio.to_thread(await_done, workers, cfg.net_timeout))
            streams, _, more = await asyncio.to_thread(collect_results, workers)
            problems.extend(more)
        except WorkerError as exc:
            problems.append(str(exc))
        finally:
            for w in workers:
                w.close()
    by_revision = array("d", bytes(8 * cfg.resource_events))
    for r, t in issued.items():
        if first <= r < first + cfg.resource_events:
            by_revision[r - first] = t
    deliveries, p50, p99, _ = check_streams(n, cfg.resource_events, streams, by_revision, problems)
    done = [s.done_at for s in streams if s.done_at]
    end = max(done) if done and len(done) == len(streams) else clock()
    return FanoutRun(n, deliveries, end - start, p50, p99, tuple(problems))


def _remote_runner(server: ServerProcess, n: int, cfg: Config, raw: bool) -> Callable[[], FanoutRun]:
    def one() -> FanoutRun:
        return asyncio.run(_remote_run(server, n, cfg, raw))

    return one


# ------------------------------------------------------------ the scenario


def _figure(
    where: str,
    n: int,
    cache: bool,
    ours: list[FanoutRun],
    ref: list[FanoutRun],
    ref_label: str,
    all_runs: list[FanoutRun],
) -> Figure:
    fig = Figure(
        SCENARIO,
        f"object fan-out, {plural(n, 'watcher')}, {cache_variant(where, cache)}",
        "deliveries/s",
        [r.rate for r in ours],
        reference=[r.rate for r in ref],
        reference_label=ref_label,
        failures=[p for r in all_runs for p in r.problems],
        details=[vars(r) | {"watch_cache": cache} for r in ours],
        plot="resource_fanout",
        series=cache_variant(f"kvs {where}, objects", cache),
        x=n,
        reference_series=f"{ref_label} ({where})" if where == "embedded" else "etcd Watch on kvs serve",
    )
    if where == "embedded" and cache and n == TARGET_WATCHERS:
        fig.ratio_target, fig.ratio_target_of = TARGET_RAW_RATIO, "raw watches"
    return fig


def _figures(
    where: str, n: int, on: Measured[FanoutRun], off: Measured[FanoutRun], ref: Measured[FanoutRun], ref_label: str
) -> tuple[list[Figure], list[str]]:
    """The cache-on and cache-off figures against the one reference, and their latency notes."""
    figures, notes = [], []
    for cache, ours in ((True, on), (False, off)):
        figures.append(_figure(where, n, cache, ours.samples, ref.samples, ref_label, ours.all + ref.all))
        mid = ours.samples[len(ours.samples) // 2]
        notes.append(
            f"object fan-out, {plural(n, 'watcher')}, {cache_variant(where, cache)}: p50/p99 create->delivery "
            f"{mid.p50_ms:.0f}/{mid.p99_ms:.0f} ms"
        )
    return figures, notes


def planned_runs(cfg: Config) -> int:
    embedded = len(cfg.resource_watchers) * planned(len(CACHE_RUNS), cfg.repeat) if cfg.wants("embedded") else 0
    grpc = len(cfg.resource_watchers) * planned(len(CACHE_RUNS), cfg.net_repeat) if cfg.wants("grpc") else 0
    return embedded + grpc


def run(cfg: Config) -> tuple[list[Figure], list[str]]:
    figures: list[Figure] = []
    notes = [
        f"object fan-out: {cfg.resource_events} creates of {cfg.object_size}-byte ConfigMaps, up to "
        f"{cfg.fanout_in_flight} in flight, watched by N watchers of the namespace; time from the first create "
        "to the last delivery; every watcher's resourceVersions checked. embedded reference: raw store watches "
        "of the same keys (the creates through a registry without a watch cache); gRPC reference: etcd Watch "
        "streams of the same keys on the kvs serve --watch-cache=false, same receivers. figures without a suffix "
        f"have the watch cache on, '{WATCH_CACHE_OFF}' ones ran with it off (gRPC: a second kvs serve, "
        "--watch-cache=false, beside the first), the runs taking turns, both against the same reference"
    ]
    for n in cfg.resource_watchers if cfg.wants("embedded") else ():
        log(
            f"resources: object fan-out embedded: {n} watchers x {cfg.resource_events} objects, "
            "watch cache on and off, raw watches ..."
        )
        on, off, ref = interleaved(cfg, [functools.partial(_embedded, cfg, n, raw, cache) for raw, cache in CACHE_RUNS])
        more_figures, more_notes = _figures("embedded", n, on, off, ref, "raw store watches")
        figures.extend(more_figures)
        notes.extend(more_notes)
    if not cfg.wants("grpc"):
        return figures, notes
    with contextlib.ExitStack() as stack:
        log("resources: object fan-out over gRPC: starting kvs serve, and kvs serve --watch-cache=false ...")
        servers = {cache: stack.enter_context(kvs_server(cfg, serve_args(cache))) for cache in WATCH_CACHE}
        for n in cfg.resource_watchers:
            log(
                f"resources: object fan-out over gRPC: {n} streams x {cfg.resource_events} objects, "
                "watch cache on and off, etcd Watch ..."
            )
            on, off, ref = interleaved(
                cfg,
                [_remote_runner(servers[cache], n, cfg, raw) for raw, cache in CACHE_RUNS],
                repeat=cfg.net_repeat,
            )
            more_figures, more_notes = _figures(
                "gRPC", n, on, off, ref, "etcd Watch of the same keys on kvs serve --watch-cache=false"
            )
            figures.extend(more_figures)
            notes.extend(more_notes)
    return figures, notes
