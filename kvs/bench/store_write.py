"""Durable puts/s on the embedded store by concurrent writers and value size (fsync on).

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
from kvs.bench.common import Config, bench_value, committed_batches, fresh_dir, interleaved, log, planned
from kvs.bench.report import Figure

SCENARIO = "store_write"
TARGET_CELL = (64, 128)  # (writers, value size) of the target
TARGET_PUTS = 20_000.0
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


def size_name(size: int) -> str:
    """128 -> "128 B", 1024 -> "1 KiB", 16384 -> "16 KiB"."""
    return f"{size // 1024} KiB" if size >= 1024 and size % 1024 == 0 else f"{size} B"


def planned_runs(cfg: Config) -> int:
    if not cfg.wants("embedded"):
        return 0
    return planned(len(cfg.writers) * len(cfg.value_sizes) + len(cfg.value_sizes), cfg.repeat)


def run(cfg: Config) -> tuple[list[Figure], list[str]]:
    if not cfg.wants("embedded"):
        return [], []
    cells = [(size, writers) for size in cfg.value_sizes for writers in cfg.writers]

    def ours(writers: int, size: int) -> WriteRun:
        with fresh_dir(cfg, "put") as path:
            return asyncio.run(embedded_puts(path, writers, cfg.write_seconds, bench_value(size)))

    def reference(size: int) -> WriteRun:
        with fresh_dir(cfg, "put-ref") as path:
            return _reference(path, cfg.write_seconds, bench_value(size))

    sizes = ", ".join(size_name(s) for s in cfg.value_sizes)
    writers_text = ", ".join(str(w) for w in cfg.writers)
    log(f"write, embedded: durable puts by {writers_text} writers x {sizes} values, and the bare-lmdb reference ...")
    runs: list[Callable[[], WriteRun]] = [functools.partial(ours, w, size) for size, w in cells]
    runs += [functools.partial(reference, size) for size in cfg.value_sizes]
    measured = interleaved(cfg, runs)
    refs = dict(zip(cfg.value_sizes, measured[len(cells) :], strict=True))
    figures: list[Figure] = []
    notes: list[str] = [
        f"durable puts, embedded: asyncio tasks awaiting store.put on distinct keys; each repetition writes for "
        f"{cfg.write_seconds:g} s in a fresh store, fsync on. reference: bare lmdb (sync=True), one put per write "
        "transaction, so one fsync per put, one writer",
    ]
    for (size, writers), m in zip(cells, measured[: len(cells)], strict=True):
        samples = m.samples
        ref_samples = refs[size].samples
        label = f"durable puts, {writers} writer{'s' if writers != 1 else ''}, {size_name(size)}, embedded"
        fig = Figure(
            SCENARIO,
            label,
            "puts/s",
            [r.rate for r in samples],
            reference=[r.rate for r in ref_samples],
            reference_label="bare lmdb, one fsync'd put per txn",
            target=TARGET_PUTS if (writers, size) == TARGET_CELL else None,
            failures=[r.problem for r in m.all if r.problem],
            details=[
                {
                    "writers": writers,
                    "value_size": size,
                    "puts": r.puts,
                    "seconds": r.seconds,
                    "commits": r.commits,
                    "reference_puts": ref.puts,
                    "reference_seconds": ref.seconds,
                }
                for r, ref in zip(samples, ref_samples, strict=True)
            ],
            plot="write",
            panel=f"{size_name(size)} values",
            series="kvs embedded",
            x=writers,
            reference_series="bare lmdb, one fsync per put",
        )
        figures.append(fig)
        per_commit = sum(r.puts for r in samples) / max(1, sum(r.commits for r in samples))
        notes.append(f"{label}: {per_commit:.1f} puts per group commit (fsync) on average")
    return figures, notes
