"""One client connection's I/O: the asyncio transport around a `ServerProtocol`, and the calls.

Bytes read go to the protocol, whose events this turns into calls (a `ServerCall` run as a
task, with a deadline timer) and into what the calls are told (messages, end of requests,
window, reset); what the calls send goes to the protocol, and everything the protocol has to
send in one turn of the event loop (responses of many calls, acknowledgements) goes out in
one write. The decisions that need the served methods are made here: an unknown method is
UNIMPLEMENTED, a malformed grpc-timeout INTERNAL (both Trailers-Only, via
`ServerProtocol.refuse`). Shutdown: GOAWAY, then close once the calls ended (or end them
with UNAVAILABLE).

Backpressure and fairness, the I/O half of `h2grpc.limits`: each turn of the event loop
parses at most `frames_per_turn` frames of this connection; the rest waits for a later turn
with reading paused, so a flooding client slows itself and not the others. While the
transport's send buffer is full, reading and parsing stop and our bytes stay with the
protocol, whose bounded control-reply queue then closes a client that never reads. Unary
calls start at most CALLS_PER_TURN a turn and none while the buffer is full (the rest wait
their turn in order), so a client that pipelines big reads and reads its socket late cannot
make the server build all their responses at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Protocol

import grpc

from h2grpc import headers as h
from h2grpc import limits as lim
from h2grpc import status
from h2grpc import wire as f
from h2grpc.call import ServerCall
from h2grpc.events import (
    ConnectionFailed,
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
from h2grpc.protocol import ServerProtocol

log = logging.getLogger("h2grpc")

CLOSE_GRACE = 1.0  # seconds a closing connection's last bytes get before the socket is cut
CALLS_PER_TURN = 16  # unary calls a connection starts per event-loop turn; the rest wait


class ConnectionOwner(Protocol):
    """What a connection needs of its server (`h2grpc.server.GrpcServer`)."""

    limits: Limits
    connections: set[Connection]  # the open connections: each adds and removes itself

    def method_handler(self, path: bytes) -> grpc.RpcMethodHandler | None:
        """The handler serving `path`, None if no handler does."""
        ...

    def calls_changed(self) -> None:
        """A call or a connection ended."""
        ...

    def limit_tripped(self, conn: Connection, limit: str, message: str) -> None:
        """A limit of `h2grpc.limits` tripped on `conn`: count it, log it (rate-limited)."""
        ...


@dataclass(slots=True)
class _Running:
    """A call this connection runs: its handle, its handler's task, its deadline timer."""

    call: ServerCall
    task: asyncio.Task[None] | None = None  # None until a unary call's request arrived
    timer: asyncio.TimerHandle | None = None  # until the call's status is decided


class Connection(asyncio.Protocol):
    """An asyncio protocol for one client connection; the `call.CallTransport` of its calls."""

    def __init__(self, server: ConnectionOwner) -> None:
        self._server = server
        self._loop = asyncio.get_running_loop()
        self._protocol = ServerProtocol(server.limits)
        self.peer_name = ""
        self.paused = False  # the transport's buffer is full: writers wait, reading stops
        self.calls: dict[int, _Running] = {}  # by stream id: the protocol's open streams that run a call
        self.limits_logged: set[str] = set()  # the limits already logged for this connection
        self._transport: asyncio.Transport | None = None
        self._flush_scheduled = False
        self._reading_paused = False
        self._continue_scheduled = False  # frames left over from a turn wait for `_continue`
        self._ready: deque[_Running] = deque()  # unary calls whose request came, waiting to start
        self._started = 0  # unary calls started this turn
        self._start_scheduled = False
        self.closed = False

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        peer = transport.get_extra_info("peername")
        self.peer_name = f"ipv4:{peer[0]}:{peer[1]}" if peer and len(peer) == 2 else f"ipv6:[{peer[0]}]:{peer[1]}"
        server = self._server
        if len(server.connections) >= server.limits.max_connections:
            message = f"more than {server.limits.max_connections} open connections (max_connections)"
            server.limit_tripped(self, lim.CONNECTIONS, message)
            self._protocol.abort(f.ENHANCE_YOUR_CALM, message, lim.CONNECTIONS)
            self._close()
            return
        server.connections.add(self)
        self._schedule_flush()  # the protocol's preface

    def data_received(self, data: bytes) -> None:
        protocol = self._protocol
        protocol.new_turn()
        if not self._start_scheduled:  # no start pending since the last turn: a fresh count
            self._started = 0
        protocol.receive_data(data)
        self._handle_events()

    def _continue(self) -> None:
        """A later turn for the frames a turn's budget left unparsed."""
        self._continue_scheduled = False
        if not self.closed and not self.paused:
            self._protocol.new_turn()
            if not self._start_scheduled:
                self._started = 0
            self._handle_events()

    def _handle_events(self) -> None:
        """Act on the protocol's events until it has none this turn; then read on, or wait
        for a later turn if frames are left over (reading paused meanwhile)."""
        protocol = self._protocol
        calls = self.calls
        while (event := protocol.next_event()) is not None:
            if isinstance(event, RequestReceived):
                self._on_request(event)
            elif isinstance(event, MessagesReceived):
                running = calls.get(event.stream_id)
                if running is not None:
                    if running.task is None:  # a unary call's request: run it (or queue it)
                        self._start(running)
                    else:
                        running.call.requests_ready()
            elif isinstance(event, RequestsEnded):
                running = calls.get(event.stream_id)
                if running is not None:
                    running.call.requests_ended()
            elif isinstance(event, StreamWritable):
                running = calls.get(event.stream_id)
                if running is not None:
                    running.call.writable_again()
            elif isinstance(event, StreamClosed):
                if calls.pop(event.stream_id, None) is not None:
                    self._call_ended()
            elif isinstance(event, StreamReset | RequestRejected):
                running = calls.pop(event.stream_id, None)
                if running is not None:
                    self._stop(running, by_peer=isinstance(event, StreamReset) and event.by_peer)
                    self._call_ended()
            elif isinstance(event, LimitTripped):
                self._server.limit_tripped(self, event.limit, event.message)
            elif isinstance(event, ConnectionFailed):
                if event.limit:
                    self._server.limit_tripped(self, event.limit, event.message)
                self._fail_connection(event.message)
                return
        if protocol.has_data_to_send():
            self._schedule_flush()  # before the next turn's frames: their replies come after these
        if protocol.input_pending:
            self._pause_reading()
            if not self._continue_scheduled and not self.paused:
                self._continue_scheduled = True
                self._loop.call_soon(self._continue)
        elif self._reading_paused and not self.paused:
            self._resume_reading()

    def _start(self, running: _Running) -> None:
        """Run a unary call now, unless this turn started enough or the send buffer is full."""
        if self._ready or self.paused or self._started >= CALLS_PER_TURN:
            self._ready.append(running)
            self._schedule_start()
            return
        self._started += 1
        running.task = self._loop.create_task(running.call.run())

    def _schedule_start(self) -> None:
        if not self._start_scheduled and not self.paused:
            self._start_scheduled = True
            self._loop.call_soon(self._start_ready)

    def _start_ready(self) -> None:
        """A new turn: start the waiting unary calls, CALLS_PER_TURN at most."""
        self._start_scheduled = False
        self._started = 0
        ready, calls = self._ready, self.calls
        while ready and not self.paused and self._started < CALLS_PER_TURN:
            running = ready.popleft()
            if calls.get(running.call.stream_id) is running and running.task is None:  # not ended meanwhile
                self._started += 1
                running.task = self._loop.create_task(running.call.run())
        if ready:
            self._schedule_start()

    def _pause_reading(self) -> None:
        if not self._reading_paused and self._transport is not None:
            self._reading_paused = True
            self._transport.pause_reading()

    def _resume_reading(self) -> None:
        if self._reading_paused and self._transport is not None and not self._transport.is_closing():
            self._reading_paused = False
            self._transport.resume_reading()

    def tick(self, now: float) -> None:
        """The protocol's time-based limits (timeouts, keepalive, stalled streams); called by
        the server about once a second."""
        if not self.closed:
            self._protocol.tick(now)
            self._handle_events()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._transport = None
        for running in list(self.calls.values()):
            self._stop(running, by_peer=True)
        self.calls.clear()
        self._ready.clear()
        self._server.connections.discard(self)
        self._server.calls_changed()

    def pause_writing(self) -> None:
        self.paused = True
        self._protocol.writing_paused()
        self._pause_reading()

    def resume_writing(self) -> None:
        self.paused = False
        self._protocol.writing_resumed()
        self._flush()
        for running in list(self.calls.values()):
            running.call.writable_again()
        if not self.closed:
            if self._ready:
                self._schedule_start()
            self._handle_events()  # frames read before the pause, then reading again

    # -- calls

    def _on_request(self, event: RequestReceived) -> None:
        sid, path, timeout = event.stream_id, event.path, event.timeout
        handler = self._server.method_handler(path)
        if handler is None:
            wanted = path.decode(errors="replace")
            self._protocol.refuse(sid, status.UNIMPLEMENTED, f"Method not found: {wanted}")
            return
        seconds = h.parse_timeout(timeout) if timeout else None
        if timeout and seconds is None:
            self._protocol.refuse(sid, status.INTERNAL, f"malformed grpc-timeout {timeout!r}")
            return
        deadline = None if seconds is None else time.monotonic() + seconds
        call = ServerCall(self, sid, path.decode("ascii", "replace"), handler, event.headers, deadline, self.peer_name)
        running = _Running(call)
        self.calls[sid] = running
        if seconds is not None:
            running.timer = self._loop.call_later(seconds, self._expire, sid)
        streaming = bool(handler.request_streaming)
        self._protocol.accept(sid, unary=not streaming)
        if streaming:
            running.task = self._loop.create_task(call.run())

    def _expire(self, sid: int) -> None:
        running = self.calls.get(sid)
        if running is not None:
            running.timer = None
            running.call.fail(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")
            self._stop(running)

    def _stop(self, running: _Running, *, by_peer: bool = False) -> None:
        """The call is over before its handler ended: cancel the handler and the deadline."""
        running.call.cancel(by_peer=by_peer)
        task = running.task
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()
        if running.timer is not None:
            running.timer.cancel()
            running.timer = None

    def _call_ended(self) -> None:
        if self._protocol.going_away and not self.calls and self._transport is not None:
            self._close()  # told to go away, and now idle
        self._server.calls_changed()

    # -- call.CallTransport

    def next_request(self, stream_id: int) -> bytes | None:
        message = self._protocol.next_request(stream_id)
        if self._protocol.has_data_to_send():  # window given back
            self._schedule_flush()
        return message

    def send_initial_metadata(self, stream_id: int, metadata: bytes) -> None:
        self._protocol.send_headers(stream_id, metadata)
        self._schedule_flush()

    def send_message(self, stream_id: int, message: bytes) -> bool:
        sent = self._protocol.send_message(stream_id, message)
        self._schedule_flush()
        return sent and not self.paused

    def writable(self, stream_id: int) -> bool:
        return not self.paused and self._protocol.writable(stream_id)

    def finish(self, stream_id: int, status: bytes, *, drop_queued: bool = False) -> None:
        running = self.calls.get(stream_id)
        if running is not None and running.timer is not None:
            running.timer.cancel()  # the status is decided: the deadline no longer matters
            running.timer = None
        closed = self._protocol.end_stream(stream_id, status, drop_queued=drop_queued)
        self._schedule_flush()
        if closed and running is not None:
            del self.calls[stream_id]
            self._call_ended()

    # -- bytes out

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        """Write what the protocol has to send; while the transport's buffer is full it stays
        with the protocol (whose control-reply bound then trips), unless closing."""
        self._flush_scheduled = False
        if self.paused and not self.closed:
            return
        data = self._protocol.data_to_send()
        if data and self._transport is not None:
            self._transport.write(data)

    def _close(self) -> None:
        """Flush and close; a peer that does not take the last bytes is cut after CLOSE_GRACE."""
        self.closed = True
        self._flush()
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.close()
            self._loop.call_later(CLOSE_GRACE, self._cut, transport)

    def _cut(self, transport: asyncio.Transport) -> None:
        if self._transport is transport:  # connection_lost has not come yet
            transport.abort()

    # -- ending the connection

    def _fail_connection(self, message: str) -> None:
        log.info("closing a client connection (%s): %s", self.peer_name, message)
        for running in list(self.calls.values()):
            self._stop(running)
        self.calls.clear()
        self._close()

    def go_away(self) -> None:
        """Graceful shutdown: refuse new calls, let the running ones end."""
        if self._transport is not None and self._protocol.go_away():
            self._schedule_flush()
            if not self.calls:
                self._close()

    def close_now(self) -> None:
        """End every call with UNAVAILABLE and close."""
        for running in list(self.calls.values()):
            running.call.fail(grpc.StatusCode.UNAVAILABLE, "the server is shutting down")
            self._stop(running)
        self._close()
