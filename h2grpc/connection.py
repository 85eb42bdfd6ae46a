"""One client connection: HTTP/2 frames in and out, streams, and flow control both ways.

Frames are parsed as they arrive; whatever the connection has to send in one turn of the
event loop (responses of many calls, acknowledgements) goes out in one write.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import grpc

from h2grpc import headers as h
from h2grpc import wire as f
from h2grpc.call import ServerCall
from h2grpc.errors import ConnectionProtocolError, StreamProtocolError

if TYPE_CHECKING:
    from h2grpc.server import GrpcServer

log = logging.getLogger("h2grpc")

STREAM_WINDOW = 1 << 20  # what each stream may send us before we return window
CONNECTION_WINDOW = 1 << 24
MAX_HEADER_LIST = 64 * 1024
_RESET_MEMORY = 1024  # reset streams remembered, to ignore what the client sent before it heard
_QUEUED_LIMIT = 16  # request messages a streaming call may have unread before its window stops


@dataclass(slots=True)
class PeerSettings:
    """What the client told us in its SETTINGS frames (defaults until it does)."""

    initial_window: int = f.DEFAULT_WINDOW
    max_frame: int = f.DEFAULT_MAX_FRAME


def _status_only(status: bytes) -> bytes:
    """':status: <status>' as a literal with the indexed name ':status' (static entry 8)."""
    return b"\x08" + bytes((len(status),)) + status


class Connection(asyncio.Protocol):
    def __init__(self, server: GrpcServer) -> None:
        self._server = server
        self._loop = asyncio.get_running_loop()
        self.max_receive_message_length = server.max_receive_message_length
        self.peer = PeerSettings()
        self.peer_name = ""
        self.paused = False
        self.calls: dict[int, ServerCall] = {}
        self._transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._preface = False
        self._decoder = h.RequestHeaderDecoder(MAX_HEADER_LIST)
        self._last_stream = 0
        self._send_window = f.DEFAULT_WINDOW
        self._recv_unacked = 0
        self._fragment: tuple[int, int, bytearray] | None = None  # a header block awaiting CONTINUATION
        self._reset_ids: dict[int, None] = {}  # streams we reset lately, oldest first
        self._table_size = 4096  # the client's HPACK table size for our blocks (we never index)
        self._table_update = b""  # a size update owed at the start of our next block
        self._blocked: dict[int, ServerCall] = {}  # calls with data waiting for window
        self._out: list[bytes | memoryview] = []
        self._flush_scheduled = False
        self._closing = False  # GOAWAY sent: no new calls
        self.closed = False

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        peer = transport.get_extra_info("peername")
        self.peer_name = f"ipv4:{peer[0]}:{peer[1]}" if peer and len(peer) == 2 else f"ipv6:[{peer[0]}]:{peer[1]}"
        self._server.connections.add(self)
        self._emit(
            f.settings_frame(
                {
                    f.SETTINGS_ENABLE_PUSH: 0,
                    f.SETTINGS_MAX_CONCURRENT_STREAMS: self._server.max_concurrent_streams,
                    f.SETTINGS_INITIAL_WINDOW_SIZE: STREAM_WINDOW,
                    f.SETTINGS_MAX_HEADER_LIST_SIZE: MAX_HEADER_LIST,
                }
            )
        )
        self._emit(f.window_update(0, CONNECTION_WINDOW - f.DEFAULT_WINDOW))

    def data_received(self, data: bytes) -> None:
        try:
            self._parse(data)
        except ConnectionProtocolError as err:
            self._fail_connection(err.code, err.message)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._transport = None
        for call in list(self.calls.values()):
            call.cancel(by_peer=True)
        self.calls.clear()
        self._blocked.clear()
        self._server.connections.discard(self)
        self._server.calls_changed()

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        for call in list(self.calls.values()):
            call.drained()

    # -- frames in

    def _parse(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        if not self._preface:
            if len(buf) < len(f.PREFACE):
                if not f.PREFACE.startswith(bytes(buf)):
                    raise ConnectionProtocolError(f.PROTOCOL_ERROR, "not an HTTP/2 (prior knowledge) client")
                return
            if buf[: len(f.PREFACE)] != f.PREFACE:
                raise ConnectionProtocolError(f.PROTOCOL_ERROR, "not an HTTP/2 (prior knowledge) client")
            del buf[: len(f.PREFACE)]
            self._preface = True
        pos, end = 0, len(buf)
        while end - pos >= f.HEADER_LEN and not self.closed:
            length = buf[pos] << 16 | buf[pos + 1] << 8 | buf[pos + 2]
            if length > f.DEFAULT_MAX_FRAME:
                raise ConnectionProtocolError(f.FRAME_SIZE_ERROR, f"frame of {length} bytes over 16384")
            if end - pos < f.HEADER_LEN + length:
                break
            kind, flags = buf[pos + 3], buf[pos + 4]
            stream_id = f.u32(buf, pos + 5) & 0x7FFFFFFF
            payload = bytes(buf[pos + f.HEADER_LEN : pos + f.HEADER_LEN + length])
            pos += f.HEADER_LEN + length
            try:
                self._frame(kind, flags, stream_id, payload)
            except StreamProtocolError as err:
                self._reset(err.stream_id, err.code)
        del buf[:pos]

    def _frame(self, kind: int, flags: int, sid: int, payload: bytes) -> None:
        if self._fragment is not None and kind != f.CONTINUATION:
            raise ConnectionProtocolError(f.PROTOCOL_ERROR, "expected CONTINUATION")
        if kind == f.DATA:
            self._on_data(flags, sid, payload)
        elif kind == f.HEADERS:
            self._on_headers(flags, sid, payload)
        elif kind == f.CONTINUATION:
            self._on_continuation(flags, sid, payload)
        elif kind == f.WINDOW_UPDATE:
            self._on_window_update(sid, payload)
        elif kind == f.SETTINGS:
            self._on_settings(flags, sid, payload)
        elif kind == f.PING:
            if sid != 0 or len(payload) != 8:
                raise ConnectionProtocolError(f.PROTOCOL_ERROR if sid else f.FRAME_SIZE_ERROR, "bad PING")
            if not flags & f.ACK:
                self._emit(f.frame(f.PING, f.ACK, 0, payload))
        elif kind == f.RST_STREAM:
            self._on_rst_stream(sid, payload)
        elif kind == f.PRIORITY:
            if sid == 0:
                raise ConnectionProtocolError(f.PROTOCOL_ERROR, "PRIORITY on stream 0")
            if len(payload) != 5:
                raise StreamProtocolError(sid, f.FRAME_SIZE_ERROR, "PRIORITY is 5 bytes")
        elif kind == f.GOAWAY:
            if sid != 0:
                raise ConnectionProtocolError(f.PROTOCOL_ERROR, "GOAWAY on a stream")
        elif kind == f.PUSH_PROMISE:
            raise ConnectionProtocolError(f.PROTOCOL_ERROR, "a client may not push")
        # Frames of unknown types are ignored (RFC 9113 section 4.1).

    @staticmethod
    def _unpad(flags: int, payload: bytes) -> bytes:
        if flags & f.PADDED:
            if not payload or payload[0] >= len(payload):
                raise ConnectionProtocolError(f.PROTOCOL_ERROR, "padding longer than the frame")
            return payload[1 : len(payload) - payload[0]]
        return payload

    def _on_data(self, flags: int, sid: int, payload: bytes) -> None:
        if sid == 0:
            raise ConnectionProtocolError(f.PROTOCOL_ERROR, "DATA on stream 0")
        self._recv_unacked += len(payload)
        if self._recv_unacked >= CONNECTION_WINDOW // 2:
            self._emit(f.window_update(0, self._recv_unacked))
            self._recv_unacked = 0
        data = self._unpad(flags, payload)
        call = self.calls.get(sid)
        if call is None:
            if sid > self._last_stream:
                raise ConnectionProtocolError(f.PROTOCOL_ERROR, f"DATA on idle stream {sid}")
            return  # a stream we already ended: the client has not heard yet
        if call.recv_closed:
            raise StreamProtocolError(sid, f.STREAM_CLOSED, "DATA after END_STREAM")
        call.unacked += len(payload)
        if data and not call.done:
            call.data_received(data)
        if flags & f.END_STREAM:
            call.end_of_requests()
        elif not call.done:
            self.return_window(call)

    def _on_headers(self, flags: int, sid: int, payload: bytes) -> None:
        if sid == 0:
            raise ConnectionProtocolError(f.PROTOCOL_ERROR, "HEADERS on stream 0")
        block = self._unpad(flags, payload)
        if flags & f.PRIORITY_FLAG:
            block = block[5:]
        if flags & f.END_HEADERS:
            self._on_header_block(flags, sid, block)
        else:
            self._fragment = (sid, flags, bytearray(block))

    def _on_continuation(self, flags: int, sid: int, payload: bytes) -> None:
        if self._fragment is None or self._fragment[0] != sid:
            raise ConnectionProtocolError(f.PROTOCOL_ERROR, "CONTINUATION without HEADERS")
        _, first_flags, block = self._fragment
        block += payload
        if len(block) > MAX_HEADER_LIST:
            raise ConnectionProtocolError(f.PROTOCOL_ERROR, f"header block over {MAX_HEADER_LIST} bytes")
        if flags & f.END_HEADERS:
            self._fragment = None
            self._on_header_block(first_flags, sid, bytes(block))

    def _on_header_block(self, flags: int, sid: int, block: bytes) -> None:
        fields = self._decoder.decode(block)  # always: the decoding table must follow the client's
        call = self.calls.get(sid)
        if call is not None:  # trailers from the client: only as the end of its requests
            if not flags & f.END_STREAM or call.recv_closed:
                raise StreamProtocolError(sid, f.PROTOCOL_ERROR, "HEADERS in the middle of a stream")
            call.end_of_requests()
            return
        if sid % 2 == 0:
            raise ConnectionProtocolError(f.PROTOCOL_ERROR, f"a client opened even stream {sid}")
        if sid <= self._last_stream:
            if sid in self._reset_ids:
                return  # trailers on a stream we reset: the client had not heard yet (RFC 9113 5.1)
            raise ConnectionProtocolError(f.PROTOCOL_ERROR, f"HEADERS opening stream {sid} out of order")
        self._last_stream = sid
        if self._closing or len(self.calls) >= self._server.max_concurrent_streams:
            self._reset(sid, f.REFUSED_STREAM)
            return
        self._open_call(flags, sid, fields)

    def _open_call(self, flags: int, sid: int, fields: list[h.Header]) -> None:
        method = path = content_type = timeout = b""
        for name, value in fields:
            if name == b":path":
                path = value
            elif name == b":method":
                method = value
            elif name == b"content-type":
                content_type = value
            elif name == b"grpc-timeout":
                timeout = value
        end = flags & f.END_STREAM
        if method != b"POST":
            self._respond_http(sid, b"405", end)
            return
        if not content_type.startswith(b"application/grpc"):
            self._respond_http(sid, b"415", end)
            return
        handler = self._server.method_handler(path)
        if handler is None:
            wanted = path.decode(errors="replace")
            self._respond_status(sid, grpc.StatusCode.UNIMPLEMENTED, f"Method not found: {wanted}")
            return
        seconds = h.parse_timeout(timeout) if timeout else None
        if timeout and seconds is None:
            self._respond_status(sid, grpc.StatusCode.INTERNAL, f"malformed grpc-timeout {timeout!r}")
            return
        deadline = None if seconds is None else time.monotonic() + seconds
        call = ServerCall(self, sid, path.decode("ascii", "replace"), handler, fields, deadline)
        self.calls[sid] = call
        if seconds is not None:
            call.timer = self._loop.call_later(seconds, call.expire)
        if call.request_streaming:
            call.start()
        if end:
            call.end_of_requests()

    def _on_window_update(self, sid: int, payload: bytes) -> None:
        if len(payload) != 4:
            raise ConnectionProtocolError(f.FRAME_SIZE_ERROR, "WINDOW_UPDATE is 4 bytes")
        inc = f.u32(payload) & 0x7FFFFFFF
        if sid == 0:
            if inc == 0:
                raise ConnectionProtocolError(f.PROTOCOL_ERROR, "WINDOW_UPDATE of 0")
            self._send_window += inc
            if self._send_window > f.MAX_WINDOW:
                raise ConnectionProtocolError(f.FLOW_CONTROL_ERROR, "connection window over 2^31-1")
            for blocked in list(self._blocked.values()):
                self._pump(blocked)
            return
        call = self.calls.get(sid)
        if call is None:
            return
        if inc == 0:
            raise StreamProtocolError(sid, f.PROTOCOL_ERROR, "WINDOW_UPDATE of 0")
        call.send_window += inc
        if call.send_window > f.MAX_WINDOW:
            raise StreamProtocolError(sid, f.FLOW_CONTROL_ERROR, "stream window over 2^31-1")
        self._pump(call)

    def _on_settings(self, flags: int, sid: int, payload: bytes) -> None:
        if sid != 0:
            raise ConnectionProtocolError(f.PROTOCOL_ERROR, "SETTINGS on a stream")
        if flags & f.ACK:
            if payload:
                raise ConnectionProtocolError(f.FRAME_SIZE_ERROR, "SETTINGS ACK with a payload")
            return
        if len(payload) % 6:
            raise ConnectionProtocolError(f.FRAME_SIZE_ERROR, "SETTINGS not a multiple of 6 bytes")
        for key, value in f.parse_settings(payload):
            if key == f.SETTINGS_INITIAL_WINDOW_SIZE:
                if value > f.MAX_WINDOW:
                    raise ConnectionProtocolError(f.FLOW_CONTROL_ERROR, "initial window over 2^31-1")
                delta = value - self.peer.initial_window
                self.peer.initial_window = value
                for call in self.calls.values():
                    call.send_window += delta
                    if call.send_window > f.MAX_WINDOW:
                        raise ConnectionProtocolError(f.FLOW_CONTROL_ERROR, "a stream window over 2^31-1")
            elif key == f.SETTINGS_MAX_FRAME_SIZE:
                if not f.DEFAULT_MAX_FRAME <= value <= f.MAX_FRAME_LIMIT:
                    raise ConnectionProtocolError(f.PROTOCOL_ERROR, f"max frame size {value} out of range")
                self.peer.max_frame = value
            elif key == f.SETTINGS_HEADER_TABLE_SIZE:
                if value < self._table_size:  # RFC 7541 section 4.2: signal a smaller table
                    self._table_size = value
                    self._table_update = h.table_size_update(value)
            elif key == f.SETTINGS_ENABLE_PUSH and value > 1:
                raise ConnectionProtocolError(f.PROTOCOL_ERROR, "ENABLE_PUSH must be 0 or 1")
        self._emit(f.frame(f.SETTINGS, f.ACK, 0))
        for call in list(self._blocked.values()):
            self._pump(call)

    def _on_rst_stream(self, sid: int, payload: bytes) -> None:
        if sid == 0:
            raise ConnectionProtocolError(f.PROTOCOL_ERROR, "RST_STREAM on stream 0")
        if len(payload) != 4:
            raise ConnectionProtocolError(f.FRAME_SIZE_ERROR, "RST_STREAM is 4 bytes")
        if sid > self._last_stream:
            raise ConnectionProtocolError(f.PROTOCOL_ERROR, f"RST_STREAM on idle stream {sid}")
        call = self.calls.pop(sid, None)
        self._blocked.pop(sid, None)
        if call is not None:
            call.cancel(by_peer=True)
            self._call_ended()

    # -- frames out

    def _emit(self, data: bytes | memoryview) -> None:
        self._out.append(data)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._out and self._transport is not None:
            self._transport.write(b"".join(self._out))
        self._out.clear()

    def _send_rst(self, sid: int, code: int) -> None:
        self._emit(f.rst_stream(sid, code))
        self._reset_ids[sid] = None
        if len(self._reset_ids) > _RESET_MEMORY:
            del self._reset_ids[next(iter(self._reset_ids))]

    def _reset(self, sid: int, code: int) -> None:
        self._send_rst(sid, code)
        call = self.calls.pop(sid, None)
        self._blocked.pop(sid, None)
        if call is not None:
            call.cancel()
            self._call_ended()

    def _respond_http(self, sid: int, status: bytes, client_done: int) -> None:
        """A non-gRPC request: an HTTP status and the end of the stream."""
        self._send_header_block(sid, _status_only(status), end_stream=True)
        if not client_done:
            self._send_rst(sid, f.NO_ERROR)

    def _respond_status(self, sid: int, code: grpc.StatusCode, message: str) -> None:
        """A trailers-only response for a call that never reached a handler."""
        self._send_header_block(sid, h.RESPONSE_HEADERS + h.status_block(code.value[0], message), end_stream=True)
        self._send_rst(sid, f.NO_ERROR)

    def _send_header_block(self, sid: int, block: bytes, *, end_stream: bool) -> None:
        """HEADERS, then CONTINUATION frames if the block is over the client's frame size."""
        if self._table_update:  # the client shrank its table: say so before the next block
            block = self._table_update + block
            self._table_update = b""
        limit = self.peer.max_frame
        first = f.END_STREAM if end_stream else 0
        if len(block) <= limit:
            self._emit(f.frame(f.HEADERS, first | f.END_HEADERS, sid, block))
            return
        self._emit(f.frame(f.HEADERS, first, sid, block[:limit]))
        for at in range(limit, len(block), limit):
            last = at + limit >= len(block)
            self._emit(f.frame(f.CONTINUATION, f.END_HEADERS if last else 0, sid, block[at : at + limit]))

    def return_window(self, call: ServerCall) -> None:
        """Give the client back the window of what the call has taken in, unless it is
        not reading its requests (then the client waits: backpressure)."""
        if call.unacked >= STREAM_WINDOW // 4 and call.queued < _QUEUED_LIMIT:
            self._emit(f.window_update(call.stream_id, call.unacked))
            call.unacked = 0

    def consumed(self, call: ServerCall) -> None:
        """The handler read a request message: its window may go back to the client."""
        if not call.recv_closed and call.stream_id in self.calls:
            self.return_window(call)

    def send_headers(self, call: ServerCall) -> None:
        call.headers_sent = True
        self._send_header_block(call.stream_id, call.initial_metadata_block(), end_stream=False)

    def send_message(self, call: ServerCall, data: bytes) -> None:
        if not call.headers_sent:
            self.send_headers(call)
        message = memoryview(f.grpc_message(data))
        call.pending.append(message)
        call.pending_bytes += len(message)
        self._pump(call)

    def send_trailers(self, call: ServerCall, block: bytes) -> None:
        if call.stream_id not in self.calls:
            return  # reset by either side: nothing more goes out on it
        call.trailers = block
        self._pump(call)

    def _pump(self, call: ServerCall) -> None:
        """Send what the windows allow of the call's data, then its trailers."""
        sid = call.stream_id
        pending = call.pending
        while pending:
            chunk = pending[0]
            n = min(len(chunk), call.send_window, self._send_window, self.peer.max_frame)
            if n <= 0:
                self._blocked[sid] = call
                return
            if n == len(chunk):
                pending.popleft()
            else:
                pending[0] = chunk[n:]
                chunk = chunk[:n]
            self._out.append(f.header(f.DATA, 0, sid, n))
            self._emit(chunk)  # the payload as is: no copy into a frame
            call.send_window -= n
            self._send_window -= n
            call.pending_bytes -= n
        self._blocked.pop(sid, None)
        if call.trailers is not None:
            self._send_header_block(sid, call.trailers, end_stream=True)
            call.trailers = None
            del self.calls[sid]
            if not call.recv_closed:
                self._send_rst(sid, f.NO_ERROR)  # we are done: the client need not send more
            self._call_ended()
        call.drained()

    # -- ending the connection

    def _fail_connection(self, code: int, message: str) -> None:
        log.info("closing a client connection (%s): %s", self.peer_name, message)
        self._emit(f.goaway(self._last_stream, code, message.encode("utf-8", "replace")[:256]))
        self._flush()
        for call in list(self.calls.values()):
            call.cancel()
        self.calls.clear()
        self.closed = True
        if self._transport is not None:
            self._transport.close()

    def go_away(self) -> None:
        """Graceful shutdown: refuse new calls, let the running ones end."""
        if not self._closing and self._transport is not None:
            self._closing = True
            self._emit(f.goaway(self._last_stream, f.NO_ERROR))
            if not self.calls:
                self._flush()
                self._transport.close()

    def close_now(self) -> None:
        """End every call with UNAVAILABLE and close."""
        for call in list(self.calls.values()):
            call.fail(grpc.StatusCode.UNAVAILABLE, "the server is shutting down")
        self._flush()
        if self._transport is not None:
            self._transport.close()

    def _call_ended(self) -> None:
        if self._closing and not self.calls and self._transport is not None:
            self._flush()
            self._transport.close()  # told to go away, and now idle
        self._server.calls_changed()
