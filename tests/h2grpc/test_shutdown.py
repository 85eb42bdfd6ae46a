"""`GrpcServer.stop(grace)`: graceful shutdown (RFC 9113 section 6.8, GOAWAY), and what
grpcio's `grpc.aio.Server.stop` does: in-flight calls get the grace period, new calls are
refused, and whatever is still running at the end is ended with UNAVAILABLE."""

from __future__ import annotations

import asyncio
import time

import grpc
import h2.errors
import pytest

from h2grpc import wire as fr
from tests.h2grpc.clients import grpc_headers, grpc_message
from tests.h2grpc.conftest import (
    ChannelFactory,
    H2Factory,
    RawFactory,
    ServerFactory,
    path,
)

WAIT = 5.0
CALL_TIMEOUT = 10.0


async def test_grace_lets_in_flight_call_finish(
    make_server: ServerFactory, make_channel: ChannelFactory, make_h2: H2Factory
) -> None:
    """grpcio's `Server.stop(grace)` / RFC 9113 section 6.8: after stop begins (GOAWAY, no
    more listening) new calls fail with UNAVAILABLE, while a call already running completes
    normally once its handler is let go; stop returns when it has, before the grace ends."""
    served = await make_server()
    channel = make_channel(served)
    in_flight = asyncio.ensure_future(channel.unary_unary(path("Wait"))(b"late", timeout=CALL_TIMEOUT))
    await asyncio.wait_for(served.probe.started.wait(), WAIT)
    watcher = await make_h2(served.port)  # an idle connection: it hears the GOAWAY when stop begins
    await watcher.until(lambda: watcher.settings_acked > 0)

    stop = asyncio.ensure_future(served.server.stop(grace=2))
    try:
        await watcher.until(lambda: watcher.terminated is not None)
        assert watcher.terminated is not None
        assert watcher.terminated.error_code == h2.errors.ErrorCodes.NO_ERROR
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await make_channel(served).unary_unary(path("Unary"))(b"new", timeout=CALL_TIMEOUT)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await channel.unary_unary(path("Unary"))(b"new", timeout=CALL_TIMEOUT)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        assert not in_flight.done() and not stop.done()

        served.probe.release.set()
        released = time.monotonic()
        assert await asyncio.wait_for(in_flight, WAIT) == b"released:late"
        await asyncio.wait_for(stop, WAIT)
        assert time.monotonic() - released < 1.5, "stop() waited out the grace with no call left"
        assert not served.probe.cancelled.is_set()
    finally:
        served.probe.release.set()
        await asyncio.gather(stop, in_flight, return_exceptions=True)


async def test_no_grace_ends_stuck_call_unavailable(make_server: ServerFactory, make_channel: ChannelFactory) -> None:
    """grpcio's `Server.stop(None)`: calls still running are ended at once with UNAVAILABLE
    and their handlers cancelled."""
    served = await make_server()
    channel = make_channel(served)
    stuck = asyncio.ensure_future(channel.unary_unary(path("Wait"))(b"", timeout=CALL_TIMEOUT))
    try:
        await asyncio.wait_for(served.probe.started.wait(), WAIT)
        await asyncio.wait_for(served.server.stop(grace=None), WAIT)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await asyncio.wait_for(stuck, WAIT)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        await asyncio.wait_for(served.probe.cancelled.wait(), WAIT)
        await asyncio.wait_for(served.server.wait_for_termination(), WAIT)
    finally:
        served.probe.release.set()
        await asyncio.gather(stuck, return_exceptions=True)


async def test_grace_expires_stuck_call_unavailable(make_server: ServerFactory, make_channel: ChannelFactory) -> None:
    """grpcio's `Server.stop(grace)`: a call still running when the grace period ends is
    ended with UNAVAILABLE."""
    served = await make_server()
    channel = make_channel(served)
    stuck = asyncio.ensure_future(channel.unary_unary(path("Wait"))(b"", timeout=CALL_TIMEOUT))
    try:
        await asyncio.wait_for(served.probe.started.wait(), WAIT)
        await asyncio.wait_for(served.server.stop(grace=0.2), WAIT)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await asyncio.wait_for(stuck, WAIT)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        await asyncio.wait_for(served.probe.cancelled.wait(), WAIT)
    finally:
        served.probe.release.set()
        await asyncio.gather(stuck, return_exceptions=True)


async def test_goaway_refuses_later_streams(make_server: ServerFactory, make_raw: RawFactory) -> None:
    """RFC 9113 section 6.8 / 8.7: stop sends GOAWAY(NO_ERROR) naming the last stream it
    took; a stream the client opens after it is refused (REFUSED_STREAM, safe to retry),
    the earlier one is still served, then the connection closes."""
    served = await make_server()
    raw = await make_raw(served.port)
    raw.send(
        fr.frame(fr.HEADERS, fr.END_HEADERS, 1, raw.header_block(grpc_headers(path("Wait")))),
        fr.frame(fr.DATA, fr.END_STREAM, 1, grpc_message(b"one")),
    )
    await asyncio.wait_for(served.probe.started.wait(), WAIT)
    stop = asyncio.ensure_future(served.server.stop(grace=5))
    try:
        frames = await raw.read_until(lambda f: f.kind == fr.GOAWAY)
        goaway = frames[-1].payload
        assert fr.u32(goaway) == 1 and fr.u32(goaway, 4) == fr.NO_ERROR
        raw.send(
            fr.frame(fr.HEADERS, fr.END_HEADERS, 3, raw.header_block(grpc_headers(path("Unary")))),
            fr.frame(fr.DATA, fr.END_STREAM, 3, grpc_message(b"three")),
        )
        frames = await raw.read_until(lambda f: f.stream_id == 3)
        assert frames[-1].kind == fr.RST_STREAM and fr.u32(frames[-1].payload) == fr.REFUSED_STREAM
        served.probe.release.set()
        frames = await raw.read_until(lambda f: f.stream_id == 1 and f.kind == fr.HEADERS and bool(f.flags & 1))
        trailers = [raw.decode(f.payload) for f in frames if f.kind == fr.HEADERS][-1]
        assert (b"grpc-status", b"0") in trailers
        body = b"".join(f.payload for f in frames if f.kind == fr.DATA)
        assert body == grpc_message(b"released:one")
        assert await raw.read_to_eof() == b""
        await asyncio.wait_for(stop, WAIT)
    finally:
        served.probe.release.set()
        await asyncio.gather(stop, return_exceptions=True)


async def test_stop_closes_idle_connections_and_listener(make_server: ServerFactory, make_h2: H2Factory) -> None:
    """RFC 9113 section 6.8: with no call open, stop(grace) sends GOAWAY and closes the
    connection without waiting out the grace; the port no longer accepts connections and
    `wait_for_termination` returns."""
    served = await make_server()
    client = await make_h2(served.port)
    await client.until(lambda: client.settings_acked > 0)
    started = time.monotonic()
    await asyncio.wait_for(served.server.stop(grace=3), WAIT)
    assert time.monotonic() - started < 2.5
    await client.until_eof()
    assert client.terminated is not None and client.terminated.error_code == h2.errors.ErrorCodes.NO_ERROR
    await asyncio.wait_for(served.server.wait_for_termination(), WAIT)
    with pytest.raises(ConnectionRefusedError):
        _, writer = await asyncio.open_connection("127.0.0.1", served.port)
        writer.close()
