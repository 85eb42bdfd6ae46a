"""Flow control both ways (RFC 9113 section 5.2, 6.9): the server never sends more DATA than
the client granted, on a stream or on the connection, and returns window for what it takes
in. The client is `h2` with window updates sent by hand (`auto_ack=False`)."""

from __future__ import annotations

import random
import struct

from h2grpc import wire as fr
from h2grpc.protocol import CONNECTION_WINDOW, STREAM_WINDOW
from tests.h2grpc.clients import H2Client, StreamState, grpc_message
from tests.h2grpc.conftest import H2Factory, Served, path

OK = 0


def stream_request(count: int, size: int) -> bytes:
    return grpc_message(struct.pack(">II", count, size))


def expected_messages(count: int, size: int) -> list[bytes]:
    return [bytes((i % 251,)) * size for i in range(count)]


async def receive_granting(client: H2Client, state: StreamState, sid: int | None, initial: int, step: int) -> int:
    """Read the response, granting `step` more bytes (on stream `sid`, or on the connection
    if None) each time the server has used up what it was given; the server must never go
    past the grant. Returns how many grants it took."""
    granted, grants = initial, 0
    while not state.finished:

        def used_up(limit: int = granted) -> bool:
            return state.finished or state.received >= limit

        await client.until(used_up)
        assert state.received <= granted, f"the server sent {state.received} bytes with {granted} granted"
        if state.received == granted and not state.finished:
            client.conn.increment_flow_control_window(step, stream_id=sid)
            await client.flush()
            granted += step
            grants += 1
    return grants


async def test_tiny_stream_window(served: Served, make_h2: H2Factory) -> None:
    """RFC 9113 section 6.9.1 / 6.9.2: with SETTINGS_INITIAL_WINDOW_SIZE 16 the server sends
    at most 16 bytes of DATA on the stream, then only as much as each WINDOW_UPDATE grants;
    the streamed response still arrives whole."""
    client = await make_h2(served.port, settings={fr.SETTINGS_INITIAL_WINDOW_SIZE: 16}, auto_ack=False)
    sid = client.open_stream(path("ServerStream"))
    client.conn.send_data(sid, stream_request(5, 40), end_stream=True)
    await client.flush()
    state = client.streams[sid]
    grants = await receive_granting(client, state, sid, initial=16, step=16)
    assert grants >= (5 * 45) // 16 - 1
    assert state.messages == expected_messages(5, 40)
    assert state.grpc_status == OK
    assert max(state.data_frames) <= 16


async def test_connection_window(served: Served, make_h2: H2Factory) -> None:
    """RFC 9113 section 6.9.1: the connection window (65535 until the client raises it with a
    WINDOW_UPDATE on stream 0) bounds the DATA of all streams together, whatever the stream
    windows allow."""
    client = await make_h2(served.port, settings={fr.SETTINGS_INITIAL_WINDOW_SIZE: 1 << 24}, auto_ack=False)
    sid = client.open_stream(path("ServerStream"))
    client.conn.send_data(sid, stream_request(4, 50_000), end_stream=True)
    await client.flush()
    state = client.streams[sid]
    grants = await receive_granting(client, state, None, initial=fr.DEFAULT_WINDOW, step=fr.DEFAULT_WINDOW)
    assert grants >= 2
    assert state.messages == expected_messages(4, 50_000)
    assert state.grpc_status == OK


async def test_initial_window_change_applies_to_open_streams(served: Served, make_h2: H2Factory) -> None:
    """RFC 9113 section 6.9.2: a new SETTINGS_INITIAL_WINDOW_SIZE changes the window of every
    open stream by the difference; a blocked stream resumes without any WINDOW_UPDATE."""
    client = await make_h2(served.port, settings={fr.SETTINGS_INITIAL_WINDOW_SIZE: 10}, auto_ack=False)
    sid = client.open_stream(path("ServerStream"))
    client.conn.send_data(sid, stream_request(3, 100), end_stream=True)
    await client.flush()
    state = client.streams[sid]
    await client.until(lambda: state.received >= 10)
    assert state.received == 10 and not state.finished
    client.conn.update_settings({fr.SETTINGS_INITIAL_WINDOW_SIZE: 1 << 20})
    await client.flush()
    await client.until(lambda: state.finished)
    assert state.messages == expected_messages(3, 100)
    assert state.grpc_status == OK


async def test_data_frames_within_max_frame_size(served: Served, make_h2: H2Factory) -> None:
    """RFC 9113 section 4.2: no DATA frame exceeds the client's SETTINGS_MAX_FRAME_SIZE
    (default 16384; `h2` fails the connection on an overlong frame); with a bigger setting the
    server may use bigger frames, up to it."""
    client = await make_h2(served.port)
    state = await client.unary(path("ServerStream"), struct.pack(">II", 2, 100_000))
    assert state.messages == expected_messages(2, 100_000)
    assert max(state.data_frames) <= fr.DEFAULT_MAX_FRAME
    bigger = await make_h2(served.port, settings={fr.SETTINGS_MAX_FRAME_SIZE: 65_536})
    state = await bigger.unary(path("ServerStream"), struct.pack(">II", 2, 100_000))
    assert state.messages == expected_messages(2, 100_000)
    assert max(state.data_frames) <= 65_536


async def test_server_returns_window_for_big_request(served: Served, make_h2: H2Factory) -> None:
    """RFC 9113 section 6.9: the server advertises a 1 MiB stream window (STREAM_WINDOW) and a
    16 MiB connection window (CONNECTION_WINDOW), and returns window as it takes in a request
    bigger than the stream window, so the client (which never sends past a window) finishes."""
    client = await make_h2(served.port)
    await client.until(lambda: client.conn.outbound_flow_control_window == CONNECTION_WINDOW)
    assert client.remote_settings[fr.SETTINGS_INITIAL_WINDOW_SIZE] == STREAM_WINDOW
    payload = random.Random(6).randbytes(3 * 1024 * 1024)
    sid = client.open_stream(path("Unary"))
    await client.send_all(sid, grpc_message(payload))
    state = await client.finish(sid)
    assert state.grpc_status == OK
    assert state.messages == [payload]
    returned = sum(inc for s, inc in client.window_updates if s == sid)
    assert returned >= len(payload) + 5 - STREAM_WINDOW


async def test_streamed_requests_window_follows_reads(served: Served, make_h2: H2Factory) -> None:
    """RFC 9113 section 6.9 with `context.read()`: on a bidi stream the client can send many
    times the stream window in all, as the handler reads (window returned) and answers."""
    client = await make_h2(served.port)
    sid = client.open_stream(path("BidiEcho"))
    state = client.streams[sid]
    message = bytes(range(256)) * 1024  # 256 KiB
    for i in range(12):  # 3 MiB in all
        await client.send_all(sid, grpc_message(message), end_stream=False)

        def echoed(n: int = i + 1) -> bool:
            return len(state.data) >= n * (len(message) + 5)

        await client.until(echoed)
    client.conn.end_stream(sid)
    state = await client.finish(sid)
    assert state.messages == [message] * 12
    assert state.grpc_status == OK
