"""The I/O half of `h2grpc.limits` on a real `GrpcServer` over loopback: the connection
count, the listen backlog, the handshake, SETTINGS-ack, idle and keepalive deadlines, the
per-turn frame budget, reading paused while our replies are not drained, and how a tripped
limit is counted and logged. (Each flood's own bound is tested on the protocol, with bytes
alone: test_protocol_limits.py.)"""

from __future__ import annotations

import asyncio
import logging
import select
import socket
import threading
from typing import Any

import hpack
import pytest

from h2grpc import limits as lim
from h2grpc import wire as fr
from h2grpc.connection import CALLS_PER_TURN, Connection
from h2grpc.limits import Limits
from h2grpc.server import GrpcServer
from tests.h2grpc.clients import Frame, RawClient, parse_frames
from tests.h2grpc.conftest import H2Factory, Probe, RawFactory, ServerFactory, echo_service, path


def goaway_of(frames: list[Frame]) -> tuple[int, bytes] | None:
    """(error code, debug data) of the first GOAWAY among `frames`."""
    for frame in frames:
        if frame.kind == fr.GOAWAY:
            return int.from_bytes(frame.payload[4:8], "big"), frame.payload[8:]
    return None


async def _unary_works(make_h2: H2Factory, port: int) -> None:
    client = await make_h2(port)
    done = await client.unary(path("Unary"), b"ping")
    assert done.grpc_status == 0 and done.messages == [b"ping"]


async def test_connections_over_the_limit_are_told_and_closed(make_server: ServerFactory, make_h2: H2Factory) -> None:
    """Like Go's netutil.LimitListener and grpc-core's max_allowed_incoming_connections: past
    max_connections a new connection gets GOAWAY(ENHANCE_YOUR_CALM) naming the limit and is
    closed; the open ones keep being served, and a connection that closed frees its place."""
    served = await make_server(max_connections=2)
    first = await make_h2(served.port)
    await make_h2(served.port)
    await first.unary(path("Unary"), b"x")
    third = await RawClient.connect(served.port)
    try:
        frames = parse_frames(await third.read_to_eof())
    finally:
        await third.close()
    code, debug = goaway_of(frames) or (None, b"")
    assert code == fr.ENHANCE_YOUR_CALM and b"max_connections" in debug
    assert served.server.limits_tripped[lim.CONNECTIONS] == 1
    done = await first.unary(path("Unary"), b"still")
    assert done.messages == [b"still"]
    await first.close()
    async with asyncio.timeout(5):
        while len(served.server.connections) > 1:
            await asyncio.sleep(0.01)
    await _unary_works(make_h2, served.port)


async def test_a_connection_that_sends_nothing_is_closed_after_the_handshake_timeout(
    make_server: ServerFactory, make_raw: RawFactory
) -> None:
    """Go's http2 server waits 10 s for the client preface: a socket that sends nothing (or
    only part of it) does not hold a connection forever."""
    served = await make_server(handshake_timeout=0.2)
    silent = await make_raw(served.port, preface=False)
    half = await make_raw(served.port, preface=False)
    half.send(fr.PREFACE[:10])
    for client in (silent, half):
        code, _ = goaway_of(parse_frames(await client.read_to_eof())) or (None, b"")
        assert code == fr.PROTOCOL_ERROR
    assert served.server.limits_tripped[lim.HANDSHAKE_TIMEOUT] == 2


async def test_settings_must_be_acknowledged(make_server: ServerFactory, make_raw: RawFactory) -> None:
    """RFC 9113 section 6.5.3: a client that never acknowledges our SETTINGS gets
    GOAWAY(SETTINGS_TIMEOUT); one that does keeps its connection."""
    served = await make_server(settings_timeout=0.2)
    lazy = await make_raw(served.port)
    prompt = await make_raw(served.port)
    prompt.send(fr.frame(fr.SETTINGS, fr.ACK, 0))
    code, _ = goaway_of(parse_frames(await lazy.read_to_eof())) or (None, b"")
    assert code == fr.SETTINGS_TIMEOUT
    assert served.server.limits_tripped[lim.SETTINGS_TIMEOUT] == 1
    assert len(served.server.connections) == 1  # the prompt one
    prompt.send(fr.frame(fr.PING, 0, 0, b"12345678"))
    frames = await prompt.read_until(lambda f: f.kind == fr.PING and bool(f.flags & fr.ACK))
    assert goaway_of(frames) is None


async def test_idle_connections_are_closed_gracefully(make_server: ServerFactory, make_h2: H2Factory) -> None:
    """grpc-go's MaxConnectionIdle, kube-apiserver's 90 s IdleTimeout: a connection with no
    open stream for max_connection_idle gets GOAWAY(NO_ERROR) and is closed (clients reconnect
    on their next call); one with a stream open is left alone."""
    served = await make_server(max_connection_idle=0.3)
    idle = await make_h2(served.port)
    await idle.unary(path("Unary"), b"once")
    busy = await make_h2(served.port)
    sid = busy.open_stream(path("Wait"))
    await busy.send_all(sid, fr.grpc_message(b"held"))
    async with asyncio.timeout(5):
        await served.probe.started.wait()
    await idle.until_eof()
    assert idle.terminated is not None and idle.terminated.error_code == fr.NO_ERROR
    assert served.server.limits_tripped[lim.IDLE_TIMEOUT] >= 1
    served.probe.release.set()
    done = await busy.finish(sid)
    assert done.messages == [b"released:held"]  # served to the end: it was not idle


async def test_keepalive_pings_close_a_peer_that_does_not_answer(
    make_server: ServerFactory, make_h2: H2Factory, make_raw: RawFactory
) -> None:
    """etcd's --grpc-keepalive-interval/--grpc-keepalive-timeout (grpc-go's keepalive): after
    an interval with nothing read the server PINGs; a peer that answers stays, one that does
    not is closed once the timeout passes."""
    served = await make_server(keepalive_interval=0.1, keepalive_timeout=0.3, max_connection_idle=0)
    answering = await make_h2(served.port)  # h2 acknowledges every PING
    mute = await make_raw(served.port)
    mute.send(fr.frame(fr.SETTINGS, fr.ACK, 0))
    mute_read = asyncio.create_task(mute.read_to_eof())
    await answering.until(mute_read.done)  # reading, so h2 answers each PING meanwhile
    frames = parse_frames(await mute_read)
    assert any(f.kind == fr.PING and not f.flags & fr.ACK for f in frames)
    assert goaway_of(frames) is not None
    assert served.server.limits_tripped[lim.KEEPALIVE_TIMEOUT] >= 1
    done = await answering.unary(path("Unary"), b"alive")
    assert done.messages == [b"alive"] and answering.terminated is None
    assert served.server.limits_tripped[lim.KEEPALIVE_TIMEOUT] == 1


def test_the_listen_backlog_is_the_one_configured() -> None:
    """asyncio listens anew with a backlog of 100 unless told: with the event loop busy, a
    burst of 300 connections must all be queued by the kernel (backlog 1024), none dropped."""
    ready = threading.Event()
    release = threading.Event()
    port_box: list[int] = []
    stopped: list[BaseException | None] = []

    def serve() -> None:
        async def main() -> None:
            server = GrpcServer(Limits(backlog=1024))
            server.add_generic_rpc_handlers([echo_service(Probe())])
            port_box.append(server.add_insecure_port("127.0.0.1:0"))
            await server.start()
            ready.set()
            release.wait(30)  # blocks this loop: nothing is accepted meanwhile
            await server.stop(grace=None)

        try:
            asyncio.run(main())
            stopped.append(None)
        except BaseException as exc:  # reported to the test below
            stopped.append(exc)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    sockets: list[socket.socket] = []
    try:
        assert ready.wait(30)
        for _ in range(300):
            sock = socket.socket()
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", port_box[0]))
            sockets.append(sock)
        # A connection is established once the kernel queued it for accept(): writable.
        # Past a full accept queue the kernel drops SYNs, and those stay pending.
        pending = set(sockets)
        while pending:
            _, writable, _ = select.select([], list(pending), [], 10)
            assert writable, f"{len(pending)} of 300 connections not queued: the backlog is too short"
            pending -= set(writable)
        assert all(s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0 for s in sockets)
    finally:
        release.set()
        for sock in sockets:
            sock.close()
        thread.join(30)
    assert stopped == [None]


class _FakeTransport(asyncio.Transport):
    """asyncio's side of a connection, recorded: what was written, reading paused or not."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.reading = True
        self.pauses = 0
        self.closing = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 4242) if name == "peername" else default

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.append(bytes(data))

    def pause_reading(self) -> None:
        self.reading = False
        self.pauses += 1

    def resume_reading(self) -> None:
        self.reading = True

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = True


def _connect(server: GrpcServer) -> tuple[Connection, _FakeTransport]:
    conn = Connection(server)
    transport = _FakeTransport()
    conn.connection_made(transport)
    return conn, transport


async def _turns(n: int) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


def _acks(transport: _FakeTransport) -> int:
    return sum(1 for f in parse_frames(b"".join(transport.written)) if f.kind == fr.PING and f.flags & fr.ACK)


async def test_one_turn_parses_at_most_the_frame_budget() -> None:
    """Fairness: 3,000 frames read at once are parsed 500 per event-loop turn with reading
    paused in between, so other connections get their turns; then reading resumes."""
    server = GrpcServer(Limits(frames_per_turn=500, min_ping_interval=0, max_queued_control_frames=100_000))
    conn, transport = _connect(server)
    pings = b"".join(fr.frame(fr.PING, 0, 0, b"%08d" % i) for i in range(3000))
    conn.data_received(fr.PREFACE + fr.settings_frame({}) + pings)
    assert not transport.reading
    await _turns(1)
    assert 0 < _acks(transport) <= 500
    for _ in range(20):
        if transport.reading:
            break
        await _turns(1)
    await _turns(1)  # the last turn's flush
    assert _acks(transport) == 3000 and transport.reading
    assert transport.pauses == 1


async def test_a_full_send_buffer_stops_reading_and_holds_our_bytes() -> None:
    """Backpressure both ways: while the transport's buffer is full (pause_writing) nothing
    more is read and our replies stay with the protocol; resume_writing sends them and reads
    on."""
    server = GrpcServer(Limits(min_ping_interval=0))
    conn, transport = _connect(server)
    conn.data_received(fr.PREFACE + fr.settings_frame({}))
    await _turns(2)
    conn.pause_writing()
    assert not transport.reading
    before = len(transport.written)
    conn.data_received(fr.frame(fr.PING, 0, 0, b"pausing!"))  # read before the pause took effect
    await _turns(2)
    assert len(transport.written) == before  # held back
    conn.resume_writing()
    await _turns(2)
    assert transport.reading
    assert _acks(transport) == 1


async def test_a_tripped_limit_is_counted_each_time_and_logged_once_per_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every trip is counted (the metric); the log says it once per connection and limit,
    and at most LOG_BURST lines at once over all connections."""
    server = GrpcServer()
    conns = [_connect(server)[0] for _ in range(30)]
    with caplog.at_level(logging.WARNING, logger="h2grpc"):
        for conn in conns:
            for _ in range(3):
                server.limit_tripped(conn, lim.CONCURRENT_STREAMS, "stream over 1000")
    assert server.limits_tripped[lim.CONCURRENT_STREAMS] == 90
    lines = [r for r in caplog.records if "limit concurrent_streams" in r.getMessage()]
    assert len(lines) == 20  # LOG_BURST: one per connection until the budget is spent


async def test_a_flood_of_one_limit_does_not_hide_the_first_trip_of_another(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each limit has its own log budget: after 30 connections spent concurrent_streams' burst,
    the first handshake timeout is still logged (an operator sees every kind of trip)."""
    server = GrpcServer()
    conns = [_connect(server)[0] for _ in range(31)]
    with caplog.at_level(logging.WARNING, logger="h2grpc"):
        for conn in conns[:30]:
            server.limit_tripped(conn, lim.CONCURRENT_STREAMS, "stream over 1000")
        server.limit_tripped(conns[30], lim.HANDSHAKE_TIMEOUT, "no client preface")
    messages = [r.getMessage() for r in caplog.records]
    assert sum("limit concurrent_streams" in m for m in messages) == 20
    assert sum("limit handshake_timeout" in m for m in messages) == 1


def _unary_requests(n: int) -> bytes:
    """`n` unary calls of the test service's Unary method, each HEADERS then DATA."""
    encoder = hpack.Encoder()
    out = []
    for i in range(n):
        sid = 2 * i + 1
        block = encoder.encode(fr.grpc_request_headers(path("Unary")))
        out.append(fr.frame(fr.HEADERS, fr.END_HEADERS, sid, block))
        out.append(fr.frame(fr.DATA, fr.END_STREAM, sid, fr.grpc_message(b"%d" % i)))
    return b"".join(out)


def _started(conn: Connection) -> int:
    return sum(1 for running in conn.calls.values() if running.task is not None)


async def test_unary_calls_start_a_turn_at_a_time_and_not_while_the_send_buffer_is_full() -> None:
    """Go's http2 blocks a handler on the connection's writes; here calls wait to start
    instead: 200 pipelined calls start CALLS_PER_TURN per turn, in order, and none start while
    the transport's buffer is full, so a client that reads late cannot have every response
    built at once. All 200 are answered in the end."""
    server = GrpcServer(Limits(max_concurrent_streams=1000))
    server.add_generic_rpc_handlers([echo_service(Probe())])
    conn, transport = _connect(server)
    conn.data_received(fr.PREFACE + fr.settings_frame({}) + _unary_requests(200))
    assert _started(conn) == CALLS_PER_TURN
    conn.pause_writing()
    await _turns(3)
    waiting = [sid for sid, running in conn.calls.items() if running.task is None]
    assert len(waiting) == 200 - CALLS_PER_TURN and waiting == sorted(waiting)
    conn.resume_writing()
    for _ in range(50):
        if not conn.calls:
            break
        await _turns(1)
    await _turns(1)  # the last turn's flush
    frames = parse_frames(b"".join(transport.written))
    answered = {f.stream_id for f in frames if f.kind == fr.HEADERS and f.flags & fr.END_STREAM}
    assert answered == {2 * i + 1 for i in range(200)}
