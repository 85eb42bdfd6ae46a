"""Listing 10,000 pods: latency and peak memory, embedded and over gRPC.

A fresh store gets `list_objects` pods (about 1 KiB of JSON each, created through the
registry); then one full list of the namespace is timed, and, separately, its peak
Python memory is taken with tracemalloc (a separate call, as tracing slows it). Over
gRPC the list goes through `kvstore.connect().resources` to a `kvs serve` subprocess;
its memory figure is the client's, and the server's peak RSS (VmHWM) is noted.
Reference, in the same run: a range read of the same keys through the key-value API
(embedded, then through the same server), i.e. the bytes without decoding them.
"""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import kvstore
from apimachinery.client import ResourceClient
from apimachinery.schema import GroupVersionResource
from kvs.bench import progress
from kvs.bench.common import Config, by_mode, fresh_dir, log
from kvs.bench.report import Figure
from kvs.bench.servers import kvs_server
from kvs.bench.stats import summarize
from kvstore.registry import Registry, keys

SCENARIO = "resource_list"
PODS = GroupVersionResource("", "v1", "pods")


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


async def _measure(call: Callable[[], Awaitable[int]], repeat: int) -> tuple[int, list[float], int]:
    """(items, seconds of each timed call, peak traced bytes of one more call)."""
    times = []
    items = 0
    for _ in range(repeat):
        start = time.perf_counter()
        items = await call()
        times.append(time.perf_counter() - start)
    tracemalloc.start()
    try:
        await call()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return items, times, peak


def _server_peak_rss(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


async def _lists(api: ResourceClient, kv: kvstore.api.KV, repeat: int) -> tuple[list[ListRun], list[ListRun]]:
    prefix = keys.collection_prefix(PODS, "default")

    async def ours() -> int:
        return len((await api.list(PODS, "default"))["items"])

    async def ref() -> int:
        return len((await kv.range(prefix, kvstore.prefix_range_end(prefix))).kvs)

    await ours()  # warm-up
    await ref()
    runs: tuple[list[ListRun], list[ListRun]] = ([], [])
    for call, out in ((ours, runs[0]), (ref, runs[1])):
        items, times, peak = await _measure(call, repeat)
        out.extend(ListRun(items, t, peak) for t in times)
    return runs


def _embedded(cfg: Config) -> tuple[list[ListRun], list[ListRun]]:
    async def go() -> tuple[list[ListRun], list[ListRun]]:
        with fresh_dir(cfg, "res-list") as path:
            async with kvstore.open(path) as store:
                reg = Registry(store)
                await reg.bootstrap()
                await _load(reg, cfg.list_objects)
                return await _lists(reg, store, cfg.repeat)

    return asyncio.run(go())


def _remote(cfg: Config) -> tuple[list[ListRun], list[ListRun]]:
    async def go(endpoint: str, pid: int) -> tuple[list[ListRun], list[ListRun]]:
        async with kvstore.connect(endpoint, timeout=120) as client:
            await _load(client.resources, cfg.list_objects)
            before = _server_peak_rss(pid)
            ours, ref = await _lists(client.resources, client, cfg.repeat)
            rss = _server_peak_rss(pid)
            log(f"   kvs serve peak RSS {before / 2**20:.0f} MiB after loading, {rss / 2**20:.0f} MiB after the lists")
            return [ListRun(r.items, r.seconds, r.peak_bytes, rss) for r in ours], ref

    with kvs_server(cfg) as server:
        return asyncio.run(go(server.endpoint, server.pid))


def _modes(cfg: Config) -> list[tuple[str, Callable[[Config], tuple[list[ListRun], list[ListRun]]]]]:
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
        ours, ref = measure(cfg)
        progress.current().advance()
        failures = [f"listed {r.items} pods, expected {cfg.list_objects}" for r in ours if r.items != cfg.list_objects]
        label = f"list {cfg.list_objects:,} pods, {where}"
        figures.append(
            Figure(
                SCENARIO,
                f"{label}: latency",
                "ms",
                [r.seconds * 1000 for r in ours],
                reference=[r.seconds * 1000 for r in ref],
                reference_label=f"range read of the same keys ({where})",
                failures=failures,
                details=[vars(r) for r in ours],
                lower_is_better=True,
            )
        )
        figures.append(
            Figure(
                SCENARIO,
                f"{label}: peak Python memory{' (client)' if where == 'gRPC' else ''}",
                "MiB",
                [ours[-1].peak_bytes / 2**20],
                reference=[ref[-1].peak_bytes / 2**20],
                reference_label=f"range read of the same keys ({where})",
                lower_is_better=True,
            )
        )
        size = summarize([r.seconds for r in ours]).median
        notes.append(f"{label}: {cfg.list_objects / size:,.0f} objects/s decoded and selected")
        if where == "gRPC" and ours[-1].server_peak_rss:
            notes.append(f"{label}: kvs serve peak RSS (VmHWM) {ours[-1].server_peak_rss / 2**20:.0f} MiB")
    notes.append(
        "resource list: lower is better for latency and memory (ours/ref above 1 is the registry's cost); "
        "memory is tracemalloc's peak during one call"
    )
    return figures, notes
