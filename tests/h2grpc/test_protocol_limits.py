"""`ServerProtocol` against a hostile client: every `h2grpc.limits.Limits` bound, with bytes
alone and a fake clock. Each limit trips exactly past its bound, closes with the code and
last stream id the reference servers send (or refuses only what went past it), and a
well-behaved client stays under all of them. Each test names the behaviour it follows (RFC
9113, a CVE, grpc's or Go's rule)."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from h2grpc import headers as h
from h2grpc import limits as lim
from h2grpc import protocol, status
from h2grpc import wire as fr
from h2grpc.events import (
    ConnectionFailed,
    Event,
    LimitTripped,
    MessagesReceived,
    RequestReceived,
    RequestRejected,
    StreamReset,
    StreamWritable,
)
from h2grpc.protocol import ServerProtocol
from tests.h2grpc.clients import Frame, grpc_headers, grpc_message, parse_frames
from tests.h2grpc.test_protocol_state import STREAMING, UNARY, Peer, data_of, resets

START = 1000.0


class Clock:
    """The protocol's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


def connect(**limits: Any) -> tuple[Peer, Clock]:
    """A client past the handshake (preface, SETTINGS both ways, ours acknowledged)."""
    clock = Clock()
    peer = Peer(clock=clock, **limits)
    assert peer.send(fr.frame(fr.SETTINGS, fr.ACK, 0)) == []
    return peer, clock


def ping(n: int = 0) -> bytes:
    return fr.frame(fr.PING, 0, 0, n.to_bytes(8, "big"))


def goaway_frame(frames: list[Frame]) -> tuple[int, int, bytes]:
    """(last stream id, code, debug data) of the one GOAWAY among `frames`, which ends them."""
    found = [f for f in frames if f.kind == fr.GOAWAY]
    assert len(found) == 1 and frames[-1] is found[0], frames
    payload = found[0].payload
    return fr.u32(payload) & 0x7FFFFFFF, fr.u32(payload, 4), payload[8:]


def assert_closed_by(
    peer: Peer, events: list[Event], limit: str, *, code: int = fr.ENHANCE_YOUR_CALM, last: int = 0
) -> ConnectionFailed:
    """The limit closed the connection: one ConnectionFailed naming it, then a GOAWAY with
    `code` and last stream id `last`; nothing more is parsed."""
    assert [type(e) for e in events] == [ConnectionFailed], events
    failed = events[0]
    assert isinstance(failed, ConnectionFailed) and (failed.code, failed.limit) == (code, limit)
    last_id, goaway_code, debug = goaway_frame(peer.frames())
    assert (last_id, goaway_code) == (last, code)
    if limit != lim.PING_FLOOD:
        assert debug == failed.message.encode()
    assert peer.server.closed and peer.server.open_streams == 0
    assert peer.send(ping()) == [] and peer.frames() == []
    return failed


def open_streams(peer: Peer, sids: range, path: str = STREAMING) -> None:
    events = peer.send(*(peer.headers(sid, path) for sid in sids))
    assert [type(e) for e in events] == [RequestReceived] * len(sids), events


# ------------------------------------------------------------------ floods


def test_rapid_reset() -> None:
    """CVE-2023-44487 (HTTP/2 rapid reset), as nghttp2 and Go's http2 bound it: streams the
    client opens and resets cost a token each (a burst, then a rate); so do streams we reset
    for its stream errors; past the budget, GOAWAY(ENHANCE_YOUR_CALM) naming the last stream.
    A reset of a stream already closed costs nothing."""
    peer, clock = connect(max_resets=5, resets_per_second=2.0)
    for sid in range(1, 8, 2):  # 4 by the client
        open_streams(peer, range(sid, sid + 1))
        assert peer.send(fr.rst_stream(sid, fr.CANCEL)) == [StreamReset(sid, fr.CANCEL, by_peer=True)]
    assert peer.send(fr.rst_stream(1, fr.CANCEL)) == []  # closed already: free
    open_streams(peer, range(9, 10))
    assert peer.send(fr.window_update(9, 0)) == [StreamReset(9, fr.PROTOCOL_ERROR, by_peer=False)]  # the 5th
    peer.frames()
    clock.now += 0.5  # one token back
    open_streams(peer, range(11, 14, 2))
    assert peer.send(fr.rst_stream(11, fr.CANCEL)) == [StreamReset(11, fr.CANCEL, by_peer=True)]
    failed = assert_closed_by(peer, peer.send(fr.rst_stream(13, fr.CANCEL)), lim.RAPID_RESET, last=13)
    assert failed.message == "more than 5 streams reset (rapid reset); limit 5 burst, 2/s"


def test_refused_streams_count_as_resets() -> None:
    """CVE-2023-44487 variant: streams opened past SETTINGS_MAX_CONCURRENT_STREAMS are reset
    by us (REFUSED_STREAM, RFC 9113 section 5.1.2), each a token of the reset budget."""
    peer, _ = connect(max_concurrent_streams=1, max_resets=3)
    open_streams(peer, range(1, 2))
    for sid in (3, 5, 7):
        (tripped,) = peer.send(peer.headers(sid))
        assert isinstance(tripped, LimitTripped) and tripped.limit == lim.CONCURRENT_STREAMS
    assert resets(peer.frames()) == {3: fr.REFUSED_STREAM, 5: fr.REFUSED_STREAM, 7: fr.REFUSED_STREAM}
    assert_closed_by(peer, peer.send(peer.headers(9)), lim.RAPID_RESET, last=9)


def test_ping_strikes() -> None:
    """grpc's keepalive enforcement (grpc-go http2_server.handlePing, grpc-core's ping
    policy): a PING sooner than min_ping_interval after the previous one is a strike (the
    first of a connection never is); past max_ping_strikes, GOAWAY(ENHANCE_YOUR_CALM) with
    debug data 'too_many_pings', which grpc clients recognise (they back off)."""
    peer, clock = connect()  # 5 s, 2 strikes
    assert peer.send(ping(1)) == []  # the first: free
    clock.now += 5.0
    assert peer.send(ping(2)) == []  # 5 s apart: fine
    clock.now += 4.9
    assert peer.send(ping(3), ping(4)) == []  # strikes 1 and 2
    assert [f.payload for f in peer.frames()] == [(n).to_bytes(8, "big") for n in (1, 2, 3, 4)]
    failed = assert_closed_by(peer, peer.send(ping(5)), lim.PING_FLOOD)
    assert "2" in failed.message and "5 s" in failed.message
    peer, _ = connect()
    peer.send(ping(1), ping(2), ping(3))
    peer.frames()
    assert goaway_frame(parse_frames(closing(peer, ping(4))))[1:] == (fr.ENHANCE_YOUR_CALM, b"too_many_pings")


def closing(peer: Peer, data: bytes) -> bytes:
    events = peer.send(data)
    assert [type(e) for e in events] == [ConnectionFailed], events
    return peer.server.data_to_send()


def test_ping_strikes_reset_by_data_sent() -> None:
    """grpc-go's resetPingStrikes: sending HEADERS or DATA clears the strikes at the next
    PING, so a client that pings after every response (BDP estimation) is never struck."""
    peer, _ = connect(max_ping_strikes=1)
    open_streams(peer, range(1, 2))
    assert peer.send(ping(1), ping(2)) == []  # one strike
    for n in range(3, 100):
        assert peer.server.send_message(1, b"pong")
        assert peer.send(ping(n)) == []
    assert peer.send(ping(100)) == []  # one strike again
    assert_closed_by(peer, peer.send(ping(101)), lim.PING_FLOOD, last=1)


def test_pings_without_calls() -> None:
    """grpc's permit_without_stream=false: with no call open the allowed interval is two
    hours (grpc-go's rule), with a call open min_ping_interval."""
    peer, clock = connect(permit_ping_without_calls=False)
    for n in range(3):
        clock.now += 60.0
        assert peer.send(ping(n)) == []  # strikes 1 and 2 after the free first
    open_streams(peer, range(1, 2))
    for n in range(3, 10):
        clock.now += 60.0
        assert peer.send(ping(n)) == []  # a call is open: 60 s is plenty
    assert peer.server.end_stream(1, h.OK_TRAILERS)
    peer.frames()
    clock.now += 60.0
    assert peer.send(ping(10)) == []  # data went out since: strikes cleared
    clock.now += 60.0
    assert peer.send(ping(11), ping(12)) == []
    assert_closed_by(peer, peer.send(ping(13)), lim.PING_FLOOD, last=1)


def test_settings_flood() -> None:
    """CVE-2019-9515 (settings flood): every non-ACK SETTINGS costs a token (a burst, then a
    rate); ACKs are free; past the budget, GOAWAY(ENHANCE_YOUR_CALM)."""
    peer, clock = connect(max_settings=4, settings_per_second=10.0)  # the handshake's took one
    assert peer.send(*[fr.frame(fr.SETTINGS, fr.ACK, 0)] * 50) == []
    assert peer.send(*[fr.settings_frame({})] * 3) == []
    clock.now += 0.1
    assert peer.send(fr.settings_frame({fr.SETTINGS_MAX_FRAME_SIZE: 20_000})) == []
    assert len(peer.frames()) == 4
    failed = assert_closed_by(peer, peer.send(fr.settings_frame({})), lim.SETTINGS_FLOOD)
    assert failed.message == "more than 4 SETTINGS frames (settings flood); limit 4 burst, 10/s"


def _empty_data(peer: Peer, n: int) -> bytes:
    return fr.frame(fr.DATA, 0, 1, b"")


def _padding_only(peer: Peer, n: int) -> bytes:
    return fr.frame(fr.DATA, fr.PADDED, 1, b"\x03" + b"\x00" * 3)


def _empty_headers(peer: Peer, n: int) -> bytes:  # opens a stream over an empty HEADERS and its CONTINUATION
    sid = 3 + 2 * n
    return fr.frame(fr.HEADERS, 0, sid, b"") + fr.frame(
        fr.CONTINUATION, fr.END_HEADERS, sid, peer.block(grpc_headers(STREAMING))
    )


def _empty_continuation(peer: Peer, n: int) -> bytes:
    sid = 3 + 2 * n
    block = peer.block(grpc_headers(STREAMING))
    return (
        fr.frame(fr.HEADERS, 0, sid, block[:3])
        + fr.frame(fr.CONTINUATION, 0, sid, b"")
        + fr.frame(fr.CONTINUATION, fr.END_HEADERS, sid, block[3:])
    )


def _priority(peer: Peer, n: int) -> bytes:
    return fr.frame(fr.PRIORITY, 0, 101 + 2 * n, b"\x00\x00\x00\x00\x10")


def _window_update_not_open(peer: Peer, n: int) -> bytes:
    return fr.window_update(1 if n % 2 else 99, 1000)  # closed (stream 1 is reset below), idle


def _unknown_type(peer: Peer, n: int) -> bytes:
    return fr.frame(0xEE, 0, 0, b"x" * n)


@pytest.mark.parametrize(
    "frame",
    [
        _empty_data,
        _padding_only,
        _empty_headers,
        _empty_continuation,
        _priority,
        _window_update_not_open,
        _unknown_type,
    ],
)
def test_empty_frame_flood(frame: Callable[[Peer, int], bytes]) -> None:
    """CVE-2019-9518 (empty frames flood), nghttp2's max empty frames: a frame that carries
    nothing (DATA empty after its padding without END_STREAM, HEADERS or CONTINUATION
    empty without END_HEADERS, PRIORITY, WINDOW_UPDATE for a stream not open, an unknown
    type) costs a token; past the budget, GOAWAY(ENHANCE_YOUR_CALM)."""
    peer, clock = connect(max_empty_frames=6, empty_frames_per_second=10.0)
    open_streams(peer, range(1, 2))
    if frame is _window_update_not_open:
        peer.send(fr.rst_stream(1, fr.CANCEL))
    for n in range(5):
        assert not any(isinstance(e, ConnectionFailed) for e in peer.send(frame(peer, n)))
    clock.now += 0.1  # one more
    for n in range(5, 7):
        assert not any(isinstance(e, ConnectionFailed) for e in peer.send(frame(peer, n)))
    events = peer.send(frame(peer, 7))
    failed = [e for e in events if isinstance(e, ConnectionFailed)]
    assert failed and failed[0].limit == lim.EMPTY_FRAME_FLOOD
    assert failed[0].message == "more than 6 frames that carry nothing (empty frame flood); limit 6 burst, 10/s"
    assert goaway_frame(peer.frames())[1] == fr.ENHANCE_YOUR_CALM


def test_frames_that_carry_something_are_free() -> None:
    """CVE-2019-9518's counterpart: DATA with bytes, an empty DATA ending the stream, an
    empty CONTINUATION with END_HEADERS and a WINDOW_UPDATE of an open stream cost nothing."""
    peer, _ = connect(max_empty_frames=0)
    open_streams(peer, range(1, 102, 2))
    for sid in range(1, 102, 2):
        peer.send(fr.frame(fr.DATA, 0, sid, grpc_message(b"x")), fr.window_update(sid, 10))
        peer.send(fr.frame(fr.DATA, fr.END_STREAM, sid, b""))
    block = peer.block(grpc_headers(STREAMING))
    events = peer.send(fr.frame(fr.HEADERS, 0, 103, block), fr.frame(fr.CONTINUATION, fr.END_HEADERS, 103, b""))
    assert [type(e) for e in events] == [RequestReceived]
    assert not peer.server.closed


def test_control_replies_not_read() -> None:
    """Go's http2 maxQueuedControlFrames (CVE-2019-9512 ping flood, CVE-2019-9514 reset
    flood, CVE-2019-9515): the control replies (PING and SETTINGS ACK, RST_STREAM) queued
    since the I/O side last took our bytes are bounded; past it GOAWAY(ENHANCE_YOUR_CALM).
    Taking the bytes (data_to_send) empties the count."""
    peer, _ = connect(max_queued_control_frames=5, min_ping_interval=0)
    for _ in range(3):
        assert peer.send(ping(), ping(), fr.settings_frame({}), ping(), ping()) == []  # 5 replies
        assert len(peer.frames()) == 5
    open_streams(peer, range(1, 2))
    peer.frames()
    peer.send(ping(), ping(), ping(), ping())
    events = peer.send(fr.window_update(1, 0))  # a stream error: the 5th reply, RST_STREAM
    assert events == [StreamReset(1, fr.PROTOCOL_ERROR, by_peer=False)]
    failed = assert_closed_by(peer, peer.send(ping()), lim.CONTROL_QUEUE, last=1)
    assert "more than 5 control replies" in failed.message


# ------------------------------------------------------------------ header blocks


def list_size(fields: list[tuple[bytes, bytes]]) -> int:
    return sum(len(n) + len(v) + 32 for n, v in fields)


def fields_of_size(size: int, path: str = UNARY) -> list[tuple[bytes, bytes]]:
    """A gRPC request's header list whose size (RFC 9113 section 6.5.2) is `size`."""
    fields = grpc_headers(path)
    pad = size - list_size(fields) - len(b"x-pad") - 32
    assert pad >= 0
    return [*fields, (b"x-pad", b"p" * pad)]


def test_header_block_as_it_arrives() -> None:
    """CVE-2024-27316 (CONTINUATION flood; Go's and nghttp2's fix): a header block growing
    over HEADERS and CONTINUATION frames past max_header_block_size closes the connection
    (GOAWAY ENHANCE_YOUR_CALM) before it is decoded; up to it, it is taken."""
    peer, _ = connect(max_header_list_size=500, max_header_block_size=1000)
    assert peer.send(fr.frame(fr.HEADERS, 0, 1, b"\x00" * 600), fr.frame(fr.CONTINUATION, 0, 1, b"\x00" * 400)) == []
    failed = assert_closed_by(peer, peer.send(fr.frame(fr.CONTINUATION, 0, 1, b"\x00")), lim.HEADER_BLOCK_SIZE)
    assert failed.message == "header block over 1000 bytes (max_header_block_size)"
    peer, _ = connect(max_header_list_size=500, max_header_block_size=1000)
    assert_closed_by(peer, peer.send(fr.frame(fr.HEADERS, fr.END_HEADERS, 1, b"\x00" * 1001)), lim.HEADER_BLOCK_SIZE)


def test_header_list_decoded_past_the_hard_cap() -> None:
    """RFC 7541 section 7.3 (HPACK bombs): a block that decodes past max_header_block_size
    stops the decoder mid-block, which leaves its table unlike the client's: the connection
    closes (GOAWAY ENHANCE_YOUR_CALM); a list of exactly that size is decoded."""
    peer, _ = connect(max_header_list_size=500, max_header_block_size=2000)
    events = peer.send(fr.frame(fr.HEADERS, fr.END_HEADERS | fr.END_STREAM, 1, peer.block(fields_of_size(2000))))
    assert [e.limit for e in events if isinstance(e, LimitTripped)] == [lim.HEADER_LIST_SIZE]  # 431 only
    block = peer.block(fields_of_size(2001))
    assert len(block) < 2000
    events = peer.send(fr.frame(fr.HEADERS, fr.END_HEADERS | fr.END_STREAM, 3, block))
    failed = assert_closed_by(peer, events, lim.HEADER_BLOCK_SIZE, last=1)
    assert failed.message == "header list over 2000 bytes decoded (max_header_block_size)"


def test_header_list_over_the_soft_cap_is_431() -> None:
    """RFC 9113 section 6.5.2 / 10.5.1 and RFC 6585 section 5: we advertise
    SETTINGS_MAX_HEADER_LIST_SIZE; a request whose decoded list is over it (but within the
    hard cap) is answered HTTP 431 and reported, the stream ends, and the connection goes on
    with its HPACK table in step (the 431 block was decoded)."""
    peer, _ = connect(max_header_list_size=1000, max_header_block_size=4000)
    (settings, _) = peer.preface
    assert dict(fr.parse_settings(settings.payload))[fr.SETTINGS_MAX_HEADER_LIST_SIZE] == 1000
    events = peer.send(fr.frame(fr.HEADERS, fr.END_HEADERS, 1, peer.block(fields_of_size(1000))))
    assert [type(e) for e in events] == [RequestReceived]
    big = [*fields_of_size(1001), (b"x-later", b"indexed")]
    events = peer.send(fr.frame(fr.HEADERS, fr.END_HEADERS, 3, peer.block(big)))
    assert events == [
        LimitTripped(lim.HEADER_LIST_SIZE, 3, "header list of 1047 bytes over 1000 (max_header_list_size)")
    ]
    head, rst = peer.frames()
    assert peer.decode(head) == [(b":status", b"431")] and head.flags & fr.END_STREAM
    assert resets([rst]) == {3: fr.NO_ERROR}
    block = peer.block([*grpc_headers(UNARY), (b"x-later", b"indexed")])
    (received,) = peer.send(fr.frame(fr.HEADERS, fr.END_HEADERS, 5, block))
    assert isinstance(received, RequestReceived) and (b"x-later", b"indexed") in received.headers


def test_trailers_over_the_soft_cap() -> None:
    """RFC 9113 section 8.1 / 6.5.2: client trailers over SETTINGS_MAX_HEADER_LIST_SIZE end
    that stream (a stream error: RST_STREAM PROTOCOL_ERROR), reported; the others go on."""
    peer, _ = connect(max_header_list_size=400)
    open_streams(peer, range(1, 4, 2))
    trailers = [(b"x-trailer", b"t" * 400)]
    events = peer.send(fr.frame(fr.HEADERS, fr.END_HEADERS | fr.END_STREAM, 1, peer.block(trailers)))
    message = "header list of 441 bytes over 400 (max_header_list_size)"
    assert events == [
        LimitTripped(lim.HEADER_LIST_SIZE, 1, message),
        StreamReset(1, fr.PROTOCOL_ERROR, by_peer=False),
    ]
    assert resets(peer.frames()) == {1: fr.PROTOCOL_ERROR}
    assert peer.server.send_message(3, b"fine") and data_of(peer.frames(), 3) == [grpc_message(b"fine")]


# ------------------------------------------------------------------ streams and request bytes


def test_concurrent_streams() -> None:
    """RFC 9113 section 5.1.2: max_concurrent_streams streams are served, the next is
    refused (REFUSED_STREAM, which clients retry) and reported; the connection goes on."""
    peer, _ = connect(max_concurrent_streams=3)
    open_streams(peer, range(1, 6, 2))
    message = "stream 7 over 3 concurrent streams (max_concurrent_streams)"
    assert peer.send(peer.request(7)) == [LimitTripped(lim.CONCURRENT_STREAMS, 7, message)]
    assert resets(peer.frames()) == {7: fr.REFUSED_STREAM}
    assert peer.server.end_stream(1, h.OK_TRAILERS)
    assert [type(e) for e in peer.send(peer.request(9))] == [RequestReceived, MessagesReceived]


def test_request_buffer() -> None:
    """Go's http2 and grpc bound the request bytes a connection holds (flow control alone
    lets every stream fill its window): a DATA frame that would take the unread requests of
    the connection (partial messages and queued ones) past max_request_buffer ends its
    stream's call with RESOURCE_EXHAUSTED and is reported; reading, resets and ends release
    what a stream held, and the connection goes on."""
    peer, _ = connect(max_request_buffer=1000)
    open_streams(peer, range(1, 6, 2))
    assert peer.send(fr.frame(fr.DATA, 0, 1, grpc_message(b"a" * 595))) == [MessagesReceived(1)]  # 600 held
    assert peer.send(fr.frame(fr.DATA, 0, 3, grpc_message(b"b" * 995)[:400])) == []  # 1000 held: the limit
    events = peer.send(fr.frame(fr.DATA, 0, 5, b"\x00"))
    message = "connection holds 1001 bytes of unread requests, limit 1000 (max_request_buffer)"
    assert events == [
        RequestRejected(5, status.RESOURCE_EXHAUSTED),
        LimitTripped(lim.REQUEST_BUFFER, 5, message),
    ]
    head, rst = peer.frames()
    assert dict(peer.decode(head))[b"grpc-status"] == b"8" and resets([rst]) == {5: fr.NO_ERROR}
    assert peer.server.next_request(1) == b"a" * 595  # 400 held
    open_streams(peer, range(7, 8))
    assert peer.send(fr.frame(fr.DATA, 0, 7, grpc_message(b"c" * 595))) == [MessagesReceived(7)]  # 1000
    assert peer.send(fr.rst_stream(3, fr.CANCEL)) == [StreamReset(3, fr.CANCEL, by_peer=True)]  # 600
    assert peer.server.end_stream(7, h.OK_TRAILERS)  # 0: its unread message goes with it
    open_streams(peer, range(9, 10))
    assert peer.send(fr.frame(fr.DATA, 0, 9, grpc_message(b"d" * 995))) == [MessagesReceived(9)]
    assert not peer.server.closed


# ------------------------------------------------------------------ one frame, O(1) work


def count_sends(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the calls of `_send_queued` (every resumed stream's work goes through it)."""
    counter = [0]
    original = ServerProtocol._send_queued

    def counting(self: ServerProtocol, stream: Any) -> bool:
        counter[0] += 1
        return original(self, stream)

    monkeypatch.setattr(ServerProtocol, "_send_queued", counting)
    return counter


STREAMS = 20_000


def test_window_frames_on_many_blocked_streams_cost_o1(monkeypatch: pytest.MonkeyPatch) -> None:
    """RFC 9113 section 6.9.1 / 6.9.2 at scale: with 20,000 streams blocked, a connection
    WINDOW_UPDATE resumes the streams waiting for it first come first served while the
    window lasts, and a SETTINGS_INITIAL_WINDOW_SIZE change touches no stream that cannot
    send: the work is O(frames + streams that send), never O(open streams) per frame (before,
    1,000 WINDOW_UPDATE(+1) took 16 s and 2,000 SETTINGS 3 s)."""
    peer, _ = connect(
        max_concurrent_streams=STREAMS, max_settings=10_000, settings={fr.SETTINGS_INITIAL_WINDOW_SIZE: 1 << 20}
    )
    server = peer.server
    sids = range(1, 2 * STREAMS, 2)
    for at in range(0, STREAMS, 1000):
        open_streams(peer, sids[at : at + 1000])
    assert not server.send_message(1, b"z" * 70_000)  # the connection window is gone
    for sid in sids[1:]:
        assert not server.send_message(sid, b"y")
    peer.frames()
    sends = count_sends(monkeypatch)
    assert peer.send(*[fr.window_update(0, 1)] * 1000) == []
    assert sends[0] == 1000  # one stream a frame, first come first served
    data = [(f.stream_id, f.payload) for f in peer.frames() if f.kind == fr.DATA]
    assert data == [(1, b"z")] + [(sid, b"\x00") for sid in sids[1:1000]]
    sends[0] = 0
    for i in range(2000):
        peer.send(fr.settings_frame({fr.SETTINGS_INITIAL_WINDOW_SIZE: (1 << 20) + i % 2}))
    assert sends[0] == 0  # the connection window is closed: nobody can send
    assert len(peer.frames()) == 2000  # the ACKs alone


def test_initial_window_changes_on_many_stream_blocked_streams_cost_o1(monkeypatch: pytest.MonkeyPatch) -> None:
    """RFC 9113 section 6.9.2 at scale: 20,000 streams blocked on their own windows; SETTINGS
    that change the initial window but open none, and connection WINDOW_UPDATEs, resume
    nobody; a stream's own WINDOW_UPDATE resumes it alone; the SETTINGS that opens them all
    resumes each once (the work of the bytes sent)."""
    peer, _ = connect(
        max_concurrent_streams=STREAMS, max_settings=10_000, settings={fr.SETTINGS_INITIAL_WINDOW_SIZE: 10}
    )
    server = peer.server
    peer.send(fr.window_update(0, 1 << 30))
    sids = range(1, 2 * STREAMS, 2)
    for at in range(0, STREAMS, 1000):
        open_streams(peer, sids[at : at + 1000])
    for sid in sids:
        assert not server.send_message(sid, b"y" * 95)  # 10 of its 100 bytes go
    peer.frames()
    sends = count_sends(monkeypatch)
    for i in range(2000):
        peer.send(fr.settings_frame({fr.SETTINGS_INITIAL_WINDOW_SIZE: 5 + 5 * (i % 2)}))  # windows -5, 0
        if i % 1000 == 999:
            peer.frames()
    peer.send(*[fr.window_update(0, 1)] * 1000)
    assert sends[0] == 0
    assert peer.send(fr.window_update(7, 1)) == []
    assert sends[0] == 1 and data_of(peer.frames(), 7) == [grpc_message(b"y" * 95)[10:11]]
    peer.send(fr.settings_frame({fr.SETTINGS_INITIAL_WINDOW_SIZE: 11}))  # every window opens by 1
    assert sends[0] == 1 + STREAMS
    frames = peer.frames()
    assert [len(f.payload) for f in frames if f.kind == fr.DATA] == [1] * STREAMS
    assert not any(server.writable(sid) for sid in sids)


def test_window_update_order_first_come_first_served() -> None:
    """RFC 9113 section 5.3 leaves scheduling to us: streams waiting for the connection
    window are resumed in the order they began to wait, and one that sent goes to the back."""
    peer, _ = connect(settings={fr.SETTINGS_INITIAL_WINDOW_SIZE: 1 << 20})
    open_streams(peer, range(1, 8, 2))
    assert peer.server.send_message(1, b"z" * 65_530)  # 65,535 bytes: the connection window, all of it
    for sid in (5, 3, 7):
        assert not peer.server.send_message(sid, b"x" * 5)
    peer.frames()
    order = []
    for _ in range(8):
        peer.send(fr.window_update(0, 2))
        order += [f.stream_id for f in peer.frames() if f.kind == fr.DATA]
    assert order == [5, 3, 7, 5, 3, 7, 5, 3]


@pytest.mark.parametrize("stale", [64, 0], ids=["rebuilt-rarely", "rebuilt-often"])
@pytest.mark.parametrize("seed", range(8))
def test_flow_control_bookkeeping_random(seed: int, stale: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """RFC 9113 section 6.9 under random frames, seen from the client: no DATA frame exceeds
    the stream's or the connection's window as the client granted them, trailers come
    after the stream's data, and after every frame no stream that could send waits (if the
    connection window is open, every stream with data left has its own window closed) —
    whatever its queue and heap entries went through (stale ones, rebuilds)."""
    monkeypatch.setattr(protocol, "_STALE_ENTRIES", stale)
    rng = random.Random(seed)
    peer, _ = connect(max_settings=100_000, max_resets=100_000)
    conn, initial = fr.DEFAULT_WINDOW, fr.DEFAULT_WINDOW
    granted: dict[int, int] = {}  # per open stream: WINDOW_UPDATEs less DATA received
    unsent: dict[int, int] = {}
    ended: set[int] = set()
    next_sid = 1
    for _ in range(3000):
        op = rng.random()
        sids = sorted(granted)
        if op < 0.1 and len(granted) < 12:
            open_streams(peer, range(next_sid, next_sid + 1))
            granted[next_sid], unsent[next_sid] = 0, 0
            next_sid += 2
        elif op < 0.45 and sids:
            sid = rng.choice(sids)
            if sid not in ended:
                size = rng.randrange(0, 3000)
                peer.server.send_message(sid, b"m" * size)
                unsent[sid] += 5 + size
        elif op < 0.5 and sids:
            sid = rng.choice(sids)
            if sid not in ended:
                ended.add(sid)
                peer.server.end_stream(sid, h.OK_TRAILERS)
        elif op < 0.7 and sids:
            sid, inc = rng.choice(sids), rng.randrange(1, 5000)
            granted[sid] += inc
            peer.send(fr.window_update(sid, inc))
        elif op < 0.8:
            inc = rng.randrange(1, 8000)
            conn += inc
            peer.send(fr.window_update(0, inc))
        elif op < 0.92:
            initial = rng.choice([0, 1, 10, 100, 1000, 5000, 65_535])
            peer.send(fr.settings_frame({fr.SETTINGS_INITIAL_WINDOW_SIZE: initial}))
        elif sids:
            sid = rng.choice(sids)
            peer.send(fr.rst_stream(sid, fr.CANCEL))
            del granted[sid], unsent[sid]
            ended.discard(sid)
        for frame in peer.frames():
            sid = frame.stream_id
            if frame.kind == fr.DATA:
                n = len(frame.payload)
                assert n <= conn and n <= initial + granted[sid], (frame, conn, initial, granted[sid])
                conn -= n
                granted[sid] -= n
                unsent[sid] -= n
            elif frame.kind == fr.HEADERS and frame.flags & fr.END_STREAM:
                assert unsent[sid] == 0
                del granted[sid], unsent[sid]
                ended.discard(sid)
        for sid, left in unsent.items():
            if left and conn > 0:
                assert initial + granted[sid] <= 0, (sid, left, conn, initial, granted[sid])
    assert not peer.server.closed


def test_stale_queue_entries_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    """The queue of streams waiting for the connection window forgets streams that ended
    while they waited (rebuilt once stale entries outnumber the waiting streams): the rest
    keep their order, and nothing is sent for the ended ones."""
    monkeypatch.setattr(protocol, "_STALE_ENTRIES", 0)
    peer, _ = connect(settings={fr.SETTINGS_INITIAL_WINDOW_SIZE: 1 << 20})
    open_streams(peer, range(1, 24, 2))
    assert peer.server.send_message(1, b"z" * 65_530)  # the connection window, all of it
    for sid in range(3, 24, 2):
        assert not peer.server.send_message(sid, b"x" * 5)
    for sid in range(3, 20, 2):
        assert peer.send(fr.rst_stream(sid, fr.CANCEL)) == [StreamReset(sid, fr.CANCEL, by_peer=True)]
    open_streams(peer, range(25, 26))
    assert not peer.server.send_message(25, b"x" * 5)  # queued behind 21 and 23; the ended dropped
    assert len(peer.server._fifo) == 3
    peer.frames()
    assert peer.send(fr.window_update(0, 30)) == [StreamWritable(21), StreamWritable(23), StreamWritable(25)]
    assert [f.stream_id for f in peer.frames() if f.kind == fr.DATA] == [21, 23, 25]


def data_sent(peer: Peer) -> dict[int, int]:
    sent: dict[int, int] = {}
    for f in peer.frames():
        if f.kind == fr.DATA:
            sent[f.stream_id] = sent.get(f.stream_id, 0) + len(f.payload)
    return sent


def test_stream_window_opened_while_the_connection_window_is_closed() -> None:
    """RFC 9113 section 6.9.1 / 6.9.2: a SETTINGS that opens a stream's window while the
    connection window is closed lets it send as soon as a connection WINDOW_UPDATE comes."""
    peer, _ = connect(settings={fr.SETTINGS_INITIAL_WINDOW_SIZE: 10})
    open_streams(peer, range(1, 4, 2))
    assert not peer.server.send_message(3, b"x" * 95)  # 10 bytes go: its window is closed
    peer.send(fr.window_update(1, 70_000))
    assert peer.server.send_message(1, b"z" * 65_520)  # the rest of the connection window
    peer.send(fr.settings_frame({fr.SETTINGS_INITIAL_WINDOW_SIZE: 20}))
    assert data_sent(peer) == {3: 10, 1: 65_525}
    peer.send(fr.window_update(0, 1000))
    assert data_sent(peer) == {3: 10}


def test_stream_back_to_its_own_window_after_a_rebuild(monkeypatch: pytest.MonkeyPatch) -> None:
    """The heap of streams waiting for their own window, rebuilt while a stream waited for
    the connection window instead, still finds that stream when it waits for its own window
    again (at the same credit as before): a SETTINGS that opens its window resumes it."""
    monkeypatch.setattr(protocol, "_STALE_ENTRIES", 0)
    peer, _ = connect(settings={fr.SETTINGS_INITIAL_WINDOW_SIZE: 10})
    open_streams(peer, range(1, 6, 2))
    assert not peer.server.send_message(3, b"x" * 95)  # credit -10: waits for its window
    assert not peer.server.send_message(5, b"y" * 95)
    peer.send(fr.window_update(1, 70_000))
    assert peer.server.send_message(1, b"z" * 65_510)  # the connection window is closed
    peer.send(fr.window_update(3, 10))  # its window opens: it waits for the connection's now
    peer.send(fr.settings_frame({fr.SETTINGS_INITIAL_WINDOW_SIZE: 5}))
    for _ in range(5):  # stream 5's window stays closed; each update queues it anew: a rebuild
        peer.send(fr.window_update(5, 1))
    peer.send(fr.settings_frame({fr.SETTINGS_INITIAL_WINDOW_SIZE: 10}))
    assert data_sent(peer) == {3: 10, 5: 10, 1: 65_515}
    peer.send(fr.window_update(0, 1 << 20))  # 3 sends 10 (credit -10 again), 5 sends 5
    assert data_sent(peer) == {3: 10, 5: 5}
    peer.send(fr.settings_frame({fr.SETTINGS_INITIAL_WINDOW_SIZE: 20}))
    assert data_sent(peer) == {3: 10, 5: 10}


# ------------------------------------------------------------------ fairness


def test_frame_budget_per_turn() -> None:
    """Fairness (nghttp2 and Go read a bounded amount per turn): next_event parses at most
    frames_per_turn frames until new_turn(); what is left is parsed later, in order, also
    with more bytes received meanwhile; an incomplete frame is not pending input."""
    clock = Clock()
    server = ServerProtocol(lim.Limits(frames_per_turn=3, min_ping_interval=0), clock=clock)
    server.receive_data(fr.PREFACE + fr.settings_frame({}) + b"".join(ping(n) for n in range(1, 6)))
    assert server.next_event() is None and server.input_pending
    assert server.next_event() is None  # still the same turn
    acks = [f for f in parse_frames(server.data_to_send()) if f.kind == fr.PING]
    assert [fr.u32(f.payload, 4) for f in acks] == [1, 2]
    server.receive_data(ping(6) + ping(7)[:12])  # received meanwhile, and a partial frame
    server.new_turn()
    assert server.next_event() is None and server.input_pending
    server.new_turn()
    assert server.next_event() is None and not server.input_pending  # 6 parsed; 7 incomplete
    server.receive_data(ping(7)[12:])
    assert server.next_event() is None
    acks = [f for f in parse_frames(server.data_to_send()) if f.kind == fr.PING]
    assert [fr.u32(f.payload, 4) for f in acks] == [3, 4, 5, 6, 7]


# ------------------------------------------------------------------ time (tick)


def test_handshake_timeout() -> None:
    """Go's http2 and grpc close a connection that sends no preface and SETTINGS within a
    deadline (so idle sockets cannot pile up): PROTOCOL_ERROR, named by the limit."""
    clock = Clock()
    server = ServerProtocol(lim.Limits(), clock=clock)
    server.data_to_send()
    server.receive_data(fr.PREFACE)
    assert server.next_event() is None and not server.handshake_done
    server.tick(START + 9.9)
    assert server.next_event() is None
    server.tick(START + 10.0)
    event = server.next_event()
    assert event == ConnectionFailed(
        fr.PROTOCOL_ERROR, "no client preface and SETTINGS within 10 s", lim.HANDSHAKE_TIMEOUT
    )
    assert goaway_frame(parse_frames(server.data_to_send()))[:2] == (0, fr.PROTOCOL_ERROR)


def test_settings_timeout() -> None:
    """RFC 9113 section 6.5.3: our SETTINGS not acknowledged within settings_timeout is a
    connection error of type SETTINGS_TIMEOUT; acknowledged, nothing happens."""
    clock = Clock()
    peer = Peer(clock=clock, handshake_timeout=5.0)
    assert peer.server.handshake_done and not peer.server.settings_acked
    peer.server.tick(START + 9.0)
    assert peer.drain() == []
    peer.server.tick(START + 10.0)
    failed = assert_closed_by(peer, peer.drain(), lim.SETTINGS_TIMEOUT, code=fr.SETTINGS_TIMEOUT)
    assert failed.message == "our SETTINGS not acknowledged within 10 s"
    peer, _ = connect()
    assert peer.server.settings_acked
    peer.server.tick(START + 50.0)
    assert peer.drain() == [] and not peer.server.closed


def test_idle_timeout() -> None:
    """kube-apiserver's and grpc's max connection idle: no stream open for
    max_connection_idle (since the last one ended, or since the connection began) sends
    GOAWAY(NO_ERROR): clients reconnect on their next call. An open stream never idles."""
    peer, _ = connect(max_connection_idle=90.0)
    peer.server.tick(START + 80.0)
    open_streams(peer, range(1, 2))
    peer.server.tick(START + 500.0)  # open all along
    assert peer.drain() == []
    assert peer.server.end_stream(1, h.OK_TRAILERS)
    peer.server.tick(START + 501.0)  # the first tick since it ended
    peer.server.tick(START + 590.9)
    assert peer.drain() == []
    peer.server.tick(START + 591.0)
    failed = assert_closed_by(peer, peer.drain(), lim.IDLE_TIMEOUT, code=fr.NO_ERROR, last=1)
    assert failed.message == "idle for 90 s"
    peer, _ = connect(max_connection_idle=90.0)
    peer.server.tick(START + 90.0)
    assert_closed_by(peer, peer.drain(), lim.IDLE_TIMEOUT, code=fr.NO_ERROR)


def test_keepalive() -> None:
    """grpc-go's server keepalive (etcd's --grpc-keepalive-interval/-timeout): after
    keepalive_interval with nothing read, a PING; unanswered within keepalive_timeout (bytes
    read meanwhile do not answer it, only its ACK does), GOAWAY(NO_ERROR) and close."""
    peer, clock = connect(keepalive_interval=100.0, keepalive_timeout=20.0, max_connection_idle=0)
    clock.now = START + 50.0
    peer.send(fr.window_update(0, 1))  # activity: the interval starts again
    peer.server.tick(START + 149.0)
    assert peer.frames() == []
    peer.server.tick(START + 150.0)
    (keepalive,) = peer.frames()
    assert (keepalive.kind, keepalive.flags, len(keepalive.payload)) == (fr.PING, 0, 8)
    peer.server.tick(START + 160.0)
    assert peer.frames() == []  # outstanding: no second PING
    clock.now = START + 165.0
    assert peer.send(fr.frame(fr.PING, fr.ACK, 0, keepalive.payload)) == []
    peer.server.tick(START + 200.0)
    assert peer.drain() == [] and peer.frames() == []
    peer.server.tick(START + 265.0)  # 100 s since the ACK was read
    (again,) = peer.frames()
    clock.now = START + 270.0
    assert peer.send(fr.frame(fr.PING, fr.ACK, 0, b"not ours"), fr.window_update(0, 1)) == []
    peer.server.tick(START + 284.9)
    assert peer.drain() == []
    peer.server.tick(START + 285.0)
    failed = assert_closed_by(peer, peer.drain(), lim.KEEPALIVE_TIMEOUT, code=fr.NO_ERROR)
    assert failed.message == "keepalive ping not answered within 20 s"
    assert again.payload == keepalive.payload


def test_stream_send_stall() -> None:
    """A client that grants a stream no window for send_stall_timeout holds its call and its
    queued response: the stream is reset (RST_STREAM CANCEL), its call told to stop, and it
    is reported; window that lets some bytes through starts the time again, a drained
    stream is no longer watched, and the connection goes on."""
    peer, clock = connect(settings={fr.SETTINGS_INITIAL_WINDOW_SIZE: 10})
    open_streams(peer, range(1, 6, 2))
    assert not peer.server.send_message(1, b"a" * 100)
    assert not peer.server.send_message(3, b"b" * 10)
    assert peer.server.send_message(5, b"c")
    clock.now = START + 30.0
    assert peer.send(fr.window_update(1, 5)) == []  # stream 1 took some
    assert peer.send(fr.window_update(3, 100)) == [StreamWritable(3)]
    peer.frames()
    peer.server.tick(START + 89.9)
    assert peer.drain() == []
    peer.server.tick(START + 90.0)
    message = "stream 1 took none of our data for 60 s (send_stall_timeout)"
    assert peer.drain() == [StreamReset(1, fr.CANCEL, by_peer=False), LimitTripped(lim.SEND_STALL, 1, message)]
    assert resets(peer.frames()) == {1: fr.CANCEL}
    assert peer.server.writable(1) and peer.server.open_streams == 2
    assert peer.server.end_stream(3, h.OK_TRAILERS)
    assert not peer.server.closed


def test_connection_send_stall() -> None:
    """The transport's buffer full for send_stall_timeout (the client reads nothing of what
    we send) closes the connection: GOAWAY(ENHANCE_YOUR_CALM); resumed writing clears it."""
    peer, clock = connect()
    open_streams(peer, range(1, 2))
    clock.now = START + 10.0
    peer.server.writing_paused()
    clock.now = START + 40.0
    peer.server.writing_paused()  # still the first time
    peer.server.tick(START + 69.9)
    assert peer.drain() == []
    peer.server.writing_resumed()
    peer.server.tick(START + 200.0)
    assert peer.drain() == []
    clock.now = START + 300.0
    peer.server.writing_paused()
    peer.server.tick(START + 360.0)
    failed = assert_closed_by(peer, peer.drain(), lim.SEND_STALL, last=1)
    assert failed.message == "the client read none of our data for 60 s"


def test_timeouts_off_at_zero() -> None:
    """Limits: a time of 0 turns that timeout off."""
    off = dict(
        handshake_timeout=0,
        settings_timeout=0,
        max_connection_idle=0,
        keepalive_interval=0,
        send_stall_timeout=0,
    )
    clock = Clock()
    server = ServerProtocol(lim.Limits(**off), clock=clock)
    server.writing_paused()
    server.tick(START + 1e9)
    assert server.next_event() is None and not server.closed
    assert [f.kind for f in parse_frames(server.data_to_send())] == [fr.SETTINGS, fr.WINDOW_UPDATE]


def test_abort() -> None:
    """The I/O side's own reasons (too many connections): abort() is a connection error
    with its code and limit, once."""
    peer, _ = connect()
    open_streams(peer, range(1, 2))
    peer.server.abort(fr.ENHANCE_YOUR_CALM, "over 4096 connections", lim.CONNECTIONS)
    assert_closed_by(peer, peer.drain(), lim.CONNECTIONS, last=1)
    peer.server.abort(fr.NO_ERROR, "again")
    assert peer.drain() == [] and peer.frames() == []


# ------------------------------------------------------------------ a client that behaves


def test_well_behaved_client_trips_nothing() -> None:
    """The limits against the clients they must never hurt (grpc's, etcd's): 10,000 unary
    calls, window returned and a BDP PING after every response (grpc's flow-control
    estimation), a keepalive
    PING after 10 s idle now and then, a SETTINGS now and then, some calls cancelled, the
    I/O side ticking every second: no limit trips."""
    peer, clock = connect()
    server = peer.server
    events: list[Event] = []
    sid = -1
    next_tick = clock.now + 1.0
    for n in range(10_000):
        clock.now += 0.002
        sid += 2
        events += peer.send(peer.request(sid, b"req"))
        assert server.next_request(sid) == b"req"
        assert server.send_message(sid, b"response") and server.end_stream(sid, h.OK_TRAILERS)
        received = sum(len(f.payload) for f in peer.frames() if f.kind == fr.DATA)
        events += peer.send(fr.window_update(0, received), ping(n))  # window back; BDP estimation
        if n % 500 == 0:
            events += peer.send(fr.settings_frame({fr.SETTINGS_INITIAL_WINDOW_SIZE: 1 << 20}))
        if n % 100 == 0:  # a call the client cancels
            sid += 2
            events += peer.send(peer.headers(sid, STREAMING), fr.rst_stream(sid, fr.CANCEL))
        if n % 2000 == 1999:  # idle a while: a keepalive PING
            clock.now += 10.0
            events += peer.send(ping(1 << 40 | n))
        if clock.now >= next_tick:
            server.tick(clock.now)
            events += peer.drain()
            next_tick = clock.now + 1.0
        peer.frames()
    assert not server.closed
    assert {type(e) for e in events} == {RequestReceived, MessagesReceived, StreamReset}
