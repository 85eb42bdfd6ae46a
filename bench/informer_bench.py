"""Informers on the embedded store: initial list+sync, cache memory, and events through many informers.

- Sync: a store holding N pods (about 1 KiB each) and one SharedIndexInformer over the
  embedded registry; time from `start()` to `has_synced()`, and the traced memory the
  cache holds per object (tracemalloc, in a separate run since tracing slows it).
  Reference: one range read of the same keys, each value decoded with json.loads into a
  dict kept in a list (the least any cache of these objects costs).
- Events: 1, 10 and 100 informers of one resource in one process, each with its own watch
  and a counting handler, while a writer creates `resource_events` ConfigMaps (64 in
  flight); deliveries/s from the first create to the last handler call, and p99 create ->
  handler latency. Every handler must see every object once. Reference: the same number of
  raw store watches of the same keys.
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import kvstore
from apimachinery.schema import GroupVersionResource
from bench.common import Config, config_map, fresh_dir, interleaved, log
from bench.report import Figure
from bench.resource_list import pod
from bench.stats import percentile
from informer import ResourceEventHandlerFuncs, ResourceListerWatcher, SharedIndexInformer
from kvstore.registry import Registry, codec, keys

SCENARIO = "informer"
PODS = GroupVersionResource("", "v1", "pods")
CMS = GroupVersionResource("", "v1", "configmaps")


@dataclass(frozen=True)
class SyncRun:
    objects: int
    seconds: float
    bytes_per_object: float


async def _fill(store: kvstore.Store, n: int) -> None:
    """n pods written straight to their keys (untimed setup; the registry's own layout)."""
    todo = iter(range(n))

    async def writer() -> None:
        for i in todo:
            obj = {"apiVersion": "v1", "kind": "Pod", **pod(i)}
            obj["metadata"]["namespace"] = "default"
            await store.put(keys.object_key(PODS, "default", obj["metadata"]["name"]), codec.encode(obj))

    await asyncio.gather(*(writer() for _ in range(64)))


async def _sync_once(reg: Registry, store: kvstore.Store, reference: bool, traced: bool) -> tuple[int, float, int]:
    gc.collect()
    if traced:
        tracemalloc.start()
    start = time.perf_counter()
    holder: Any
    if reference:
        prefix = keys.collection_prefix(PODS, "default")
        resp = await store.range(prefix, kvstore.prefix_range_end(prefix))
        holder = [json.loads(kv.value) for kv in resp.kvs]
        del resp  # keep only the decoded objects, as a cache would
        count = len(holder)
    else:
        holder = SharedIndexInformer(ResourceListerWatcher(reg, PODS, "default"))
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


def _sync(cfg: Config, n: int, reference: bool) -> SyncRun:
    async def go() -> SyncRun:
        with fresh_dir(cfg, "inf-sync") as path:
            async with kvstore.open(path) as store:
                reg = Registry(store)
                await reg.bootstrap()
                await _fill(store, n)
                count, seconds, _ = await _sync_once(reg, store, reference, traced=False)
                _, _, used = await _sync_once(reg, store, reference, traced=True)
                return SyncRun(count, seconds, used / max(1, count))

    return asyncio.run(go())


@dataclass(frozen=True)
class EventsRun:
    informers: int
    deliveries: int
    seconds: float
    p99_ms: float
    problems: tuple[str, ...]

    @property
    def rate(self) -> float:
        return self.deliveries / self.seconds if self.seconds else 0.0


async def _events_once(cfg: Config, n: int, reference: bool) -> EventsRun:
    events = cfg.resource_events
    with fresh_dir(cfg, "inf-events") as path:
        async with kvstore.open(path) as store:
            reg = Registry(store)
            await reg.bootstrap()
            clock = time.monotonic
            seen: list[dict[str, float]] = [{} for _ in range(n)]
            done = asyncio.Event()
            complete = [0]
            issued: dict[str, float] = {}

            def counter(i: int) -> Any:
                def on_add(obj: Any, initial: bool) -> None:
                    got = seen[i]
                    got[obj["metadata"]["name"]] = clock()
                    if len(got) == events:
                        complete[0] += 1
                        if complete[0] == n:
                            done.set()

                return on_add

            informers: list[SharedIndexInformer] = []
            watches: list[Any] = []
            tasks: list[asyncio.Task[None]] = []
            if reference:
                prefix = keys.collection_prefix(CMS, "default")
                for i in range(n):
                    w = store.watch(prefix, kvstore.prefix_range_end(prefix), start_revision=store.revision + 1)
                    watches.append(w)

                    tasks.append(asyncio.create_task(_consume_raw(w, counter(i))))
            else:
                for i in range(n):
                    inf = SharedIndexInformer(ResourceListerWatcher(reg, CMS, "default"))
                    inf.add_event_handler(ResourceEventHandlerFuncs(add_func=counter(i)))
                    inf.start()
                    informers.append(inf)
                while not all(inf.has_synced() for inf in informers):
                    await asyncio.sleep(0.001)
            template = config_map("x", cfg.object_size)
            todo = iter(range(events))

            async def writer() -> None:
                for k in todo:
                    name = f"obj-{k:06d}"
                    issued[name] = clock()
                    await reg.create(CMS, {**template, "metadata": {"name": name}}, "default")

            start = clock()
            await asyncio.gather(*(writer() for _ in range(64)))
            problems: list[str] = []
            try:
                await asyncio.wait_for(done.wait(), cfg.fanout_timeout)
            except TimeoutError:
                problems.append(f"not every handler saw all {events} objects")
            end = max((max(s.values()) for s in seen if s), default=clock())
            for inf in informers:
                await inf.stop()
            for w in watches:
                w.cancel()
            for t in tasks:
                t.cancel()
            latencies = sorted(t - issued[name] for s in seen for name, t in s.items())
            deliveries = sum(len(s) for s in seen)
            if deliveries != n * events:
                problems.append(f"{deliveries} handler calls, expected {n} x {events}")
            p99 = percentile(latencies, 99) * 1000 if latencies else 0.0
            return EventsRun(n, deliveries, end - start, p99, tuple(problems))


async def _consume_raw(w: Any, add: Any) -> None:
    async for resp in w:
        for e in resp.events:
            add({"metadata": {"name": e.kv.key.rsplit(b"/", 1)[1].decode()}}, False)


def _sync_runner(cfg: Config, n: int, reference: bool) -> Callable[[], SyncRun]:
    return lambda: _sync(cfg, n, reference)


def _events_runner(cfg: Config, n: int, reference: bool) -> Callable[[], EventsRun]:
    return lambda: asyncio.run(_events_once(cfg, n, reference))


def run(cfg: Config) -> tuple[list[Figure], list[str]]:
    figures: list[Figure] = []
    notes: list[str] = []
    sizes = (1_000,) if cfg.quick else (1_000, 10_000, 100_000)
    for n in sizes:
        log(f"f) informer sync: {n:,} pods (and a decode-everything reference) ...")
        ours, ref = interleaved(
            cfg, [_sync_runner(cfg, n, False), _sync_runner(cfg, n, True)], repeat=1 if n >= 100_000 else None
        )
        failures = [f"synced {r.objects} of {n}" for r in ours.all if r.objects != n]
        figures.append(
            Figure(
                SCENARIO,
                f"informer list+sync, {n:,} pods",
                "s",
                [r.seconds for r in ours.samples],
                reference=[r.seconds for r in ref.samples],
                reference_label="range + json.loads of every pod",
                failures=failures,
                details=[vars(r) for r in ours.samples],
            )
        )
        figures.append(
            Figure(
                SCENARIO,
                f"informer cache memory per pod, {n:,} pods",
                "bytes",
                [r.bytes_per_object for r in ours.samples],
                reference=[r.bytes_per_object for r in ref.samples],
                reference_label="a list of decoded dicts",
            )
        )
    for n in (1, 10) if cfg.quick else (1, 10, 100):
        log(f"f) events through {n} informers x {cfg.resource_events} objects (and raw store watches) ...")
        ours_e, ref_e = interleaved(
            cfg,
            [_events_runner(cfg, n, False), _events_runner(cfg, n, True)],
        )
        figures.append(
            Figure(
                SCENARIO,
                f"events through {n} informer{'s' if n != 1 else ''}",
                "handler calls/s",
                [r.rate for r in ours_e.samples],
                reference=[r.rate for r in ref_e.samples],
                reference_label="raw store watches",
                failures=[p for r in ours_e.all + ref_e.all for p in r.problems],
                details=[vars(r) for r in ours_e.samples],
            )
        )
        mid = sorted(ours_e.samples, key=lambda r: r.p99_ms)[len(ours_e.samples) // 2]
        notes.append(f"events through {n} informers: p99 create -> handler {mid.p99_ms:.0f} ms")
    notes.append(
        "informer: embedded store; sync = start() to has_synced(); memory = tracemalloc's traced bytes held "
        "after the sync, per object (lower is better for both)"
    )
    return figures, notes
