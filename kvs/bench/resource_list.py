"""Listing 10,000 pods: latency and peak memory, embedded and over gRPC.

A fresh store gets `list_objects` pods (about 1 KiB of JSON each, created through the
registry); then one full list of the namespace is timed, and, separately, its peak
Python memory is taken with tracemalloc (a separate call, as tracing slows it). Over
gRPC the list goes through `kvstore.connect().resources` to a `kvs serve` subprocess;
its memory figure is the client's, and the server's peak RSS (VmHWM) is noted.
Reference, in the same run: a range read of the same keys through the key-value API
(embedded, then through a server), i.e. the bytes without decoding them.

Both figures are measured with the registry's watch cache on (the default) and off:
embedded, two registries over the one store (`Registry(watch_cache=True|False)`); over
gRPC, two servers holding the same pods (`kvs serve --watch-cache=false` for off, which
also serves the reference's range reads). The calls take turns (cache on, cache off,
reference), so both ratios share one reference under the same conditions. Target: the
list of 10,000 pods embedded, cache on, within 3x the range read.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import kvstore
from apimachinery.client import ResourceClient
from apimachinery.schema import GroupVersionResource
from kvs.bench import progress
from kvs.bench.common import WATCH_CACHE, WATCH_CACHE_OFF, Config, by_mode, cache_variant, fresh_dir, log, serve_args
from kvs.bench.report import Figure
from kvs.bench.servers import ServerProcess, kvs_server
from kvs.bench.stats import summarize
from kvstore.registry import Registry, keys

SCENARIO = "resource_list"
PODS = GroupVersionResource("", "v1", "pods")
TARGET_LIST_OBJECTS = 10_000  # the list target's size: embedded, cache on, latency <= 3x the range read
TARGET_LIST_RATIO = 3.0


def pod(i: int) -> dict[str, Any]:
    return {
        "metadata": {"name": f"web-{i:06d}", "labels": {"app": "web", "shard": str(i % 16)}},
        "spec": {
            "nodeName": f"node-{i % 100:03d}",
            "containers": [
                {
                    "name": "app",
                    "image": "registry.example/web:1.2.3",
                    "args": ["--port=8080", "--log-level=info"],
                    "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                    "env": [{"name": f"VAR_{k}", "value": "x" * 40} for k in range(8)],
                }
            ],
        },
    }


@dataclass(frozen=True)
class ListRun:
    items: int
    seconds: float
    peak_bytes: int
    server_peak_rss: int = 0  # bytes (gRPC only)


async def _load(api: ResourceClient, n: int) -> None:
    todo = iter(range(n))

    async def worker() -> None:
        for i in todo:
            await api.create(PODS, pod(i), "default")

    await asyncio.gather(*(worker() for _ in range(64)))


@dataclass
class Lists:
    """The runs of one mode: our list with the watch cache on and off (by `WATCH_CACHE`), and the reference."""

    ours: dict[bool, list[ListRun]]
    ref: list[ListRun]


async def _measure(calls: list[Callable[[], Awaitable[int]]], repeat: int) -> list[list[ListRun]]:
    """Each call warmed up, then timed `repeat` times in turns, then once more traced for its peak memory."""
    for call in calls:
        await call()
    times: list[list[float]] = [[] for _ in calls]
    items = [0] * len(calls)
    for _ in range(repeat):
        for i, call in enumerate(calls):
            start = time.perf_counter()
            items[i] = await call()
            times[i].append(time.perf_counter() - start)
    peaks = []
    for call in calls:
        tracemalloc.start()
        try:
            await call()
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    return [[ListRun(n, t, peak) for t in ts] for n, ts, peak in zip(items, times, peaks, strict=True)]


def _server_peak_rss(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


async def _lists(apis: Mapping[bool, ResourceClient], kv: kvstore.api.KV, repeat: int) -> Lists:
    """Our list through `apis[watch_cache]` for each variant, and the range read of the same keys through `kv`."""
    prefix = keys.collection_prefix(PODS, "default")

    def ours(api: ResourceClient) -> Callable[[], Awaitable[int]]:
        async def call() -> int:
            return len((await api.list(PODS, "default"))["items"])

        return call

    async def ref() -> int:
        return len((await kv.range(prefix, kvstore.prefix_range_end(prefix))).kvs)

    *runs, ref_runs = await _measure([*(ours(apis[cache]) for cache in WATCH_CACHE), ref], repeat)
    return Lists(dict(zip(WATCH_CACHE, runs, strict=True)), ref_runs)


def _embedded(cfg: Config) -> Lists:
    async def go() -> Lists:
        with fresh_dir(cfg, "res-list") as path:
            async with kvstore.open(path) as store:
                regs = {cache: Registry(store, watch_cache=cache) for cache in WATCH_CACHE}
                for reg in regs.values():
                    await reg.bootstrap()
                await _load(regs[True], cfg.list_objects)
                return await _lists(regs, store, cfg.repeat)

    return asyncio.run(go())


def _remote(cfg: Config) -> Lists:
    async def go(servers: dict[bool, ServerProcess]) -> Lists:
        async with contextlib.AsyncExitStack() as stack:
            clients = {
                cache: await stack.enter_async_context(kvstore.connect(server.endpoint, timeout=120))
                for cache, server in servers.items()
            }
            await asyncio.gather(*(_load(c.resources, cfg.list_objects) for c in clients.values()))
            before = {cache: _server_peak_rss(server.pid) for cache, server in servers.items()}
            lists = await _lists({cache: c.resources for cache, c in clients.items()}, clients[False], cfg.repeat)
            for cache, server in servers.items():
                rss = _server_peak_rss(server.pid)
                log(
                    f"   kvs serve{'' if cache else ' --watch-cache=false'} peak RSS {before[cache] / 2**20:.0f} MiB "
                    f"after loading, {rss / 2**20:.0f} MiB after the lists"
                )
                lists.ours[cache] = [ListRun(r.items, r.seconds, r.peak_bytes, rss) for r in lists.ours[cache]]
            return lists

    with contextlib.ExitStack() as stack:
        servers: dict[bool, ServerProcess] = {
            cache: stack.enter_context(kvs_server(cfg, serve_args(cache))) for cache in WATCH_CACHE
        }
        return asyncio.run(go(servers))


def _modes(cfg: Config) -> list[tuple[str, Callable[[Config], Lists]]]:
    return by_mode(cfg, _embedded, _remote)


def planned_runs(cfg: Config) -> int:
    """One step of the progress bar per mode (each loads the objects, then lists them repeatedly)."""
    return len(_modes(cfg))


def run(cfg: Config) -> tuple[list[Figure], list[str]]:
    modes = _modes(cfg)
    if not modes:
        return [], []
    where = " and ".join(w for w, _ in modes)
    log(f"resources: list of {cfg.list_objects:,} pods: latency and peak memory, {where} ...")
    figures: list[Figure] = []
    notes: list[str] = []
    for where, measure in modes:
        lists = measure(cfg)
        progress.current().advance()
        ref = lists.ref
        ref_label = f"range read of the same keys ({where})"
        for cache in WATCH_CACHE:
            ours = lists.ours[cache]
            failures = [
                f"listed {r.items} pods, expected {cfg.list_objects}" for r in ours if r.items != cfg.list_objects
            ]
            label = f"list {cfg.list_objects:,} pods, {cache_variant(where, cache)}"
            latency = Figure(
                SCENARIO,
                f"{label}: latency",
                "ms",
                [r.seconds * 1000 for r in ours],
                reference=[r.seconds * 1000 for r in ref],
                reference_label=ref_label,
                failures=failures,
                details=[vars(r) | {"watch_cache": cache} for r in ours],
                lower_is_better=True,
            )
            if where == "embedded" and cache and cfg.list_objects == TARGET_LIST_OBJECTS:
                latency.ratio_target, latency.ratio_target_of = TARGET_LIST_RATIO, "range read"
            figures.append(latency)
            figures.append(
                Figure(
                    SCENARIO,
                    f"{label}: peak Python memory{' (client)' if where == 'gRPC' else ''}",
                    "MiB",
                    [ours[-1].peak_bytes / 2**20],
                    reference=[ref[-1].peak_bytes / 2**20],
                    reference_label=ref_label,
                    lower_is_better=True,
                )
            )
            size = summarize([r.seconds for r in ours]).median
            notes.append(f"{label}: {cfg.list_objects / size:,.0f} objects/s decoded and selected")
            if where == "gRPC" and ours[-1].server_peak_rss:
                notes.append(f"{label}: kvs serve peak RSS (VmHWM) {ours[-1].server_peak_rss / 2**20:.0f} MiB")
    notes.append(
        "resource list: lower is better for latency and memory (ours/ref above 1 is the registry's cost); "
        "memory is tracemalloc's peak during one call. figures without a suffix have the watch cache on, "
        f"'{WATCH_CACHE_OFF}' ones ran with it off (embedded: a second registry over the same store; gRPC: a second "
        "kvs serve --watch-cache=false holding the same pods, which also serves the reference), every call taking "
        "turns with the others"
    )
    return figures, notes
