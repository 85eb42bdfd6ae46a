"""b) Range reads/s: single-key `store.range(key)` on a preloaded store.

The store is preloaded with `read_keys` keys (untimed); the timed loop then awaits
`store.range(key)` for random keys of that set, one at a time. Reference: the same keys
in a bare `lmdb` environment, one read transaction per read (open txn, get, close).
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass

import lmdb

import kvstore
from kvs.bench.common import Config, fresh_dir, interleaved, log, planned
from kvs.bench.report import Figure

SCENARIO = "store_read"
_PRELOAD_CHUNK = 1000
_REF_MAP_SIZE = 1 << 30


@dataclass(frozen=True)
class ReadRun:
    reads: int
    found: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.reads / self.seconds


def _keys(n: int) -> list[bytes]:
    return [b"/bench/r/%08d" % i for i in range(n)]


async def _ours(path: str, keys: list[bytes], order: list[bytes], value: bytes) -> ReadRun:
    async with kvstore.open(path) as store:
        for i in range(0, len(keys), _PRELOAD_CHUNK):
            await asyncio.gather(*(store.put(k, value) for k in keys[i : i + _PRELOAD_CHUNK]))
        get = store.range
        clock = time.perf_counter
        found = 0
        start = clock()
        for key in order:
            resp = await get(key)
            found += len(resp.kvs)
        elapsed = clock() - start
    return ReadRun(len(order), found, elapsed)


def _reference(path: str, keys: list[bytes], order: list[bytes], value: bytes) -> ReadRun:
    env = lmdb.open(path, map_size=_REF_MAP_SIZE, sync=True, metasync=True)
    try:
        with env.begin(write=True) as txn:
            for key in keys:
                txn.put(key, value)
        begin = env.begin
        clock = time.perf_counter
        found = 0
        start = clock()
        for key in order:
            with begin() as txn:
                if txn.get(key) is not None:
                    found += 1
        elapsed = clock() - start
    finally:
        env.close()
    return ReadRun(len(order), found, elapsed)


def planned_runs(cfg: Config) -> int:
    return planned(2, cfg.repeat) if cfg.wants("embedded") else 0


def run(cfg: Config) -> tuple[list[Figure], list[str]]:
    if not cfg.wants("embedded"):
        return [], []
    keys = _keys(cfg.read_keys)
    order = random.Random(20240601).choices(keys, k=cfg.reads)
    value = bytes(cfg.value_size)

    def ours() -> ReadRun:
        with fresh_dir(cfg, "range") as path:
            return asyncio.run(_ours(path, keys, order, value))

    def reference() -> ReadRun:
        with fresh_dir(cfg, "range-ref") as path:
            return _reference(path, keys, order, value)

    log(f"read, embedded: {cfg.reads} single-key reads over {cfg.read_keys} keys, and the bare-lmdb reference ...")
    m_ours, m_ref = interleaved(cfg, [ours, reference])
    samples, refs = m_ours.samples, m_ref.samples
    failures = [
        f"{r.found} of {r.reads} reads found their key" for r in [*m_ours.all, *m_ref.all] if r.found != r.reads
    ]
    fig = Figure(
        SCENARIO,
        f"range reads, 1 key of {cfg.read_keys:,}, embedded",
        "reads/s",
        [r.rate for r in samples],
        reference=[r.rate for r in refs],
        reference_label="bare lmdb, one read txn + get per read",
        failures=failures,
        details=[
            {"reads": r.reads, "seconds": r.seconds, "reference_seconds": ref.seconds}
            for r, ref in zip(samples, refs, strict=True)
        ],
    )
    notes = [
        f"range reads: {cfg.reads:,} awaited store.range(key) calls for random keys of {cfg.read_keys:,} "
        f"preloaded ({cfg.value_size}-byte values); reference: bare lmdb, open read txn, get, close, per read",
    ]
    return [fig], notes
