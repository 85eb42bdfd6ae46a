"""Worker processes of the network benchmarks: lean watch receivers and the bare push server.

`python -m kvs.bench.net_worker watch` receives watch events on many connections;
`python -m kvs.bench.net_worker push` is the bare network reference's trivial server. Both
read one JSON job line on stdin, then commands ("go", "finish") line by line, and
answer on stdout: text lines ("ready", "done"), then the results as one length-prefixed
pickle. The parent (kvs/bench/net_fanout.py) starts and stops them.

The receivers stay lean so that the server, not Python on the receiving side, is what
is measured: each TCP connection speaks just enough HTTP/2 by hand (connection preface,
SETTINGS with 2 GiB flow-control windows so no WINDOW_UPDATE is ever needed, then per
stream one HEADERS + DATA opening etcdserverpb.Watch/Watch with one create request;
SETTINGS and PING frames acknowledged, response headers ignored). A connection carries
`per_conn` streams (ids 1, 3, 5, ...; 1 = a connection per stream). Every gRPC message
is parsed with the generated `rpc_pb2.WatchResponse.FromString` (upb, in C), and every
event's mod_revision is checked against the stream's next expected revision, so a
missed, duplicated or reordered event is caught; equal small responses (the same event
sent to many streams) are parsed once per worker (WatchParser). One thread multiplexes
all of a worker's sockets with epoll; the receive time of each event is noted (the clock
is CLOCK_MONOTONIC, shared with the parent) for the latency figures. A worker opens
streams at most OPEN_WINDOW ahead of the server's "created" answers, so the server is not
handed thousands of new calls at once, and raises its soft limit on open files to the
hard limit first.

In bare mode the receivers read the same gRPC length-prefixed WatchResponses straight
off a TCP socket (no HTTP/2), pushed by the push server. A bare connection first sends
how many streams it carries (4 bytes); per event the push server writes that many
copies of one pre-encoded message to it in one write, dealt round-robin to the
connection's receivers, so the bare push has the same connections as the gRPC runs.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import select
import socket
import struct
import sys
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, BinaryIO, NamedTuple

from h2grpc import wire
from h2grpc.wire import grpc_message
from kvs.open_files import raise_open_files_limit

# ------------------------------------------------------------ HTTP/2 by hand

_FRAME_HEAD = struct.Struct(">HBBBI")  # a frame's 24-bit length (high 16 bits, low 8), type, flags, stream
_GRPC_HEAD = struct.Struct(">BI")  # a gRPC message's compressed flag and length
OPEN_WINDOW = 250  # streams a worker has opened whose watch is not created yet, at most

ETCD_WATCH = "/etcdserverpb.Watch/Watch"
RESOURCE_WATCH = "/kvsresourcespb.Resources/Watch"


def stream_id(i: int) -> int:
    """The HTTP/2 id of a connection's i-th stream: client streams are odd, in order."""
    return 2 * i + 1


def open_connection_bytes() -> bytes:
    """What a fresh connection sends first: the preface, SETTINGS and a 2 GiB connection window."""
    settings = wire.settings_frame(
        {
            wire.SETTINGS_ENABLE_PUSH: 0,
            wire.SETTINGS_INITIAL_WINDOW_SIZE: wire.MAX_WINDOW,
            wire.SETTINGS_MAX_FRAME_SIZE: wire.MAX_FRAME_LIMIT,
        }
    )
    return wire.PREFACE + settings + wire.window_update(0, wire.MAX_WINDOW - wire.DEFAULT_WINDOW)


def open_stream_bytes(stream: int, authority: str, create_request: bytes, path: str = ETCD_WATCH) -> bytes:
    """HEADERS opening the call `path` on `stream`, then DATA with the one request."""
    headers = b"".join(
        wire.hpack_literal(k, v)
        for k, v in (
            (b":method", b"POST"),
            (b":scheme", b"http"),
            (b":path", path.encode()),
            (b":authority", authority.encode()),
            (b"content-type", b"application/grpc"),
            (b"te", b"trailers"),
        )
    )
    return wire.frame(wire.HEADERS, wire.END_HEADERS, stream, headers) + wire.frame(
        wire.DATA, 0, stream, grpc_message(create_request)
    )


def open_watch_bytes(authority: str, create_request: bytes, path: str = ETCD_WATCH, streams: int = 1) -> bytes:
    """Everything a fresh connection sends: its opening, then `streams` streams with the request."""
    return open_connection_bytes() + b"".join(
        open_stream_bytes(stream_id(i), authority, create_request, path) for i in range(streams)
    )


def split(n: int, parts: int) -> list[int]:
    """n streams over at most `parts` workers (or connections), as evenly as possible, none empty."""
    parts = max(1, min(parts, n))
    return [n // parts + (1 if i < n % parts else 0) for i in range(parts)]


def connection_sizes(streams: int, per_conn: int) -> list[int]:
    """How many streams each connection carries: at most `per_conn`, the fewest connections, even."""
    per_conn = max(1, per_conn)
    return split(streams, -(-streams // per_conn)) if streams > 0 else []


# ------------------------------------------------------------ one watch stream


@dataclass
class StreamResult:
    """What one receiver saw; `times[i]` is when the event of revision first + i arrived."""

    count: int = 0  # events received
    responses: int = 0  # WatchResponses that carried events
    created: bool = False
    done_at: float = 0.0  # when the last expected event arrived (0: never)
    problem: str = ""  # the first thing that went wrong ("" if nothing)
    missed: int = 0
    duplicated: int = 0  # includes events that came out of order
    times: bytes = b""  # array('d').tobytes()


class Parsed(NamedTuple):
    """What a receiver needs of one WatchResponse: its events' revisions and its flags."""

    revisions: tuple[int, ...]
    contiguous: bool  # revisions[i] == revisions[0] + i
    created: bool
    canceled: bool
    cancel_reason: str


class WatchParser:
    """WatchResponse bytes -> Parsed, remembering small messages (up to CACHE_MAX_BYTES).

    With many streams on one prefix, the same bytes arrive once per stream; looking them
    up costs a third of parsing them again, which keeps the receivers' CPU down.
    """

    CACHE_MAX_BYTES = 4096
    CACHE_ENTRIES = 4096

    def __init__(self) -> None:
        from kvstore.pb import rpc_pb2

        self.parse: Callable[[bytes], Any] = rpc_pb2.WatchResponse.FromString
        self.seen: dict[bytes, Parsed] = {}

    def __call__(self, data: bytes) -> Parsed:
        small = len(data) <= self.CACHE_MAX_BYTES
        if small and (hit := self.seen.get(data)) is not None:
            return hit
        r = self.parse(data)
        revs = tuple([e.kv.mod_revision for e in r.events])
        contiguous = not revs or revs == tuple(range(revs[0], revs[0] + len(revs)))
        parsed = Parsed(revs, contiguous, r.created, r.canceled, r.cancel_reason)
        if small:
            if len(self.seen) >= self.CACHE_ENTRIES:
                self.seen.clear()
            self.seen[data] = parsed
        return parsed


class Receiver:
    """Counts and checks the events of one stream, fed whole gRPC messages."""

    def __init__(
        self,
        first: int,
        events: int,
        on_created: Callable[[], None],
        on_done: Callable[[], None],
        parser: WatchParser | None = None,
    ) -> None:
        self.parser = parser or WatchParser()
        self.first = first
        self.events = events
        self.expect = first
        self.times = array("d", bytes(8 * events))
        self.result = StreamResult()
        self.on_created = on_created
        self.on_done = on_done
        self.finished = False  # the stream ended or broke

    def fail(self, why: str) -> None:
        if not self.result.problem:
            self.result.problem = why

    def message(self, data: bytes, now: float) -> None:
        p = self.parser(data)
        revs = p.revisions
        res = self.result
        if not revs:
            if p.canceled:
                self.fail(f"watch canceled by the server: {p.cancel_reason or 'no reason given'}")
            if p.created and not res.created:
                res.created = True
                self.on_created()
            return  # a created response, or a progress notification
        res.responses += 1
        n = len(revs)
        off = revs[0] - self.first
        if p.contiguous and revs[0] == self.expect and off + n <= self.events:
            if n == 1:
                self.times[off] = now
            else:
                self.times[off : off + n] = array("d", (now,)) * n
            self.expect += n
        else:
            self._check(revs, now)
        before = res.count
        res.count = before + n
        if before < self.events <= res.count:
            res.done_at = now
            self.on_done()

    def _check(self, revs: Sequence[int], now: float) -> None:
        """Event by event: note the times of the expected revisions, and what is wrong."""
        res = self.result
        expect = self.expect
        times = self.times
        first = self.first
        for rev in revs:
            if rev != expect:
                if rev > expect:
                    res.missed += rev - expect
                    self.fail(f"expected revision {expect}, got {rev}: missed {rev - expect}")
                else:
                    res.duplicated += 1
                    self.fail(f"expected revision {expect}, got {rev} again or out of order")
                    continue
            off = rev - first
            if off < self.events:
                times[off] = now
            else:
                self.fail(f"revision {rev} was never written")
            expect = rev + 1
        self.expect = expect

    def _counted(self, n: int, now: float) -> None:
        res = self.result
        before = res.count
        res.count = before + n
        if before < self.events <= res.count:
            res.done_at = now
            self.on_done()

    def headers(self) -> None:
        """The server's response headers arrived (the etcd watch says "created" in a message)."""

    def final(self) -> StreamResult:
        res = self.result
        if res.count != self.events and not res.problem:
            res.problem = f"received {res.count} events of {self.events}"
        res.times = self.times.tobytes()
        return res


class ResourceReceiver(Receiver):
    """Counts and checks the events of one resource watch (kvsresourcespb.WatchResponse).

    The watch is established when the server's headers arrive. Each event's revision is
    its object's first `"resourceVersion"` (the server writes metadata's first), read with
    a regex rather than decoding the JSON, so the receiver stays cheap.
    """

    _RV = re.compile(rb'"resourceVersion":"(\d+)"')

    def __init__(
        self,
        first: int,
        events: int,
        on_created: Callable[[], None],
        on_done: Callable[[], None],
        parser: WatchParser | None = None,
    ) -> None:
        super().__init__(first, events, on_created, on_done, parser)
        from kvstore.pb import resources_pb2

        self.parse: Callable[[bytes], Any] = resources_pb2.WatchResponse.FromString

    def headers(self) -> None:
        if not self.result.created:
            self.result.created = True
            self.on_created()

    def message(self, data: bytes, now: float) -> None:
        evs = self.parse(data).events
        if not evs:
            return
        self.result.responses += 1
        find = self._RV.search
        revs: list[int] = []
        for e in evs:
            if e.type == "ERROR":
                self.fail(f"ERROR event: {e.object[:200]!r}")
                continue
            m = find(e.object)
            revs.append(int(m.group(1)) if m else -1)
        self._check(revs, now)
        self._counted(len(evs), now)


def _messages(buf: bytes, message: Callable[[bytes, float], None], now: float) -> bytes:
    """Hand every whole gRPC length-prefixed message in `buf` to `message`; the incomplete rest."""
    pos, end = 0, len(buf)
    while end - pos >= 5:
        stop = pos + 5 + int.from_bytes(buf[pos + 1 : pos + 5], "big")
        if stop > end:
            break
        message(buf[pos + 5 : stop], now)
        pos = stop
    return buf[pos:] if pos < end else b""


class _Stream:
    """One HTTP/2 stream of a connection: its receiver and its unparsed message bytes."""

    __slots__ = ("msg", "receiver")

    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver
        self.msg = b""


class Conn:
    """One socket carrying one or more streams, in order: HTTP/2 frames (grpc mode), or bare
    length-prefixed messages dealt round-robin to its receivers (bare mode)."""

    def __init__(self, sock: socket.socket, receivers: Sequence[Receiver], http2: bool) -> None:
        self.sock = sock
        self.receivers = list(receivers)
        self.http2 = http2
        self.streams = {stream_id(i): _Stream(r) for i, r in enumerate(self.receivers)}
        self.buf = b""  # unparsed frame bytes (grpc mode)
        self.msg = b""  # unparsed message bytes (bare mode)
        self.turn = 0  # bare mode: the receiver of the next message

    def feed(self, data: bytes, now: float) -> None:
        if self.http2:
            self._frames(data, now)
        else:
            self._bare(data, now)

    def _bare(self, data: bytes, now: float) -> None:
        buf = self.msg + data if self.msg else data
        pos, end = 0, len(buf)
        receivers = self.receivers
        turn, last = self.turn, len(receivers) - 1
        while end - pos >= 5:
            stop = pos + 5 + int.from_bytes(buf[pos + 1 : pos + 5], "big")
            if stop > end:
                break
            receivers[turn].message(buf[pos + 5 : stop], now)
            turn = turn + 1 if turn < last else 0
            pos = stop
        self.turn = turn
        self.msg = buf[pos:] if pos < end else b""

    def _frames(self, data: bytes, now: float) -> None:
        buf = self.buf + data if self.buf else data
        pos, end = 0, len(buf)
        streams = self.streams
        head = _FRAME_HEAD.unpack_from
        grpc_head = _GRPC_HEAD.unpack_from
        while end - pos >= 9:
            high, low, kind, flags, sid = head(buf, pos)
            start = pos + 9
            stop = start + (high << 8 | low)
            if stop > end:
                break
            pos = stop
            st = streams.get(sid & 0x7FFFFFFF)
            if kind == wire.DATA:
                if st is None:
                    continue
                if flags & wire.PADDED:
                    payload = buf[start + 1 : stop - buf[start]]
                    st.msg = _messages(st.msg + payload, st.receiver.message, now)
                elif not st.msg and stop - start >= 5 and grpc_head(buf, start)[1] == stop - start - 5:
                    st.receiver.message(buf[start + 5 : stop], now)  # the usual frame: one whole message
                else:
                    st.msg = _messages(st.msg + buf[start:stop], st.receiver.message, now)
                if flags & wire.END_STREAM:
                    _ended(st.receiver, "the server ended the stream")
                continue
            payload = buf[start:stop]
            if kind == wire.HEADERS:
                if st is None:
                    continue
                if flags & wire.END_STREAM:
                    _ended(st.receiver, "the server ended the stream (trailers)")
                else:
                    st.receiver.headers()
            elif kind == wire.SETTINGS:
                if not flags & wire.ACK:
                    self.sock.sendall(wire.frame(wire.SETTINGS, wire.ACK, 0))
            elif kind == wire.PING:
                if not flags & wire.ACK:
                    self.sock.sendall(wire.frame(wire.PING, wire.ACK, 0, payload))
            elif kind == wire.RST_STREAM:
                if st is not None:
                    code = int.from_bytes(payload[:4], "big")
                    _ended(st.receiver, f"the server reset the stream (HTTP/2 error {code})")
            elif kind == wire.GOAWAY:
                code = int.from_bytes(payload[4:8], "big")
                self.closed(f"the server sent GOAWAY (HTTP/2 error {code}): {payload[8:]!r}")
        self.buf = buf[pos:] if pos < end else b""

    def closed(self, why: str) -> None:
        """The connection ended: every stream on it that still expected events failed."""
        for r in self.receivers:
            _ended(r, why)


def _ended(r: Receiver, why: str) -> None:
    r.finished = True
    if r.result.count < r.events:
        r.fail(why)


# ------------------------------------------------------------ the worker's loop


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


class _Out:
    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream

    def line(self, text: str) -> None:
        self.stream.write(text.encode() + b"\n")
        self.stream.flush()

    def blob(self, obj: object) -> None:
        data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        self.stream.write(struct.pack(">Q", len(data)) + data)
        self.stream.flush()


@dataclass
class WatchJob:
    host: str
    port: int
    streams: int
    events: int
    first: int  # the revision of the first event each stream must see
    http2: bool  # False: bare length-prefixed messages (the push reference)
    create_request: bytes = b""  # serialized WatchRequest (http2 mode)
    path: str = ETCD_WATCH  # or RESOURCE_WATCH: a kvsresourcespb.Resources watch
    per_conn: int = 1  # streams per TCP connection


def _connect(job: WatchJob, receivers: Sequence[Receiver], opening: Sequence[bytes]) -> Conn:
    """One connection for `receivers`' streams, their watches requested (HTTP/2: `opening[i]`
    opens stream i) or their number announced (bare)."""
    sock = socket.create_connection((job.host, job.port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if job.http2:
        sock.sendall(open_connection_bytes() + b"".join(opening[: len(receivers)]))
    else:
        sock.sendall(struct.pack(">I", len(receivers)))
    return Conn(sock, receivers, job.http2)


def run_watch(job: WatchJob, commands: _Commands, out: _Out) -> None:
    """Open every stream, say "ready" when all are created, "done" when all are complete.

    At most OPEN_WINDOW streams wait for their watch to be created at any time, so the
    server sees streams arrive at the pace it creates them rather than as one burst.
    Says "failed ..." instead of "ready" if a stream breaks or cannot be opened first.
    """
    created = 0
    done = 0
    cpu_start = _cpu()

    def on_created() -> None:
        nonlocal created
        created += 1

    def on_done() -> None:
        nonlocal done
        done += 1

    conns: dict[int, Conn] = {}
    receivers: list[Receiver] = []
    receiver_class = ResourceReceiver if job.path == RESOURCE_WATCH else Receiver
    sizes = connection_sizes(job.streams, job.per_conn)
    authority = f"{job.host}:{job.port}"
    opening = [
        open_stream_bytes(stream_id(i), authority, job.create_request, job.path) for i in range(max(sizes, default=0))
    ]
    to_open = iter(sizes)
    parser = WatchParser()  # shared: every stream of this worker sees the same responses
    ep = select.epoll()
    stdin = commands.fd
    ep.register(stdin, select.EPOLLIN)
    said_ready = said_done = failed = False
    finish = False
    cpu_ready = cpu_done = 0.0
    clock = time.monotonic
    while not finish:
        while not failed and len(receivers) < job.streams and len(receivers) - created < OPEN_WINDOW:
            size = next(to_open)
            mine = [receiver_class(job.first, job.events, on_created, on_done, parser) for _ in range(size)]
            try:
                conn = _connect(job, mine, opening)
            except OSError as exc:
                failed = True
                out.line(f"failed to open stream {len(receivers) + 1} of {job.streams}: {exc}")
                break
            receivers.extend(mine)
            conns[conn.sock.fileno()] = conn
            ep.register(conn.sock.fileno(), select.EPOLLIN)
            if not job.http2:  # nothing to wait for: the push server has the connection
                for r in mine:
                    r.result.created = True
                created += size
        if not said_ready and not failed and created >= job.streams:
            said_ready = True
            cpu_ready = _cpu()
            out.line("ready")
        if said_ready and not said_done and done >= job.streams:
            said_done = True
            cpu_done = _cpu()
            out.line("done")
        for fd, _ in ep.poll():
            if fd == stdin:
                if b"finish" in commands.feed() or commands.eof:
                    finish = True  # asked to, or the parent went away
                    ep.unregister(stdin)
                continue
            conn = conns[fd]
            try:
                data = conn.sock.recv(1 << 18)
            except OSError as exc:
                data = b""
                for r in conn.receivers:
                    r.fail(f"receive failed: {exc}")
            if data:
                conn.feed(data, clock())
            else:
                conn.closed("the server closed the connection")
                ep.unregister(fd)
            if not said_ready and not failed:
                broken = next((r.result.problem for r in conn.receivers if r.result.problem), "")
                if broken:
                    failed = True
                    out.line(f"failed: a stream broke before every watch was created: {broken}")
    if not said_ready:
        cpu_ready = _cpu()
    if not said_done:
        cpu_done = _cpu()
    for conn in conns.values():
        conn.sock.close()
    ep.close()
    out.blob(
        {
            "streams": [asdict(r.final()) for r in receivers],  # plain dicts: this module runs as __main__
            "cpu_connect": cpu_ready - cpu_start,
            "cpu_receive": cpu_done - cpu_ready,
        }
    )


# ------------------------------------------------------------ the bare push server


def run_push(job: dict[str, Any], commands: _Commands, out: _Out) -> None:
    """Accept connections for `streams` streams; on "go", per event, write each connection one
    copy of the pre-encoded message per stream it carries (as it announced on connecting)."""
    from kvstore.messages import Event, EventType, KeyValue, ResponseHeader
    from kvstore.rpc.watch_codec import encode_events, watch_response

    streams: int = job["streams"]
    first: int = job["first"]
    key_prefix = bytes.fromhex(job["key_prefix"])
    value = bytes.fromhex(job["value"])
    messages = []
    for i in range(job["events"]):
        rev = first + i
        ev = Event(EventType.PUT, KeyValue(key_prefix + b"%08d" % i, rev, rev, 1, value))
        body = watch_response(ResponseHeader(1, 1, rev, 1), 1, encode_events([ev]))
        messages.append(grpc_message(body))
    listener = socket.create_server(("127.0.0.1", 0), backlog=max(128, streams))
    out.line(f"port {listener.getsockname()[1]}")
    by_size: dict[int, list[socket.socket]] = {}  # streams carried -> connections
    accepted = 0
    while accepted < streams:
        sock, _addr = listener.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        size = struct.unpack(">I", sock.recv(4, socket.MSG_WAITALL))[0]
        by_size.setdefault(size, []).append(sock)
        accepted += size
    listener.close()
    out.line("ready")
    while True:
        cmd = commands.line()
        if cmd is None or cmd == b"finish":
            break
        if cmd == b"go":
            for msg in messages:
                for size, socks in by_size.items():
                    data = msg * size
                    for sock in socks:
                        sock.sendall(data)
            out.line("pushed")
    for socks in by_size.values():
        for sock in socks:
            sock.close()


class _Commands:
    """Lines from the parent on stdin, read unbuffered (the watch loop polls the fd)."""

    def __init__(self) -> None:
        self.fd = sys.stdin.buffer.fileno()
        os.set_blocking(self.fd, True)
        self.pending = b""
        self.lines: list[bytes] = []
        self.eof = False

    def feed(self) -> list[bytes]:
        """Read what is there (blocking until something is); the complete lines not yet taken."""
        chunk = os.read(self.fd, 1 << 16)
        if not chunk:
            self.eof = True
        self.pending += chunk
        *lines, self.pending = self.pending.split(b"\n")
        self.lines.extend(line.strip() for line in lines)
        taken, self.lines = self.lines, []
        return taken

    def line(self) -> bytes | None:
        """The next line (None at end of input)."""
        while not self.lines:
            if self.eof:
                return None
            chunk = os.read(self.fd, 1 << 16)
            if not chunk:
                self.eof = True
            self.pending += chunk
            *lines, self.pending = self.pending.split(b"\n")
            self.lines.extend(line.strip() for line in lines)
        return self.lines.pop(0)


def main() -> int:
    role = sys.argv[1] if len(sys.argv) > 1 else ""
    out = _Out(sys.stdout.buffer)
    raise_open_files_limit()
    commands = _Commands()
    line = commands.line()
    if line is None:
        return 2
    job = json.loads(line)
    if role == "watch":
        run_watch(
            WatchJob(
                host=job["host"],
                port=job["port"],
                streams=job["streams"],
                events=job["events"],
                first=job["first"],
                http2=job["http2"],
                create_request=bytes.fromhex(job.get("create_request", "")),
                path=job.get("path", ETCD_WATCH),
                per_conn=job.get("per_conn", 1),
            ),
            commands,
            out,
        )
        return 0
    if role == "push":
        run_push(job, commands, out)
        return 0
    print(f"usage: python -m kvs.bench.net_worker watch|push (got {role!r})", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
