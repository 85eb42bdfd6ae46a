"""Creates/s and updates/s of 2 KiB objects through the resource API, embedded and over gRPC.

`resource_clients` tasks create ConfigMaps of `object_size` bytes on distinct names for
`resource_seconds`, then each updates its own objects (with their resourceVersion, so
every update is an optimistic-concurrency write) for as long again. Embedded: a
`Registry` over an in-process store. Over gRPC: a `kvs serve` subprocess, one
`kvstore.connect()` client per task. Reference, in the same run: puts of the same bytes
straight into the key-value store (embedded, then through a server of their own), so
the ratio is what the resource layer costs on top of a durable write.

Every figure is measured with the registry's watch cache on (the default) and off
(`Registry(watch_cache=False)`, `kvs serve --watch-cache=false`), interleaved with each
other and with the reference (run with the cache off), so both ratios share one
reference. Target: creates embedded, cache on, >= 0.5x the puts.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
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
    by_mode,
    cache_variant,
    config_map,
    fresh_dir,
    interleaved,
    log,
    planned,
    serve_args,
)
from kvs.bench.report import Figure
from kvs.bench.servers import kvs_server
from kvstore.registry import Registry, codec

SCENARIO = "resource_write"
CMS = GroupVersionResource("", "v1", "configmaps")
TARGET_CREATE_RATIO = 0.5  # creates embedded, watch cache on: at least half the rate of raw puts


@dataclass(frozen=True)
class WriteRun:
    creates: int
    create_seconds: float
    updates: int
    update_seconds: float
    problem: str = ""

    @property
    def create_rate(self) -> float:
        return self.creates / self.create_seconds if self.create_seconds else 0.0

    @property
    def update_rate(self) -> float:
        return self.updates / self.update_seconds if self.update_seconds else 0.0


async def _timed(tasks: int, seconds: float, step: Callable[[int, int], Awaitable[None]]) -> tuple[int, float]:
    """Run `step(task, n)` in `tasks` loops until `seconds` have passed; (steps done, seconds)."""
    counts = [0] * tasks
    clock = time.perf_counter
    deadline = clock() + seconds

    async def loop(i: int) -> None:
        n = 0
        while clock() < deadline:
            await step(i, n)
            n += 1
        counts[i] = n

    start = clock()
    await asyncio.gather(*(loop(i) for i in range(tasks)))
    return sum(counts), clock() - start


async def resource_writes(apis: list[ResourceClient], cfg: Config) -> WriteRun:
    """Creates, then updates of each task's own objects; task i writes through apis[i % len(apis)]."""
    template = config_map("x", cfg.object_size)
    mine: list[list[dict[str, Any]]] = [[] for _ in range(cfg.resource_clients)]

    async def create(i: int, n: int) -> None:
        obj = {**template, "metadata": {"name": f"t{i:03d}-{n:07d}", "labels": {"app": "bench"}}}
        mine[i].append(await apis[i % len(apis)].create(CMS, obj, "default"))

    async def update(i: int, n: int) -> None:
        objs = mine[i]
        k = n % len(objs)
        obj = objs[k]
        obj["data"] = {"payload": obj["data"]["payload"][1:] + obj["data"]["payload"][:1]}
        objs[k] = await apis[i % len(apis)].update(CMS, obj, "default")

    creates, create_seconds = await _timed(cfg.resource_clients, cfg.resource_seconds, create)
    if any(not objs for objs in mine):
        return WriteRun(creates, create_seconds, 0, 0.0, "a task created nothing")
    updates, update_seconds = await _timed(cfg.resource_clients, cfg.resource_seconds, update)
    return WriteRun(creates, create_seconds, updates, update_seconds)


async def kv_writes(kvs: list[kvstore.api.KV], cfg: Config) -> WriteRun:
    """The reference: puts of the same bytes, as many tasks (task i on kvs[i % len(kvs)]), new keys then overwrites."""
    value = codec.encode(config_map("x" * 12, cfg.object_size))
    written = [0] * cfg.resource_clients

    async def put_new(i: int, n: int) -> None:
        await kvs[i % len(kvs)].put(b"/bench/ref/%03d/%07d" % (i, n), value)
        written[i] = n + 1

    async def overwrite(i: int, n: int) -> None:
        await kvs[i % len(kvs)].put(b"/bench/ref/%03d/%07d" % (i, n % max(1, written[i])), value)

    creates, create_seconds = await _timed(cfg.resource_clients, cfg.resource_seconds, put_new)
    updates, update_seconds = await _timed(cfg.resource_clients, cfg.resource_seconds, overwrite)
    return WriteRun(creates, create_seconds, updates, update_seconds)


def _embedded(cfg: Config, watch_cache: bool, reference: bool) -> WriteRun:
    async def go() -> WriteRun:
        with fresh_dir(cfg, "res-write") as path:
            async with kvstore.open(path) as store:
                if reference:
                    return await kv_writes([store], cfg)
                reg = Registry(store, watch_cache=watch_cache)
                await reg.bootstrap()
                return await resource_writes([reg], cfg)

    return asyncio.run(go())


def _remote(cfg: Config, watch_cache: bool, reference: bool) -> WriteRun:
    async def go(endpoint: str) -> WriteRun:
        clients = [kvstore.connect(endpoint, timeout=60) for _ in range(cfg.resource_clients)]
        try:
            await clients[0].resources.list(CMS, "default")  # the server bootstraps, untimed
            if reference:
                return await kv_writes(list(clients), cfg)
            return await resource_writes([c.resources for c in clients], cfg)
        finally:
            for c in clients:
                await c.close()

    with kvs_server(cfg, serve_args(watch_cache)) as server:
        return asyncio.run(go(server.endpoint))


def _modes(cfg: Config) -> list[tuple[str, Callable[[Config, bool, bool], WriteRun]]]:
    return by_mode(cfg, _embedded, _remote)


def planned_runs(cfg: Config) -> int:
    return planned(len(CACHE_RUNS) * len(_modes(cfg)), cfg.net_repeat)


def run(cfg: Config) -> tuple[list[Figure], list[str]]:
    modes = _modes(cfg)
    if not modes:
        return [], []
    log(f"resources: creates/s and updates/s of 2 KiB objects, {' and '.join(w for w, _ in modes)} ...")
    runs = [functools.partial(fn, cfg, cache, reference) for _, fn in modes for reference, cache in CACHE_RUNS]
    measured = interleaved(cfg, runs, repeat=cfg.net_repeat)
    k = len(CACHE_RUNS)
    figures = []
    for i, (where, _) in enumerate(modes):
        ref = measured[k * i + k - 1]
        for cache, ours in zip(WATCH_CACHE, measured[k * i : k * i + k - 1], strict=True):
            problems = [r.problem for r in ours.all if r.problem]
            for what, rate in (("creates", "create_rate"), ("updates", "update_rate")):
                fig = Figure(
                    SCENARIO,
                    f"{what} of 2 KiB objects, {cfg.resource_clients} clients, {cache_variant(where, cache)}",
                    f"{what}/s",
                    [getattr(r, rate) for r in ours.samples],
                    reference=[getattr(r, rate) for r in ref.samples],
                    reference_label=f"puts of the same bytes ({where})",
                    failures=problems,
                    details=[
                        vars(r) | {"watch_cache": cache, "reference": vars(x)}
                        for r, x in zip(ours.samples, ref.samples, strict=True)
                    ],
                )
                if what == "creates" and where == "embedded" and cache:
                    fig.ratio_target, fig.ratio_target_of = TARGET_CREATE_RATIO, "puts"
                figures.append(fig)
    notes = [
        f"resource writes: ConfigMaps of {cfg.object_size} bytes, {cfg.resource_clients} concurrent tasks, "
        f"{cfg.resource_seconds:g} s of creates then {cfg.resource_seconds:g} s of updates (each with its "
        "resourceVersion); fsync on. reference: puts of the same bytes to the key-value API, same tasks (over "
        "gRPC on a kvs serve --watch-cache=false of its own); figures without a suffix have the watch cache on, "
        f"'{WATCH_CACHE_OFF}' ones ran with it off, interleaved with them, against the same reference"
    ]
    return figures, notes
