"""Network durable puts: puts/s with 32 concurrent clients against `kvs serve` (fsync on).

32 asyncio tasks, each with its own `kvstore.connect()` client (its own gRPC channel),
put 128-byte values on distinct keys for a fixed time; puts/s is the number of
acknowledged puts over the time until the last client is done. Every repetition starts
a fresh server in a fresh data directory (untimed). The same harness runs against a real
etcd started on loopback when `etcd` is on the PATH, interleaved in the same run; the
embedded store with 32 writer tasks (no network) is measured too. Also reported: the
server's CPU time per put and how many TCP connections the clients' channels opened.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import kvstore
from bench.common import Config, bench_value, fresh_dir, interleaved, log
from bench.report import Figure
from bench.servers import ServerProcess, ServerStartError, etcd_server, etcd_version, find_etcd, kvs_server
from bench.store_write import embedded_puts

SCENARIO = "net_write"
SCENARIO_CPU = "net_write_cpu"


@dataclass(frozen=True)
class NetWriteRun:
    puts: int
    seconds: float
    server_cpu: float = 0.0  # CPU seconds of the server process while the clients wrote
    connections: int = 0  # TCP connections the clients' channels opened to the server
    commits: int = 0  # group commits (the embedded store only)
    problem: str = ""

    @property
    def rate(self) -> float:
        return self.puts / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_us_per_put(self) -> float:
        return self.server_cpu / self.puts * 1e6 if self.puts else 0.0


async def _over_network(server: ServerProcess, clients: int, seconds: float, value: bytes) -> NetWriteRun:
    before = server.connections()
    conns = [kvstore.connect(server.endpoint) for _ in range(clients)]
    try:
        # Untimed: every channel connects and does one put; the revision before the timed part.
        await asyncio.gather(*(c.put(b"/bench/netw/hello%03d" % i, value) for i, c in enumerate(conns)))
        first_rev = (await conns[0].put(b"/bench/netw/start", b"")).header.revision
        connections = server.connections() - before
        counts = [0] * clients
        deadline = 0.0

        async def client(i: int) -> None:
            prefix = b"/bench/netw/c%03d/" % i
            put = conns[i].put
            clock = time.perf_counter
            n = 0
            while clock() < deadline:
                await put(prefix + b"%09d" % n, value)
                n += 1
            counts[i] = n

        cpu0 = server.cpu_seconds()
        start = time.perf_counter()
        deadline = start + seconds
        await asyncio.gather(*(client(i) for i in range(clients)))
        elapsed = time.perf_counter() - start
        cpu1 = server.cpu_seconds()
        puts = sum(counts)
        last_rev = (await conns[0].put(b"/bench/netw/end", b"")).header.revision
        problem = ""
        if last_rev - first_rev - 1 != puts:
            problem = f"{puts} puts acknowledged but the revision moved by {last_rev - first_rev - 1}"
        return NetWriteRun(puts, elapsed, cpu1 - cpu0, connections, problem=problem)
    finally:
        for c in conns:
            await c.close()


async def _embedded(path: str, writers: int, seconds: float, value: bytes) -> NetWriteRun:
    run = await embedded_puts(path, writers, seconds, value)
    return NetWriteRun(run.puts, run.seconds, commits=run.commits, problem=run.problem)


def run(cfg: Config) -> tuple[list[Figure], list[str]]:
    value = bench_value(cfg.value_size)
    clients = cfg.net_clients
    seconds = cfg.net_write_seconds
    etcd = find_etcd()
    version = etcd_version(etcd) if etcd else ""
    etcd_name = f"etcd {version}"
    notes = [
        f"net durable puts: {clients} asyncio tasks, each with its own kvstore.connect() client, put "
        f"{cfg.value_size}-byte values on distinct keys for {seconds:g} s; fsync on; every repetition starts a "
        "fresh server in a fresh data directory; references: the same harness against etcd started on loopback, "
        f"and the embedded store with {clients} writer tasks (no network). server CPU: user+system CPU of the "
        "server process per put (lower is better)",
    ]
    etcd_failed: list[str] = []

    def ours() -> NetWriteRun:
        with kvs_server(cfg) as server:
            return asyncio.run(_over_network(server, clients, seconds, value))

    def theirs() -> NetWriteRun:
        assert etcd is not None
        if etcd_failed:
            return NetWriteRun(0, 0.0)  # it did not start once: do not wait for it again
        try:
            with etcd_server(cfg, etcd, version) as server:
                return asyncio.run(_over_network(server, clients, seconds, value))
        except ServerStartError as exc:
            etcd_failed.append(str(exc))
            return NetWriteRun(0, 0.0)

    def embedded() -> NetWriteRun:
        with fresh_dir(cfg, "netw-embedded") as path:
            return asyncio.run(_embedded(path, clients, seconds, value))

    who = "kvs serve" + (f", {etcd_name}" if etcd else "") + " and the embedded store"
    log(f"net a) durable puts: {clients} clients for {seconds:g} s against {who} ...")
    runs: list[Callable[[], NetWriteRun]] = [ours, *([theirs] if etcd else []), embedded]
    measured = interleaved(cfg, runs, repeat=cfg.net_repeat)
    m_ours, m_emb = measured[0], measured[-1]
    m_etcd = measured[1] if etcd and not etcd_failed else None
    if not etcd:
        notes.append("net durable puts: the etcd comparison was skipped: no etcd binary on the PATH")
    elif etcd_failed:
        notes.append(f"net durable puts: the etcd comparison was skipped: etcd did not start: {etcd_failed[0]}")
    emb = [r.rate for r in m_emb.samples]
    emb_label = f"embedded store, {clients} writer tasks"
    failures = [r.problem for r in m_ours.all if r.problem]
    if m_etcd is not None:
        failures += [f"{etcd_name}: {r.problem}" for r in m_etcd.all if r.problem]
    label = f"net durable puts, {clients} clients"
    if m_etcd is not None:
        ref, ref_label, more = [r.rate for r in m_etcd.samples], etcd_name, [(emb_label, emb)]
        label += " (vs etcd)"
    else:
        ref, ref_label, more = emb, emb_label, []
        label += " (vs embedded)"
    figures = [
        Figure(
            SCENARIO,
            label,
            "puts/s",
            [r.rate for r in m_ours.samples],
            reference=ref,
            reference_label=ref_label,
            failures=failures,
            more=more,
            details=[
                {
                    "target": name,
                    "puts": r.puts,
                    "seconds": r.seconds,
                    "server_cpu_seconds": r.server_cpu,
                    "connections": r.connections,
                    "commits": r.commits,
                }
                for name, m in (("kvs serve", m_ours), (etcd_name, m_etcd), ("embedded", m_emb))
                if m is not None
                for r in m.samples
            ],
        ),
        Figure(
            SCENARIO_CPU,
            f"net durable puts, {clients} clients, server CPU",
            "CPU us/put",
            [r.cpu_us_per_put for r in m_ours.samples],
            reference=[r.cpu_us_per_put for r in m_etcd.samples] if m_etcd is not None else None,
            reference_label=etcd_name,
            failures=failures,
        ),
    ]
    for name, m in (("kvs serve", m_ours), (etcd_name, m_etcd)):
        if m is None:
            continue
        counted = ", ".join(str(r.puts) for r in m.all)
        notes.append(
            f"net durable puts, {name}: puts acknowledged per run (warm-up first) [{counted}]; the {clients} "
            f"clients' channels opened {m.all[-1].connections} TCP connection(s) to the server"
        )
    per_commit = sum(r.puts for r in m_emb.all) / max(1, sum(r.commits for r in m_emb.all))
    notes.append(f"net durable puts, embedded store: {per_commit:.1f} puts per group commit")
    return figures, notes
