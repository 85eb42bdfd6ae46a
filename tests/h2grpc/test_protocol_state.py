"""`h2grpc.protocol.ServerProtocol` alone: bytes in, events and bytes out, no sockets and no
event loop. Each test names the rule it checks (RFC 9113 HTTP/2, RFC 7541 HPACK, gRPC over
HTTP/2); test_protocol.py checks many of the same rules through a real connection."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable
from typing import Any

import hpack
import pytest

from h2grpc import headers as h
from h2grpc import limits as lim
from h2grpc import status
from h2grpc import wire as fr
from h2grpc.events import (
    ConnectionFailed,
    Event,
    LimitTripped,
    MessagesReceived,
    RequestReceived,
    RequestRejected,
    RequestsEnded,
    StreamClosed,
    StreamReset,
    StreamWritable,
)
from h2grpc.limits import Limits
from h2grpc.protocol import CONNECTION_WINDOW, STREAM_WINDOW, ServerProtocol
from tests.h2grpc.clients import Frame, grpc_headers, grpc_message, parse_frames, split_messages

UNARY = "/test.Echo/Unary"
STREAMING = "/test.Echo/BidiEcho"

Answer = Callable[["Peer", RequestReceived], None]


def accept_by_path(peer: Peer, event: RequestReceived) -> None:
    """Accept every request: unary unless its path names the streaming method."""
    peer.server.accept(event.stream_id, unary=event.path != STREAMING.encode())


class Peer:
    """The client side by hand: frames from `h2grpc.wire`, header blocks from `hpack`."""

    def __init__(
        self,
        *,
        answer: Answer = accept_by_path,
        settings: dict[int, int] | None = None,
        clock: Callable[[], float] = time.monotonic,
        **limits: Any,
    ):
        limits.setdefault("max_concurrent_streams", 100)
        self.server = ServerProtocol(Limits(**limits), clock=clock)
        self.answer = answer
        self.encoder = hpack.Encoder()
        self.decoder = hpack.Decoder()
        self.preface = self.frames()
        self.events: list[Event] = self.send(fr.PREFACE, fr.settings_frame(settings or {}))
        acks = self.frames()
        assert acks == [Frame(fr.SETTINGS, fr.ACK, 0, b"")], acks

    def send(self, *data: bytes) -> list[Event]:
        """Feed `data` as one read; every event until the bytes are used up."""
        self.server.receive_data(b"".join(data))
        return self.drain()

    def drain(self) -> list[Event]:
        """Every event, over as many turns of the frame budget as the bytes take."""
        events: list[Event] = []
        while True:
            self.server.new_turn()
            while (event := self.server.next_event()) is not None:
                events.append(event)
                if isinstance(event, RequestReceived):
                    self.answer(self, event)
            if not self.server.input_pending:
                return events

    def frames(self) -> list[Frame]:
        """What the server has to send, as frames."""
        data = self.server.data_to_send()
        frames = parse_frames(data)
        assert sum(fr.HEADER_LEN + len(f.payload) for f in frames) == len(data), "a partial frame"
        return frames

    def block(self, fields: Iterable[tuple[bytes, bytes]]) -> bytes:
        return bytes(self.encoder.encode(list(fields)))

    def headers(
        self,
        sid: int,
        path: str = UNARY,
        *,
        end_stream: bool = False,
        method: bytes = b"POST",
        content_type: bytes = b"application/grpc",
        extra: Iterable[tuple[bytes, bytes]] = (),
    ) -> bytes:
        """A HEADERS frame opening a gRPC request on `sid`."""
        fields = grpc_headers(path, method=method, content_type=content_type, extra=extra)
        return fr.frame(fr.HEADERS, fr.END_HEADERS | (fr.END_STREAM if end_stream else 0), sid, self.block(fields))

    def request(self, sid: int, payload: bytes = b"hello", path: str = UNARY, *, end: bool = True) -> bytes:
        """HEADERS and one DATA frame with one message (and END_STREAM unless `end` is False)."""
        return self.headers(sid, path) + fr.frame(fr.DATA, fr.END_STREAM if end else 0, sid, grpc_message(payload))

    def decode(self, frame: Frame) -> list[tuple[bytes, bytes]]:
        return [(bytes(k), bytes(v)) for k, v in self.decoder.decode(frame.payload, raw=True)]


def goaway(frames: list[Frame]) -> tuple[int, int]:
    found = [f for f in frames if f.kind == fr.GOAWAY]
    assert len(found) == 1, frames
    return fr.u32(found[0].payload) & 0x7FFFFFFF, fr.u32(found[0].payload, 4)


def resets(frames: list[Frame]) -> dict[int, int]:
    return {f.stream_id: fr.u32(f.payload) for f in frames if f.kind == fr.RST_STREAM}


def data_of(frames: list[Frame], sid: int) -> list[bytes]:
    return [f.payload for f in frames if f.kind == fr.DATA and f.stream_id == sid]


def assert_connection_error(peer: Peer, events: list[Event], code: int) -> None:
    """A connection error (RFC 9113 section 5.4.1): GOAWAY with `code`, reported once, and
    whatever comes after is not parsed."""
    assert [type(e) for e in events] == [ConnectionFailed], events
    failed = events[0]
    assert isinstance(failed, ConnectionFailed) and failed.code == code
    assert goaway(peer.frames())[1] == code
    assert peer.server.closed
    assert peer.send(fr.frame(fr.PING, 0, 0, b"12345678")) == []
    assert peer.frames() == []


# ------------------------------------------------------------------ the connection


def test_server_preface() -> None:
    """RFC 9113 section 3.4 / 6.5.2 / 6.9.2: the server's preface is a SETTINGS frame (no
    push, its stream limit, a 1 MiB stream window, its header list limit), then a connection
    WINDOW_UPDATE up to 16 MiB."""
    peer = Peer(max_concurrent_streams=7, max_header_list_size=8000)
    settings, update = peer.preface
    assert settings.kind == fr.SETTINGS and settings.stream_id == 0
    assert dict(fr.parse_settings(settings.payload)) == {
        fr.SETTINGS_ENABLE_PUSH: 0,
        fr.SETTINGS_MAX_CONCURRENT_STREAMS: 7,
        fr.SETTINGS_INITIAL_WINDOW_SIZE: STREAM_WINDOW,
        fr.SETTINGS_MAX_HEADER_LIST_SIZE: 8000,
    }
    assert update == Frame(fr.WINDOW_UPDATE, 0, 0, (CONNECTION_WINDOW - fr.DEFAULT_WINDOW).to_bytes(4, "big"))


def test_client_preface_byte_by_byte() -> None:
    """RFC 9113 section 3.4 with 4.1 (frames are a byte stream): a preface and frames that
    arrive a byte at a time are the same as arriving whole."""
    server = ServerProtocol(Limits(max_concurrent_streams=10, max_receive_message_length=100))
    server.data_to_send()
    for byte in fr.PREFACE + fr.settings_frame({}) + fr.frame(fr.PING, 0, 0, b"abcdefgh"):
        server.receive_data(bytes((byte,)))
        assert server.next_event() is None
    assert parse_frames(server.data_to_send()) == [
        Frame(fr.SETTINGS, fr.ACK, 0, b""),
        Frame(fr.PING, fr.ACK, 0, b"abcdefgh"),
    ]


@pytest.mark.parametrize(
    "first",
    [
        fr.frame(fr.PING, 0, 0, b"abcdefgh"),
        fr.frame(fr.SETTINGS, fr.ACK, 0),
        fr.window_update(0, 1000),
        fr.frame(fr.HEADERS, fr.END_HEADERS, 1, b""),
    ],
)
def test_the_first_frame_must_be_settings(first: bytes) -> None:
    """RFC 9113 section 3.4: the client's preface is the magic string and then a SETTINGS
    frame (not its ACK: our SETTINGS are not answered before the client's own); any other
    first frame is a connection error of type PROTOCOL_ERROR, as Go's server answers it."""
    server = ServerProtocol(Limits())
    server.data_to_send()
    server.receive_data(fr.PREFACE + first + fr.settings_frame({}))
    event = server.next_event()
    assert isinstance(event, ConnectionFailed) and event.code == fr.PROTOCOL_ERROR
    assert goaway(parse_frames(server.data_to_send())) == (0, fr.PROTOCOL_ERROR)
    assert not server.handshake_done


@pytest.mark.parametrize(
    "data", [b"GET / HTTP/1.1\r\n\r\n", fr.PREFACE[:10] + b"x", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\r"]
)
def test_bad_preface_protocol_error(data: bytes) -> None:
    """RFC 9113 section 3.4: an invalid connection preface is a connection error of type
    PROTOCOL_ERROR, seen as soon as the bytes differ."""
    server = ServerProtocol(Limits(max_concurrent_streams=10, max_receive_message_length=100))
    server.data_to_send()
    server.receive_data(data)
    event = server.next_event()
    assert isinstance(event, ConnectionFailed) and event.code == fr.PROTOCOL_ERROR
    assert goaway(parse_frames(server.data_to_send())) == (0, fr.PROTOCOL_ERROR)


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (fr.frame(fr.SETTINGS, 0, 1, b""), fr.PROTOCOL_ERROR),  # 6.5: stream 0 only
        (fr.frame(fr.SETTINGS, fr.ACK, 0, b"\x00" * 6), fr.FRAME_SIZE_ERROR),  # 6.5: an ACK is empty
        (fr.frame(fr.SETTINGS, 0, 0, b"\x00" * 5), fr.FRAME_SIZE_ERROR),  # 6.5: a multiple of 6 bytes
        (fr.settings_frame({fr.SETTINGS_ENABLE_PUSH: 2}), fr.PROTOCOL_ERROR),  # 6.5.2
        (fr.settings_frame({fr.SETTINGS_MAX_FRAME_SIZE: 16_383}), fr.PROTOCOL_ERROR),  # 6.5.2
        (fr.settings_frame({fr.SETTINGS_MAX_FRAME_SIZE: 1 << 24}), fr.PROTOCOL_ERROR),  # 6.5.2
        (fr.settings_frame({fr.SETTINGS_INITIAL_WINDOW_SIZE: 1 << 31}), fr.FLOW_CONTROL_ERROR),  # 6.5.2
    ],
)
def test_bad_settings_connection_error(frame: bytes, code: int) -> None:
    """RFC 9113 section 6.5 / 6.5.2: malformed SETTINGS frames and values out of range are
    connection errors of the codes the RFC names."""
    peer = Peer()
    assert_connection_error(peer, peer.send(frame), code)


def test_settings_acknowledged_and_unknown_ignored() -> None:
    """RFC 9113 section 6.5 / 6.5.2 / 6.5.3: every SETTINGS is acknowledged by an empty
    SETTINGS with ACK; a setting of unknown identifier is ignored; an ACK from the client
    is not answered."""
    peer = Peer()
    assert peer.send(fr.settings_frame({0x99: 7, fr.SETTINGS_MAX_HEADER_LIST_SIZE: 10})) == []
    assert peer.send(fr.frame(fr.SETTINGS, fr.ACK, 0)) == []
    assert peer.frames() == [Frame(fr.SETTINGS, fr.ACK, 0, b"")]


def test_ping_answered() -> None:
    """RFC 9113 section 6.7: a PING is answered with PING(ACK) and the same 8 bytes; a PING
    with ACK is not answered."""
    peer = Peer()
    assert (
        peer.send(fr.frame(fr.PING, 0, 0, b"\x00\x01\x02\x03\xfc\xfd\xfe\xff"), fr.frame(fr.PING, fr.ACK, 0, b"x" * 8))
        == []
    )
    assert peer.frames() == [Frame(fr.PING, fr.ACK, 0, b"\x00\x01\x02\x03\xfc\xfd\xfe\xff")]


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (fr.frame(fr.PING, 0, 0, b"1234567"), fr.FRAME_SIZE_ERROR),
        (fr.frame(fr.PING, 0, 1, b"12345678"), fr.PROTOCOL_ERROR),
    ],
)
def test_bad_ping(frame: bytes, code: int) -> None:
    """RFC 9113 section 6.7: a PING whose length is not 8 is a connection error of type
    FRAME_SIZE_ERROR; one on a stream, of type PROTOCOL_ERROR."""
    peer = Peer()
    assert_connection_error(peer, peer.send(frame), code)


def test_frame_over_max_frame_size() -> None:
    """RFC 9113 section 4.2: a frame over SETTINGS_MAX_FRAME_SIZE (16384: we never raise it)
    is a connection error of type FRAME_SIZE_ERROR, seen from its header alone."""
    peer = Peer()
    events = peer.send(fr.header(fr.DATA, 0, 1, 16_385))
    assert_connection_error(peer, events, fr.FRAME_SIZE_ERROR)


def test_unknown_frame_types_and_flags_ignored() -> None:
    """RFC 9113 section 4.1 / 5.5: frames of unknown types, and unknown flags, are ignored;
    a GOAWAY from the client needs no answer."""
    peer = Peer()
    events = peer.send(
        fr.frame(0xFA, 0xFF, 0, b"extension"),
        fr.frame(0x20, 0, 1, b""),
        fr.goaway(0, fr.NO_ERROR),
        fr.frame(fr.PING, 0xF0, 0, b"after-ex"),
    )
    assert events == []
    assert peer.frames() == [Frame(fr.PING, fr.ACK, 0, b"after-ex")]


def test_priority() -> None:
    """RFC 9113 section 6.3: PRIORITY is ignored (also on an idle stream), but one on stream
    0 is a connection error of type PROTOCOL_ERROR and one whose length is not 5 a stream
    error of type FRAME_SIZE_ERROR."""
    peer = Peer()
    assert peer.send(fr.frame(fr.PRIORITY, 0, 9, b"\x00\x00\x00\x00\x10")) == []
    assert peer.frames() == []
    peer.send(peer.headers(1, STREAMING))
    events = peer.send(fr.frame(fr.PRIORITY, 0, 1, b"\x00\x00\x00\x00"))
    assert events == [StreamReset(1, fr.FRAME_SIZE_ERROR, by_peer=False)]
    assert resets(peer.frames()) == {1: fr.FRAME_SIZE_ERROR}
    assert_connection_error(peer, peer.send(fr.frame(fr.PRIORITY, 0, 0, b"\x00" * 5)), fr.PROTOCOL_ERROR)


def test_push_promise_from_client() -> None:
    """RFC 9113 section 8.4: a client cannot push; PUSH_PROMISE from it is a connection
    error of type PROTOCOL_ERROR."""
    peer = Peer()
    assert_connection_error(
        peer, peer.send(fr.frame(fr.PUSH_PROMISE, fr.END_HEADERS, 1, b"\x00\x00\x00\x02")), fr.PROTOCOL_ERROR
    )


def test_goaway_on_a_stream() -> None:
    """RFC 9113 section 6.8: GOAWAY on a stream other than 0 is a connection error of type
    PROTOCOL_ERROR."""
    peer = Peer()
    assert_connection_error(peer, peer.send(fr.frame(fr.GOAWAY, 0, 1, b"\x00" * 8)), fr.PROTOCOL_ERROR)


def test_go_away_refuses_later_streams() -> None:
    """RFC 9113 section 6.8 / 8.7: graceful shutdown sends GOAWAY(NO_ERROR) naming the last
    stream taken; a stream opened after it is refused (REFUSED_STREAM), the earlier one is
    still served."""
    peer = Peer()
    peer.send(peer.headers(1, STREAMING))
    assert peer.server.go_away()
    assert not peer.server.go_away()
    assert goaway(peer.frames()) == (1, fr.NO_ERROR)
    assert peer.send(peer.request(3)) == []
    assert resets(peer.frames()) == {3: fr.REFUSED_STREAM}
    assert peer.server.send_message(1, b"still") and peer.server.end_stream(1, h.OK_TRAILERS)
    assert split_messages(b"".join(data_of(peer.frames(), 1))) == [b"still"]


# ------------------------------------------------------------------ requests


def test_unary_call() -> None:
    """gRPC over HTTP/2 (Request, Response): a request's headers are reported with its path
    and grpc-timeout, its one message is queued (no end is reported: it is checked); the
    response is ':status 200' + content-type, one DATA frame with the length-prefixed
    message, trailers 'grpc-status: 0' ending the stream, and nothing else (the client had
    half-closed, so no RST_STREAM: RFC 9113 section 8.1)."""
    peer = Peer()
    events = peer.send(
        peer.headers(1, extra=[(b"grpc-timeout", b"100m")]),
        fr.frame(fr.DATA, fr.END_STREAM, 1, grpc_message(b"ping")),
    )
    received, messages = events
    assert isinstance(received, RequestReceived)
    assert (received.stream_id, received.path, received.timeout) == (1, UNARY.encode(), b"100m")
    assert (b"te", b"trailers") in received.headers
    assert messages == MessagesReceived(1)
    assert peer.server.next_request(1) == b"ping"
    assert peer.server.next_request(1) is None
    assert peer.server.send_message(1, b"pong")
    assert peer.server.end_stream(1, h.OK_TRAILERS)
    head, data, trailers = peer.frames()
    assert (head.kind, head.flags) == (fr.HEADERS, fr.END_HEADERS)
    assert peer.decode(head) == [(b":status", b"200"), (b"content-type", b"application/grpc")]
    assert data == Frame(fr.DATA, 0, 1, grpc_message(b"pong"))
    assert (trailers.kind, trailers.flags) == (fr.HEADERS, fr.END_HEADERS | fr.END_STREAM)
    assert peer.decode(trailers) == [(b"grpc-status", b"0")]
    assert peer.server.open_streams == 0
    assert peer.send(fr.frame(fr.DATA, 0, 1, b"late")) == []  # a closed stream: ignored (RFC 9113 5.1)


def test_events_whatever_the_reads() -> None:
    """RFC 9113 section 4.1 and gRPC over HTTP/2 (message framing is independent of DATA
    framing): the same bytes give the same events and messages read whole, a byte at a
    time, or in pieces that cut frames and messages anywhere."""
    messages = [b"", b"a", b"b" * 300, b"c" * 20_000]
    body = b"".join(grpc_message(m) for m in messages)
    cuts = [0, 7, 320, 16_000, len(body)]
    data = fr.frame(fr.HEADERS, fr.END_HEADERS, 1, bytes(hpack.Encoder().encode(grpc_headers(STREAMING))))
    for start, stop in itertools.pairwise(cuts):
        data += fr.frame(fr.DATA, fr.END_STREAM if stop == len(body) else 0, 1, body[start:stop])
    for size in (len(data), 1, 7, 1000, 16_393):
        peer = Peer()
        got: list[bytes] = []
        kinds: list[type] = []
        for at in range(0, len(data), size):
            for event in peer.send(data[at : at + size]):
                kinds.append(type(event))
                while (message := peer.server.next_request(1)) is not None:
                    got.append(message)
        assert got == messages, size
        assert kinds[0] is RequestReceived and kinds[-1] is RequestsEnded, kinds
        assert set(kinds[1:-1]) == {MessagesReceived}


def test_streaming_request_ends_with_trailers() -> None:
    """RFC 9113 section 8.1: a request may end with a trailer section (HEADERS with
    END_STREAM) instead of an empty DATA frame; a HEADERS without END_STREAM in the middle of
    a stream is malformed: a stream error of type PROTOCOL_ERROR."""
    peer = Peer()
    events = peer.send(
        peer.headers(1, STREAMING),
        fr.frame(fr.DATA, 0, 1, grpc_message(b"one") + grpc_message(b"two")),
        fr.frame(fr.HEADERS, fr.END_HEADERS | fr.END_STREAM, 1, peer.block([(b"x-trailer", b"1")])),
    )
    assert [type(e) for e in events] == [RequestReceived, MessagesReceived, RequestsEnded]
    peer.send(peer.headers(3, STREAMING))
    events = peer.send(fr.frame(fr.HEADERS, fr.END_HEADERS, 3, peer.block([(b"x-trailer", b"1")])))
    assert events == [StreamReset(3, fr.PROTOCOL_ERROR, by_peer=False)]
    assert resets(peer.frames()) == {3: fr.PROTOCOL_ERROR}


def test_continuation_assembled() -> None:
    """RFC 9113 section 6.10 / 4.3 with 6.2: a header block over HEADERS (padded, with a
    priority) and CONTINUATION frames (one empty) is decoded as one block."""
    peer = Peer()
    block = peer.block(grpc_headers(UNARY, extra=[(b"x-long", b"L" * 300)]))
    first = bytes((7,)) + b"\x00\x00\x00\x00\x0f" + block[:20] + b"\x00" * 7
    events = peer.send(
        fr.frame(fr.HEADERS, fr.PADDED | fr.PRIORITY_FLAG, 1, first),
        fr.frame(fr.CONTINUATION, 0, 1, block[20:200]),
        fr.frame(fr.CONTINUATION, 0, 1, b""),
        fr.frame(fr.CONTINUATION, fr.END_HEADERS, 1, block[200:]),
    )
    (received,) = events
    assert isinstance(received, RequestReceived)
    assert (b"x-long", b"L" * 300) in received.headers


@pytest.mark.parametrize(
    "after",
    [
        fr.frame(fr.PING, 0, 0, b"interrup"),  # any other frame
        fr.frame(fr.CONTINUATION, fr.END_HEADERS, 3, b""),  # a CONTINUATION of another stream
        fr.frame(fr.DATA, 0, 1, b""),
    ],
)
def test_continuation_interrupted(after: bytes) -> None:
    """RFC 9113 section 6.10: after a HEADERS without END_HEADERS, any frame but a
    CONTINUATION of the same stream is a connection error of type PROTOCOL_ERROR."""
    peer = Peer()
    block = peer.block(grpc_headers(UNARY))
    assert_connection_error(peer, peer.send(fr.frame(fr.HEADERS, 0, 1, block[:5]), after), fr.PROTOCOL_ERROR)


def test_continuation_without_headers() -> None:
    """RFC 9113 section 6.10: a CONTINUATION not preceded by a HEADERS (or CONTINUATION)
    without END_HEADERS is a connection error of type PROTOCOL_ERROR."""
    peer = Peer()
    assert_connection_error(peer, peer.send(fr.frame(fr.CONTINUATION, fr.END_HEADERS, 1, b"\x82")), fr.PROTOCOL_ERROR)


def test_header_block_over_the_limit() -> None:
    """RFC 9113 section 10.5.1 (CVE-2024-27316, CONTINUATION floods): a header block
    assembled from CONTINUATION frames past max_header_block_size (64 KiB) ends the
    connection (ENHANCE_YOUR_CALM) before it is decoded; test_protocol_limits.py has the
    bound exactly."""
    peer = Peer()
    pieces = [fr.frame(fr.HEADERS, 0, 1, b"\x00" * 16_384)]
    pieces += [fr.frame(fr.CONTINUATION, 0, 1, b"\x00" * 16_384) for _ in range(4)]
    assert_connection_error(peer, peer.send(*pieces), fr.ENHANCE_YOUR_CALM)


def test_bad_header_block_compression_error() -> None:
    """RFC 9113 section 4.3: a header block that cannot be decoded is a connection error of
    type COMPRESSION_ERROR."""
    peer = Peer()
    assert_connection_error(peer, peer.send(fr.frame(fr.HEADERS, fr.END_HEADERS, 1, b"\xbe")), fr.COMPRESSION_ERROR)


def test_hpack_table_follows_refused_streams() -> None:
    """RFC 9113 section 4.3 / RFC 7541 section 2.3.2: header blocks change the decoder's
    table even on streams the server refuses (over SETTINGS_MAX_CONCURRENT_STREAMS, or not
    gRPC); a later request indexing what they inserted decodes to what the client meant."""
    peer = Peer(max_concurrent_streams=1)
    peer.send(peer.headers(1, STREAMING))
    refused = peer.block(grpc_headers(UNARY, extra=[(b"x-tag", b"first")]))
    peer.send(fr.frame(fr.HEADERS, fr.END_HEADERS | fr.END_STREAM, 3, refused))
    not_grpc = peer.block(grpc_headers(UNARY, method=b"GET", extra=[(b"x-other", b"second")]))
    peer.send(fr.frame(fr.HEADERS, fr.END_HEADERS | fr.END_STREAM, 5, not_grpc))
    peer.server.end_stream(1, h.OK_TRAILERS)
    block = peer.block(grpc_headers(UNARY, extra=[(b"x-tag", b"first"), (b"x-other", b"second")]))
    assert len(block) < 20, "the fields should all be indexed now"
    (received,) = peer.send(fr.frame(fr.HEADERS, fr.END_HEADERS, 7, block))
    assert isinstance(received, RequestReceived)
    assert received.headers == grpc_headers(UNARY, extra=[(b"x-tag", b"first"), (b"x-other", b"second")])


@pytest.mark.parametrize(
    ("method", "content_type", "code"), [(b"GET", b"application/grpc", b"405"), (b"POST", b"text/plain", b"415")]
)
@pytest.mark.parametrize("client_done", [True, False])
def test_not_grpc_answered_with_http_status(method: bytes, content_type: bytes, code: bytes, client_done: bool) -> None:
    """gRPC over HTTP/2 (':method' POST, content-type 'application/grpc...') with RFC 9110
    section 15.5.6 / 15.5.16: another method is answered 405, another content type 415, in
    one HEADERS ending the stream, then RST_STREAM(NO_ERROR) if the client was still sending
    (RFC 9113 section 8.1); no call is reported."""
    peer = Peer()
    events = peer.send(peer.headers(1, method=method, content_type=content_type, end_stream=client_done))
    assert events == []
    frames = peer.frames()
    assert peer.decode(frames[0]) == [(b":status", code)] and frames[0].flags & fr.END_STREAM
    assert resets(frames) == ({} if client_done else {1: fr.NO_ERROR})


def test_refused_request_trailers_only() -> None:
    """gRPC over HTTP/2 (Trailers-Only): a request refused before any call ran gets one
    HEADERS with ':status 200', the content-type and the status, ending the stream, then
    RST_STREAM(NO_ERROR); what the client sent before it heard is ignored (RFC 9113 5.1)."""

    def refuse(peer: Peer, event: RequestReceived) -> None:
        peer.server.refuse(event.stream_id, status.UNIMPLEMENTED, "Method not found: /x/y")

    peer = Peer(answer=refuse)
    events = peer.send(peer.headers(1, "/x/y"))
    assert [type(e) for e in events] == [RequestReceived]
    head, rst = peer.frames()
    assert head.flags & fr.END_STREAM
    assert peer.decode(head) == [
        (b":status", b"200"),
        (b"content-type", b"application/grpc"),
        (b"grpc-status", b"12"),
        (b"grpc-message", b"Method not found: /x/y"),
    ]
    assert resets([rst]) == {1: fr.NO_ERROR}
    late = fr.frame(fr.HEADERS, fr.END_HEADERS | fr.END_STREAM, 1, peer.block([(b"x-trailer", b"1")]))
    assert peer.send(fr.frame(fr.DATA, 0, 1, grpc_message(b"x")), late) == []
    assert peer.frames() == []


def test_an_answer_is_required() -> None:
    """The API: a RequestReceived must be answered before more is parsed."""
    peer = Peer(answer=lambda peer, event: None)
    with pytest.raises(RuntimeError):
        peer.send(peer.request(1))
    with pytest.raises(RuntimeError):
        peer.server.accept(3, unary=True)


def test_bytes_received_before_the_events_are_taken() -> None:
    """The API: bytes received while events of earlier bytes are still to be taken are
    parsed after them, in order."""
    peer = Peer()
    peer.server.receive_data(peer.request(1) + peer.request(3))
    first = peer.server.next_event()
    assert isinstance(first, RequestReceived) and first.stream_id == 1
    peer.server.accept(1, unary=True)
    peer.server.receive_data(peer.request(5))
    assert [(type(e), getattr(e, "stream_id", None)) for e in peer.drain()] == [
        (MessagesReceived, 1),
        (RequestReceived, 3),
        (MessagesReceived, 3),
        (RequestReceived, 5),
        (MessagesReceived, 5),
    ]


@pytest.mark.parametrize("second", [2, 1], ids=["even", "lower"])
def test_stream_ids_odd_and_increasing(second: int) -> None:
    """RFC 9113 section 5.1.1: a client's streams are odd, each greater than all it opened
    before; another identifier is a connection error of type PROTOCOL_ERROR."""
    peer = Peer()
    peer.send(peer.headers(3, STREAMING))
    assert_connection_error(peer, peer.send(peer.headers(second)), fr.PROTOCOL_ERROR)


def test_data_on_idle_stream() -> None:
    """RFC 9113 section 5.1 ('idle'): DATA on a stream never opened is a connection error
    of type PROTOCOL_ERROR; on stream 0 too (section 6.1)."""
    peer = Peer()
    assert_connection_error(peer, peer.send(fr.frame(fr.DATA, 0, 1, b"x")), fr.PROTOCOL_ERROR)
    peer = Peer()
    assert_connection_error(peer, peer.send(fr.frame(fr.DATA, 0, 0, b"x")), fr.PROTOCOL_ERROR)


def test_data_after_end_stream() -> None:
    """RFC 9113 section 5.1 ('half-closed (remote)'): DATA after the client's END_STREAM is
    a stream error of type STREAM_CLOSED; the call must stop."""
    peer = Peer()
    peer.send(peer.request(1, path=STREAMING))
    events = peer.send(fr.frame(fr.DATA, 0, 1, b"more"))
    assert events == [StreamReset(1, fr.STREAM_CLOSED, by_peer=False)]
    assert resets(peer.frames()) == {1: fr.STREAM_CLOSED}
    assert peer.server.open_streams == 0


def test_padding_longer_than_frame() -> None:
    """RFC 9113 section 6.1: padding as long as the frame or longer is a connection error of
    type PROTOCOL_ERROR."""
    peer = Peer()
    peer.send(peer.headers(1, STREAMING))
    assert_connection_error(peer, peer.send(fr.frame(fr.DATA, fr.PADDED, 1, b"\x04abc")), fr.PROTOCOL_ERROR)


def test_max_concurrent_streams() -> None:
    """RFC 9113 section 5.1.2: a stream over SETTINGS_MAX_CONCURRENT_STREAMS is refused with
    RST_STREAM(REFUSED_STREAM), reported as a LimitTripped; once one ends, a new one is taken."""
    peer = Peer(max_concurrent_streams=2)
    peer.send(peer.headers(1, STREAMING), peer.headers(3, STREAMING))
    assert peer.send(peer.request(5)) == [
        LimitTripped(lim.CONCURRENT_STREAMS, 5, "stream 5 over 2 concurrent streams (max_concurrent_streams)")
    ]
    assert resets(peer.frames()) == {5: fr.REFUSED_STREAM}
    assert peer.server.end_stream(1, h.OK_TRAILERS)
    assert [type(e) for e in peer.send(peer.request(7))] == [RequestReceived, MessagesReceived]


def test_rst_stream_from_the_client() -> None:
    """RFC 9113 section 6.4: RST_STREAM ends the stream at once (reported with its code, the
    stream forgotten, nothing sent back); on stream 0 or an idle stream it is a connection
    error of type PROTOCOL_ERROR, with a length other than 4 one of type FRAME_SIZE_ERROR."""
    peer = Peer()
    peer.send(peer.headers(1, STREAMING))
    assert peer.send(fr.rst_stream(1, fr.CANCEL)) == [StreamReset(1, fr.CANCEL, by_peer=True)]
    assert peer.frames() == [] and peer.server.open_streams == 0
    assert peer.server.send_message(1, b"x") and peer.frames() == []  # a gone stream: nothing to send
    assert peer.send(fr.rst_stream(1, fr.CANCEL)) == []  # a closed stream: ignored
    for frame, code in [
        (fr.rst_stream(0, fr.CANCEL), fr.PROTOCOL_ERROR),
        (fr.rst_stream(9, fr.CANCEL), fr.PROTOCOL_ERROR),
        (fr.frame(fr.RST_STREAM, 0, 1, b"\x00\x00\x08"), fr.FRAME_SIZE_ERROR),
    ]:
        peer = Peer()
        peer.send(peer.headers(1, STREAMING))
        assert_connection_error(peer, peer.send(frame), code)


# ------------------------------------------------------------------ gRPC message framing


def rejected(peer: Peer, events: list[Event], code: int) -> list[Frame]:
    assert isinstance(events[-1], RequestRejected) and events[-1].status == code, events
    assert peer.server.open_streams == 0
    return peer.frames()


def test_compressed_message_unimplemented() -> None:
    """gRPC over HTTP/2 (Compressed-Flag) and gRPC's compression spec: a request compressed
    with an encoding the server does not support ends with grpc-status 12 (UNIMPLEMENTED), as
    Trailers-Only, then RST_STREAM(NO_ERROR) since the client had not half-closed."""
    peer = Peer()
    headers = peer.headers(1, extra=[(b"grpc-encoding", b"gzip")])
    events = peer.send(headers, fr.frame(fr.DATA, 0, 1, grpc_message(b"\x1f\x8b", compressed=True)))
    head, rst = rejected(peer, events, status.UNIMPLEMENTED)
    assert head.flags & fr.END_STREAM
    assert peer.decode(head)[:3] == [
        (b":status", b"200"),
        (b"content-type", b"application/grpc"),
        (b"grpc-status", b"12"),
    ]
    assert resets([rst]) == {1: fr.NO_ERROR}


def test_message_over_the_limit_seen_from_its_prefix() -> None:
    """gRPC (max receive message length): a message over the limit ends the call with
    RESOURCE_EXHAUSTED as soon as its 5-byte prefix arrives."""
    peer = Peer(max_receive_message_length=100)
    events = peer.send(peer.headers(1), fr.frame(fr.DATA, 0, 1, grpc_message(b"x" * 101)[:5]))
    head, _ = rejected(peer, events, status.RESOURCE_EXHAUSTED)
    assert dict(peer.decode(head))[b"grpc-message"] == b"grpc: received message larger than max (101 vs. 100)"
    peer = Peer(max_receive_message_length=100)
    events = peer.send(peer.request(1, b"x" * 100))
    assert [type(e) for e in events] == [RequestReceived, MessagesReceived]


def test_request_ending_inside_a_message() -> None:
    """gRPC over HTTP/2 (Length-Prefixed-Message): a stream that ends inside a message ends
    the call with INTERNAL; the client has half-closed, so no RST_STREAM follows."""
    peer = Peer()
    events = peer.send(peer.headers(1, STREAMING), fr.frame(fr.DATA, fr.END_STREAM, 1, grpc_message(b"abc")[:6]))
    (head,) = rejected(peer, events, status.INTERNAL)
    assert dict(peer.decode(head))[b"grpc-message"] == b"the request ended inside a message"


def test_unary_call_takes_one_message() -> None:
    """gRPC (unary: one request message): two messages, or none, end the call with INTERNAL."""
    peer = Peer()
    events = peer.send(peer.headers(1), fr.frame(fr.DATA, fr.END_STREAM, 1, grpc_message(b"a") + grpc_message(b"b")))
    head, _ = rejected(peer, events, status.INTERNAL)
    assert b"got more" in dict(peer.decode(head))[b"grpc-message"]
    events = peer.send(peer.headers(3, end_stream=True))
    (head,) = rejected(peer, events, status.INTERNAL)
    assert b"got none" in dict(peer.decode(head))[b"grpc-message"]


def test_rejection_drops_queued_responses() -> None:
    """The status of a rejected call goes out at once: response data still waiting for
    window is dropped (the call's end is decided)."""
    peer = Peer(settings={fr.SETTINGS_INITIAL_WINDOW_SIZE: 10})
    peer.send(peer.headers(1, STREAMING))
    assert not peer.server.send_message(1, b"x" * 50)
    assert data_of(peer.frames(), 1) == [grpc_message(b"x" * 50)[:10]]
    events = peer.send(fr.frame(fr.DATA, 0, 1, grpc_message(b"", compressed=True)))
    head, rst = rejected(peer, events, status.INTERNAL)
    assert head.kind == fr.HEADERS and head.flags & fr.END_STREAM and resets([rst]) == {1: fr.NO_ERROR}
    assert peer.send(fr.window_update(1, 100)) == [] and peer.frames() == []


# ------------------------------------------------------------------ flow control: what we send


def test_stream_window_bounds_data() -> None:
    """RFC 9113 section 6.9.1: no more DATA than the stream's window (the client's
    SETTINGS_INITIAL_WINDOW_SIZE, then each WINDOW_UPDATE); the rest waits, and when all of
    it went out the stream is reported writable."""
    peer = Peer(settings={fr.SETTINGS_INITIAL_WINDOW_SIZE: 16})
    peer.send(peer.request(1, path=STREAMING, end=False))
    message = grpc_message(b"m" * 40)  # 45 bytes
    assert not peer.server.send_message(1, b"m" * 40)
    assert not peer.server.writable(1)
    assert data_of(peer.frames()[1:], 1) == [message[:16]]
    assert peer.send(fr.window_update(1, 16)) == []
    assert data_of(peer.frames(), 1) == [message[16:32]]
    assert peer.send(fr.window_update(1, 100)) == [StreamWritable(1)]
    assert data_of(peer.frames(), 1) == [message[32:]]
    assert peer.server.writable(1)
    assert peer.server.send_message(1, b"small")  # 87 bytes of window left: at once
    assert data_of(peer.frames(), 1) == [grpc_message(b"small")]


def test_connection_window_bounds_all_streams() -> None:
    """RFC 9113 section 6.9.1: the connection window (65535 until the client raises it)
    bounds the DATA of all streams together; a WINDOW_UPDATE on stream 0 resumes every
    blocked stream."""
    peer = Peer(settings={fr.SETTINGS_INITIAL_WINDOW_SIZE: 1 << 20})
    peer.send(peer.headers(1, STREAMING), peer.headers(3, STREAMING))
    assert peer.server.send_message(1, b"a" * 60_000)
    assert not peer.server.send_message(3, b"b" * 10_000)
    sent = sum(len(p) for f in peer.frames() if f.kind == fr.DATA for p in [f.payload])
    assert sent == fr.DEFAULT_WINDOW
    assert peer.send(fr.window_update(3, 100_000)) == []  # the stream's window was not the limit
    assert peer.frames() == []
    assert peer.send(fr.window_update(0, 1 << 20)) == [StreamWritable(3)]
    assert b"".join(data_of(peer.frames(), 3)) == grpc_message(b"b" * 10_000)[fr.DEFAULT_WINDOW - 60_005 :]


def test_data_frames_within_max_frame_size() -> None:
    """RFC 9113 section 4.2: DATA frames never exceed the client's SETTINGS_MAX_FRAME_SIZE
    (16384 by default); a bigger setting allows bigger frames."""
    peer = Peer(settings={fr.SETTINGS_INITIAL_WINDOW_SIZE: 1 << 20})
    peer.send(fr.window_update(0, 1 << 20), peer.request(1, path=STREAMING, end=False))
    peer.server.send_message(1, b"z" * 40_000)
    assert [len(p) for p in data_of(peer.frames(), 1)] == [16_384, 16_384, 40_005 - 2 * 16_384]
    peer.send(fr.settings_frame({fr.SETTINGS_MAX_FRAME_SIZE: 65_536}))
    peer.server.send_message(1, b"z" * 40_000)
    assert [len(p) for p in data_of(peer.frames(), 1)] == [40_005]


def test_trailers_wait_for_queued_data() -> None:
    """RFC 9113 section 6.9 (HEADERS are not flow-controlled, DATA is) with gRPC's order
    (messages, then trailers): the status waits behind data blocked on window; once the data
    went out the trailers follow and the stream is reported closed."""
    peer = Peer(settings={fr.SETTINGS_INITIAL_WINDOW_SIZE: 10})
    peer.send(peer.request(1, path=STREAMING))
    peer.server.send_message(1, b"q" * 20)
    assert not peer.server.end_stream(1, h.OK_TRAILERS)
    assert not peer.server.end_stream(1, h.OK_TRAILERS)  # once
    frames = peer.frames()
    assert [f.kind for f in frames] == [fr.HEADERS, fr.DATA]
    assert peer.send(fr.window_update(1, 15)) == [StreamClosed(1)]
    data, trailers = peer.frames()
    assert data.payload == grpc_message(b"q" * 20)[10:]
    assert trailers.kind == fr.HEADERS and trailers.flags & fr.END_STREAM
    assert peer.server.open_streams == 0


def test_initial_window_change_applies_to_open_streams() -> None:
    """RFC 9113 section 6.9.2: a new SETTINGS_INITIAL_WINDOW_SIZE changes every open stream's
    window by the difference, down to negative (nothing may be sent until it is positive
    again) and up, resuming a blocked stream without any WINDOW_UPDATE."""
    peer = Peer(settings={fr.SETTINGS_INITIAL_WINDOW_SIZE: 100})
    peer.send(peer.request(1, path=STREAMING, end=False))
    peer.server.send_message(1, b"w" * 55)  # 60 bytes: 40 left
    peer.frames()
    peer.send(fr.settings_frame({fr.SETTINGS_INITIAL_WINDOW_SIZE: 10}))  # 40 - 90 = -50
    peer.frames()
    assert not peer.server.send_message(1, b"v")
    assert data_of(peer.frames(), 1) == []
    assert peer.send(fr.window_update(1, 50)) == []  # 0: still nothing
    assert peer.frames() == []
    assert peer.send(fr.settings_frame({fr.SETTINGS_INITIAL_WINDOW_SIZE: 16})) == [StreamWritable(1)]
    ack, data = peer.frames()
    assert ack.kind == fr.SETTINGS and data.payload == grpc_message(b"v")


def test_initial_window_change_overflowing_a_stream() -> None:
    """RFC 9113 section 6.9.2: a SETTINGS_INITIAL_WINDOW_SIZE change that takes any stream's
    window past 2^31-1 is a connection error of type FLOW_CONTROL_ERROR."""
    peer = Peer()
    peer.send(peer.headers(1, STREAMING), fr.window_update(1, fr.MAX_WINDOW - fr.DEFAULT_WINDOW))
    events = peer.send(fr.settings_frame({fr.SETTINGS_INITIAL_WINDOW_SIZE: fr.DEFAULT_WINDOW + 1}))
    assert_connection_error(peer, events, fr.FLOW_CONTROL_ERROR)


def test_window_update_errors() -> None:
    """RFC 9113 section 6.9 / 6.9.1: a WINDOW_UPDATE of 0 on a stream is a stream error of
    type PROTOCOL_ERROR, past 2^31-1 one of type FLOW_CONTROL_ERROR; on the connection both
    are connection errors; a length other than 4 is a connection error of type
    FRAME_SIZE_ERROR; one for a stream that is not open is ignored."""
    peer = Peer()
    peer.send(peer.headers(1, STREAMING), peer.headers(3, STREAMING))
    assert peer.send(fr.window_update(1, 0)) == [StreamReset(1, fr.PROTOCOL_ERROR, by_peer=False)]
    assert peer.send(fr.window_update(3, fr.MAX_WINDOW)) == [StreamReset(3, fr.FLOW_CONTROL_ERROR, by_peer=False)]
    assert resets(peer.frames()) == {1: fr.PROTOCOL_ERROR, 3: fr.FLOW_CONTROL_ERROR}
    assert peer.send(fr.window_update(1, 5), fr.window_update(11, 5)) == []
    for frame, code in [
        (fr.window_update(0, 0), fr.PROTOCOL_ERROR),
        (fr.window_update(0, fr.MAX_WINDOW), fr.FLOW_CONTROL_ERROR),
        (fr.frame(fr.WINDOW_UPDATE, 0, 0, b"\x00\x00\x01"), fr.FRAME_SIZE_ERROR),
    ]:
        peer = Peer()
        assert_connection_error(peer, peer.send(frame), code)


# ------------------------------------------------------------------ flow control: what we receive


def window_updates(frames: list[Frame]) -> list[tuple[int, int]]:
    return [(f.stream_id, fr.u32(f.payload)) for f in frames if f.kind == fr.WINDOW_UPDATE]


def test_connection_window_returned_at_half() -> None:
    """RFC 9113 section 6.9.1 (padding counts against the window): the connection's window
    is returned once half of it (8 MiB) was received, whatever the streams did with it."""

    def refuse(peer: Peer, event: RequestReceived) -> None:
        peer.server.refuse(event.stream_id, status.UNIMPLEMENTED, "")

    peer = Peer(answer=refuse)
    peer.send(peer.headers(1))
    peer.frames()
    padded = fr.frame(fr.DATA, fr.PADDED, 1, b"\xff" + b"\x00" * 16_383)  # 256 bytes of padding
    for _ in range(CONNECTION_WINDOW // 2 // 16_384 - 1):
        peer.send(padded)
    assert window_updates(peer.frames()) == []
    peer.send(padded)
    assert window_updates(peer.frames()) == [(0, CONNECTION_WINDOW // 2)]


def test_stream_window_follows_reads() -> None:
    """RFC 9113 section 6.9 as backpressure: a stream's window comes back once a quarter of
    it (256 KiB) was received, unless 16 messages wait unread; then it comes back as the
    call reads them."""
    peer = Peer()
    peer.send(peer.headers(1, STREAMING))
    message = grpc_message(b"r" * (STREAM_WINDOW // 4 // 16 - 5))  # 16 of them: a quarter
    for _ in range(15):
        peer.send(fr.frame(fr.DATA, 0, 1, message))
    assert window_updates(peer.frames()) == []
    peer.send(fr.frame(fr.DATA, 0, 1, message))  # the 16th: a quarter, but 16 unread
    assert window_updates(peer.frames()) == []
    assert peer.server.next_request(1) is not None  # 15 unread now
    assert window_updates(peer.frames()) == [(1, 16 * len(message))]
    for _ in range(15):
        assert peer.server.next_request(1) is not None
    assert peer.frames() == []


def test_unary_request_window_returned_while_it_arrives() -> None:
    """RFC 9113 section 6.9: a request bigger than the stream window (1 MiB) can arrive,
    since its window is returned as it comes, a quarter at a time."""
    peer = Peer()
    payload = grpc_message(b"u" * (3 << 20))
    peer.send(peer.headers(1))
    returned = 0
    for at in range(0, len(payload), 16_384):
        events = peer.send(fr.frame(fr.DATA, 0, 1, payload[at : at + 16_384]))
        returned += sum(n for sid, n in window_updates(peer.frames()) if sid == 1)
        assert at + 16_384 - returned <= STREAM_WINDOW
    assert events == [MessagesReceived(1)]
    assert peer.server.next_request(1) == b"u" * (3 << 20)


# ------------------------------------------------------------------ header blocks we send


def test_header_block_split_over_continuation() -> None:
    """RFC 9113 section 4.2 / 4.3 / 6.10: a header block over the client's frame size goes as
    HEADERS then CONTINUATION frames, END_HEADERS on the last only, nothing between."""
    peer = Peer()
    peer.send(peer.request(1, path=STREAMING))
    peer.server.send_headers(1, h.literal(b"x-big", b"m" * 20_000))
    frames = peer.frames()
    assert [(f.kind, f.flags) for f in frames] == [(fr.HEADERS, 0), (fr.CONTINUATION, fr.END_HEADERS)]
    assert len(frames[0].payload) == fr.DEFAULT_MAX_FRAME
    whole = Frame(fr.HEADERS, fr.END_HEADERS, 1, b"".join(f.payload for f in frames))
    assert dict(peer.decode(whole))[b"x-big"] == b"m" * 20_000
    peer.server.send_headers(1, b"")  # once only
    assert peer.frames() == []


def test_header_table_size_update_owed() -> None:
    """RFC 7541 section 4.2 / 6.3 with RFC 9113 section 6.5.2: when the client's
    SETTINGS_HEADER_TABLE_SIZE drops below the size in use (4096), our next header block
    starts with a dynamic table size update to it, once; a larger size needs none."""
    peer = Peer(settings={fr.SETTINGS_HEADER_TABLE_SIZE: 8192})
    peer.send(fr.settings_frame({fr.SETTINGS_HEADER_TABLE_SIZE: 100}))
    peer.frames()
    peer.send(peer.request(1), peer.request(3))
    peer.server.send_message(1, b"")
    peer.server.send_message(3, b"")
    first, _, second, _ = peer.frames()
    assert first.payload == h.table_size_update(100) + h.RESPONSE_HEADERS
    assert second.payload == h.RESPONSE_HEADERS
