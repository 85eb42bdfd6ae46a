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

The `h2grpc.limits.Limits` on what a client may make us do are enforced here too, where
every frame passes: floods of resets, PINGs, SETTINGS, empty frames and unread control
replies, header block and list sizes, concurrent streams, the request bytes held unread,
a frame budget per event-loop turn (`new_turn()`), and, driven by the caller's clock through
`tick()`, the handshake, SETTINGS, idle, keepalive and send-stall timeouts. One frame costs
O(1) work plus the streams it lets send: no frame walks every open or blocked stream.
"""

from __future__ import annotations

import heapq
import time
from collections import deque
from collections.abc import Callable

from h2grpc import headers as h
from h2grpc import limits as lim
from h2grpc import status
from h2grpc import wire as f
from h2grpc.errors import ConnectionProtocolError, RequestError, StreamProtocolError
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
from h2grpc.limits import Limits, TokenBucket
from h2grpc.stream import StreamState

STREAM_WINDOW = 1 << 20  # what each stream may send us before we return window
CONNECTION_WINDOW = 1 << 24  # what all streams together may send us before we return window
_RESET_MEMORY = 1024  # streams we reset remembered, to ignore what the client sent before it heard
_QUEUED_LIMIT = 16  # request messages a streaming call may have unread before its window stops
# grpc's GOAWAY debug data for a PING flood: clients log it and double their keepalive time.
_TOO_MANY_PINGS = b"too_many_pings"
_PING_INTERVAL_WITHOUT_CALLS = 7200.0  # grpc-go: with no call open, a PING every 2 hours at most
_KEEPALIVE = b"h2grpcka"  # the payload of our keepalive PINGs
# StreamState.waiting: the window that holds a stream's response data back
_ON_CONNECTION = 1  # its own window is open: queued, first come first served, in `_fifo`
_ON_STREAM = 2  # its own window is closed: in `_heap`, the largest credit first
_STALE_ENTRIES = 64  # entries of `_fifo` or `_heap` past twice the blocked streams: rebuild it

_unpack_header = f.HEADER.unpack_from


class ServerProtocol:
    """One client connection's HTTP/2 and gRPC state; see the module docstring."""

    # Slots: with this many attributes an instance dict would lose CPython's fast attribute access.
    __slots__ = (
        "_awaiting",
        "_awaiting_end",
        "_blocked",
        "_budget",
        "_buf",
        "_buffered",
        "_client_settings",
        "_clock",
        "_control_queued",
        "_decoder",
        "_empty_frames",
        "_events",
        "_fifo",
        "_fragment",
        "_frames_per_turn",
        "_heap",
        "_idle_since",
        "_last_ping_at",
        "_max_block",
        "_max_buffered",
        "_max_control",
        "_max_credit",
        "_max_list",
        "_max_message",
        "_max_streams",
        "_out",
        "_partial",
        "_paused_at",
        "_peer_initial_window",
        "_peer_max_frame",
        "_ping_sent_at",
        "_ping_strikes",
        "_pos",
        "_preface",
        "_read_at",
        "_recv_unacked",
        "_reset_ids",
        "_resets",
        "_send_window",
        "_sent_since_ping",
        "_settings_acked",
        "_settings_frames",
        "_started_at",
        "_streams",
        "_table_size",
        "_table_update",
        "_wanted",
        "closed",
        "going_away",
        "last_stream_id",
        "limits",
    )

    def __init__(self, limits: Limits, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        now = clock()
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
        self._client_settings = False  # ... and its first SETTINGS frame
        self._buf = b""
        self._pos = 0
        self._partial = bytearray()  # an incomplete frame (or preface), with what follows it
        self._wanted = 0  # len(_partial) with which parsing can go on
        self._frames_per_turn = limits.frames_per_turn
        self._budget = limits.frames_per_turn  # frames left to parse this turn
        self._fragment: tuple[int, int, bytearray] | None = None  # (sid, flags, block) awaiting CONTINUATION
        self._awaiting: StreamState | None = None  # a RequestReceived not answered yet
        self._awaiting_end = False  # ... whose HEADERS had END_STREAM
        self._decoder = h.RequestHeaderDecoder(limits.max_header_block_size)
        self._reset_ids: dict[int, None] = {}  # streams we reset lately, oldest first
        # -- flow control and the client's settings
        self._send_window = f.DEFAULT_WINDOW  # the connection's window the client gave us
        self._recv_unacked = 0  # DATA bytes received on the connection, not yet returned
        self._peer_initial_window = f.DEFAULT_WINDOW  # each stream's window is its credit plus this
        self._max_credit = 0  # at least the largest credit of an open stream (RFC 9113 6.9.2's check)
        self._peer_max_frame = f.DEFAULT_MAX_FRAME  # the largest frame we may send
        self._table_size = 4096  # the client's HPACK table size for our blocks (we never index)
        self._table_update = b""  # a size update owed at the start of our next block
        # -- limits (h2grpc.limits): the bounds read on every frame, copied out of `limits`
        self._max_streams = limits.max_concurrent_streams
        self._max_message = limits.max_receive_message_length
        self._max_block = limits.max_header_block_size
        self._max_list = limits.max_header_list_size
        self._max_buffered = limits.max_request_buffer
        self._max_control = limits.max_queued_control_frames
        self._buffered = 0  # request bytes the streams hold unread (StreamState.buffered, summed)
        self._control_queued = 0  # control replies queued since the last data_to_send()
        self._resets = TokenBucket(limits.max_resets, limits.resets_per_second, now)
        self._settings_frames = TokenBucket(limits.max_settings, limits.settings_per_second, now)
        self._empty_frames = TokenBucket(limits.max_empty_frames, limits.empty_frames_per_second, now)
        self._last_ping_at = float("-inf")  # the client's last PING: its first never strikes
        self._ping_strikes = 0
        self._sent_since_ping = False  # we sent HEADERS or DATA since the client's last PING
        # -- times (the clock's): of construction, the last bytes read, no stream open since
        # (None: a stream ended, so the next tick that sees none open stamps it), our
        # keepalive PING outstanding, the transport's buffer full
        self._started_at = now
        self._read_at = now
        self._idle_since: float | None = now
        self._ping_sent_at: float | None = None
        self._paused_at: float | None = None
        self._settings_acked = False
        # The server's connection preface (RFC 9113 section 3.4).
        self._out.append(
            f.settings_frame(
                {
                    f.SETTINGS_ENABLE_PUSH: 0,
                    f.SETTINGS_MAX_CONCURRENT_STREAMS: limits.max_concurrent_streams,
                    f.SETTINGS_INITIAL_WINDOW_SIZE: STREAM_WINDOW,
                    f.SETTINGS_MAX_HEADER_LIST_SIZE: limits.max_header_list_size,
                }
            )
        )
        self._out.append(f.window_update(0, CONNECTION_WINDOW - f.DEFAULT_WINDOW))

    @property
    def open_streams(self) -> int:
        return len(self._streams)

    @property
    def handshake_done(self) -> bool:
        """The client's connection preface and its first SETTINGS frame arrived."""
        return self._client_settings

    @property
    def settings_acked(self) -> bool:
        """The client acknowledged our SETTINGS (RFC 9113 section 6.5.3)."""
        return self._settings_acked

    @property
    def input_pending(self) -> bool:
        """Whole frames received wait for the next turn's budget (`new_turn()`)."""
        return not self._budget and self._pos < len(self._buf)

    def new_turn(self) -> None:
        """A new turn of the event loop: `next_event()` may parse `frames_per_turn` frames
        more, so one connection's flood does not hold up the others."""
        self._budget = self._frames_per_turn

    # ------------------------------------------------------------------ bytes in

    def receive_data(self, data: bytes) -> None:
        """Bytes the client sent; `next_event()` parses them."""
        if self.closed:
            return
        self._read_at = self._clock()
        if self._pos < len(self._buf):  # events not all taken yet, or the budget spent: keep the order
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
        received so far are used up, or this turn's frame budget is (`input_pending`). A
        RequestReceived must be answered (accept or refuse) before the next call."""
        events = self._events
        if events:
            return events.popleft()
        if self._awaiting is not None:
            raise RuntimeError("a RequestReceived must be answered with accept() or refuse() first")
        buf = self._buf
        pos = self._pos
        end = len(buf)
        budget = self._budget
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
                if not budget:  # whole frames wait in _buf for the next turn
                    self._budget = 0
                    return None
                budget -= 1
                self._pos = pos = stop
                try:
                    self._frame(kind, flags, sid & 0x7FFFFFFF, buf[start:stop])
                except StreamProtocolError as err:
                    self._reset(err.stream_id, err.code)
                if events:
                    self._budget = budget
                    return events.popleft()
        except ConnectionProtocolError as err:
            self._fail(err.code, err.message, err.limit)
            return events.popleft()
        self._budget = budget
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
        if not self._client_settings and (kind != f.SETTINGS or flags & f.ACK):
            raise ConnectionProtocolError(f.PROTOCOL_ERROR, "the first frame after the preface must be SETTINGS")
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
            self._empty_frame()  # we keep no priorities: it does nothing
        elif kind == f.GOAWAY:
            if sid != 0:
                raise ConnectionProtocolError(f.PROTOCOL_ERROR, "GOAWAY on a stream")
        elif kind == f.PUSH_PROMISE:
            raise ConnectionProtocolError(f.PROTOCOL_ERROR, "a client may not push")
        else:  # a frame of unknown type is ignored (RFC 9113 section 4.1)
            self._empty_frame()

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
        if not data and not flags & f.END_STREAM:
            self._empty_frame()
        stream = self._streams.get(sid)
        if stream is None:
            if sid > self.last_stream_id:
                raise ConnectionProtocolError(f.PROTOCOL_ERROR, f"DATA on idle stream {sid}")
            return  # a stream already ended here: the client has not heard yet
        if stream.recv_closed:
            raise StreamProtocolError(sid, f.STREAM_CLOSED, "DATA after END_STREAM")
        stream.unacked += len(payload)
        if data and not stream.response_done:
            n = len(data)
            if self._buffered + n > self._max_buffered:
                self._over_request_buffer(stream, n)
                return
            stream.buffered += n
            self._buffered += n
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

    def _over_request_buffer(self, stream: StreamState, n: int) -> None:
        """The connection would hold more request bytes than max_request_buffer: end this
        stream's call (RESOURCE_EXHAUSTED), releasing what it holds; the others go on."""
        message = (
            f"connection holds {self._buffered + n} bytes of unread requests, "
            f"limit {self._max_buffered} (max_request_buffer)"
        )
        self._reject(stream, RequestError(status.RESOURCE_EXHAUSTED, message))
        self._events.append(LimitTripped(lim.REQUEST_BUFFER, stream.stream_id, message))

    def _on_headers(self, flags: int, sid: int, payload: bytes) -> None:
        if sid == 0:
            raise ConnectionProtocolError(f.PROTOCOL_ERROR, "HEADERS on stream 0")
        block = self._unpad(flags, payload)
        if flags & f.PRIORITY_FLAG:
            block = block[5:]
        if len(block) > self._max_block:
            self._block_too_big()
        if flags & f.END_HEADERS:
            self._on_header_block(flags, sid, block)
        else:
            if not block and not flags & f.END_STREAM:
                self._empty_frame()
            self._fragment = (sid, flags, bytearray(block))

    def _on_continuation(self, flags: int, sid: int, payload: bytes) -> None:
        if self._fragment is None or self._fragment[0] != sid:
            raise ConnectionProtocolError(f.PROTOCOL_ERROR, "CONTINUATION without HEADERS")
        _, first_flags, block = self._fragment
        block += payload
        if len(block) > self._max_block:
            self._block_too_big()
        if flags & f.END_HEADERS:
            self._fragment = None
            self._on_header_block(first_flags, sid, bytes(block))
        elif not payload:
            self._empty_frame()

    def _block_too_big(self) -> None:
        raise ConnectionProtocolError(
            f.ENHANCE_YOUR_CALM,
            f"header block over {self._max_block} bytes (max_header_block_size)",
            lim.HEADER_BLOCK_SIZE,
        )

    def _on_header_block(self, flags: int, sid: int, block: bytes) -> None:
        fields, size = self._decoder.decode(block)  # always: the decoding table must follow the client's
        stream = self._streams.get(sid)
        if stream is not None:  # trailers from the client: only as the end of its requests
            if not flags & f.END_STREAM or stream.recv_closed:
                raise StreamProtocolError(sid, f.PROTOCOL_ERROR, "HEADERS in the middle of a stream")
            if size > self._max_list:
                message = self._list_too_big(size)
                self._events.append(LimitTripped(lim.HEADER_LIST_SIZE, sid, message))
                raise StreamProtocolError(sid, f.PROTOCOL_ERROR, message)
            self._end_of_requests(stream)
            return
        if sid % 2 == 0:
            raise ConnectionProtocolError(f.PROTOCOL_ERROR, f"a client opened even stream {sid}")
        if sid <= self.last_stream_id:
            if sid in self._reset_ids:
                return  # trailers on a stream we reset: the client had not heard yet (RFC 9113 5.1)
            raise ConnectionProtocolError(f.PROTOCOL_ERROR, f"HEADERS opening stream {sid} out of order")
        self.last_stream_id = sid
        if self.going_away:
            self._reset(sid, f.REFUSED_STREAM)
            return
        if len(self._streams) >= self._max_streams:
            message = f"stream {sid} over {self._max_streams} concurrent streams (max_concurrent_streams)"
            self._events.append(LimitTripped(lim.CONCURRENT_STREAMS, sid, message))
            self._reset(sid, f.REFUSED_STREAM)
            return
        if size > self._max_list:  # decoded all the same, so the table stays the client's
            self._respond_http(sid, b"431", flags & f.END_STREAM)
            self._events.append(LimitTripped(lim.HEADER_LIST_SIZE, sid, self._list_too_big(size)))
            return
        self._on_request(flags, sid, fields)

    def _list_too_big(self, size: int) -> str:
        return f"header list of {size} bytes over {self._max_list} (max_header_list_size)"

    def _on_request(self, flags: int, sid: int, fields: list[h.Header]) -> None:
        method = path = content_type = timeout = encoding = b""
        for name, value in fields:
            if name == b":path":
                path = value
            elif name == b":method":
                method = value
            elif name == b"content-type":
                content_type = value
            elif name == b"grpc-timeout":
                timeout = value
            elif name == b"grpc-encoding":
                encoding = value
        end = flags & f.END_STREAM
        if method != b"POST":
            self._respond_http(sid, b"405", end)
            return
        if not content_type.startswith(b"application/grpc"):
            self._respond_http(sid, b"415", end)
            return
        stream = StreamState(sid, self._max_message)
        stream.encoding = encoding
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
            self._empty_frame()  # for a stream not open: it changes nothing
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
            self._settings_acked = True
            return
        if len(payload) % 6:
            raise ConnectionProtocolError(f.FRAME_SIZE_ERROR, "SETTINGS not a multiple of 6 bytes")
        if not self._settings_frames.take(self._read_at):
            raise ConnectionProtocolError(
                f.ENHANCE_YOUR_CALM,
                self._flood("SETTINGS frames (settings flood)", self._settings_frames),
                lim.SETTINGS_FLOOD,
            )
        self._client_settings = True
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
        self._reply(f.frame(f.SETTINGS, f.ACK, 0))
        if self._peer_initial_window > initial:
            self._resume_on_stream()

    def _on_ping(self, flags: int, sid: int, payload: bytes) -> None:
        if sid != 0 or len(payload) != 8:
            raise ConnectionProtocolError(f.PROTOCOL_ERROR if sid else f.FRAME_SIZE_ERROR, "bad PING")
        if flags & f.ACK:
            if payload == _KEEPALIVE:
                self._ping_sent_at = None
            return
        # grpc's keepalive enforcement: a PING too soon after the last one, with no HEADERS
        # or DATA sent between them, is a strike; past max_ping_strikes the client goes.
        now = self._read_at
        if self._sent_since_ping:
            self._sent_since_ping = False
            self._ping_strikes = 0
        else:
            limits = self.limits
            interval = limits.min_ping_interval
            if not self._streams and not limits.permit_ping_without_calls:
                interval = _PING_INTERVAL_WITHOUT_CALLS
            if now - self._last_ping_at < interval:
                self._ping_strikes += 1
                if self._ping_strikes > limits.max_ping_strikes:
                    raise ConnectionProtocolError(
                        f.ENHANCE_YOUR_CALM,
                        f"too many pings: more than {limits.max_ping_strikes} sooner than {interval:g} s apart "
                        "with no data sent (min_ping_interval)",
                        lim.PING_FLOOD,
                    )
        self._last_ping_at = now
        self._reply(f.frame(f.PING, f.ACK, 0, payload))

    def _on_rst_stream(self, sid: int, payload: bytes) -> None:
        if sid == 0:
            raise ConnectionProtocolError(f.PROTOCOL_ERROR, "RST_STREAM on stream 0")
        if len(payload) != 4:
            raise ConnectionProtocolError(f.FRAME_SIZE_ERROR, "RST_STREAM is 4 bytes")
        if sid > self.last_stream_id:
            raise ConnectionProtocolError(f.PROTOCOL_ERROR, f"RST_STREAM on idle stream {sid}")
        stream = self._streams.get(sid)
        if stream is not None:  # it cost us a call: rapid reset (CVE-2023-44487) counts it
            self._take_reset()
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

    # ------------------------------------------------------------------ limits

    def _empty_frame(self) -> None:
        """A frame that carries nothing (CVE-2019-9518): within the empty-frame budget only."""
        if not self._empty_frames.take(self._read_at):
            raise ConnectionProtocolError(
                f.ENHANCE_YOUR_CALM,
                self._flood("frames that carry nothing (empty frame flood)", self._empty_frames),
                lim.EMPTY_FRAME_FLOOD,
            )

    def _take_reset(self) -> None:
        """A stream opened and reset, by the client or for its error (CVE-2023-44487)."""
        if not self._resets.take(self._read_at):
            raise ConnectionProtocolError(
                f.ENHANCE_YOUR_CALM, self._flood("streams reset (rapid reset)", self._resets), lim.RAPID_RESET
            )

    @staticmethod
    def _flood(what: str, bucket: TokenBucket) -> str:
        return f"more than {bucket.burst} {what}; limit {bucket.burst} burst, {bucket.rate:g}/s"

    def _reply(self, frame: bytes) -> None:
        """Queue a control reply to the client's frame (PING or SETTINGS ACK)."""
        self._out.append(frame)
        self._control_queued += 1
        self._check_control_queue()

    def _check_control_queue(self) -> None:
        """A client that does not read our replies must not grow them without bound (Go's
        maxQueuedControlFrames): the I/O side takes none while its transport is paused."""
        if self._control_queued > self._max_control:
            raise ConnectionProtocolError(
                f.ENHANCE_YOUR_CALM,
                f"more than {self._max_control} control replies (PING/SETTINGS ACK, RST_STREAM) queued unread; "
                f"limit {self._max_control}",
                lim.CONTROL_QUEUE,
            )

    def tick(self, now: float) -> None:
        """Check every time-based limit at `now` (the clock's time; each off when 0): the
        handshake, our SETTINGS acknowledged, idle, keepalive, streams and the connection
        stalled. What trips is queued as events and bytes, as frames' results are."""
        if self.closed:
            return
        limits = self.limits
        if (
            limits.handshake_timeout
            and not self._client_settings
            and now - self._started_at >= limits.handshake_timeout
        ):
            self._fail(
                f.PROTOCOL_ERROR,
                f"no client preface and SETTINGS within {limits.handshake_timeout:g} s",
                lim.HANDSHAKE_TIMEOUT,
            )
            return
        if limits.settings_timeout and not self._settings_acked and now - self._started_at >= limits.settings_timeout:
            self._fail(
                f.SETTINGS_TIMEOUT,
                f"our SETTINGS not acknowledged within {limits.settings_timeout:g} s",
                lim.SETTINGS_TIMEOUT,
            )
            return
        if not self._streams:
            if self._idle_since is None:  # the last stream closed since the last tick
                self._idle_since = now
            elif limits.max_connection_idle and now - self._idle_since >= limits.max_connection_idle:
                self._fail(f.NO_ERROR, f"idle for {limits.max_connection_idle:g} s", lim.IDLE_TIMEOUT)
                return
        if limits.keepalive_interval:
            if self._ping_sent_at is None:
                if now - self._read_at >= limits.keepalive_interval:
                    self._out.append(f.frame(f.PING, 0, 0, _KEEPALIVE))
                    self._ping_sent_at = now
            elif limits.keepalive_timeout and now - self._ping_sent_at >= limits.keepalive_timeout:
                self._fail(
                    f.NO_ERROR,
                    f"keepalive ping not answered within {limits.keepalive_timeout:g} s",
                    lim.KEEPALIVE_TIMEOUT,
                )
                return
        stall = limits.send_stall_timeout
        if stall:
            if self._paused_at is not None and now - self._paused_at >= stall:
                self._fail(f.ENHANCE_YOUR_CALM, f"the client read none of our data for {stall:g} s", lim.SEND_STALL)
                return
            for stream in [s for s in self._blocked.values() if now - s.blocked_since >= stall]:
                sid = stream.stream_id
                self._send_rst(sid, f.CANCEL)
                self._forget(stream)
                self._events.append(StreamReset(sid, f.CANCEL, by_peer=False))
                message = f"stream {sid} took none of our data for {stall:g} s (send_stall_timeout)"
                self._events.append(LimitTripped(lim.SEND_STALL, sid, message))

    def writing_paused(self) -> None:
        """The I/O side's transport buffer is full (the client reads none of it, for now)."""
        if self._paused_at is None:
            self._paused_at = self._clock()

    def writing_resumed(self) -> None:
        """... and drained again."""
        self._paused_at = None

    def abort(self, code: int, message: str, limit: str = "") -> None:
        """End the connection from the I/O side: as a connection error, GOAWAY with `code`,
        every stream forgotten, a ConnectionFailed event; nothing if it is closed already."""
        if not self.closed:
            self._fail(code, message, limit)

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
        taken = f.GRPC_PREFIX_LEN + len(message)
        stream.buffered -= taken
        self._buffered -= taken
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
            self._sent_since_ping = True
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
        self._control_queued = 0
        return data

    # ------------------------------------------------------------------ frames out

    def _send_queued(self, stream: StreamState) -> bool:
        """Send what the windows allow of the stream's queued data; True if none is left."""
        sid = stream.stream_id
        pending = stream.pending
        out = self._out
        initial = self._peer_initial_window
        sent = False
        while pending:
            chunk = pending[0]
            window = stream.credit + initial
            n = min(len(chunk), window, self._send_window, self._peer_max_frame)
            if n <= 0:
                self._block(stream, window <= 0, sent)
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
            sent = True
        if sent:
            self._sent_since_ping = True
        if stream.waiting:
            stream.waiting = 0
            stream.heap_credit = None
            del self._blocked[sid]
        return True

    def _block(self, stream: StreamState, on_stream: bool, sent: bool) -> None:
        """The stream's data waits for its own window (`on_stream`) or the connection's."""
        if sent:
            self._sent_since_ping = True
        if not stream.waiting:
            self._blocked[stream.stream_id] = stream
            stream.blocked_since = self._clock()
        elif sent:
            stream.blocked_since = self._clock()  # it took some: stalled only from now
        if on_stream:
            stream.waiting = _ON_STREAM
            if stream.heap_credit != stream.credit:
                stream.heap_credit = stream.credit
                heapq.heappush(self._heap, (-stream.credit, stream.stream_id, stream))
                if len(self._heap) > 2 * len(self._blocked) + _STALE_ENTRIES:  # mostly stale: rebuild
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
                if len(self._fifo) > 2 * len(self._blocked) + _STALE_ENTRIES:  # mostly stale: rebuild
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
        del self._streams[sid]  # _forget inline, as every call ends here: nothing waits
        self._idle_since = None
        if stream.buffered:
            self._buffered -= stream.buffered
            stream.buffered = 0
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
        self._sent_since_ping = True
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
            self._check_control_queue()

    def _send_rst(self, sid: int, code: int) -> None:
        self._out.append(f.rst_stream(sid, code))
        self._control_queued += 1
        self._reset_ids[sid] = None
        if len(self._reset_ids) > _RESET_MEMORY:
            del self._reset_ids[next(iter(self._reset_ids))]

    def _reset(self, sid: int, code: int) -> None:
        """A stream error: RST_STREAM with `code`; an open stream's call must stop."""
        self._take_reset()
        self._send_rst(sid, code)
        self._check_control_queue()
        stream = self._streams.get(sid)
        if stream is not None:
            self._forget(stream)
            self._events.append(StreamReset(sid, code, by_peer=False))

    def _forget(self, stream: StreamState) -> None:
        """The stream is over: drop it, and what it waited for and held."""
        del self._streams[stream.stream_id]
        self._idle_since = None  # perhaps idle from now: the next tick with no stream open stamps it
        if stream.waiting:
            stream.waiting = 0
            del self._blocked[stream.stream_id]
        if stream.buffered:
            self._buffered -= stream.buffered
            stream.buffered = 0

    def _fail(self, code: int, message: str, limit: str = "") -> None:
        """A connection error: GOAWAY with `code`, forget every stream, parse nothing more."""
        debug = _TOO_MANY_PINGS if limit == lim.PING_FLOOD else message.encode("utf-8", "replace")[:256]
        self._out.append(f.goaway(self.last_stream_id, code, debug))
        self.closed = True
        self._streams.clear()
        self._blocked.clear()
        self._fifo.clear()
        self._heap.clear()
        self._buffered = 0
        self._events.clear()
        self._buf = b""
        self._pos = 0
        self._partial.clear()
        self._fragment = None
        self._awaiting = None
        self._events.append(ConnectionFailed(code, message, limit))
