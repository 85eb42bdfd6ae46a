"""HTTP/2 edge cases with an independent client (`h2`, or frames written by hand): the
connection preface, PING, bad frames, stream resets, CONTINUATION, and the gRPC rules for
non-gRPC requests (RFC 9113; gRPC over HTTP/2 protocol spec)."""

from __future__ import annotations

import asyncio
import json

import h2.errors
import pytest

from h2grpc import wire as fr
from h2grpc.protocol import CONNECTION_WINDOW, STREAM_WINDOW
from tests.h2grpc.clients import (
    Frame,
    H2Client,
    grpc_headers,
    grpc_message,
    parse_frames,
    split_messages,
)
from tests.h2grpc.conftest import H2Factory, RawFactory, Served, ServerFactory, path

WAIT = 5.0
OK = 0
UNIMPLEMENTED = 12
DEADLINE_EXCEEDED = 4


async def assert_serves(client: H2Client) -> None:
    """The connection still carries calls."""
    state = await client.unary(path("Unary"), b"alive")
    assert state.grpc_status == OK and state.messages == [b"alive"]


def goaway(frames: list[Frame]) -> tuple[int, int]:
    """(last stream id, error code) of the GOAWAY among `frames`."""
    found = [f for f in frames if f.kind == fr.GOAWAY]
    assert found, f"no GOAWAY in {frames}"
    return fr.u32(found[0].payload) & 0x7FFFFFFF, fr.u32(found[0].payload, 4)


async def test_not_http2_is_closed(served: Served, make_raw: RawFactory) -> None:
    """RFC 9113 section 3.4: an invalid connection preface (here an HTTP/1.1 request) is a
    connection error of type PROTOCOL_ERROR: the server closes the connection."""
    raw = await make_raw(served.port, preface=False)
    raw.send(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    rest = await raw.read_to_eof()  # a GOAWAY may come first (section 3.4 allows omitting it)
    if rest:
        frames = parse_frames(rest)
        assert [f.kind for f in frames if f.kind != fr.SETTINGS and f.kind != fr.WINDOW_UPDATE] == [fr.GOAWAY]
        assert goaway(frames)[1] == fr.PROTOCOL_ERROR


async def test_server_preface_and_settings_ack(served: Served, make_h2: H2Factory) -> None:
    """RFC 9113 section 3.4 / 6.5.3 / 6.9.2: the server's preface is a SETTINGS frame (its
    stream window, STREAM_WINDOW) and a connection WINDOW_UPDATE up to CONNECTION_WINDOW; it
    acknowledges the client's SETTINGS."""
    client = await make_h2(served.port)
    await client.until(lambda: client.settings_acked > 0 and fr.SETTINGS_INITIAL_WINDOW_SIZE in client.remote_settings)
    assert client.remote_settings[fr.SETTINGS_INITIAL_WINDOW_SIZE] == STREAM_WINDOW
    assert client.remote_settings.get(fr.SETTINGS_ENABLE_PUSH, 0) == 0
    await client.until(lambda: client.conn.outbound_flow_control_window == CONNECTION_WINDOW)
    await assert_serves(client)


async def test_ping_answered(served: Served, make_h2: H2Factory) -> None:
    """RFC 9113 section 6.7: a PING is answered by a PING with the ACK flag and the same
    8-byte payload."""
    client = await make_h2(served.port)
    client.conn.ping(b"\x00\x01\x02\x03\xfc\xfd\xfe\xff")
    client.conn.ping(b"12345678")
    await client.flush()
    await client.until(lambda: len(client.ping_acks) == 2)
    assert client.ping_acks == [b"\x00\x01\x02\x03\xfc\xfd\xfe\xff", b"12345678"]


async def test_unary_response_shape(served: Served, make_h2: H2Factory) -> None:
    """gRPC over HTTP/2 (Response -> Response-Headers *Length-Prefixed-Message Trailers):
    ':status 200', 'content-type: application/grpc', the message, trailers 'grpc-status: 0'."""
    client = await make_h2(served.port)
    state = await client.unary(path("Unary"), b"shape")
    assert state.status == b"200"
    assert dict(state.headers or ())[b"content-type"] == b"application/grpc"
    assert state.messages == [b"shape"]
    assert state.trailers is not None and dict(state.trailers)[b"grpc-status"] == b"0"
    assert state.ended and state.reset_code is None


async def test_get_is_405(served: Served, make_h2: H2Factory) -> None:
    """gRPC over HTTP/2 (':method' is POST): another method is not a gRPC call and is
    answered with HTTP status 405 (RFC 9110 section 15.5.6); the connection goes on."""
    client = await make_h2(served.port)
    sid = client.open_stream(path("Unary"), method=b"GET", end_stream=True)
    state = await client.finish(sid)
    assert state.status == b"405"
    await assert_serves(client)


@pytest.mark.parametrize("content_type", [b"application/json", b"text/plain", b"application/grp"])
async def test_wrong_content_type_is_415(served: Served, make_h2: H2Factory, content_type: bytes) -> None:
    """gRPC over HTTP/2: a content-type not starting with 'application/grpc' is answered with
    HTTP status 415 (Unsupported Media Type)."""
    client = await make_h2(served.port)
    sid = client.open_stream(path("Unary"), content_type=content_type)
    client.conn.send_data(sid, grpc_message(b"x"), end_stream=True)
    state = await client.finish(sid)
    assert state.status == b"415"
    await assert_serves(client)


async def test_content_type_with_suffix_accepted(served: Served, make_h2: H2Factory) -> None:
    """gRPC over HTTP/2: Content-Type is 'application/grpc' [('+proto' / '+json' / {custom})]."""
    client = await make_h2(served.port)
    sid = client.open_stream(path("Unary"), content_type=b"application/grpc+proto")
    await client.send_all(sid, grpc_message(b"proto"))
    state = await client.finish(sid)
    assert state.grpc_status == OK and state.messages == [b"proto"]


async def test_compressed_message_unimplemented(served: Served, make_h2: H2Factory) -> None:
    """gRPC over HTTP/2 (Compressed-Flag 1: compressed with the Message-Encoding) and gRPC's
    compression spec (an encoding the server does not support is UNIMPLEMENTED): a request
    compressed with grpc-encoding gzip, which this server does not decompress, ends with
    grpc-status 12; the flag with no grpc-encoding is a malformed message, INTERNAL (13),
    as grpc-go and grpc-core answer."""
    client = await make_h2(served.port)
    sid = client.open_stream(path("Unary"), extra=[(b"grpc-encoding", b"gzip")])
    await client.send_all(sid, grpc_message(b"\x1f\x8b not really gzip", compressed=True))
    state = await client.finish(sid)
    assert state.status == b"200"
    assert state.grpc_status == UNIMPLEMENTED
    sid = client.open_stream(path("Unary"))
    await client.send_all(sid, grpc_message(b"\x1f\x8b not really gzip", compressed=True))
    state = await client.finish(sid)
    assert state.grpc_status == 13
    await assert_serves(client)


async def test_unknown_method_trailers_only(served: Served, make_h2: H2Factory) -> None:
    """gRPC over HTTP/2 (Trailers-Only): an unknown method is one HEADERS frame with
    ':status 200', the content-type and grpc-status 12, ending the stream."""
    client = await make_h2(served.port)
    state = await client.unary("/test.Echo/Missing", b"")
    assert state.status == b"200"
    assert state.trailers is None and state.data == b""
    assert state.grpc_status == UNIMPLEMENTED
    assert state.grpc_message is not None and b"/test.Echo/Missing" in state.grpc_message


async def test_grpc_timeout_enforced_by_server(served: Served, make_h2: H2Factory) -> None:
    """gRPC over HTTP/2 (Timeout): the server itself ends a call past its grpc-timeout with
    grpc-status 4 (DEADLINE_EXCEEDED) and cancels the handler; the client (`h2`) has no
    deadline of its own."""
    client = await make_h2(served.port)
    state = await client.unary(path("Wait"), b"", extra=[(b"grpc-timeout", b"100m")])
    assert state.grpc_status == DEADLINE_EXCEEDED
    await asyncio.wait_for(served.probe.cancelled.wait(), WAIT)
    await assert_serves(client)


async def test_messages_independent_of_data_frames(served: Served, make_h2: H2Factory) -> None:
    """gRPC over HTTP/2: message framing is independent of DATA framing: several messages in
    one DATA frame, one message over several DATA frames (RFC 9113 section 6.1, padded)."""
    client = await make_h2(served.port)
    sid = client.open_stream(path("BidiEcho"))
    client.conn.send_data(sid, grpc_message(b"a") + grpc_message(b"bb") + grpc_message(b""))
    await client.flush()
    state = client.streams[sid]
    await client.until(lambda: len(split_messages(state.data)) == 3)
    message = grpc_message(b"split across frames")
    client.conn.send_data(sid, message[:2])
    client.conn.send_data(sid, message[2:9], pad_length=20)
    client.conn.send_data(sid, message[9:], end_stream=True)
    state = await client.finish(sid)
    assert state.messages == [b"a", b"bb", b"", b"split across frames"]
    assert state.grpc_status == OK


async def test_client_trailers_end_requests(served: Served, make_h2: H2Factory) -> None:
    """RFC 9113 section 8.1: a request may end with a trailer section (HEADERS with
    END_STREAM) instead of an empty DATA frame; that half-closes the call."""
    client = await make_h2(served.port)
    sid = client.open_stream(path("ClientStream"))
    client.conn.send_data(sid, grpc_message(b"one") + grpc_message(b"two"))
    client.conn.send_headers(sid, [(b"x-trailer", b"1")], end_stream=True)
    state = await client.finish(sid)
    assert state.grpc_status == OK
    assert state.messages[0][:4] == b"\x00\x00\x00\x02"


async def test_bad_ping_length_frame_size_error(served: Served, make_raw: RawFactory, make_h2: H2Factory) -> None:
    """RFC 9113 section 6.7: a PING whose length is not 8 is a connection error of type
    FRAME_SIZE_ERROR (GOAWAY, then close); the server still serves new connections."""
    raw = await make_raw(served.port)
    raw.send(fr.frame(fr.PING, 0, 0, b"1234567"))
    frames = await raw.read_until(lambda f: f.kind == fr.GOAWAY)
    assert goaway(frames)[1] == fr.FRAME_SIZE_ERROR
    assert await raw.read_to_eof() == b""
    await assert_serves(await make_h2(served.port))


async def test_oversized_frame_frame_size_error(served: Served, make_raw: RawFactory) -> None:
    """RFC 9113 section 4.2: a frame over SETTINGS_MAX_FRAME_SIZE (16384 unless the server
    raised it) is a connection error of type FRAME_SIZE_ERROR."""
    raw = await make_raw(served.port)
    block = raw.header_block(grpc_headers(path("Unary")))
    raw.send(fr.frame(fr.HEADERS, fr.END_HEADERS, 1, block), fr.frame(fr.DATA, 0, 1, b"\x00" * 16_385))
    frames = await raw.read_until(lambda f: f.kind == fr.GOAWAY)
    assert goaway(frames)[1] == fr.FRAME_SIZE_ERROR


async def test_unknown_frame_type_ignored(served: Served, make_raw: RawFactory) -> None:
    """RFC 9113 section 4.1 / 5.5: frames of unknown types are ignored."""
    raw = await make_raw(served.port)
    raw.send(fr.frame(0xFA, 0xFF, 0, b"extension"), fr.frame(0x20, 0, 1, b""), fr.frame(fr.PING, 0, 0, b"after-ex"))
    frames = await raw.read_until(lambda f: f.kind == fr.PING)
    assert frames[-1] == Frame(fr.PING, fr.ACK, 0, b"after-ex")
    assert not any(f.kind == fr.GOAWAY for f in frames)


async def test_rst_stream_cancels_handler(served: Served, make_h2: H2Factory) -> None:
    """RFC 9113 section 6.4 (RST_STREAM ends the stream) / gRPC over HTTP/2 (RST_STREAM
    CANCEL is a cancellation): the handler is cancelled; the connection goes on."""
    client = await make_h2(served.port)
    sid = client.open_stream(path("Wait"))
    await client.send_all(sid, grpc_message(b"x"))
    await asyncio.wait_for(served.probe.started.wait(), WAIT)
    client.conn.reset_stream(sid, h2.errors.ErrorCodes.CANCEL)
    await client.flush()
    await asyncio.wait_for(served.probe.cancelled.wait(), WAIT)
    await assert_serves(client)


async def test_headers_over_continuation(served: Served, make_raw: RawFactory) -> None:
    """RFC 9113 section 6.10 / 4.3: a header block split over HEADERS and CONTINUATION frames
    (here with padding and priority on the HEADERS, section 6.2) is decoded as one block."""
    raw = await make_raw(served.port)
    block = raw.header_block(grpc_headers(path("Metadata"), extra=[(b"x-long", b"L" * 300), (b"x-short", b"s")]))
    pad = 7
    first = bytes((pad,)) + b"\x00\x00\x00\x00\x0f" + block[:20] + b"\x00" * pad
    raw.send(
        fr.frame(fr.HEADERS, fr.PADDED | fr.PRIORITY_FLAG, 1, first),
        fr.frame(fr.CONTINUATION, 0, 1, block[20:200]),
        fr.frame(fr.CONTINUATION, 0, 1, b""),
        fr.frame(fr.CONTINUATION, fr.END_HEADERS, 1, block[200:]),
        fr.frame(fr.DATA, fr.END_STREAM, 1, grpc_message(b"")),
    )
    frames = await raw.read_until(lambda f: f.kind == fr.HEADERS and bool(f.flags & fr.END_STREAM))
    assert not any(f.kind in (fr.GOAWAY, fr.RST_STREAM) for f in frames)
    heads = [raw.decode(f.payload) for f in frames if f.kind == fr.HEADERS]
    assert (b"grpc-status", b"0") in heads[-1]
    body = b"".join(f.payload for f in frames if f.kind == fr.DATA and f.stream_id == 1)
    seen = dict((k, v) for k, v, _ in json.loads(split_messages(body)[0])["metadata"])
    assert seen["x-long"] == "L" * 300 and seen["x-short"] == "s"


async def test_continuation_interrupted_protocol_error(served: Served, make_raw: RawFactory) -> None:
    """RFC 9113 section 6.10: after a HEADERS without END_HEADERS, any frame but a
    CONTINUATION of that stream is a connection error of type PROTOCOL_ERROR."""
    raw = await make_raw(served.port)
    block = raw.header_block(grpc_headers(path("Unary")))
    raw.send(fr.frame(fr.HEADERS, 0, 1, block[:5]), fr.frame(fr.PING, 0, 0, b"interrup"))
    frames = await raw.read_until(lambda f: f.kind == fr.GOAWAY)
    assert goaway(frames)[1] == fr.PROTOCOL_ERROR
    assert not any(f.kind == fr.PING for f in frames)


async def test_refused_over_max_concurrent_streams(make_server: ServerFactory, make_h2: H2Factory) -> None:
    """RFC 9113 section 5.1.2 / 8.7: a stream over SETTINGS_MAX_CONCURRENT_STREAMS is reset
    with REFUSED_STREAM; the streams within the limit are served."""
    served = await make_server(max_concurrent_streams=1)
    client = await make_h2(served.port)  # opens both before it reads the server's limit
    first = client.open_stream(path("Wait"))
    client.conn.send_data(first, grpc_message(b"1"), end_stream=True)
    second = client.open_stream(path("Unary"))
    client.conn.send_data(second, grpc_message(b"2"), end_stream=True)
    state = await client.finish(second)
    assert state.reset_code == h2.errors.ErrorCodes.REFUSED_STREAM
    assert state.headers is None
    await asyncio.wait_for(served.probe.started.wait(), WAIT)
    served.probe.release.set()
    state = await client.finish(first)
    assert state.grpc_status == OK and state.messages == [b"released:1"]
    await assert_serves(client)


async def test_header_block_over_max_frame_size_uses_continuation(served: Served, make_h2: H2Factory) -> None:
    """RFC 9113 section 4.2 / 4.3 / 6.10: a frame may not exceed the peer's
    SETTINGS_MAX_FRAME_SIZE (16384 by default); a bigger header block (here 20 kB of initial
    metadata) goes as HEADERS plus CONTINUATION frames. grpcio's server does so."""
    client = await make_h2(served.port)
    state = await client.unary(path("BigMetadata"), b"")
    assert dict(state.headers or ())[b"x-big"] == b"m" * 20_000
    assert state.grpc_status == OK and state.messages == [b"ok"]


async def test_trailers_racing_server_reset_ignored(served: Served, make_raw: RawFactory) -> None:
    """RFC 9113 section 5.1 ('closed'): after sending RST_STREAM an endpoint MUST ignore the
    frames it then receives on that stream (the peer sent them before it saw the reset).
    The server ends an unknown method at once and resets the stream; the client's trailing
    HEADERS, already on their way, must not cost the connection."""
    raw = await make_raw(served.port)
    raw.send(
        fr.frame(fr.HEADERS, fr.END_HEADERS, 1, raw.header_block(grpc_headers("/test.Echo/Missing"))),
        fr.frame(fr.DATA, 0, 1, grpc_message(b"x")),
        fr.frame(fr.HEADERS, fr.END_HEADERS | fr.END_STREAM, 1, raw.header_block([(b"x-trailer", b"1")])),
        fr.frame(fr.PING, 0, 0, b"still ok"),
    )
    frames = await raw.read_until(lambda f: f.kind in (fr.PING, fr.GOAWAY))
    assert not any(f.kind == fr.GOAWAY for f in frames), f"connection failed: {goaway(frames)}"
    assert frames[-1] == Frame(fr.PING, fr.ACK, 0, b"still ok")


async def test_identical_header_blocks_each_insert(served: Served, make_raw: RawFactory) -> None:
    """RFC 7541 section 6.2.1: each literal with incremental indexing inserts into the
    dynamic table, also in a block byte-identical to an earlier one; a later indexed field
    means what the client inserted. Here two requests insert 'x-tag: new' with the same
    bytes after one inserted 'x-tag: old'; the third names index 63 = 'x-tag: new'."""
    raw = await make_raw(served.port)
    route = b"\x83\x86\x04\x13/test.Echo/Metadata\x0f\x10\x10application/grpc"  # POST, http, :path, content-type
    insert_old = route + b"\x40\x05x-tag\x03old"
    insert_new = route + b"\x40\x05x-tag\x03new"
    refer = route + bytes((0x80 | 63,))
    tags = []
    for sid, block in ((1, insert_old), (3, insert_new), (5, insert_new), (7, refer)):
        raw.send(
            fr.frame(fr.HEADERS, fr.END_HEADERS, sid, block),
            fr.frame(fr.DATA, fr.END_STREAM, sid, grpc_message(b"")),
        )

        def ends(f: Frame, s: int = sid) -> bool:
            return f.stream_id == s and f.kind == fr.HEADERS and bool(f.flags & fr.END_STREAM)

        frames = await raw.read_until(ends)
        assert not any(f.kind == fr.GOAWAY for f in frames), f"connection failed: {goaway(frames)}"
        body = b"".join(f.payload for f in frames if f.kind == fr.DATA and f.stream_id == sid)
        seen = [(k, v) for k, v, _ in json.loads(split_messages(body)[0])["metadata"]]
        tags.append([v for k, v in seen if k == "x-tag"])
    assert tags == [["old"], ["new"], ["new"], ["new"]]


async def test_header_table_size_setting_signalled(served: Served, make_h2: H2Factory) -> None:
    """RFC 7541 section 4.2 / 6.3 with RFC 9113 section 6.5.2 (SETTINGS_HEADER_TABLE_SIZE):
    when the client's decoder limit drops below the table size in use (4096 by default),
    the server's next header block must start with a dynamic table size update within the
    limit (`h2`/`hpack`, like nghttp2, fail the connection otherwise)."""
    client = await make_h2(served.port)
    client.conn.update_settings({fr.SETTINGS_HEADER_TABLE_SIZE: 0})
    await client.flush()
    await client.until(lambda: client.settings_acked > 0)
    await assert_serves(client)


@pytest.mark.parametrize("second", [2, 1], ids=["even", "not-increasing"])
async def test_stream_ids_must_increase(served: Served, make_raw: RawFactory, second: int) -> None:
    """RFC 9113 section 5.1.1: client streams are odd and each new one is numerically greater
    than all before it; an unexpected stream identifier is a connection error of type
    PROTOCOL_ERROR."""
    raw = await make_raw(served.port)
    block = grpc_headers(path("Unary"))
    raw.send(
        fr.frame(fr.HEADERS, fr.END_HEADERS, 3, raw.header_block(block)),
        fr.frame(fr.DATA, fr.END_STREAM, 3, grpc_message(b"3")),
        fr.frame(fr.HEADERS, fr.END_HEADERS, second, raw.header_block(block)),
    )
    frames = await raw.read_until(lambda f: f.kind == fr.GOAWAY)
    assert goaway(frames)[1] == fr.PROTOCOL_ERROR


async def test_window_update_zero_and_overflow(served: Served, make_raw: RawFactory) -> None:
    """RFC 9113 section 6.9 / 6.9.1: a WINDOW_UPDATE of 0 on a stream, and one that takes a
    stream window past 2^31-1, are stream errors (RST_STREAM PROTOCOL_ERROR, resp.
    FLOW_CONTROL_ERROR); past 2^31-1 on the connection is a connection error of type
    FLOW_CONTROL_ERROR."""
    raw = await make_raw(served.port)
    for sid in (1, 3):
        raw.send(fr.frame(fr.HEADERS, fr.END_HEADERS, sid, raw.header_block(grpc_headers(path("Wait")))))
    raw.send(fr.window_update(1, 0), fr.window_update(3, fr.MAX_WINDOW))
    frames = await raw.read_until(lambda f: f.kind == fr.RST_STREAM and f.stream_id == 3)
    resets = {f.stream_id: fr.u32(f.payload) for f in frames if f.kind == fr.RST_STREAM}
    assert resets == {1: fr.PROTOCOL_ERROR, 3: fr.FLOW_CONTROL_ERROR}
    raw.send(fr.window_update(0, fr.MAX_WINDOW))
    frames = await raw.read_until(lambda f: f.kind == fr.GOAWAY)
    assert goaway(frames)[1] == fr.FLOW_CONTROL_ERROR


async def test_initial_window_change_overflowing_a_stream(served: Served, make_raw: RawFactory) -> None:
    """RFC 9113 section 6.9.2: a change of SETTINGS_INITIAL_WINDOW_SIZE that takes any
    stream's window past 2^31-1 is a connection error of type FLOW_CONTROL_ERROR."""
    raw = await make_raw(served.port)
    raw.send(
        fr.frame(fr.HEADERS, fr.END_HEADERS, 1, raw.header_block(grpc_headers(path("Wait")))),
        fr.frame(fr.DATA, fr.END_STREAM, 1, grpc_message(b"")),
        fr.window_update(1, fr.MAX_WINDOW - fr.DEFAULT_WINDOW),  # the stream window is 2^31-1 now
        fr.settings_frame({fr.SETTINGS_INITIAL_WINDOW_SIZE: fr.DEFAULT_WINDOW + 1}),  # + 1
        fr.frame(fr.PING, 0, 0, b"then?..."),
    )
    frames = await raw.read_until(lambda f: f.kind == fr.GOAWAY or (f.kind == fr.PING and f.payload == b"then?..."))
    assert any(f.kind == fr.GOAWAY for f in frames), "no connection error for a stream window over 2^31-1"
    assert goaway(frames)[1] == fr.FLOW_CONTROL_ERROR


async def test_priority_frame_bad_length(served: Served, make_raw: RawFactory) -> None:
    """RFC 9113 section 6.3: a PRIORITY frame with a length other than 5 is a stream error
    of type FRAME_SIZE_ERROR (RST_STREAM on that stream); the connection goes on."""
    raw = await make_raw(served.port)
    raw.send(
        fr.frame(fr.HEADERS, fr.END_HEADERS, 1, raw.header_block(grpc_headers(path("Wait")))),
        fr.frame(fr.DATA, fr.END_STREAM, 1, grpc_message(b"")),
    )
    await asyncio.wait_for(served.probe.started.wait(), WAIT)
    raw.send(fr.frame(fr.PRIORITY, 0, 1, b"\x00\x00\x00\x00"), fr.frame(fr.PING, 0, 0, b"priority"))
    frames = await raw.read_until(lambda f: f.kind == fr.PING or f.kind == fr.GOAWAY)
    resets = [fr.u32(f.payload) for f in frames if f.kind == fr.RST_STREAM and f.stream_id == 1]
    assert resets == [fr.FRAME_SIZE_ERROR]
    await asyncio.wait_for(served.probe.cancelled.wait(), WAIT)
