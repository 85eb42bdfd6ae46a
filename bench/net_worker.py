"""Worker processes of the network benchmarks: lean watch receivers and the bare push server.

`python -m bench.net_worker watch` receives watch events on many connections;
`python -m bench.net_worker push` is the bare network reference's trivial server. Both
read one JSON job line on stdin, then commands ("go", "finish") line by line, and
answer on stdout: text lines ("ready", "done"), then the results as one length-prefixed
pickle. The parent (bench/net_fanout.py) starts and stops them.

The receivers stay lean so that the server, not Python on the receiving side, is what
is measured: each stream is its own TCP connection speaking just enough HTTP/2 by hand
(connection preface, SETTINGS with 2 GiB flow-control windows so no WINDOW_UPDATE is
ever needed, one HEADERS + DATA to open etcdserverpb.Watch/Watch with one create
request; SETTINGS and PING frames acknowledged, response headers ignored). Every gRPC
message is parsed with the generated `rpc_pb2.WatchResponse.FromString` (upb, in C),
and every event's mod_revision is checked against the next expected revision, so a
missed, duplicated or reordered event is caught. One thread multiplexes all of a
worker's sockets with epoll; the receive time of each event is noted (the clock is
CLOCK_MONOTONIC, shared with the parent) for the latency figures.

In bare mode the receivers read the same gRPC length-prefixed WatchResponses straight
off a TCP socket (no HTTP/2), pushed by the push server: per event, it writes one
pre-encoded message to each of its N sockets.
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
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, BinaryIO

# ------------------------------------------------------------ HTTP/2 by hand

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_DATA, _HEADERS, _RST_STREAM, _SETTINGS, _PING, _GOAWAY = 0, 1, 3, 4, 6, 7
_END_STREAM, _ACK, _END_HEADERS, _PADDED = 0x1, 0x1, 0x4, 0x8
_MAX_WINDOW = (1 << 31) - 1
_DEFAULT_WINDOW = 65_535
_STREAM = 1  # the only stream each connection opens
_SETTINGS_ENABLE_PUSH, _SETTINGS_INITIAL_WINDOW_SIZE, _SETTINGS_MAX_FRAME_SIZE = 2, 4, 5
_MAX_FRAME = (1 << 24) - 1


def frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes((kind, flags)) + struct.pack(">I", stream) + payload


def _hpack_literal(name: bytes, value: bytes) -> bytes:
    """A header field as 'literal without indexing, new name', no Huffman coding."""
    return b"\x00" + _hpack_len(name) + name + _hpack_len(value) + value


def _hpack_len(s: bytes) -> bytes:
    n = len(s)
    if n < 127:
        return bytes((n,))
    out = bytearray((127,))
    n -= 127
    while n >= 128:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def grpc_message(payload: bytes) -> bytes:
    """gRPC's length-prefixed message: flag 0 (uncompressed), 4-byte length, bytes."""
    return b"\x00" + struct.pack(">I", len(payload)) + payload


ETCD_WATCH = "/etcdserverpb.Watch/Watch"
RESOURCE_WATCH = "/kvsresourcespb.Resources/Watch"


def open_watch_bytes(authority: str, create_request: bytes, path: str = ETCD_WATCH) -> bytes:
    """Everything a fresh connection sends: preface, SETTINGS, window, HEADERS, the request."""
    settings = struct.pack(
        ">HIHIHI",
        _SETTINGS_ENABLE_PUSH,
        0,
        _SETTINGS_INITIAL_WINDOW_SIZE,
        _MAX_WINDOW,
        _SETTINGS_MAX_FRAME_SIZE,
        _MAX_FRAME,
    )
    headers = b"".join(
        _hpack_literal(k, v)
        for k, v in (
            (b":method", b"POST"),
            (b":scheme", b"http"),
            (b":path", path.encode()),
            (b":authority", authority.encode()),
            (b"content-type", b"application/grpc"),
            (b"te", b"trailers"),
        )
    )
    return b"".join(
        [
            PREFACE,
            frame(_SETTINGS, 0, 0, settings),
            frame(8, 0, 0, struct.pack(">I", _MAX_WINDOW - _DEFAULT_WINDOW)),  # WINDOW_UPDATE
            frame(_HEADERS, _END_HEADERS, _STREAM, headers),
            frame(_DATA, 0, _STREAM, grpc_message(create_request)),
        ]
    )


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


class Receiver:
    """Counts and checks the events of one stream, fed whole gRPC messages."""

    def __init__(self, first: int, events: int, on_created: Callable[[], None], on_done: Callable[[], None]) -> None:
        from kvstore.pb import rpc_pb2

        self.parse: Callable[[bytes], Any] = rpc_pb2.WatchResponse.FromString
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
        r = self.parse(data)
        evs = r.events
        res = self.result
        if not evs:
            if r.canceled:
                self.fail(f"watch canceled by the server: {r.cancel_reason or 'no reason given'}")
            if r.created and not res.created:
                res.created = True
                self.on_created()
            return  # a created response, or a progress notification
        res.responses += 1
        expect = self.expect
        times = self.times
        first = self.first
        for e in evs:
            rev = e.kv.mod_revision
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
        before = res.count
        res.count = before + len(evs)
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

    def __init__(self, first: int, events: int, on_created: Callable[[], None], on_done: Callable[[], None]) -> None:
        super().__init__(first, events, on_created, on_done)
        from kvstore.pb import resources_pb2

        self.parse = resources_pb2.WatchResponse.FromString

    def headers(self) -> None:
        if not self.result.created:
            self.result.created = True
            self.on_created()

    def message(self, data: bytes, now: float) -> None:
        evs = self.parse(data).events
        if not evs:
            return
        res = self.result
        res.responses += 1
        find = self._RV.search
        for e in evs:
            if e.type == "ERROR":
                self.fail(f"ERROR event: {e.object[:200]!r}")
                continue
            m = find(e.object)
            rev = int(m.group(1)) if m else -1
            if rev != self.expect:
                if rev > self.expect:
                    res.missed += rev - self.expect
                    self.fail(f"expected revision {self.expect}, got {rev}: missed {rev - self.expect}")
                else:
                    res.duplicated += 1
                    self.fail(f"expected revision {self.expect}, got {rev} again or out of order")
                    continue
            off = rev - self.first
            if off < self.events:
                self.times[off] = now
            else:
                self.fail(f"revision {rev} was never written")
            self.expect = rev + 1
        before = res.count
        res.count = before + len(evs)
        if before < self.events <= res.count:
            res.done_at = now
            self.on_done()


class Conn:
    """One socket: HTTP/2 frames (grpc mode) or bare length-prefixed messages (bare mode)."""

    def __init__(self, sock: socket.socket, receiver: Receiver, http2: bool) -> None:
        self.sock = sock
        self.receiver = receiver
        self.http2 = http2
        self.buf = b""  # unparsed frame bytes (grpc mode)
        self.msg = b""  # unparsed gRPC message bytes

    def feed(self, data: bytes, now: float) -> None:
        if self.http2:
            self._frames(data, now)
        else:
            self._messages(data, now)

    def _messages(self, data: bytes, now: float) -> None:
        buf = self.msg + data if self.msg else data
        pos, end = 0, len(buf)
        message = self.receiver.message
        while end - pos >= 5:
            n = int.from_bytes(buf[pos + 1 : pos + 5], "big")
            stop = pos + 5 + n
            if stop > end:
                break
            message(buf[pos + 5 : stop], now)
            pos = stop
        self.msg = buf[pos:] if pos < end else b""

    def _frames(self, data: bytes, now: float) -> None:
        buf = self.buf + data if self.buf else data
        pos, end = 0, len(buf)
        while end - pos >= 9:
            length = int.from_bytes(buf[pos : pos + 3], "big")
            stop = pos + 9 + length
            if stop > end:
                break
            kind = buf[pos + 3]
            flags = buf[pos + 4]
            stream = int.from_bytes(buf[pos + 5 : pos + 9], "big") & 0x7FFFFFFF
            payload = buf[pos + 9 : stop]
            pos = stop
            if kind == _DATA:
                if flags & _PADDED:
                    payload = payload[1 : len(payload) - payload[0]]
                if stream == _STREAM:
                    self._messages(payload, now)
                if flags & _END_STREAM:
                    self._ended("the server ended the stream")
            elif kind == _HEADERS:
                if flags & _END_STREAM:
                    self._ended("the server ended the stream (trailers)")
                else:
                    self.receiver.headers()
            elif kind == _SETTINGS:
                if not flags & _ACK:
                    self.sock.sendall(frame(_SETTINGS, _ACK, 0))
            elif kind == _PING:
                if not flags & _ACK:
                    self.sock.sendall(frame(_PING, _ACK, 0, payload))
            elif kind == _RST_STREAM:
                code = int.from_bytes(payload[:4], "big")
                self._ended(f"the server reset the stream (HTTP/2 error {code})")
            elif kind == _GOAWAY:
                code = int.from_bytes(payload[4:8], "big")
                self._ended(f"the server sent GOAWAY (HTTP/2 error {code}): {payload[8:]!r}")
        self.buf = buf[pos:] if pos < end else b""

    def _ended(self, why: str) -> None:
        r = self.receiver
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


def run_watch(job: WatchJob, commands: _Commands, out: _Out) -> None:
    """Open every stream, say "ready" when all are created, "done" when all are complete."""
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
    hello = open_watch_bytes(f"{job.host}:{job.port}", job.create_request, job.path) if job.http2 else b""
    receiver_class = ResourceReceiver if job.path == RESOURCE_WATCH else Receiver
    ep = select.epoll()
    for _ in range(job.streams):
        sock = socket.create_connection((job.host, job.port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if hello:
            sock.sendall(hello)
        r = receiver_class(job.first, job.events, on_created, on_done)
        if not job.http2:
            r.result.created = True
            created += 1
        receivers.append(r)
        conns[sock.fileno()] = Conn(sock, r, job.http2)
        ep.register(sock.fileno(), select.EPOLLIN)
    stdin = commands.fd
    ep.register(stdin, select.EPOLLIN)
    said_ready = said_done = False
    finish = False
    cpu_ready = cpu_done = 0.0
    clock = time.monotonic
    while not finish:
        if not said_ready and created >= job.streams:
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
                conn.receiver.fail(f"receive failed: {exc}")
            now = clock()
            if not data:
                conn.receiver.finished = True
                if conn.receiver.result.count < job.events:
                    conn.receiver.fail("the server closed the connection")
                ep.unregister(fd)
                continue
            conn.feed(data, now)
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
    """Accept `streams` connections; on "go", write each pre-encoded message to every one."""
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
    socks = []
    for _ in range(streams):
        sock, _addr = listener.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        socks.append(sock)
    listener.close()
    out.line("ready")
    while True:
        cmd = commands.line()
        if cmd is None or cmd == b"finish":
            break
        if cmd == b"go":
            for msg in messages:
                for sock in socks:
                    sock.sendall(msg)
            out.line("pushed")
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
            ),
            commands,
            out,
        )
        return 0
    if role == "push":
        run_push(job, commands, out)
        return 0
    print(f"usage: python -m bench.net_worker watch|push (got {role!r})", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
