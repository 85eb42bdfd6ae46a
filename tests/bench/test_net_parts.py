"""The net suite's parts without servers: the receivers' checks, HTTP/2 framing, the report."""

from __future__ import annotations

import socket
import struct
from array import array

from bench.net_fanout import split
from bench.net_worker import Conn, Receiver, frame, grpc_message, open_watch_bytes
from bench.report import Figure, render_table
from kvstore.messages import Event, EventType, KeyValue, ResponseHeader
from kvstore.pb import rpc_pb2
from kvstore.rpc.watch_codec import encode_events, watch_response


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
        conn = Conn(a, r, http2=True)
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
        Conn(a, r, http2=True).feed(frame(3, 0, 1, struct.pack(">I", 8)), 1.0)
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
    fig = Figure("net_fanout", "fan-out", "deliveries/s", [200.0], reference=[100.0], more=[("bare", [400.0])])
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
