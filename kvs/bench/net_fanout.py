"""Network watch fan-out: deliveries/s and put -> delivery latency over 1 to 10,000 watch streams.

Each stream carries one watch on one prefix. Up to 1000 streams each stream is its own
TCP connection; beyond that a connection carries 10 streams (HTTP/2 multiplexing, so
10,000 streams are 1000 connections), the same for kvs serve, etcd and the bare push.
The receivers open the streams at the pace the server creates the watches (at most
`net_worker.OPEN_WINDOW` not yet created per worker) and only then does the clock start.
This process and the workers raise their soft limit on open files to the hard limit; the
servers, started afterwards, inherit it.

Unpaced runs: a writer (one `kvstore.connect()` client in this process) puts
`cfg.events_for(n, net=True)` events of 512 bytes under the prefix (fewer for many
streams, so a run delivers about `net_deliveries`) with up to 64 puts in flight; time
runs from the first put to the last delivery. Paced runs: at `fanout_rate_watchers`
streams the writer starts put i at start + i/rate for `fanout_rate_seconds`, open loop
(it never waits for an ack before the next put) and latency counts from the scheduled
time, so a server that slows the writer down cannot hide it (no coordinated omission).

The receivers are lean (see kvs/bench/net_worker.py): hand-rolled HTTP/2 on plain sockets,
each response parsed with the generated `rpc_pb2.WatchResponse.FromString` and every
event's revision checked, spread over `net_receiver_procs` worker processes. A run
where any stream missed, duplicated or reordered an event is FAILED. Measured:
deliveries/s, p50/p99/p999 latency from a put being issued to its event being received,
and the server's CPU seconds (from /proc/<pid>/stat) per million deliveries.

The same harness runs against `kvs serve` and, when `etcd` is on the PATH, a real etcd
started on loopback, interleaved in the same run. Reference: a bare network push, a
trivial server process writing each pre-encoded WatchResponse (gRPC length-prefixed, no
HTTP/2) once per stream to as many loopback connections, read by the same receivers.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import pickle
import select
import struct
import subprocess
import sys
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import kvstore
from kvs.bench import progress
from kvs.bench.common import Config, Measured, bench_value, interleaved, log, planned, plural
from kvs.bench.net_worker import ETCD_WATCH, OPEN_WINDOW, StreamResult, connection_sizes, split
from kvs.bench.pacing import paced_events, schedule, write_paced
from kvs.bench.report import Extra, Figure
from kvs.bench.servers import (
    ServerError,
    ServerProcess,
    child_env,
    etcd_server,
    etcd_version,
    find_etcd,
    kvs_server,
    process_cpu_seconds,
    stop_process,
)
from kvs.bench.stats import percentile, summarize
from kvs.open_files import raise_open_files_limit
from kvstore import prefix_range_end
from kvstore.pb import rpc_pb2

SCENARIO = "net_fanout"
SCENARIO_CPU = "net_fanout_cpu"
SCENARIO_LATENCY = "net_fanout_latency"
SCENARIO_RATE = "net_fanout_rate"  # the paced runs
PREFIX = b"/bench/netfanout/"
TARGET_STREAMS = 1000
TARGET_RATIO = 1.0  # deliveries/s at 1000 streams >= 1.0x etcd's
TARGET_P99_RATIO = 1.0  # p99 put -> delivery at 1000 streams <= 1.0x etcd's
BARE = "bare push"
SERIES = "kvs gRPC"
BARE_SERIES = "bare push"
QUANTILES = (("p50", 50.0), ("p99", 99.0), ("p999", 99.9))
MUX_ABOVE = 1000  # up to this many streams, a TCP connection per stream ...
MUX_STREAMS = 10  # ... beyond, this many streams per connection
_READY_TIMEOUT = 120.0  # seconds for the workers to open every stream, plus ...
_READY_PER_STREAM = 0.01  # ... this much per stream


@dataclass(frozen=True)
class NetFanoutRun:
    target: str  # the server's name, or BARE
    streams: int
    events: int
    deliveries: int  # counted by the receivers
    seconds: float  # first put (or push) -> last delivery
    write_seconds: float  # first put issued -> last put acknowledged (0 for the bare push)
    latency_ms: dict[str, float]  # "p50", "p99", "p999" -> put issued -> event received (empty: not measured)
    server_cpu: float  # CPU seconds the server used from the first put to the last delivery
    receiver_cpu: float  # CPU seconds all receiver processes used meanwhile
    responses: int  # responses (messages) that carried events, all streams together
    connections: int  # established TCP connections at the server while the streams were open
    problems: tuple[str, ...]
    per_conn: int = 1  # streams per TCP connection
    paced: float = 0.0  # the writer's events/s (0: unpaced, up to `fanout_in_flight` puts in flight)
    writer_lag_ms: float = 0.0  # paced: the most a put was issued after its scheduled time

    @property
    def rate(self) -> float:
        return self.deliveries / self.seconds if self.seconds > 0 else 0.0

    @property
    def server_cpu_per_million(self) -> float:
        return self.server_cpu / self.deliveries * 1e6 if self.deliveries else 0.0

    @property
    def receiver_cpu_per_million(self) -> float:
        return self.receiver_cpu / self.deliveries * 1e6 if self.deliveries else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "streams": self.streams,
            "streams_per_connection": self.per_conn,
            "events": self.events,
            "paced_events_per_second": self.paced,
            "deliveries": self.deliveries,
            "seconds": self.seconds,
            "write_seconds": self.write_seconds,
            "writer_lag_ms": self.writer_lag_ms,
            **{f"{q}_ms": v for q, v in self.latency_ms.items()},
            "server_cpu_seconds": self.server_cpu,
            "receiver_cpu_seconds": self.receiver_cpu,
            "responses": self.responses,
            "connections": self.connections,
            "problems": list(self.problems),
        }


def streams_per_connection(n: int) -> int:
    """Streams per TCP connection for a run of `n` streams: 1 up to MUX_ABOVE, then MUX_STREAMS."""
    return 1 if n <= MUX_ABOVE else MUX_STREAMS


def planned_runs(cfg: Config) -> int:
    """How many runs `run(cfg)` makes (warm-ups and repetitions), for the progress bar."""
    if not cfg.wants("grpc"):
        return 0
    servers = 2 if find_etcd() else 1
    return planned(servers + 1, cfg.net_repeat) * len(cfg.net_watchers) + planned(servers, cfg.net_repeat) * len(
        cfg.fanout_rates
    )


# ------------------------------------------------------------ worker processes


class WorkerError(RuntimeError):
    """A worker process said something unexpected, or nothing in time."""


class Worker:
    """A `python -m kvs.bench.net_worker ROLE` subprocess, spoken to line by line.

    Plain blocking pipes with select() timeouts: the parent only waits on its workers
    while it has nothing else to do (before the first put, after the last one).
    """

    def __init__(self, role: str, job: dict[str, Any]) -> None:
        self.role = role
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kvs.bench.net_worker", role],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=child_env(),
        )
        self.buf = b""
        self.send(json.dumps(job))

    def send(self, line: str) -> None:
        stdin = self.proc.stdin
        assert stdin is not None
        with contextlib.suppress(BrokenPipeError, ValueError):
            stdin.write(line.encode() + b"\n")
            stdin.flush()

    def _fill(self, deadline: float) -> None:
        """Read whatever the worker writes next, waiting until `deadline` at most."""
        stdout = self.proc.stdout
        assert stdout is not None
        wait = deadline - time.monotonic()
        if wait <= 0 or not select.select([stdout], [], [], wait)[0]:
            raise WorkerError(f"{self.role} worker: no answer in time")
        chunk = os.read(stdout.fileno(), 1 << 20)
        if not chunk:
            raise WorkerError(f"{self.role} worker exited (status {self.proc.wait()})")
        self.buf += chunk

    def line(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            self._fill(deadline)
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode().strip()

    def expect(self, word: str, timeout: float) -> str:
        got = self.line(timeout)
        if not got.startswith(word):
            raise WorkerError(f"{self.role} worker said {got!r}, expected {word!r}")
        return got

    def result(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while len(self.buf) < 8:
            self._fill(deadline)
        size = struct.unpack(">Q", self.buf[:8])[0]
        while len(self.buf) < 8 + size:
            self._fill(deadline)
        body, self.buf = self.buf[8 : 8 + size], self.buf[8 + size :]
        out: dict[str, Any] = pickle.loads(body)  # our own child's output
        return out

    def close(self) -> None:
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        stop_process(self.proc)


def ready_timeout(n: int) -> float:
    """Seconds the receivers get to open `n` streams (all workers together)."""
    return _READY_TIMEOUT + n * _READY_PER_STREAM


def start_receivers(
    cfg: Config,
    n: int,
    host: str,
    port: int,
    first: int,
    http2: bool,
    *,
    events: int | None = None,
    request: bytes | None = None,
    path: str = ETCD_WATCH,
    per_conn: int = 1,
) -> tuple[list[Worker], list[str]]:
    """Receiver processes for `n` streams, `per_conn` per connection, each sending `request` (default:
    an etcd watch of PREFIX) to `path`, expecting `events` (default: cfg.net_events) from revision `first`."""
    if request is None:
        request = rpc_pb2.WatchRequest(
            create_request=rpc_pb2.WatchCreateRequest(key=PREFIX, range_end=prefix_range_end(PREFIX))
        ).SerializeToString()
    workers: list[Worker] = []
    problems: list[str] = []
    for k in split(n, cfg.net_receiver_procs):
        job = {
            "host": host,
            "port": port,
            "streams": k,
            "events": cfg.net_events if events is None else events,
            "first": first,
            "http2": http2,
            "create_request": request.hex(),
            "path": path,
            "per_conn": per_conn,
        }
        workers.append(Worker("watch", job))
    deadline = time.monotonic() + ready_timeout(n)
    for w in workers:
        try:
            w.expect("ready", max(0.01, deadline - time.monotonic()))
        except WorkerError as exc:
            problems.append(f"receivers did not get ready: {exc}")
    return workers, problems


def await_done(workers: Sequence[Worker], timeout: float) -> list[str]:
    problems: list[str] = []
    deadline = time.monotonic() + timeout
    for w in workers:
        try:
            w.expect("done", max(0.01, deadline - time.monotonic()))
        except WorkerError as exc:
            problems.append(f"not every stream received every event within {timeout:g} s of the last write ({exc})")
    return problems


def collect_results(workers: Sequence[Worker]) -> tuple[list[StreamResult], float, list[str]]:
    """Tell every receiver to finish; their streams' results and their CPU seconds receiving."""
    time.sleep(0.05)  # a grace period: a duplicate still in flight would arrive now
    for w in workers:
        w.send("finish")
    streams: list[StreamResult] = []
    cpu = 0.0
    problems: list[str] = []
    for w in workers:
        try:
            res = w.result(60.0)
        except WorkerError as exc:
            problems.append(f"a receiver process gave no result ({exc})")
            continue
        streams.extend(StreamResult(**s) for s in res["streams"])
        cpu += res["cpu_receive"]
    return streams, cpu, problems


@dataclass(frozen=True)
class Checked:
    """What the receivers' results add up to: deliveries, responses and every latency (sorted, s)."""

    deliveries: int
    responses: int
    latencies: list[float] = field(default_factory=list)

    def ms(self, q: float) -> float:
        """The q-th percentile latency in ms (0 when none was measured)."""
        return percentile(self.latencies, q) * 1000 if self.latencies else 0.0

    def quantiles_ms(self) -> dict[str, float]:
        return {name: self.ms(q) for name, q in QUANTILES} if self.latencies else {}


def check(
    n: int, events: int, streams: list[StreamResult], issued: array[float] | None, problems: list[str]
) -> Checked:
    """Check every stream got every event; what they add up to. Adds what went wrong to `problems`.

    `issued[i]` is when the put that got revision first + i was issued (None: no latency).
    """
    if len(streams) != n:
        problems.append(f"{len(streams)} streams reported, expected {n}")
    bad = 0
    latencies: list[float] = []
    for i, s in enumerate(streams):
        if s.problem or s.count != events:
            bad += 1
            if bad <= 3:
                problems.append(f"stream {i}: {s.problem or f'received {s.count} events'}")
            continue
        if issued is not None:
            times = array("d")
            times.frombytes(s.times)
            latencies.extend([t - t0 for t, t0 in zip(times, issued, strict=True)])
    if bad > 3:
        problems.append(f"... {bad} streams in all got the wrong events")
    deliveries = sum(s.count for s in streams)
    expected = n * events
    if deliveries != expected:
        problems.append(f"counted {deliveries} deliveries, expected {n} x {events} = {expected}")
    latencies.sort()
    return Checked(deliveries, sum(s.responses for s in streams), latencies)


def check_streams(
    n: int, events: int, streams: list[StreamResult], issued: array[float] | None, problems: list[str]
) -> tuple[int, float, float, int]:
    """`check`, as deliveries, p50 and p99 (ms) and responses."""
    c = check(n, events, streams, issued, problems)
    return c.deliveries, c.ms(50), c.ms(99), c.responses


# ------------------------------------------------------------ one run against a server


async def _server_run(
    server: ServerProcess, n: int, cfg: Config, value: bytes, events: int, rate: float
) -> NetFanoutRun:
    clock = time.monotonic  # CLOCK_MONOTONIC: the receivers' clock too
    keys = [PREFIX + b"%08d" % i for i in range(events)]
    issued = [0.0] * events
    revisions = [0] * events
    problems: list[str] = []
    streams: list[StreamResult] = []
    first = connections = 0
    receiver_cpu = cpu0 = cpu1 = lag = 0.0
    per_conn = streams_per_connection(n)
    start = write_end = clock()
    client = kvstore.connect(server.endpoint)
    workers: list[Worker] = []
    try:
        base = (await client.put(b"/bench/netbase", b"")).header.revision  # also connects, untimed
        first = base + 1
        host, port = server.endpoint.rsplit(":", 1)
        workers, problems = start_receivers(cfg, n, host, int(port), first, True, events=events, per_conn=per_conn)
        connections = server.connections()
        put = client.put

        async def put_one(i: int) -> None:
            revisions[i] = (await put(keys[i], value)).header.revision

        todo = iter(range(events))

        async def writer() -> None:
            for i in todo:  # shared by every writer task: at most `in_flight` puts outstanding
                issued[i] = clock()
                await put_one(i)

        cpu0 = server.cpu_seconds()
        start = clock()
        if not problems:
            if rate > 0:
                lag = await write_paced(put_one, schedule(rate, events), start, issued)
            else:
                await asyncio.gather(*(writer() for _ in range(cfg.fanout_in_flight)))
        write_end = clock()
        if not problems:
            problems.extend(await_done(workers, cfg.net_timeout))
        cpu1 = server.cpu_seconds()
        streams, receiver_cpu, more = collect_results(workers)
        problems.extend(more)
    except kvstore.KVError as exc:
        problems.append(f"a put failed: {exc!r}")
    finally:
        await client.close()
        for w in workers:
            w.close()

    if sorted(revisions) != list(range(first, first + events)):
        problems.append(f"the puts did not get the revisions {first}..{first + events - 1}")
    by_revision = array("d", bytes(8 * events))
    for i, rev in enumerate(revisions):
        if first <= rev < first + events:
            by_revision[rev - first] = issued[i]
    checked = check(n, events, streams, by_revision, problems)
    done = [s.done_at for s in streams if s.done_at]
    end = max(done) if done and len(done) == len(streams) else clock()
    return NetFanoutRun(
        server.name,
        n,
        events,
        checked.deliveries,
        end - start,
        max(0.0, write_end - start),
        checked.quantiles_ms(),
        max(0.0, cpu1 - cpu0),  # 0 when the run broke off before measuring
        receiver_cpu,
        checked.responses,
        connections,
        tuple(problems),
        per_conn,
        float(rate),
        lag * 1000,
    )


# ------------------------------------------------------------ the bare network reference


def _bare_run(n: int, cfg: Config, value: bytes, events: int) -> NetFanoutRun:
    clock = time.monotonic
    per_conn = streams_per_connection(n)
    job = {"streams": n, "events": events, "first": 1, "key_prefix": PREFIX.hex(), "value": value.hex()}
    push = Worker("push", job)
    workers: list[Worker] = []
    problems: list[str] = []
    streams: list[StreamResult] = []
    receiver_cpu = cpu0 = cpu1 = 0.0
    start = clock()
    try:
        port = int(push.expect("port", _READY_TIMEOUT).split()[1])
        workers, problems = start_receivers(cfg, n, "127.0.0.1", port, 1, False, events=events, per_conn=per_conn)
        push.expect("ready", ready_timeout(n))
        cpu0 = process_cpu_seconds(push.proc.pid)
        start = clock()
        push.send("go")
        if not problems:
            problems.extend(await_done(workers, cfg.net_timeout))
        cpu1 = process_cpu_seconds(push.proc.pid)
        streams, receiver_cpu, more = collect_results(workers)
        problems.extend(more)
        push.send("finish")
    except WorkerError as exc:
        problems.append(str(exc))
    finally:
        for w in [*workers, push]:
            w.close()
    checked = check(n, events, streams, None, problems)
    done = [s.done_at for s in streams if s.done_at]
    end = max(done) if done and len(done) == len(streams) else clock()
    connections = sum(len(connection_sizes(k, per_conn)) for k in split(n, cfg.net_receiver_procs))
    return NetFanoutRun(
        BARE,
        n,
        events,
        checked.deliveries,
        end - start,
        0.0,
        {},
        max(0.0, cpu1 - cpu0),
        receiver_cpu,
        checked.responses,
        connections,
        tuple(problems),
        per_conn,
    )


# ------------------------------------------------------------ the figures


def _server_runner(
    server: ServerProcess, n: int, cfg: Config, value: bytes, events: int, rate: float = 0.0
) -> Callable[[], NetFanoutRun]:
    def one() -> NetFanoutRun:
        return asyncio.run(_server_run(server, n, cfg, value, events, rate))

    return one


def _sockets(n: int, per_conn: int) -> str:
    if per_conn == 1:
        return plural(n, "socket")
    return f"{plural(-(-n // per_conn), 'socket')} x {per_conn} streams"


def _latency_figures(
    scenario: str,
    label: str,
    ours: list[NetFanoutRun],
    etcd: list[NetFanoutRun] | None,
    etcd_name: str,
    failures: list[str],
    plot: str,
    x: float,
) -> list[Figure]:
    figures = []
    for q, _ in QUANTILES:
        fig = Figure(
            scenario,
            f"{label}, put -> delivery {q}",
            "ms",
            [r.latency_ms.get(q, 0.0) for r in ours],
            reference=[r.latency_ms.get(q, 0.0) for r in etcd] if etcd is not None else None,
            reference_label=etcd_name,
            failures=failures,
            lower_is_better=True,
            plot=plot,
            panel=q,
            series=SERIES,
            x=x,
            reference_series=etcd_name if etcd is not None else "",
        )
        figures.append(fig)
    return figures


def _figures(
    n: int,
    ours: list[NetFanoutRun],
    etcd: list[NetFanoutRun] | None,
    bare: list[NetFanoutRun],
    etcd_name: str,
    warmups: list[NetFanoutRun],
) -> list[Figure]:
    every_run = [*ours, *(etcd or []), *bare]  # the raw samples keep a reference that is dropped below
    failures, etcd, etcd_skip = _split_failures(ours, etcd, warmups)
    if bare and _failed(bare, warmups):
        bare = []  # a reference that missed events is no reference; its note says FAILED
    streams = plural(n, "stream")
    label = f"net fan-out, {streams}, gRPC"
    bare_extra = Extra(f"bare push to {_sockets(n, streams_per_connection(n))}", [r.rate for r in bare], BARE_SERIES)
    if etcd is not None:
        ref, ref_label, ref_series, more = [r.rate for r in etcd], etcd_name, etcd_name, [bare_extra]
        label += " (vs etcd)"
    else:
        ref, ref_label, ref_series, more = bare_extra.samples, bare_extra.label, BARE_SERIES, []
        label += " (vs bare push)"
    throughput = Figure(
        SCENARIO,
        label,
        "deliveries/s",
        [r.rate for r in ours],
        reference=ref,
        reference_label=ref_label,
        failures=failures,
        details=[r.to_json() for r in every_run],
        more=more,
        plot="fanout",
        panel="network",
        series=SERIES,
        x=n,
        reference_series=ref_series,
    )
    cpu = Figure(
        SCENARIO_CPU,
        f"net fan-out, {streams}, gRPC, server CPU",
        "CPU s/M deliv.",
        [r.server_cpu_per_million for r in ours],
        reference=[r.server_cpu_per_million for r in etcd] if etcd is not None else None,
        reference_label=etcd_name,
        failures=failures,
        more=[
            Extra(
                f"bare push server, {_sockets(n, streams_per_connection(n))}",
                [r.server_cpu_per_million for r in bare],
                f"{BARE_SERIES} (server)",
            )
        ],
        lower_is_better=True,
        plot="fanout_cpu",
        series=f"{SERIES} (server)",
        x=n,
        reference_series=f"{etcd_name} (server)" if etcd is not None else "",
    )
    latency = _latency_figures(
        SCENARIO_LATENCY, f"net fan-out {streams}, gRPC", ours, etcd, etcd_name, failures, "fanout_latency", n
    )
    if n == TARGET_STREAMS:
        p99 = next(f for f in latency if f.panel == "p99")
        if etcd is not None:
            throughput.ratio_target, throughput.ratio_target_of = TARGET_RATIO, "etcd"
            p99.ratio_target, p99.ratio_target_of = TARGET_P99_RATIO, "etcd"
        else:
            throughput.target_skipped = f">= {TARGET_RATIO:.2f}x etcd: skipped ({etcd_skip})"
            p99.target_skipped = f"<= {TARGET_P99_RATIO:.2f}x etcd: skipped ({etcd_skip})"
    return [throughput, cpu, *latency]


def _failed(runs: list[NetFanoutRun], warmups: list[NetFanoutRun]) -> bool:
    """Whether any run of that target (its warm-up included) missed, duplicated or reordered events."""
    target = runs[0].target
    return any(r.problems for r in [*runs, *warmups] if r.target == target)


def _split_failures(
    ours: list[NetFanoutRun], etcd: list[NetFanoutRun] | None, warmups: list[NetFanoutRun]
) -> tuple[list[str], list[NetFanoutRun] | None, str]:
    """Our failures (they fail the figure), and etcd's runs unless they failed (then the reference is dropped).

    A reference that failed says nothing about our figure, so it does not FAIL it; its note says FAILED.
    """
    target = ours[0].target if ours else ""
    failures = [f"{r.target}: {p}" for r in [*warmups, *ours] if r.target == target for p in r.problems]
    if etcd is None:
        return failures, None, "no etcd"
    if etcd and _failed(etcd, warmups):
        return failures, None, "etcd FAILED, see its note"
    return failures, etcd, ""


def _rate_figures(
    rate: int,
    m: int,
    ours: list[NetFanoutRun],
    etcd: list[NetFanoutRun] | None,
    etcd_name: str,
    warmups: list[NetFanoutRun],
) -> list[Figure]:
    failures, etcd, _ = _split_failures(ours, etcd, warmups)
    label = f"net fan-out {plural(m, 'stream')} at {rate:,} events/s, gRPC"
    throughput = Figure(
        SCENARIO_RATE,
        f"{label}, deliveries/s" + (" (vs etcd)" if etcd is not None else ""),
        "deliveries/s",
        [r.rate for r in ours],
        reference=[r.rate for r in etcd] if etcd is not None else None,
        reference_label=etcd_name,
        failures=failures,
        details=[r.to_json() for r in [*ours, *(etcd or [])]],
    )
    cpu = Figure(
        SCENARIO_RATE,
        f"{label}, server CPU",
        "CPU s/M deliv.",
        [r.server_cpu_per_million for r in ours],
        reference=[r.server_cpu_per_million for r in etcd] if etcd is not None else None,
        reference_label=etcd_name,
        failures=failures,
        lower_is_better=True,
    )
    latency = _latency_figures(SCENARIO_RATE, label, ours, etcd, etcd_name, failures, "fanout_rate", rate)
    return [*latency, throughput, cpu]


def _note(what: str, name: str, every: list[NetFanoutRun]) -> str:
    counted = ", ".join(str(r.deliveries) for r in every)
    ok = not any(r.problems for r in every)
    verdict = "OK, every stream saw exactly the revisions written, in order" if ok else "FAILED"
    deliveries = sum(r.deliveries for r in every)
    per_response = deliveries / max(1, sum(r.responses for r in every))
    receiver_cpu = sum(r.receiver_cpu for r in every) / max(1, deliveries) * 1e6
    server_cpu = sum(r.server_cpu for r in every) / max(1, deliveries) * 1e6
    n, events = every[0].streams, every[0].events
    text = (
        f"{what}, {name}: deliveries counted per run (warm-up first) [{counted}] "
        f"(expected {plural(n, 'stream')} x {events} events = {n * events}): {verdict}; "
        f"{per_response:.1f} events per response; server {server_cpu:.2f}, receivers {receiver_cpu:.2f} "
        f"CPU s per million deliveries; {every[-1].connections} established TCP connections at the server "
        "during the run"
    )
    timed = [r for r in every if r.write_seconds > 0 and not r.problems]
    if name != BARE and timed:
        writes = sum(r.events for r in timed) / sum(r.write_seconds for r in timed)
        text += f"; the writer's puts/s meanwhile {writes:,.0f}"
    if every[0].paced:
        text += f"; the writer started a put at most {max(r.writer_lag_ms for r in every):.1f} ms after its time"
    return text


def _ratio_note(what: str, ours: Measured[NetFanoutRun], etcd: Measured[NetFanoutRun]) -> str | None:
    """ours/etcd deliveries/s and p99 latency (medians), unless a run of either failed."""
    if any(r.problems for r in [*ours.all, *etcd.all]):
        return None
    ours_rate = summarize([r.rate for r in ours.samples]).median
    etcd_rate = summarize([r.rate for r in etcd.samples]).median
    if etcd_rate <= 0:
        return None
    text = f"{what}: ours/etcd {ours_rate / etcd_rate:.2f}x deliveries/s"
    p99 = summarize([r.latency_ms.get("p99", 0.0) for r in ours.samples]).median
    etcd_p99 = summarize([r.latency_ms.get("p99", 0.0) for r in etcd.samples]).median
    if etcd_p99 > 0:
        text += f", {p99 / etcd_p99:.2f}x p99 latency"
    return text


# ------------------------------------------------------------ the scenario


def run(cfg: Config) -> tuple[list[Figure], list[str]]:
    if not cfg.wants("grpc"):
        return [], []
    limit = raise_open_files_limit()  # the servers started below inherit it
    value = bench_value(cfg.fanout_value_size)
    etcd = find_etcd()
    notes = [
        f"net fan-out: each stream carries one watch on one prefix; up to {MUX_ABOVE} streams each is its own TCP "
        f"connection, beyond that {MUX_STREAMS} streams share a connection (HTTP/2 streams), the same for every "
        f"server and the bare push (open files allowed per process: {limit}); the receivers open streams as fast "
        f"as the server creates their watches (at most {OPEN_WINDOW} waiting per receiver process), then the clock "
        "starts. A writer (one kvstore.connect() "
        f"client) puts {cfg.fanout_value_size}-byte values; unpaced, {cfg.net_events:,} events (fewer for many "
        f"streams: about {cfg.net_deliveries:,} deliveries a run) with up to {cfg.fanout_in_flight} puts in flight, "
        "timed from the first put to the last delivery. Receivers: hand-rolled HTTP/2 on plain sockets, every "
        "response parsed with rpc_pb2.WatchResponse.FromString and every revision checked, spread over up to "
        f"{cfg.net_receiver_procs} processes (kvs/bench/net_worker.py); the writer runs in the benchmark's own process",
        f"net fan-out paced: at {plural(cfg.fanout_rate_watchers, 'stream')} the writer starts put i at "
        f"start + i/rate for {cfg.fanout_rate_seconds:g} s, open loop (never waiting for an ack before the next), "
        "and latency counts from each put's scheduled time, so a server that slows the writer down cannot hide it",
        "net fan-out reference 'bare push': a trivial Python server writes each pre-encoded WatchResponse "
        "(gRPC length-prefixed, no HTTP/2) once per stream to as many loopback sockets, per event, read by the "
        "same receivers. server CPU: the server process's user+system CPU seconds (/proc/<pid>/stat) from the first "
        "put to the last delivery, per million deliveries (lower is better, as is latency: put issued -> event "
        "received, p50/p99/p999 over every delivery of a run)",
    ]
    version = etcd_version(etcd) if etcd else ""
    etcd_name = f"etcd {version}"
    figures: list[Figure] = []
    with contextlib.ExitStack() as stack:
        log("fanout, gRPC: starting kvs serve" + (f" and {etcd_name}" if etcd else "") + " ...")
        ours_server = stack.enter_context(kvs_server(cfg))
        etcd_proc: ServerProcess | None = None
        if etcd:
            try:
                etcd_proc = stack.enter_context(etcd_server(cfg, etcd, version))
            except ServerError as exc:
                notes.append(f"net fan-out: the etcd comparison was skipped: etcd did not start: {exc}")
                skipped = len(cfg.net_watchers) + len(cfg.fanout_rates)
                progress.current().advance(planned(skipped, cfg.net_repeat))  # planned_runs counted them
        else:
            notes.append("net fan-out: the etcd comparison was skipped: no etcd binary on the PATH")
        for n in cfg.net_watchers:
            events = cfg.events_for(n, net=True)
            who = "kvs serve" + (f", {etcd_name}" if etcd_proc else "") + " and the bare push"
            log(f"fanout, gRPC: {plural(n, 'stream')} x {events} events: {who} ...")
            runs = [_server_runner(ours_server, n, cfg, value, events)]
            if etcd_proc is not None:
                runs.append(_server_runner(etcd_proc, n, cfg, value, events))
            runs.append(functools.partial(_bare_run, n, cfg, value, events))
            measured = interleaved(cfg, runs, repeat=cfg.net_repeat)
            m_ours, m_bare = measured[0], measured[-1]
            m_etcd = measured[1] if etcd_proc is not None else None
            figures.extend(
                _figures(
                    n,
                    m_ours.samples,
                    m_etcd.samples if m_etcd else None,
                    m_bare.samples,
                    etcd_name,
                    [m.warmup for m in measured],
                )
            )
            what = f"net fan-out, {plural(n, 'stream')}"
            notes.append(_note(what, "kvs serve", m_ours.all))
            if m_etcd is not None:
                notes.append(_note(what, etcd_name, m_etcd.all))
            notes.append(_note(what, BARE, m_bare.all))
            if m_etcd is not None and (ratio := _ratio_note(what, m_ours, m_etcd)):
                notes.append(ratio)
        m = cfg.fanout_rate_watchers
        for rate in cfg.fanout_rates:
            events = paced_events(cfg, rate)
            who = "kvs serve" + (f" and {etcd_name}" if etcd_proc else "")
            log(f"fanout, gRPC: {plural(m, 'stream')}, {events} events paced at {rate:,} events/s: {who} ...")
            runs = [_server_runner(ours_server, m, cfg, value, events, rate)]
            if etcd_proc is not None:
                runs.append(_server_runner(etcd_proc, m, cfg, value, events, rate))
            measured = interleaved(cfg, runs, repeat=cfg.net_repeat)
            m_ours = measured[0]
            m_etcd = measured[1] if etcd_proc is not None else None
            figures.extend(
                _rate_figures(
                    rate, m, m_ours.samples, m_etcd.samples if m_etcd else None, etcd_name, [x.warmup for x in measured]
                )
            )
            what = f"net fan-out {plural(m, 'stream')} at {rate:,} events/s"
            notes.append(_note(what, "kvs serve", m_ours.all))
            if m_etcd is not None:
                notes.append(_note(what, etcd_name, m_etcd.all))
                if ratio := _ratio_note(what, m_ours, m_etcd):
                    notes.append(ratio)
    order = {SCENARIO: 0, SCENARIO_CPU: 1, SCENARIO_LATENCY: 2, SCENARIO_RATE: 3}
    figures.sort(key=lambda f: order[f.scenario])  # stable: watcher counts, then rates, stay in order
    return figures, notes
