"""Durable puts over gRPC by concurrent writers and value size: `kvs serve` next to a real etcd (fsync on).

N asyncio tasks put values on distinct keys for a fixed time over `kvstore.connect()`
clients: one client (gRPC channel, TCP connection) per writer up to `net_connections`,
writers sharing channels round-robin beyond that; puts/s is the number of acknowledged
puts over the time until the last writer is done. Every repetition starts a fresh server
in a fresh data directory (untimed). The identical harness runs against a real etcd
started on loopback when `etcd` is on the PATH, interleaved in the same run. Also
reported: the server's CPU time per put (from /proc/<pid>/stat).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass

import kvstore
from kvs.bench.common import Config, bench_value, interleaved, log, planned, plural
from kvs.bench.report import Figure
from kvs.bench.servers import ServerError, ServerProcess, etcd_server, etcd_version, find_etcd, kvs_server
from kvs.bench.store_write import size_name

SCENARIO = "net_write"
SCENARIO_CPU = "net_write_cpu"
TARGET_CELL = (64, 128)  # (writers, value size) of the target: >= 1.0x etcd's puts/s
TARGET_RATIO = 1.0


@dataclass(frozen=True)
class NetWriteRun:
    puts: int
    seconds: float
    server_cpu: float = 0.0  # CPU seconds of the server process while the clients wrote
    connections: int = 0  # TCP connections the clients' channels opened to the server
    problem: str = ""

    @property
    def rate(self) -> float:
        return self.puts / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_us_per_put(self) -> float:
        return self.server_cpu / self.puts * 1e6 if self.puts else 0.0


async def _over_network(
    server: ServerProcess, writers: int, connections: int, seconds: float, value: bytes
) -> NetWriteRun:
    before = server.connections()
    conns = [kvstore.connect(server.endpoint) for _ in range(min(writers, connections))]
    try:
        # Untimed: every channel connects and does one put; the revision before the timed part.
        await asyncio.gather(*(c.put(b"/bench/netw/hello%03d" % i, value) for i, c in enumerate(conns)))
        first_rev = (await conns[0].put(b"/bench/netw/start", b"")).header.revision
        opened = server.connections() - before
        counts = [0] * writers
        deadline = 0.0

        async def writer(i: int) -> None:
            prefix = b"/bench/netw/c%03d/" % i
            put = conns[i % len(conns)].put
            clock = time.perf_counter
            n = 0
            while clock() < deadline:
                await put(prefix + b"%09d" % n, value)
                n += 1
            counts[i] = n

        cpu0 = server.cpu_seconds()
        start = time.perf_counter()
        deadline = start + seconds
        await asyncio.gather(*(writer(i) for i in range(writers)))
        elapsed = time.perf_counter() - start
        cpu1 = server.cpu_seconds()
        puts = sum(counts)
        last_rev = (await conns[0].put(b"/bench/netw/end", b"")).header.revision
        problem = ""
        if last_rev - first_rev - 1 != puts:
            problem = f"{puts} puts acknowledged but the revision moved by {last_rev - first_rev - 1}"
        return NetWriteRun(puts, elapsed, cpu1 - cpu0, opened, problem=problem)
    finally:
        for c in conns:
            await c.close()


def planned_runs(cfg: Config) -> int:
    if not cfg.wants("grpc"):
        return 0
    targets = 2 if find_etcd() else 1
    return planned(targets * len(cfg.net_writers) * len(cfg.net_value_sizes), cfg.net_repeat)


def run(cfg: Config) -> tuple[list[Figure], list[str]]:
    if not cfg.wants("grpc"):
        return [], []
    seconds = cfg.net_write_seconds
    etcd = find_etcd()
    version = etcd_version(etcd) if etcd else ""
    etcd_name = f"etcd {version}"
    cells = [(size, writers) for size in cfg.net_value_sizes for writers in cfg.net_writers]
    notes = [
        f"durable puts, gRPC: N asyncio tasks put values on distinct keys for {seconds:g} s over kvstore.connect() "
        f"clients, one client (TCP connection) per writer up to {cfg.net_connections}, shared round-robin beyond; "
        "fsync on; every repetition starts a fresh server in a fresh data directory; reference: the same harness "
        "against etcd started on loopback. server CPU: user+system CPU of the server process per put (lower is "
        "better)",
    ]
    etcd_failed: list[str] = []

    def ours(writers: int, size: int) -> NetWriteRun:
        with kvs_server(cfg) as server:
            return asyncio.run(_over_network(server, writers, cfg.net_connections, seconds, bench_value(size)))

    def theirs(writers: int, size: int) -> NetWriteRun:
        assert etcd is not None
        if etcd_failed:
            return NetWriteRun(0, 0.0)  # it did not start once: do not wait for it again
        try:
            with etcd_server(cfg, etcd, version) as server:
                return asyncio.run(_over_network(server, writers, cfg.net_connections, seconds, bench_value(size)))
        except ServerError as exc:
            etcd_failed.append(str(exc))
            return NetWriteRun(0, 0.0)

    who = "kvs serve" + (f" and {etcd_name}" if etcd else "")
    sizes = ", ".join(size_name(s) for s in cfg.net_value_sizes)
    log(f"write, gRPC: durable puts by {', '.join(map(str, cfg.net_writers))} writers x {sizes} values, {who} ...")
    runs: list[Callable[[], NetWriteRun]] = []
    for size, writers in cells:
        runs.append(functools.partial(ours, writers, size))
        if etcd:
            runs.append(functools.partial(theirs, writers, size))
    measured = interleaved(cfg, runs, repeat=cfg.net_repeat)
    if not etcd:
        notes.append("durable puts, gRPC: the etcd comparison was skipped: no etcd binary on the PATH")
    elif etcd_failed:
        notes.append(f"durable puts, gRPC: the etcd comparison was skipped: etcd did not start: {etcd_failed[0]}")
    step = 2 if etcd else 1
    figures: list[Figure] = []
    cpu_figures: list[Figure] = []
    for k, (size, writers) in enumerate(cells):
        m_ours = measured[k * step]
        m_etcd = measured[k * step + 1] if etcd and not etcd_failed else None
        failures = [r.problem for r in m_ours.all if r.problem]
        if m_etcd is not None:
            failures += [f"{etcd_name}: {r.problem}" for r in m_etcd.all if r.problem]
        label = f"durable puts, {plural(writers, 'writer')}, {size_name(size)}, gRPC"
        panel = f"{size_name(size)} values"
        fig = Figure(
            SCENARIO,
            label,
            "puts/s",
            [r.rate for r in m_ours.samples],
            reference=[r.rate for r in m_etcd.samples] if m_etcd is not None else None,
            reference_label=etcd_name if m_etcd is not None else "",
            failures=failures,
            details=[
                {
                    "target": name,
                    "writers": writers,
                    "value_size": size,
                    "puts": r.puts,
                    "seconds": r.seconds,
                    "server_cpu_seconds": r.server_cpu,
                    "connections": r.connections,
                }
                for name, m in (("kvs serve", m_ours), (etcd_name, m_etcd))
                if m is not None
                for r in m.samples
            ],
            plot="write",
            panel=panel,
            series="kvs gRPC",
            x=writers,
            reference_series=etcd_name,
        )
        if (writers, size) == TARGET_CELL:
            if m_etcd is not None:
                fig.ratio_target, fig.ratio_target_of = TARGET_RATIO, "etcd"
            else:
                fig.target_skipped = ">= 1.00x etcd: skipped (no etcd)"
        figures.append(fig)
        cpu_figures.append(
            Figure(
                SCENARIO_CPU,
                f"{label}, server CPU",
                "CPU us/put",
                [r.cpu_us_per_put for r in m_ours.samples],
                reference=[r.cpu_us_per_put for r in m_etcd.samples] if m_etcd is not None else None,
                reference_label=etcd_name,
                failures=failures,
                lower_is_better=True,
                plot="write_cpu",
                panel=panel,
                series="kvs gRPC (server)",
                x=writers,
                reference_series=f"{etcd_name} (server)",
            )
        )
        for name, m in (("kvs serve", m_ours), (etcd_name, m_etcd)):
            if m is None:
                continue
            counted = ", ".join(str(r.puts) for r in m.all)
            notes.append(
                f"{label}, {name}: puts acknowledged per run (warm-up first) [{counted}] over "
                f"{m.all[-1].connections} TCP connection(s)"
            )
    return figures + cpu_figures, notes
