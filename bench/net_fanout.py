"""Network watch fan-out: deliveries/s over 1, 10, 100 and 1000 watch streams.

Each stream is its own TCP connection to the server carrying one watch on one prefix.
A writer (one `kvstore.connect()` client in this process) puts `net_events` events of
512 bytes under the prefix with up to 64 puts in flight; time runs from the first put
to the last delivery. The receivers are lean (see bench/net_worker.py): hand-rolled
HTTP/2 on plain sockets, each response parsed with the generated
`rpc_pb2.WatchResponse.FromString` and every event's revision checked, spread over
`net_receiver_procs` worker processes. A run where any stream missed, duplicated or
reordered an event is FAILED. Also measured: p50/p99 latency from a put being issued to
its event being received, and the server's CPU seconds (from /proc/<pid>/stat) per
million deliveries.

The same harness runs against `kvs serve` and, when `etcd` is on the PATH, a real etcd
started on loopback, interleaved in the same run. Reference: a bare network push, a
trivial server process writing each pre-encoded WatchResponse (gRPC length-prefixed, no
HTTP/2) to N loopback sockets, read by the same receivers.
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
from dataclasses import dataclass
from typing import Any

import kvstore
from bench.common import Config, bench_value, interleaved, log
from bench.net_worker import ETCD_WATCH, StreamResult
from bench.report import Figure
from bench.servers import (
    ServerProcess,
    ServerStartError,
    child_env,
    etcd_server,
    etcd_version,
    find_etcd,
    kvs_server,
    process_cpu_seconds,
    stop_process,
)
from bench.stats import percentile, summarize
from kvstore import prefix_range_end
from kvstore.pb import rpc_pb2

SCENARIO = "net_fanout"
SCENARIO_CPU = "net_fanout_cpu"
SCENARIO_LATENCY = "net_fanout_latency"
PREFIX = b"/bench/netfanout/"
TARGET_STREAMS = 1000
TARGET_RATIO = 1.0  # deliveries/s at 1000 streams >= 1.0x etcd's
BARE = "bare push"
_READY_TIMEOUT = 120.0  # seconds for the workers to open every stream


@dataclass(frozen=True)
class NetFanoutRun:
    target: str  # the server's name, or BARE
    streams: int
    events: int
    deliveries: int  # counted by the receivers
    seconds: float  # first put (or push) -> last delivery
    write_seconds: float  # first put issued -> last put acknowledged (0 for the bare push)
    p50_ms: float
    p99_ms: float
    server_cpu: float  # CPU seconds the server used from the first put to the last delivery
    receiver_cpu: float  # CPU seconds all receiver processes used meanwhile
    responses: int  # responses (messages) that carried events, all streams together
    connections: int  # established TCP connections at the server while the streams were open
    problems: tuple[str, ...]

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
            "events": self.events,
            "deliveries": self.deliveries,
            "seconds": self.seconds,
            "write_seconds": self.write_seconds,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "server_cpu_seconds": self.server_cpu,
            "receiver_cpu_seconds": self.receiver_cpu,
            "responses": self.responses,
            "connections": self.connections,
            "problems": list(self.problems),
        }


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def split(n: int, parts: int) -> list[int]:
    """n streams over at most `parts` workers, as evenly as possible, none empty."""
    parts = max(1, min(parts, n))
    return [n // parts + (1 if i < n % parts else 0) for i in range(parts)]


# ------------------------------------------------------------ worker processes


class WorkerError(RuntimeError):
    """A worker process said something unexpected, or nothing in time."""


class Worker:
    """A `python -m bench.net_worker ROLE` subprocess, spoken to line by line.

    Plain blocking pipes with select() timeouts: the parent only waits on its workers
    while it has nothing else to do (before the first put, after the last one).
    """

    def __init__(self, role: str, job: dict[str, Any]) -> None:
        self.role = role
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.net_worker", role],
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
) -> tuple[list[Worker], list[str]]:
    """Receiver processes for `n` streams, each sending `request` (default: an etcd watch of
    PREFIX) to `path`, expecting `events` (default: cfg.net_events) from revision `first`."""
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
        }
        workers.append(Worker("watch", job))
    for w in workers:
        try:
            w.expect("ready", _READY_TIMEOUT)
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


def check_streams(
    n: int,
    events: int,
    streams: list[StreamResult],
    issued: array[float] | None,
    problems: list[str],
) -> tuple[int, float, float, int]:
    """Deliveries, p50 and p99 (ms) and responses, adding what went wrong to `problems`.

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
    p50 = percentile(latencies, 50) * 1000 if latencies else 0.0
    p99 = percentile(latencies, 99) * 1000 if latencies else 0.0
    return deliveries, p50, p99, sum(s.responses for s in streams)


# ------------------------------------------------------------ one run against a server


async def _server_run(server: ServerProcess, n: int, cfg: Config, value: bytes) -> NetFanoutRun:
    events = cfg.net_events
    clock = time.monotonic  # CLOCK_MONOTONIC: the receivers' clock too
    keys = [PREFIX + b"%08d" % i for i in range(events)]
    issued = [0.0] * events
    revisions = [0] * events
    problems: list[str] = []
    streams: list[StreamResult] = []
    first = connections = 0
    receiver_cpu = cpu0 = cpu1 = 0.0
    start = write_end = clock()
    client = kvstore.connect(server.endpoint)
    workers: list[Worker] = []
    try:
        base = (await client.put(b"/bench/netbase", b"")).header.revision  # also connects, untimed
        first = base + 1
        host, port = server.endpoint.rsplit(":", 1)
        workers, problems = start_receivers(cfg, n, host, int(port), first, True)
        connections = server.connections()
        todo = iter(range(events))

        async def writer() -> None:
            put = client.put
            for i in todo:  # shared by every writer task: at most `in_flight` puts outstanding
                issued[i] = clock()
                revisions[i] = (await put(keys[i], value)).header.revision

        cpu0 = server.cpu_seconds()
        start = clock()
        if not problems:
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
    deliveries, p50, p99, responses = check_streams(n, cfg.net_events, streams, by_revision, problems)
    done = [s.done_at for s in streams if s.done_at]
    end = max(done) if done and len(done) == len(streams) else clock()
    return NetFanoutRun(
        server.name,
        n,
        events,
        deliveries,
        end - start,
        write_end - start,
        p50,
        p99,
        cpu1 - cpu0,
        receiver_cpu,
        responses,
        connections,
        tuple(problems),
    )


# ------------------------------------------------------------ the bare network reference


def _bare_run(n: int, cfg: Config, value: bytes) -> NetFanoutRun:
    events = cfg.net_events
    clock = time.monotonic
    job = {"streams": n, "events": events, "first": 1, "key_prefix": PREFIX.hex(), "value": value.hex()}
    push = Worker("push", job)
    workers: list[Worker] = []
    problems: list[str] = []
    streams: list[StreamResult] = []
    receiver_cpu = cpu0 = cpu1 = 0.0
    start = clock()
    try:
        port = int(push.expect("port", _READY_TIMEOUT).split()[1])
        workers, problems = start_receivers(cfg, n, "127.0.0.1", port, 1, False)
        push.expect("ready", _READY_TIMEOUT)
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
    deliveries, _, _, responses = check_streams(n, cfg.net_events, streams, None, problems)
    done = [s.done_at for s in streams if s.done_at]
    end = max(done) if done and len(done) == len(streams) else clock()
    seconds = end - start
    return NetFanoutRun(
        BARE, n, events, deliveries, seconds, 0.0, 0.0, 0.0, cpu1 - cpu0, receiver_cpu, responses, n, tuple(problems)
    )


# ------------------------------------------------------------ the scenario


def _server_runner(server: ServerProcess, n: int, cfg: Config, value: bytes) -> Callable[[], NetFanoutRun]:
    def one() -> NetFanoutRun:
        return asyncio.run(_server_run(server, n, cfg, value))

    return one


def _figures(
    n: int,
    ours: list[NetFanoutRun],
    etcd: list[NetFanoutRun] | None,
    bare: list[NetFanoutRun],
    etcd_name: str,
    warmups: list[NetFanoutRun],
) -> list[Figure]:
    failures = [f"{r.target}: {p}" for r in [*warmups, *ours, *(etcd or []), *bare] for p in r.problems]
    label = f"net fan-out, {_plural(n, 'stream')}"
    more_bare = [(f"bare push to {_plural(n, 'socket')}", [r.rate for r in bare])]
    if etcd is not None:
        ref, ref_label, more = [r.rate for r in etcd], etcd_name, more_bare
        label += " (vs etcd)"
    else:
        ref, ref_label, more = [r.rate for r in bare], more_bare[0][0], []
        label += " (vs bare push)"
    details = [r.to_json() for r in [*ours, *(etcd or []), *bare]]
    throughput = Figure(
        SCENARIO,
        label,
        "deliveries/s",
        [r.rate for r in ours],
        reference=ref,
        reference_label=ref_label,
        failures=failures,
        details=details,
        more=more,
    )
    if n == TARGET_STREAMS:
        if etcd is not None:
            throughput.ratio_target = TARGET_RATIO
            throughput.ratio_target_of = "etcd"
        else:
            throughput.target_skipped = ">= 1.00x etcd: skipped (no etcd)"
    cpu = Figure(
        SCENARIO_CPU,
        f"net fan-out, {_plural(n, 'stream')}, server CPU",
        "CPU s/M deliv.",
        [r.server_cpu_per_million for r in ours],
        reference=[r.server_cpu_per_million for r in etcd] if etcd is not None else None,
        reference_label=etcd_name,
        failures=failures,
        more=[(f"bare push server, {_plural(n, 'socket')}", [r.server_cpu_per_million for r in bare])],
    )
    latency = [
        Figure(
            SCENARIO_LATENCY,
            f"net fan-out {_plural(n, 'stream')}, put -> delivery {q}",
            "ms",
            [r.p50_ms if q == "p50" else r.p99_ms for r in ours],
            reference=[r.p50_ms if q == "p50" else r.p99_ms for r in etcd] if etcd is not None else None,
            reference_label=etcd_name,
            failures=failures,
        )
        for q in ("p50", "p99")
    ]
    return [throughput, cpu, *latency]


def _note(n: int, cfg: Config, name: str, every: list[NetFanoutRun]) -> str:
    counted = ", ".join(str(r.deliveries) for r in every)
    ok = not any(r.problems for r in every)
    verdict = "OK, every stream saw exactly the revisions written, in order" if ok else "FAILED"
    deliveries = sum(r.deliveries for r in every)
    per_response = deliveries / max(1, sum(r.responses for r in every))
    receiver_cpu = sum(r.receiver_cpu for r in every) / max(1, deliveries) * 1e6
    server_cpu = sum(r.server_cpu for r in every) / max(1, deliveries) * 1e6
    text = (
        f"net fan-out, {_plural(n, 'stream')}, {name}: deliveries counted per run (warm-up first) [{counted}] "
        f"(expected {_plural(n, 'stream')} x {cfg.net_events} events = {n * cfg.net_events}): {verdict}; "
        f"{per_response:.1f} events per response; server {server_cpu:.2f}, receivers {receiver_cpu:.2f} "
        f"CPU s per million deliveries; {every[-1].connections} established TCP connections at the server "
        "during the run"
    )
    if name != BARE:
        writes = sum(r.events for r in every) / max(1e-9, sum(r.write_seconds for r in every))
        text += f"; the writer's puts/s meanwhile {writes:,.0f}"
    return text


def run(cfg: Config) -> tuple[list[Figure], list[str]]:
    value = bench_value(cfg.fanout_value_size)
    etcd = find_etcd()
    notes = [
        f"net fan-out: each stream is its own TCP connection with one watch on one prefix; a writer (one "
        f"kvstore.connect() client) puts {cfg.net_events:,} events of {cfg.fanout_value_size} bytes with up to "
        f"{cfg.fanout_in_flight} puts in flight; time runs from the first put to the last delivery. Receivers: "
        f"hand-rolled HTTP/2 on plain sockets, every response parsed with rpc_pb2.WatchResponse.FromString and "
        f"every revision checked, spread over up to {cfg.net_receiver_procs} processes "
        "(bench/net_worker.py); the writer runs in the benchmark's own process",
        "net fan-out reference 'bare push': a trivial Python server writes each pre-encoded WatchResponse "
        "(gRPC length-prefixed, no HTTP/2) to every one of N loopback sockets, per event, read by the same "
        "receivers. server CPU: the server process's user+system CPU seconds (/proc/<pid>/stat) from the first "
        "put to the last delivery, per million deliveries (lower is better, as is latency)",
    ]
    version = etcd_version(etcd) if etcd else ""
    etcd_name = f"etcd {version}"
    with contextlib.ExitStack() as stack:
        log("net b) watch fan-out: starting kvs serve" + (f" and {etcd_name}" if etcd else "") + " ...")
        ours_server = stack.enter_context(kvs_server(cfg))
        etcd_proc: ServerProcess | None = None
        if etcd:
            try:
                etcd_proc = stack.enter_context(etcd_server(cfg, etcd, version))
            except ServerStartError as exc:
                notes.append(f"net fan-out: the etcd comparison was skipped: etcd did not start: {exc}")
        else:
            notes.append("net fan-out: the etcd comparison was skipped: no etcd binary on the PATH")
        figures: list[Figure] = []
        for n in cfg.net_watchers:
            who = "kvs serve" + (f", {etcd_name}" if etcd_proc else "") + " and the bare push"
            log(f"net b) watch fan-out: {_plural(n, 'stream')} x {cfg.net_events} events: {who} ...")
            runs = [_server_runner(ours_server, n, cfg, value)]
            if etcd_proc is not None:
                runs.append(_server_runner(etcd_proc, n, cfg, value))
            runs.append(functools.partial(_bare_run, n, cfg, value))
            measured = interleaved(cfg, runs, repeat=cfg.net_repeat)
            m_ours, m_bare = measured[0], measured[-1]
            m_etcd = measured[1] if etcd_proc is not None else None
            warmups = [m.warmup for m in measured]
            figures.extend(
                _figures(
                    n,
                    m_ours.samples,
                    m_etcd.samples if m_etcd else None,
                    m_bare.samples,
                    etcd_name,
                    warmups,
                )
            )
            notes.append(_note(n, cfg, "kvs serve", m_ours.all))
            if m_etcd is not None:
                notes.append(_note(n, cfg, etcd_name, m_etcd.all))
            notes.append(_note(n, cfg, BARE, m_bare.all))
            if m_etcd is not None:
                ours_rate = summarize([r.rate for r in m_ours.samples]).median
                etcd_rate = summarize([r.rate for r in m_etcd.samples]).median
                if etcd_rate > 0:
                    notes.append(f"net fan-out, {_plural(n, 'stream')}: ours/etcd {ours_rate / etcd_rate:.2f}x")
    order = {SCENARIO: 0, SCENARIO_CPU: 1, SCENARIO_LATENCY: 2}
    figures.sort(key=lambda f: order[f.scenario])  # stable: watcher counts stay in order
    return figures, notes
