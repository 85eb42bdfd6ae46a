"""Shared plumbing: the run configuration, temporary directories and repetitions."""

from __future__ import annotations

import contextlib
import gc
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from kvs.bench import progress

T = TypeVar("T")


MODES = ("embedded", "grpc")
WATCH_CACHE_OFF = "watch cache off"  # the label suffix of a figure measured with the registry's watch cache off
WATCH_CACHE = (True, False)  # the variants of a resource figure, in the order they run and are printed
# (reference, watch cache) of the runs of one figure pair, in turn: ours with the cache on, off, then the
# reference, measured with the cache off so none of the cache's work lands in it
CACHE_RUNS = (*((False, cache) for cache in WATCH_CACHE), (True, False))


@dataclass(frozen=True)
class Config:
    """What one run measures, and how long it takes."""

    quick: bool
    repeat: int
    tmp_base: str | None = None  # where the temporary stores go (None: the system default)
    modes: tuple[str, ...] = MODES  # embedded (in-process), grpc (kvs serve subprocess, next to etcd)
    # write: durable puts by concurrency and value size
    write_seconds: float = 1.0  # each embedded repetition writes for this long
    writers: tuple[int, ...] = (1, 8, 64, 256)
    value_sizes: tuple[int, ...] = (128, 1024, 16384)
    value_size: int = 128  # the values of the read and fan-out scenarios' setup
    # read: single-key range reads
    read_keys: int = 10_000
    reads: int = 20_000
    # fanout: deliveries by watchers (unpaced writer), and latency by event rate
    fanout_watchers: tuple[int, ...] = (1, 10, 100, 1000, 10000)
    fanout_events: int = 2_000  # events per run, at most ...
    fanout_deliveries: int = 1_000_000  # ... and fewer for many watchers, so a run delivers about this many
    fanout_min_events: int = 100
    fanout_value_size: int = 512
    fanout_in_flight: int = 64
    fanout_rates: tuple[int, ...] = (100, 1000)  # paced writers (events/s), at fanout_rate_watchers
    fanout_rate_watchers: int = 1000
    fanout_rate_seconds: float = 2.0  # a paced run writes for this long
    fanout_timeout: float = 60.0  # seconds to wait for the last delivery once the writes are done
    # the bare-Python references loop until they have run this long
    reference_min_seconds: float = 0.2
    # network: servers in subprocesses on loopback
    net_repeat: int = 3  # repetitions where every run starts servers and processes (gRPC): slower
    net_writers: tuple[int, ...] = (1, 8, 64, 256)  # concurrent writer tasks
    net_value_sizes: tuple[int, ...] = (128, 1024, 16384)
    net_connections: int = 64  # at most this many gRPC channels; writers share them round-robin beyond
    net_write_seconds: float = 1.5
    net_watchers: tuple[int, ...] = (1, 10, 100, 1000, 10000)  # watch streams
    net_events: int = 2_000
    net_deliveries: int = 1_000_000
    net_receiver_procs: int = 2  # processes the lean watch receivers are spread over
    net_timeout: float = 120.0  # seconds to wait for the last delivery once the writes are done
    # resources: objects through the registry, embedded and over gRPC
    object_size: int = 2048  # bytes of JSON per object
    resource_clients: int = 32  # concurrent writer tasks
    resource_seconds: float = 1.5  # each create / update repetition runs this long
    list_objects: int = 10_000
    resource_watchers: tuple[int, ...] = (1, 10, 100, 1000)
    resource_events: int = 400
    # informer
    informer_objects: tuple[int, ...] = (1_000, 10_000, 100_000)
    informer_counts: tuple[int, ...] = (1, 10, 100)
    # attack: the servers attacked (kvs serve's transports, etcd when it is on the PATH)
    attack_targets: tuple[str, ...] = ("native", "grpcio", "etcd")

    def events_for(self, watchers: int, *, net: bool = False) -> int:
        """Events per unpaced fan-out run: the most, or fewer so a run delivers about the budget."""
        most, budget = (self.net_events, self.net_deliveries) if net else (self.fanout_events, self.fanout_deliveries)
        return max(min(most, self.fanout_min_events), min(most, budget // max(1, watchers)))

    def wants(self, mode: str) -> bool:
        return mode in self.modes


def make_config(*, quick: bool, repeat: int | None, tmp_base: str | None, modes: tuple[str, ...] = MODES) -> Config:
    if not quick:
        return Config(
            quick=False,
            repeat=5 if repeat is None else repeat,
            net_repeat=3 if repeat is None else repeat,
            tmp_base=tmp_base,
            modes=modes,
        )
    return Config(
        quick=True,
        repeat=2 if repeat is None else repeat,
        net_repeat=1 if repeat is None else repeat,
        tmp_base=tmp_base,
        modes=modes,
        write_seconds=0.15,
        writers=(1, 64),
        value_sizes=(128, 1024),
        read_keys=2_000,
        reads=2_000,
        fanout_watchers=(1, 10, 1000),
        fanout_events=200,
        fanout_deliveries=10_000,
        fanout_min_events=50,
        fanout_rates=(200,),
        fanout_rate_watchers=10,
        fanout_rate_seconds=0.25,
        fanout_timeout=20.0,
        reference_min_seconds=0.02,
        net_writers=(64,),
        net_value_sizes=(128,),
        net_write_seconds=0.3,
        net_watchers=(1, 10),
        net_events=200,
        net_deliveries=10_000,
        net_timeout=30.0,
        resource_seconds=0.3,
        list_objects=1_000,
        resource_watchers=(1, 10),
        resource_events=50,
        informer_objects=(1_000,),
        informer_counts=(1, 10),
    )


def by_mode(cfg: Config, embedded: T, grpc: T) -> list[tuple[str, T]]:
    """The wanted modes' names ("embedded", "gRPC") with what each runs, in that order."""
    return [
        (name, what)
        for mode, name, what in (("embedded", "embedded", embedded), ("grpc", "gRPC", grpc))
        if cfg.wants(mode)
    ]


def cache_variant(where: str, watch_cache: bool) -> str:
    """`embedded`, or `embedded, watch cache off`: where a figure ran, with the cache variant it measured."""
    return where if watch_cache else f"{where}, {WATCH_CACHE_OFF}"


def serve_args(watch_cache: bool) -> tuple[str, ...]:
    """The `kvs serve` arguments of a cache variant (the watch cache is on by default)."""
    return () if watch_cache else ("--watch-cache=false",)


def plural(n: int, word: str) -> str:
    """`1 watcher`, `10 watchers`."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def bench_value(size: int) -> bytes:
    """A value of `size` bytes that does not compress to nothing."""
    return bytes((i * 31 + 7) % 251 for i in range(size))


def config_map(name: str, size: int, namespace: str = "default") -> dict[str, Any]:
    """A ConfigMap whose JSON is about `size` bytes."""
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": "bench"}},
        "data": {},
    }
    filler = max(0, size - 160 - len(name))
    obj["data"]["payload"] = bench_value(filler).hex()[:filler]
    return obj


def log(message: str) -> None:
    """Progress goes to stderr (with the bar); the report goes to stdout."""
    progress.current().log(message)


def planned(runs: int, repeat: int) -> int:
    """How many runs `interleaved` makes of `runs` callables: a warm-up each, then `repeat` rounds."""
    return runs * (1 + repeat)


@contextlib.contextmanager
def fresh_dir(cfg: Config, tag: str) -> Iterator[str]:
    """A new, empty temporary directory, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix=f"kvs-bench-{tag}-", dir=cfg.tmp_base) as path:
        yield path


@dataclass
class Measured(Generic[T]):
    """The results of one run: its warm-up (not counted, but still checked) and its repetitions."""

    warmup: T
    samples: list[T]

    @property
    def all(self) -> list[T]:
        return [self.warmup, *self.samples]


def interleaved(cfg: Config, runs: Sequence[Callable[[], T]], *, repeat: int | None = None) -> list[Measured[T]]:
    """Warm each run up once, then repeat them in turn `repeat` (default `cfg.repeat`) times.

    Interleaving puts a figure and its reference under the same conditions (page cache,
    CPU frequency, other load) rather than measuring one after the other.
    """
    bar = progress.current()
    measured: list[Measured[T]] = []
    for run in runs:
        gc.collect()
        measured.append(Measured(run(), []))
        bar.advance()
    for _ in range(cfg.repeat if repeat is None else repeat):
        for m, run in zip(measured, runs, strict=True):
            gc.collect()
            m.samples.append(run())
            bar.advance()
    return measured


def committed_batches(store: Any) -> int:
    """How many group commits the store's committer has done (0 if it has not started)."""
    committer = getattr(store, "_committer", None)
    batches = getattr(committer, "batches", 0)
    return int(batches)
