"""The net fan-out's parts: the receivers' checks, HTTP/2 framing and multiplexing, the paced
writer's schedule, percentiles, the run count, the report; one test against a real `kvs serve`."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import struct
import time
from array import array

import pytest

import kvstore
from h2grpc.wire import frame, grpc_message
from kvs.bench import net_fanout
from kvs.bench.common import bench_value, make_config, planned
from kvs.bench.net_fanout import Checked, check, planned_runs, start_receivers
from kvs.bench.net_worker import (
    Conn,
    Receiver,
    StreamResult,
    WatchParser,
    connection_sizes,
    open_watch_bytes,
    split,
)
from kvs.bench.pacing import paced_events, schedule, write_paced
from kvs.bench.report import Extra, Figure, render_table
from kvs.bench.servers import ServerProcess, etcd_server, etcd_version, find_etcd, kvs_server
from kvs.bench.stats import percentile
from kvstore.messages import Event, EventType, KeyValue, ResponseHeader
from kvstore.pb import rpc_pb2
from kvstore.rpc.watch_codec import encode_events, watch_response

QUICK = make_config(quick=True, repeat=None, tmp_base=None)


def _response(*revisions: int, created: bool = False) -> bytes:
    events = [Event(EventType.PUT, KeyValue(b"/k%d" % r, r, r, 1, b"v" * 512)) for r in revisions]
    return watch_response(ResponseHeader(1, 2, max(revisions, default=5), 1), 7, encode_events(events), created=created)


class _Calls:
    def __init__(self) -> None:
        self.created = 0
        self.done = 0

    def on_created(self) -> None:
        self.created += 1

    def on_done(self) -> None:
        self.done += 1


def _receiver(first: int = 10, events: int = 4) -> tuple[Receiver, _Calls]:
    calls = _Calls()
    return Receiver(first, events, calls.on_created, calls.on_done), calls


def test_receiver_counts_events_in_order_and_notes_their_times() -> None:
    r, calls = _receiver()
    r.message(_response(created=True), 1.0)
    r.message(_response(10, 11), 2.0)
    r.message(_response(12), 3.0)
    assert (calls.created, calls.done) == (1, 0)
    r.message(_response(13), 4.0)
    assert calls.done == 1
    res = r.final()
    assert (res.count, res.responses, res.problem, res.done_at) == (4, 3, "", 4.0)
    times = array("d")
    times.frombytes(res.times)
    assert list(times) == [2.0, 2.0, 3.0, 4.0]


def test_receiver_catches_a_missed_event() -> None:
    r, _ = _receiver()
    r.message(_response(10, 12, 13), 1.0)
    res = r.final()
    assert res.missed == 1 and "missed 1" in res.problem
    assert res.count == 3  # and 3 of 4 is not every event


def test_receiver_catches_a_duplicate_and_an_unwritten_revision() -> None:
    r, _ = _receiver()
    r.message(_response(10, 11, 11, 12, 13), 1.0)
    res = r.final()
    assert res.duplicated == 1 and "again or out of order" in res.problem
    r, _ = _receiver()
    r.message(_response(10, 11, 12, 13, 14), 1.0)
    assert "never written" in r.final().problem


def test_receiver_reports_a_canceled_watch() -> None:
    r, _ = _receiver()
    canceled = watch_response(ResponseHeader(1, 2, 5, 1), 7, canceled=True, cancel_reason="gone")
    r.message(canceled, 1.0)
    assert "canceled by the server: gone" in r.final().problem


def test_conn_reassembles_messages_split_across_frames_and_reads() -> None:
    a, b = socket.socketpair()
    try:
        r, calls = _receiver(events=3)
        conn = Conn(a, [r], http2=True)
        data = grpc_message(_response(created=True)) + grpc_message(_response(10, 11)) + grpc_message(_response(12))
        cut = len(data) // 2
        wire = (
            frame(4, 0, 0, struct.pack(">HI", 3, 100))  # the server's SETTINGS: to be acknowledged
            + frame(1, 4, 1, b"\x88")  # response headers: ignored
            + frame(0, 0, 1, data[:cut])
            + frame(6, 0, 0, b"12345678")  # PING: to be answered
            + frame(0, 0, 1, data[cut:])
        )
        for i in range(0, len(wire), 7):  # in small reads, splitting frame headers too
            conn.feed(wire[i : i + 7], 1.0)
        assert (calls.created, calls.done) == (1, 1)
        assert r.final().count == 3
        b.settimeout(5)
        assert b.recv(100) == frame(4, 1, 0) + frame(6, 1, 0, b"12345678")
        conn.feed(frame(1, 5, 1, b"\x88"), 2.0)  # trailers after every event: not a problem
        assert r.finished and r.final().problem == ""
    finally:
        a.close()
        b.close()


def test_conn_reports_a_reset_stream() -> None:
    a, b = socket.socketpair()
    try:
        r, _ = _receiver()
        Conn(a, [r], http2=True).feed(frame(3, 0, 1, struct.pack(">I", 8)), 1.0)
        assert "reset the stream (HTTP/2 error 8)" in r.final().problem
    finally:
        a.close()
        b.close()


def test_open_watch_bytes_carry_the_create_request() -> None:
    req = rpc_pb2.WatchRequest(create_request=rpc_pb2.WatchCreateRequest(key=b"/a/", range_end=b"/a0"))
    data = open_watch_bytes("127.0.0.1:2379", req.SerializeToString())
    assert data.startswith(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
    assert b"/etcdserverpb.Watch/Watch" in data and b"application/grpc" in data
    assert data.endswith(grpc_message(req.SerializeToString()))


def test_streams_are_split_evenly_over_workers() -> None:
    assert split(1, 2) == [1]
    assert split(10, 2) == [5, 5]
    assert split(1001, 2) == [501, 500]
    assert split(3, 1) == [3]


def test_ratio_targets_and_further_references_in_the_table() -> None:
    fig = Figure(
        "net_fanout", "fan-out", "deliveries/s", [200.0], reference=[100.0], more=[Extra("bare", [400.0], "bare push")]
    )
    fig.ratio_target, fig.ratio_target_of = 1.0, "etcd"
    assert fig.target_met is True
    table = "\n".join(render_table([fig]))
    assert ">= 1.00x etcd: met" in table
    assert "  vs bare" in table and "0.50x" in table and "2.00x" in table
    fig.samples = [50.0]
    assert fig.target_met is False
    assert ">= 1.00x etcd: missed" in "\n".join(render_table([fig]))
    skipped = Figure("net_fanout", "fan-out", "deliveries/s", [1.0], target_skipped=">= 1.00x etcd: skipped (no etcd)")
    assert "skipped (no etcd)" in "\n".join(render_table([skipped]))
    assert fig.to_json()["more_references"][0]["ratio"] == 0.125


def _frames(data: bytes) -> list[tuple[int, int, int, bytes]]:
    """(type, flags, stream, payload) of every frame in `data`."""
    out = []
    pos = 0
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 3], "big")
        kind, flags = data[pos + 3], data[pos + 4]
        stream = int.from_bytes(data[pos + 5 : pos + 9], "big")
        out.append((kind, flags, stream, data[pos + 9 : pos + 9 + length]))
        pos += 9 + length
    return out


def _times(r: Receiver) -> list[float]:
    times = array("d")
    times.frombytes(r.final().times)
    return list(times)


def test_receiver_takes_whole_batches_and_still_catches_a_gap() -> None:
    r, calls = _receiver(events=5)
    r.message(_response(10, 11, 12), 1.0)
    r.message(_response(13, 14), 2.0)
    assert calls.done == 1 and _times(r) == [1.0, 1.0, 1.0, 2.0, 2.0] and r.final().problem == ""
    r, _ = _receiver(events=5)
    r.message(_response(12, 13), 1.0)  # in order among themselves, but 10 and 11 never came
    assert r.final().missed == 2 and "missed 2" in r.final().problem


def test_parser_remembers_small_messages_only() -> None:
    parser = WatchParser()
    small = _response(10, 11)
    assert parser(small) is parser(bytes(bytearray(small)))  # equal bytes, parsed once
    assert parser(small).revisions == (10, 11) and parser(small).contiguous
    big = _response(*range(10, 20))
    assert len(big) > WatchParser.CACHE_MAX_BYTES
    assert parser(big).revisions == tuple(range(10, 20))
    assert big not in parser.seen and len(parser.seen) == 1
    assert not parser(_response(10, 12)).contiguous


def test_connections_carry_at_most_per_conn_streams_evenly() -> None:
    assert connection_sizes(3, 1) == [1, 1, 1]
    assert connection_sizes(10, 10) == [10]
    assert connection_sizes(25, 10) == [9, 8, 8]
    assert connection_sizes(5000, 10) == [10] * 500
    assert connection_sizes(0, 10) == []
    assert net_fanout.streams_per_connection(1000) == 1
    assert net_fanout.streams_per_connection(10000) == net_fanout.MUX_STREAMS


def test_open_watch_bytes_open_several_streams_on_one_connection() -> None:
    req = rpc_pb2.WatchRequest(create_request=rpc_pb2.WatchCreateRequest(key=b"/a/", range_end=b"/a0"))
    data = open_watch_bytes("127.0.0.1:2379", req.SerializeToString(), streams=3)
    frames = _frames(data.removeprefix(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"))
    assert [(kind, stream) for kind, _, stream, _ in frames] == [
        (4, 0),
        (8, 0),
        (1, 1),
        (0, 1),
        (1, 3),
        (0, 3),
        (1, 5),
        (0, 5),
    ]
    assert all(payload == grpc_message(req.SerializeToString()) for kind, _, _, payload in frames if kind == 0)


def test_conn_keeps_the_streams_of_one_connection_apart() -> None:
    a, b = socket.socketpair()
    try:
        calls = _Calls()
        r1, r3, r5 = (Receiver(10, 3, calls.on_created, calls.on_done) for _ in range(3))
        conn = Conn(a, [r1, r3, r5], http2=True)
        split_msg = grpc_message(_response(10, 11))
        wire = (
            frame(0, 0, 1, split_msg[:20])  # stream 1's message, split around stream 3's
            + frame(0, 0, 3, grpc_message(_response(10)))
            + frame(0, 0, 1, split_msg[20:])
            + frame(0, 0, 3, grpc_message(_response(11, 12)))
            + frame(0, 0, 5, grpc_message(_response(10)))
            + frame(0, 0, 1, grpc_message(_response(12)))
            + frame(3, 0, 5, struct.pack(">I", 2))  # stream 5 reset: only stream 5 failed
        )
        conn.feed(wire, 1.0)
        assert [r.final().count for r in (r1, r3, r5)] == [3, 3, 1]
        assert r1.final().problem == r3.final().problem == ""
        assert "reset the stream (HTTP/2 error 2)" in r5.final().problem
        assert calls.done == 2
        conn.feed(frame(7, 0, 0, struct.pack(">II", 0, 0) + b"bye"), 2.0)  # GOAWAY: the rest are complete
        assert r1.final().problem == r3.final().problem == ""
    finally:
        a.close()
        b.close()


def test_bare_conn_deals_each_events_copies_to_its_streams_in_turn() -> None:
    a, b = socket.socketpair()
    try:
        r1, _ = _receiver(events=2)
        r2, _ = _receiver(events=2)
        wire = b"".join(grpc_message(_response(rev)) * 2 for rev in (10, 11))
        conn = Conn(a, [r1, r2], http2=False)
        for i in range(0, len(wire), 100):
            conn.feed(wire[i : i + 100], 1.0)
        assert [(r.final().count, r.final().problem) for r in (r1, r2)] == [(2, ""), (2, "")]
    finally:
        a.close()
        b.close()


def test_schedule_spaces_puts_by_the_rate() -> None:
    assert schedule(100, 5) == pytest.approx([0.0, 0.01, 0.02, 0.03, 0.04])
    assert schedule(1000, 0) == []
    times = schedule(1000, 2000)
    assert len(times) == 2000 and times[-1] == pytest.approx(1.999)
    with pytest.raises(ValueError):
        schedule(0, 10)
    assert paced_events(QUICK, 200) == round(200 * QUICK.fanout_rate_seconds)


async def test_the_paced_writer_does_not_wait_for_acks() -> None:
    """Every put blocks until the last one has started: a writer waiting for acks would never finish."""
    offsets = schedule(2000, 20)
    all_started = asyncio.Event()
    started: list[int] = []

    async def put(i: int) -> None:
        started.append(i)
        if len(started) == len(offsets):
            all_started.set()
        await all_started.wait()

    issued = [0.0] * len(offsets)
    start = time.monotonic()
    lag = await asyncio.wait_for(write_paced(put, offsets, start, issued), 30)
    assert started == list(range(len(offsets)))
    assert issued == [start + off for off in offsets]  # latency counts from the schedule
    assert lag >= 0


def test_latency_percentiles_include_p999() -> None:
    events, n = 10, 100
    issued = array("d", [float(i) for i in range(events)])
    streams = []
    for s in range(n):
        times = array("d", [issued[i] + (s * events + i + 1) / 1000 for i in range(events)])  # 1 .. 1000 ms
        streams.append(StreamResult(count=events, responses=1, created=True, done_at=1.0, times=times.tobytes()))
    problems: list[str] = []
    checked = check(n, events, streams, issued, problems)
    assert problems == [] and checked.deliveries == n * events
    assert checked.latencies == sorted(checked.latencies) and len(checked.latencies) == 1000
    expected = [percentile([float(ms) for ms in range(1, 1001)], q) for q in (50, 99, 99.9)]
    got = checked.quantiles_ms()
    assert list(got) == ["p50", "p99", "p999"]
    assert list(got.values()) == pytest.approx(expected)
    assert got["p999"] == pytest.approx(999.001)
    assert Checked(0, 0).quantiles_ms() == {} and Checked(0, 0).ms(99.9) == 0.0


def test_planned_runs_count_every_run(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = dataclasses.replace(QUICK, net_watchers=(1, 10, 100), fanout_rates=(100, 1000), net_repeat=2)
    monkeypatch.setattr(net_fanout, "find_etcd", lambda: "/usr/bin/etcd")
    assert planned_runs(cfg) == 3 * planned(3, 2) + 2 * planned(2, 2)
    monkeypatch.setattr(net_fanout, "find_etcd", lambda: None)
    assert planned_runs(cfg) == 3 * planned(2, 2) + 2 * planned(1, 2)
    assert planned_runs(dataclasses.replace(cfg, modes=("embedded",))) == 0
    assert net_fanout.run(dataclasses.replace(cfg, modes=("embedded",))) == ([], [])


# ------------------------------------------------------------ against real servers


def _targets() -> list[str]:
    return ["kvs serve", *(["etcd"] if find_etcd() else [])]


async def _fan_out(server: ServerProcess, n: int, per_conn: int, events: int) -> tuple[list[StreamResult], int]:
    """`n` streams of `per_conn` per connection, `events` puts: what every stream saw, and how many
    more established connections the server had while they were open."""
    async with kvstore.connect(server.endpoint) as client:
        first = (await client.put(b"/bench/netbase", b"")).header.revision + 1
        before = server.connections()  # the writer's, and etcd's gateway's to itself
        host, port = server.endpoint.rsplit(":", 1)
        workers, problems = start_receivers(QUICK, n, host, int(port), first, True, events=events, per_conn=per_conn)
        try:
            assert problems == []
            connections = server.connections() - before
            for i in range(events):
                await client.put(net_fanout.PREFIX + b"%d" % i, b"v")
            assert net_fanout.await_done(workers, 60) == []
            streams, _, more = net_fanout.collect_results(workers)
            assert more == []
        finally:
            for w in workers:
                w.close()
    return streams, connections


@pytest.mark.parametrize("target", _targets())
def test_multiplexed_streams_each_get_every_event(target: str) -> None:
    """7 streams, up to 3 a connection, over 2 workers ([2, 2] and [3]): 3 connections, every event on each."""
    n, events = 7, 30
    etcd = find_etcd()
    servers = etcd_server(QUICK, etcd, etcd_version(etcd)) if target == "etcd" and etcd else kvs_server(QUICK)
    with servers as server:
        streams, connections = asyncio.run(_fan_out(server, n, 3, events))
    assert connections == 3
    problems: list[str] = []
    assert check(n, events, streams, None, problems).deliveries == n * events
    assert problems == []
    assert all(s.count == events and s.problem == "" for s in streams)


def test_the_bare_push_multiplexes_like_the_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(net_fanout, "MUX_ABOVE", 2)
    monkeypatch.setattr(net_fanout, "MUX_STREAMS", 3)
    run = net_fanout._bare_run(7, QUICK, bench_value(64), 20)
    assert run.problems == ()
    assert (run.deliveries, run.connections, run.per_conn) == (7 * 20, 3, 3)


def _run(target: str, n: int, rate: float, p99: float = 5.0) -> net_fanout.NetFanoutRun:
    latency = {"p50": 1.0, "p99": p99, "p999": 2 * p99}
    return net_fanout.NetFanoutRun(target, n, 10, n * 10, n * 10 / rate, 1.0, latency, 1.0, 0.1, 10, n, ())


def test_the_1000_stream_figures_carry_the_targets_and_their_places_in_the_charts() -> None:
    ours, bare = [_run("kvs serve", 1000, 200.0, p99=4.0)], [_run("bare push", 1000, 400.0)]
    etcd = [_run("etcd 3.4.23", 1000, 100.0, p99=5.0)]
    throughput, cpu, *latency = net_fanout._figures(1000, ours, etcd, bare, "etcd 3.4.23", [])
    assert (throughput.plot, throughput.panel, throughput.series, throughput.x) == (
        "fanout",
        "network",
        "kvs gRPC",
        1000,
    )
    assert throughput.reference_series == "etcd 3.4.23"
    assert throughput.more == [Extra("bare push to 1000 sockets", [400.0], "bare push")]
    assert (throughput.ratio_target, throughput.ratio_target_of, throughput.target_met) == (1.0, "etcd", True)
    assert (cpu.plot, cpu.series, cpu.reference_series, cpu.lower_is_better) == (
        "fanout_cpu",
        "kvs gRPC (server)",
        "etcd 3.4.23 (server)",
        True,
    )
    assert [e.series for e in cpu.more] == ["bare push (server)"]
    assert [(f.plot, f.panel, f.lower_is_better) for f in latency] == [
        ("fanout_latency", q, True) for q in ("p50", "p99", "p999")
    ]
    p99 = latency[1]
    assert (p99.ratio_target, p99.ratio_target_of, p99.target_met) == (1.0, "etcd", True)  # 4 ms <= 1.0x 5 ms
    assert "<= 1.00x etcd: met" in "\n".join(render_table([p99]))
    slower = net_fanout._figures(1000, [_run("kvs serve", 1000, 200.0, p99=6.0)], etcd, bare, "etcd 3.4.23", [])
    assert slower[3].target_met is False
    assert net_fanout._figures(100, ours, etcd, bare, "etcd 3.4.23", [])[3].ratio_target is None

    throughput, cpu, *latency = net_fanout._figures(1000, ours, None, bare, "etcd ", [])
    assert (throughput.reference_series, throughput.more, throughput.target_met) == ("bare push", [], None)
    assert throughput.target_skipped == ">= 1.00x etcd: skipped (no etcd)"
    assert latency[1].target_skipped == "<= 1.00x etcd: skipped (no etcd)"
    assert (cpu.reference, cpu.reference_series) == (None, "")
    labels = [f.label for f in [throughput, cpu, *latency]]
    labels += [f.label for f in net_fanout._rate_figures(1000, 1000, ours, etcd, "etcd 3.4.23", [])]
    assert len(set(labels)) == len(labels) and all("net" in label and "gRPC" in label for label in labels)
