"""The server side of gRPC over HTTP/2 with no I/O ("sans-I/O"): bytes in, events and bytes out.

`receive_data()` takes what the socket read; `next_event()` parses frames until something
happens that the I/O side must act on (an `h2grpc.events` record; None when the bytes are
used up); the responses go in through `send_headers()`, `send_message()` and `end_stream()`;
`data_to_send()` is everything to write, in order. No asyncio, sockets or grpc here: the
tests drive it with bytes alone.

It owns the HTTP/2 connection (RFC 9113): the preface, frame sizes, padding, CONTINUATION
assembly, PRIORITY and unknown frame types; HPACK decoding, which follows every header block
the client sends, also of streams it refuses (RFC 7541); stream lifecycle (client streams
odd and increasing, reset streams remembered, SETTINGS_MAX_CONCURRENT_STREAMS, GOAWAY); flow
control both ways; SETTINGS and PING acknowledgements; the client's max frame size and
header table size. Errors are RFC 9113's: a stream error resets that stream, a connection
error sends GOAWAY and ends the parsing (`events.ConnectionFailed`).

The rules of gRPC over HTTP/2 that need nothing but the bytes live here too: a request that
is not gRPC gets an HTTP status (405 unless POST, 415 unless content-type application/grpc*),
responses begin with ':status 200' and the content-type, a status with no response before it
goes as Trailers-Only, and request messages are framed and checked (`h2grpc.stream`).
Whether the method exists and what its deadline is (grpc-timeout) is the connection's
decision, given back through `accept()` or `refuse()` before the next event.

Limits on what a client may make us do (PING or SETTINGS floods, rapid resets, header list
sizes) belong here too, where every frame passes: `_on_ping`, `_on_settings`,
`_on_rst_stream`, `_on_continuation` and `_reset_ids` hold what they would count.
"""

from __future__ import annotations

import heapq
from collections import deque

from h2grpc import headers as h
from h2grpc import wire as f
from h2grpc.errors import ConnectionProtocolError, RequestError, StreamProtocolError
from h2grpc.events import (
    ConnectionFailed,
    Event,
    MessagesReceived,
    RequestReceived,
    RequestRejected,
    RequestsEnded,
    StreamClosed,
    StreamReset,
    StreamWritable,
)
from h2grpc.stream import StreamState

STREAM_WINDOW = 1 << 20  # what each stream may send us before we return window
CONNECTION_WINDOW = 1 << 24  # what all streams together may send us before we return window
MAX_HEADER_LIST = 64 * 1024  # the header block size we announce and accept
_RESET_MEMORY = 1024  # streams we reset remembered, to ignore what the client sent before it heard
_QUEUED_LIMIT = 16  # request messages a streaming call may have unread before its window stops
# StreamState.waiting: the window that holds a stream's response data back
_ON_CONNECTION = 1  # its own window is open: queued, first come first served, in `_fifo`
_ON_STREAM = 2  # its own window is closed: in `_heap`, the largest credit first

_unpack_header = f.HEADER.unpack_from


class ServerProtocol:
    """One client connection's HTTP/2 and gRPC state; see the module docstring."""

    def __init__(self, *, max_concurrent_streams: int, max_receive_message_length: int) -> None:
        self.max_concurrent_streams = max_concurrent_streams
        self.max_receive_message_length = max_receive_message_length
        self.last_stream_id = 0  # the highest stream the client opened (GOAWAY names it)
        self.going_away = False  # we sent GOAWAY(NO_ERROR): new streams are refused
        self.closed = False  # a connection error: nothing more is parsed or sent but the GOAWAY
        # Streams from their request headers to their trailers or reset (each an open call).
        self._streams: dict[int, StreamState] = {}
        # Streams with response data waiting for window: sid in _blocked <=> _streams[sid].pending
        # <=> _streams[sid].waiting (and a stream's trailers wait only there: trailers set => blocked).
        # Those waiting _ON_CONNECTION each have an entry in _fifo, those _ON_STREAM a current one
        # in _heap; stale entries are skipped when met, and dropped when they outnumber the rest.
        self._blocked: dict[int, StreamState] = {}
        self._fifo: deque[StreamState] = deque()
        self._heap: list[tuple[int, int, StreamState]] = []  # (-credit, sid, stream)
        self._events: deque[Event] = deque()  # reported, not yet returned by next_event()
        self._out: list[bytes | memoryview] = []  # bytes to send, in order
        # -- input: the unparsed bytes are _buf[_pos:] (whole frames) or else _partial
        self._preface = False  # the client's connection preface was received
        self._buf = b""
        self._pos = 0
        self._partial = bytearray()  # an incomplete frame (or preface), with what follows it
        self._wanted = 0  # len(_partial) with which parsing can go on
        self._fragment: tuple[int, int, bytearray] | None = None  # (sid, flags, block) awaiting CONTINUATION
        self._awaiting: StreamState | None = None  # a RequestReceived not answered yet
        self._awaiting_end = False  # ... whose HEADERS had END_STREAM
        self._decoder = h.RequestHeaderDecoder(MAX_HEADER_LIST)
        self._reset_ids: dict[int, None] = {}  # streams we reset lately, oldest first
        # -- flow control and the client's settings
        self._send_window = f.DEFAULT_WINDOW  # the connection's window the client gave us
        self._recv_unacked = 0  # DATA bytes received on the connection, not yet returned
        self._peer_initial_window = f.DEFAULT_WINDOW  # each stream's window is its credit plus this
        self._max_credit = 0  # at least the largest credit of an open stream (RFC 9113 6.9.2's check)
        self._peer_max_frame = f.DEFAULT_MAX_FRAME  # the largest frame we may send
        self._table_size = 4096  # the client's HPACK table size for our blocks (we never index)
        self._table_update = b""  # a size update owed at the start of our next block
        # The server's connection preface (RFC 9113 section 3.4).
        self._out.append(
            f.settings_frame(
                {
                    f.SETTINGS_ENABLE_PUSH: 0,
                    f.SETTINGS_MAX_CONCURRENT_STREAMS: max_concurrent_streams,
                    f.SETTINGS_INITIAL_WINDOW_SIZE: STREAM_WINDOW,
                    f.SETTINGS_MAX_HEADER_LIST_SIZE: MAX_HEADER_LIST,
                }
            )
        )
        self._out.append(f.window_update(0, CONNECTION_WINDOW - f.DEFAULT_WINDOW))

    @property
    def open_streams(self) -> int:
        return len(self._streams)

    # ------------------------------------------------------------------ bytes in

    def receive_data(self, data: bytes) -> None:
        """Bytes the client sent; `next_event()` parses them."""
        if self.closed:
            return
        if self._pos < len(self._buf):  # events not all taken yet: keep the order
            self._buf = self._buf[self._pos :] + data
            self._pos = 0
            return
        partial = self._partial
        if partial:
            partial += data
            if len(partial) < self._wanted:
                return
            data = bytes(partial)
            partial.clear()
        if not self._preface:
            n = len(f.PREFACE)
            if data[:n] != f.PREFACE[: len(data)]:
                self._fail(f.PROTOCOL_ERROR, "not an HTTP/2 (prior knowledge) client")
                return
            if len(data) < n:
                partial += data
                self._wanted = n
                return
            data = data[n:]
            self._preface = True
        self._buf = data
        self._pos = 0

    def next_event(self) -> Event | None:
        """Parse until something happens that the caller must act on; None when the bytes
        received so far are used up. A RequestReceived must be answered (accept or refuse)
        before the next call."""
        events = self._events
        if events:
            return events.popleft()
        if self._awaiting is not None:
            raise RuntimeError("a RequestReceived must be answered with accept() or refuse() first")
        buf = self._buf
        pos = self._pos
        end = len(buf)
        try:
            while end - pos >= f.HEADER_LEN:
                high, low, kind, flags, sid = _unpack_header(buf, pos)
                length = high << 16 | low
                if length > f.DEFAULT_MAX_FRAME:
                    raise ConnectionProtocolError(f.FRAME_SIZE_ERROR, f"frame of {length} bytes over 16384")
                start = pos + f.HEADER_LEN
                stop = start + length
                if stop > end:
                    break
                self._pos = pos = stop
                try:
                    self._frame(kind, flags, sid & 0x7FFFFFFF, buf[start:stop])
                except StreamProtocolError as err:
                    self._reset(err.stream_id, err.code)
                if events:
                    return events.popleft()
        except ConnectionProtocolError as err:
            self._fail(err.code, err.message)
            return events.popleft()
        if pos < end:  # an incomplete frame: wait for the rest of it
            self._partial += memoryview(buf)[pos:]
            if end - pos >= f.HEADER_LEN:
                self._wanted = f.HEADER_LEN + (buf[pos] << 16 | buf[pos + 1] << 8 | buf[pos + 2])
            else:
                self._wanted = f.HEADER_LEN
        self._buf = b""
        self._pos = 0
        return None

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
            self._on_ping(flags, sid, payload)
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
            self._out.append(f.window_update(0, self._recv_unacked))
            self._recv_unacked = 0
        data = self._unpad(flags, payload) if flags & f.PADDED else payload
        stream = self._streams.get(sid)
        if stream is None:
            if sid > self.last_stream_id:
                raise ConnectionProtocolError(f.PROTOCOL_ERROR, f"DATA on idle stream {sid}")
            return  # a stream already ended here: the client has not heard yet
        if stream.recv_closed:
            raise StreamProtocolError(sid, f.STREAM_CLOSED, "DATA after END_STREAM")
        stream.unacked += len(payload)
        if data and not stream.response_done:
            try:
                if stream.feed(data):
                    self._events.append(MessagesReceived(sid))
            except RequestError as err:
                self._reject(stream, err)
                return
        if flags & f.END_STREAM:
            self._end_of_requests(stream)
        elif not stream.response_done:
            self._return_window(stream)

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
        fields, _ = self._decoder.decode(block)  # always: the decoding table must follow the client's
        stream = self._streams.get(sid)
        if stream is not None:  # trailers from the client: only as the end of its requests
            if not flags & f.END_STREAM or stream.recv_closed:
                raise StreamProtocolError(sid, f.PROTOCOL_ERROR, "HEADERS in the middle of a stream")
            self._end_of_requests(stream)
            return
        if sid % 2 == 0:
            raise ConnectionProtocolError(f.PROTOCOL_ERROR, f"a client opened even stream {sid}")
        if sid <= self.last_stream_id:
            if sid in self._reset_ids:
                return  # trailers on a stream we reset: the client had not heard yet (RFC 9113 5.1)
            raise ConnectionProtocolError(f.PROTOCOL_ERROR, f"HEADERS opening stream {sid} out of order")
        self.last_stream_id = sid
        if self.going_away or len(self._streams) >= self.max_concurrent_streams:
            self._reset(sid, f.REFUSED_STREAM)
            return
        self._on_request(flags, sid, fields)

    def _on_request(self, flags: int, sid: int, fields: list[h.Header]) -> None:
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
        stream = StreamState(sid, self.max_receive_message_length)
        self._streams[sid] = stream
        self._awaiting = stream
        self._awaiting_end = bool(end)
        self._events.append(RequestReceived(sid, path, fields, timeout))

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
            self._resume_on_connection()
            return
        stream = self._streams.get(sid)
        if stream is None:
            return
        if inc == 0:
            raise StreamProtocolError(sid, f.PROTOCOL_ERROR, "WINDOW_UPDATE of 0")
        stream.credit += inc
        if stream.credit + self._peer_initial_window > f.MAX_WINDOW:
            raise StreamProtocolError(sid, f.FLOW_CONTROL_ERROR, "stream window over 2^31-1")
        if stream.credit > self._max_credit:
            self._max_credit = stream.credit
        if stream.waiting:
            self._resume(stream)

    def _on_settings(self, flags: int, sid: int, payload: bytes) -> None:
        if sid != 0:
            raise ConnectionProtocolError(f.PROTOCOL_ERROR, "SETTINGS on a stream")
        if flags & f.ACK:
            if payload:
                raise ConnectionProtocolError(f.FRAME_SIZE_ERROR, "SETTINGS ACK with a payload")
            return
        if len(payload) % 6:
            raise ConnectionProtocolError(f.FRAME_SIZE_ERROR, "SETTINGS not a multiple of 6 bytes")
        initial = self._peer_initial_window
        for key, value in f.parse_settings(payload):
            if key == f.SETTINGS_INITIAL_WINDOW_SIZE:
                if value > f.MAX_WINDOW:
                    raise ConnectionProtocolError(f.FLOW_CONTROL_ERROR, "initial window over 2^31-1")
                if value + self._max_credit > f.MAX_WINDOW:  # perhaps a stream's window: look
                    self._max_credit = max((s.credit for s in self._streams.values()), default=0)
                    if value + self._max_credit > f.MAX_WINDOW:
                        raise ConnectionProtocolError(f.FLOW_CONTROL_ERROR, "a stream window over 2^31-1")
                self._peer_initial_window = value  # every stream's window changes with it
            elif key == f.SETTINGS_MAX_FRAME_SIZE:
                if not f.DEFAULT_MAX_FRAME <= value <= f.MAX_FRAME_LIMIT:
                    raise ConnectionProtocolError(f.PROTOCOL_ERROR, f"max frame size {value} out of range")
                self._peer_max_frame = value
            elif key == f.SETTINGS_HEADER_TABLE_SIZE:
                if value < self._table_size:  # RFC 7541 section 4.2: signal a smaller table
                    self._table_size = value
                    self._table_update = h.table_size_update(value)
            elif key == f.SETTINGS_ENABLE_PUSH and value > 1:
                raise ConnectionProtocolError(f.PROTOCOL_ERROR, "ENABLE_PUSH must be 0 or 1")
        self._out.append(f.frame(f.SETTINGS, f.ACK, 0))
        if self._peer_initial_window > initial:
            self._resume_on_stream()

    def _on_ping(self, flags: int, sid: int, payload: bytes) -> None:
        if sid != 0 or len(payload) != 8:
            raise ConnectionProtocolError(f.PROTOCOL_ERROR if sid else f.FRAME_SIZE_ERROR, "bad PING")
        if not flags & f.ACK:
            self._out.append(f.frame(f.PING, f.ACK, 0, payload))

    def _on_rst_stream(self, sid: int, payload: bytes) -> None:
        if sid == 0:
            raise ConnectionProtocolError(f.PROTOCOL_ERROR, "RST_STREAM on stream 0")
        if len(payload) != 4:
            raise ConnectionProtocolError(f.FRAME_SIZE_ERROR, "RST_STREAM is 4 bytes")
        if sid > self.last_stream_id:
            raise ConnectionProtocolError(f.PROTOCOL_ERROR, f"RST_STREAM on idle stream {sid}")
        stream = self._streams.get(sid)
        if stream is not None:
            self._forget(stream)
            self._events.append(StreamReset(sid, f.u32(payload), by_peer=True))

    def _end_of_requests(self, stream: StreamState) -> None:
        try:
            stream.end_of_requests()
        except RequestError as err:
            self._reject(stream, err)
            return
        if not stream.unary:  # a unary request is checked complete above: nothing to tell
            self._events.append(RequestsEnded(stream.stream_id))

    def _return_window(self, stream: StreamState) -> None:
        """Give the client back the window of what the stream has taken in, unless its call
        is not reading its requests (then the client waits: backpressure)."""
        if stream.unacked >= STREAM_WINDOW // 4 and len(stream.messages) < _QUEUED_LIMIT:
            self._out.append(f.window_update(stream.stream_id, stream.unacked))
            stream.unacked = 0

    # ------------------------------------------------------------------ answers to a RequestReceived

    def accept(self, stream_id: int, *, unary: bool) -> None:
        """Serve the request: a call runs on the stream (`unary`: it takes one message)."""
        stream = self._answering(stream_id)
        stream.unary = unary
        if self._awaiting_end:
            self._end_of_requests(stream)

    def refuse(self, stream_id: int, status: int, message: str) -> None:
        """End the request before any call ran: a Trailers-Only response with the gRPC
        status (an `h2grpc.status` number), then RST_STREAM(NO_ERROR)."""
        self._forget(self._answering(stream_id))
        self._send_header_block(stream_id, h.RESPONSE_HEADERS + h.status_block(status, message), end_stream=True)
        self._send_rst(stream_id, f.NO_ERROR)

    def _answering(self, stream_id: int) -> StreamState:
        stream = self._awaiting
        if stream is None or stream.stream_id != stream_id:
            raise RuntimeError(f"stream {stream_id} is not waiting for accept() or refuse()")
        self._awaiting = None
        return stream

    # ------------------------------------------------------------------ the calls' side

    def next_request(self, stream_id: int) -> bytes | None:
        """The stream's next complete request message, if one is queued; taking it may give
        window back to the client."""
        stream = self._streams.get(stream_id)
        if stream is None or not stream.messages:
            return None
        message = stream.messages.popleft()
        if not stream.recv_closed:
            self._return_window(stream)
        return message

    def send_headers(self, stream_id: int, metadata: bytes) -> None:
        """The response headers, with the encoded initial metadata `metadata`."""
        stream = self._streams.get(stream_id)
        if stream is not None and not stream.headers_sent:
            stream.headers_sent = True
            self._send_header_block(stream_id, h.RESPONSE_HEADERS + metadata, end_stream=False)

    def send_message(self, stream_id: int, message: bytes) -> bool:
        """One response message (after the response headers, if they are not sent yet).
        True if it all went out; False if some of it waits for window (`writable()`)."""
        stream = self._streams.get(stream_id)
        if stream is None or stream.response_done:
            return True
        if not stream.headers_sent:
            stream.headers_sent = True
            self._send_header_block(stream_id, h.RESPONSE_HEADERS, end_stream=False)
        size = f.GRPC_PREFIX_LEN + len(message)
        if (
            not stream.pending
            and size <= stream.credit + self._peer_initial_window
            and size <= self._send_window
            and size <= self._peer_max_frame
        ):  # one DATA frame, now: the common case
            self._out.append(f.data_message_head(stream_id, len(message)))
            self._out.append(message)
            stream.credit -= size
            self._send_window -= size
            return True
        stream.queue(memoryview(f.grpc_message(message)))
        return self._send_queued(stream)

    def writable(self, stream_id: int) -> bool:
        """No response data of the stream waits for window."""
        return stream_id not in self._blocked

    def end_stream(self, stream_id: int, status: bytes, *, drop_queued: bool = False) -> bool:
        """The call's end: its status block (`headers.status_block`) as trailers after the
        data still queued (dropped if `drop_queued`), or as a Trailers-Only response if no
        headers went out. True if the stream closed now; False if the trailers wait for
        window (a StreamClosed event follows) or the stream is gone or already ending."""
        stream = self._streams.get(stream_id)
        if stream is None or stream.response_done:
            return False
        stream.response_done = True
        if drop_queued:
            stream.drop_queued()
        if not stream.headers_sent:
            stream.headers_sent = True
            status = h.RESPONSE_HEADERS + status
        stream.trailers = status
        return self._send_queued(stream) and self._send_trailers(stream)

    def _reject(self, stream: StreamState, err: RequestError) -> None:
        self.end_stream(stream.stream_id, h.status_block(err.status, err.details), drop_queued=True)
        self._events.append(RequestRejected(stream.stream_id, err.status))

    # ------------------------------------------------------------------ the connection's side

    def go_away(self) -> bool:
        """Graceful shutdown (RFC 9113 section 6.8): GOAWAY(NO_ERROR) naming the last stream
        taken; streams opened after it are refused. False if already going away or closed."""
        if self.going_away or self.closed:
            return False
        self.going_away = True
        self._out.append(f.goaway(self.last_stream_id, f.NO_ERROR))
        return True

    def has_data_to_send(self) -> bool:
        return bool(self._out)

    def data_to_send(self) -> bytes:
        """Everything queued to send, in order; the queue is empty afterwards."""
        data = b"".join(self._out)
        self._out.clear()
        return data

    # ------------------------------------------------------------------ frames out

    def _send_queued(self, stream: StreamState) -> bool:
        """Send what the windows allow of the stream's queued data; True if none is left."""
        sid = stream.stream_id
        pending = stream.pending
        out = self._out
        initial = self._peer_initial_window
        while pending:
            chunk = pending[0]
            window = stream.credit + initial
            n = min(len(chunk), window, self._send_window, self._peer_max_frame)
            if n <= 0:
                self._block(stream, window <= 0)
                return False
            if n == len(chunk):
                pending.popleft()
            else:
                pending[0] = chunk[n:]
                chunk = chunk[:n]
            out.append(f.header(f.DATA, 0, sid, n))
            out.append(chunk)  # the payload as is: no copy into a frame
            stream.credit -= n
            self._send_window -= n
        if stream.waiting:
            stream.waiting = 0
            stream.heap_credit = None
            del self._blocked[sid]
        return True

    def _block(self, stream: StreamState, on_stream: bool) -> None:
        """The stream's data waits for its own window (`on_stream`) or the connection's."""
        self._blocked[stream.stream_id] = stream
        if on_stream:
            stream.waiting = _ON_STREAM
            if stream.heap_credit != stream.credit:
                stream.heap_credit = stream.credit
                heapq.heappush(self._heap, (-stream.credit, stream.stream_id, stream))
                if len(self._heap) > 2 * len(self._blocked) + 64:  # mostly stale: rebuild
                    waiting = [s for s in self._blocked.values() if s.waiting == _ON_STREAM]
                    for s in waiting:
                        s.heap_credit = s.credit
                    self._heap[:] = [(-s.credit, s.stream_id, s) for s in waiting]  # in place: resumes hold it
                    heapq.heapify(self._heap)
        else:
            stream.waiting = _ON_CONNECTION
            stream.heap_credit = None
            if not stream.in_fifo:
                stream.in_fifo = True
                self._fifo.append(stream)
                if len(self._fifo) > 2 * len(self._blocked) + 64:  # mostly stale: rebuild
                    for s in self._fifo:
                        s.in_fifo = s.waiting == _ON_CONNECTION
                    kept = [s for s in self._fifo if s.in_fifo]
                    self._fifo.clear()  # in place: resumes hold it
                    self._fifo.extend(kept)

    def _resume_on_connection(self) -> None:
        """The connection window opened: resume the streams waiting for it, first come first
        served, then those whose own window a SETTINGS reopened, while it stays open."""
        fifo = self._fifo
        while fifo and self._send_window > 0:
            stream = fifo.popleft()
            stream.in_fifo = False
            if stream.waiting == _ON_CONNECTION:
                self._resume(stream)  # sends, or waits again: at the back, or for its own window
        self._resume_on_stream()

    def _resume_on_stream(self) -> None:
        """Resume the streams whose own window is open again (the initial window grew, or the
        connection window opened), the largest first, while the connection window is open."""
        heap = self._heap
        while heap and self._send_window > 0:
            negative, _, stream = heap[0]
            if stream.waiting != _ON_STREAM or stream.heap_credit != -negative:
                heapq.heappop(heap)  # stale: the stream moved on since
                continue
            if stream.credit + self._peer_initial_window <= 0:
                return  # the largest credit: every other window is closed too
            heapq.heappop(heap)
            stream.heap_credit = None
            self._resume(stream)

    def _send_trailers(self, stream: StreamState) -> bool:
        """Send the trailers owed (the queued data is out) and forget the stream; True if it closed."""
        trailers = stream.trailers
        if trailers is None:
            return False
        sid = stream.stream_id
        self._send_header_block(sid, trailers, end_stream=True)
        stream.trailers = None
        self._forget(stream)
        if not stream.recv_closed:
            self._send_rst(sid, f.NO_ERROR)  # we are done: the client need not send more
        return True

    def _resume(self, stream: StreamState) -> None:
        """The windows opened: send what they allow; report a stream that drained or closed."""
        if self._send_queued(stream):
            if self._send_trailers(stream):
                self._events.append(StreamClosed(stream.stream_id))
            else:
                self._events.append(StreamWritable(stream.stream_id))

    def _send_header_block(self, sid: int, block: bytes, *, end_stream: bool) -> None:
        """HEADERS, then CONTINUATION frames if the block is over the client's frame size."""
        if self._table_update:  # the client shrank its table: say so before the next block
            block = self._table_update + block
            self._table_update = b""
        limit = self._peer_max_frame
        first = f.END_STREAM if end_stream else 0
        if len(block) <= limit:
            self._out.append(f.frame(f.HEADERS, first | f.END_HEADERS, sid, block))
            return
        self._out.append(f.frame(f.HEADERS, first, sid, block[:limit]))
        for at in range(limit, len(block), limit):
            last = at + limit >= len(block)
            self._out.append(f.frame(f.CONTINUATION, f.END_HEADERS if last else 0, sid, block[at : at + limit]))

    def _respond_http(self, sid: int, status: bytes, client_done: int) -> None:
        """A request that is not a gRPC call: an HTTP status and the end of the stream."""
        self._send_header_block(sid, h.http_status(status), end_stream=True)
        if not client_done:
            self._send_rst(sid, f.NO_ERROR)

    def _send_rst(self, sid: int, code: int) -> None:
        self._out.append(f.rst_stream(sid, code))
        self._reset_ids[sid] = None
        if len(self._reset_ids) > _RESET_MEMORY:
            del self._reset_ids[next(iter(self._reset_ids))]

    def _reset(self, sid: int, code: int) -> None:
        """A stream error: RST_STREAM with `code`; an open stream's call must stop."""
        self._send_rst(sid, code)
        stream = self._streams.get(sid)
        if stream is not None:
            self._forget(stream)
            self._events.append(StreamReset(sid, code, by_peer=False))

    def _forget(self, stream: StreamState) -> None:
        """The stream is over: drop it, and what it waited for."""
        del self._streams[stream.stream_id]
        if stream.waiting:
            stream.waiting = 0
            del self._blocked[stream.stream_id]

    def _fail(self, code: int, message: str) -> None:
        """A connection error: GOAWAY with `code`, forget every stream, parse nothing more."""
        self._out.append(f.goaway(self.last_stream_id, code, message.encode("utf-8", "replace")[:256]))
        self.closed = True
        self._streams.clear()
        self._blocked.clear()
        self._fifo.clear()
        self._heap.clear()
        self._events.clear()
        self._buf = b""
        self._pos = 0
        self._partial.clear()
        self._fragment = None
        self._awaiting = None
        self._events.append(ConnectionFailed(code, message))
