"""a) Durable puts/s with 1 and with 64 concurrent writers (fsync on).

Each writer is an asyncio task awaiting `store.put` in a loop on its own keys for a
fixed time; puts/s is the number of acknowledged (durable) puts over the time until the
last writer is done. Reference: a bare `lmdb` loop doing one put per write transaction
in an environment opened with sync=True, i.e. one fsync per put, on the same filesystem.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass

import lmdb

import kvstore
from bench.common import Config, bench_value, committed_batches, fresh_dir, interleaved, log
from bench.report import Figure

SCENARIO = "store_write"
_REF_MAP_SIZE = 1 << 30


@dataclass(frozen=True)
class WriteRun:
    puts: int
    seconds: float
    commits: int = 0  # group commits (ours only)
    problem: str = ""

    @property
    def rate(self) -> float:
        return self.puts / self.seconds


async def embedded_puts(path: str, writers: int, seconds: float, value: bytes) -> WriteRun:
    """`writers` tasks putting distinct keys on a fresh embedded store for `seconds`."""
    async with kvstore.open(path) as store:
        await store.put(b"/bench/start", value)  # starts the committer thread, untimed
        first_rev = store.revision
        first_batches = committed_batches(store)
        counts = [0] * writers
        deadline = 0.0

        async def writer(i: int) -> None:
            prefix = b"/bench/w%03d/" % i
            put = store.put
            clock = time.perf_counter
            n = 0
            while clock() < deadline:
                await put(prefix + b"%09d" % n, value)
                n += 1
            counts[i] = n

        start = time.perf_counter()
        deadline = start + seconds
        await asyncio.gather(*(writer(i) for i in range(writers)))
        elapsed = time.perf_counter() - start
        puts = sum(counts)
        problem = ""
        if store.revision - first_rev != puts:
            problem = f"{puts} puts acknowledged but the revision moved by {store.revision - first_rev}"
        return WriteRun(puts, elapsed, committed_batches(store) - first_batches, problem)


def _reference(path: str, seconds: float, value: bytes) -> WriteRun:
    env = lmdb.open(path, map_size=_REF_MAP_SIZE, sync=True, metasync=True)
    try:
        clock = time.perf_counter
        n = 0
        start = clock()
        deadline = start + seconds
        while clock() < deadline:
            with env.begin(write=True) as txn:
                txn.put(b"/bench/ref/%09d" % n, value)
            n += 1
        return WriteRun(n, clock() - start)
    finally:
        env.close()


def run(cfg: Config) -> tuple[list[Figure], list[str]]:
    value = bench_value(cfg.value_size)

    def ours(writers: int) -> WriteRun:
        with fresh_dir(cfg, "put") as path:
            return asyncio.run(embedded_puts(path, writers, cfg.write_seconds, value))

    def reference() -> WriteRun:
        with fresh_dir(cfg, "put-ref") as path:
            return _reference(path, cfg.write_seconds, value)

    log(f"a) durable puts: {', '.join(str(w) for w in cfg.writers)} writers and the bare-lmdb reference ...")
    runs: list[Callable[[], WriteRun]] = [functools.partial(ours, w) for w in cfg.writers]
    measured = interleaved(cfg, [*runs, reference])
    refs = measured[-1].samples
    figures: list[Figure] = []
    notes: list[str] = [
        f"durable puts: {cfg.value_size}-byte values, distinct keys, fsync on; each repetition writes for "
        f"{cfg.write_seconds:g} s in a fresh store. reference: bare lmdb (sync=True), one put per write "
        "transaction, so one fsync per put",
    ]
    for writers, m in zip(cfg.writers, measured[:-1], strict=True):
        samples = m.samples
        label = f"durable puts, {writers} writer{'s' if writers != 1 else ''}"
        fig = Figure(
            SCENARIO,
            label,
            "puts/s",
            [r.rate for r in samples],
            reference=[r.rate for r in refs],
            reference_label="bare lmdb, one fsync'd put per txn",
            target=20_000.0 if writers == 64 else None,
            failures=[r.problem for r in m.all if r.problem],
            details=[
                {
                    "puts": r.puts,
                    "seconds": r.seconds,
                    "commits": r.commits,
                    "reference_puts": ref.puts,
                    "reference_seconds": ref.seconds,
                }
                for r, ref in zip(samples, refs, strict=True)
            ],
        )
        figures.append(fig)
        per_commit = sum(r.puts for r in samples) / max(1, sum(r.commits for r in samples))
        notes.append(f"{label}: {per_commit:.1f} puts per group commit (fsync) on average")
    return figures, notes
