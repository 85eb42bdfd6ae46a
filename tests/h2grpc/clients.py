"""Two independent HTTP/2 clients for the transport's protocol tests: `H2Client` (the `h2`
library's state machine over an asyncio stream) and `RawClient` (frames written and read by
hand, for what `h2` refuses to send)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import h2.config
import h2.connection
import h2.events
import h2.settings
import hpack

from h2grpc import wire as fr

Header = tuple[bytes, bytes]

TIMEOUT = 5.0  # seconds: every wait on the server is bounded by this


grpc_headers = fr.grpc_request_headers  # a gRPC request's header fields


def grpc_message(payload: bytes, *, compressed: bool = False) -> bytes:
    """Length-Prefixed-Message: compressed flag, 4-byte big-endian length, the bytes."""
    return bytes((int(compressed),)) + len(payload).to_bytes(4, "big") + payload


def split_messages(data: bytes | bytearray) -> list[bytes]:
    out: list[bytes] = []
    pos = 0
    while pos < len(data):
        assert len(data) - pos >= 5, "a truncated message prefix"
        assert data[pos] == 0, "the server sent a compressed message"
        size = int.from_bytes(data[pos + 1 : pos + 5], "big")
        assert len(data) - pos - 5 >= size, "a truncated message"
        out.append(bytes(data[pos + 5 : pos + 5 + size]))
        pos += 5 + size
    return out


def field_value(fields: Sequence[Header] | None, name: bytes) -> bytes | None:
    for key, value in fields or ():
        if key == name:
            return value
    return None


@dataclass
class StreamState:
    """What one stream received."""

    headers: list[Header] | None = None
    data: bytearray = field(default_factory=bytearray)
    data_frames: list[int] = field(default_factory=list)  # flow-controlled length of each DATA frame
    trailers: list[Header] | None = None
    ended: bool = False
    reset_code: int | None = None

    @property
    def finished(self) -> bool:
        return self.ended or self.reset_code is not None

    @property
    def received(self) -> int:
        return sum(self.data_frames)

    @property
    def status(self) -> bytes | None:
        return field_value(self.headers, b":status")

    @property
    def grpc_status(self) -> int | None:
        """From the trailers, or from the headers of a Trailers-Only response."""
        value = field_value(self.trailers, b"grpc-status")
        if value is None and self.trailers is None:
            value = field_value(self.headers, b"grpc-status")
        return None if value is None else int(value)

    @property
    def grpc_message(self) -> bytes | None:
        return field_value(self.trailers if self.trailers is not None else self.headers, b"grpc-message")

    @property
    def messages(self) -> list[bytes]:
        return split_messages(self.data)


class H2Client:
    """An HTTP/2 client on `h2`; `auto_ack` returns the window of every DATA frame at once."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        conn: h2.connection.H2Connection,
        auto_ack: bool,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.conn = conn
        self.auto_ack = auto_ack
        self.streams: dict[int, StreamState] = {}
        self.ping_acks: list[bytes] = []
        self.terminated: h2.events.ConnectionTerminated | None = None
        self.settings_acked = 0
        self.remote_settings: dict[int, int] = {}
        self.window_updates: list[tuple[int, int]] = []  # (stream id, increment) from the server
        self.eof = False

    @classmethod
    async def connect(cls, port: int, *, settings: dict[int, int] | None = None, auto_ack: bool = True) -> H2Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
        if settings:
            initial = {h2.settings.SettingCodes(k): v for k, v in settings.items()}
            conn.local_settings = h2.settings.Settings(client=True, initial_values=initial)
            conn.max_inbound_frame_size = conn.local_settings.max_frame_size  # h2 read it at __init__
        conn.initiate_connection()
        client = cls(reader, writer, conn, auto_ack)
        await client.flush()
        return client

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()

    async def flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.writer.write(data)
            await self.writer.drain()

    async def pump(self) -> None:
        """Read what the server sent once, and handle its events."""
        try:
            data = await asyncio.wait_for(self.reader.read(1 << 16), TIMEOUT)
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            return
        for event in self.conn.receive_data(data):
            self._handle(event)
        await self.flush()

    async def until(self, condition: Callable[[], bool]) -> None:
        async with asyncio.timeout(TIMEOUT):
            while not condition():
                if self.eof:
                    raise ConnectionError("the server closed the connection")
                await self.pump()

    async def until_eof(self) -> None:
        async with asyncio.timeout(TIMEOUT):
            while not self.eof:
                await self.pump()

    def _handle(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.ResponseReceived):
            self.streams[event.stream_id].headers = list(event.headers or ())
        elif isinstance(event, h2.events.TrailersReceived):
            self.streams[event.stream_id].trailers = list(event.headers or ())
        elif isinstance(event, h2.events.DataReceived):
            assert event.stream_id is not None and event.data is not None
            state = self.streams[event.stream_id]
            state.data += event.data
            state.data_frames.append(event.flow_controlled_length or 0)
            if self.auto_ack and event.flow_controlled_length:
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.StreamEnded):
            assert event.stream_id is not None
            self.streams[event.stream_id].ended = True
        elif isinstance(event, h2.events.StreamReset):
            assert event.stream_id is not None
            self.streams[event.stream_id].reset_code = int(event.error_code or 0)
        elif isinstance(event, h2.events.PingAckReceived):
            assert event.ping_data is not None
            self.ping_acks.append(event.ping_data)
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.terminated = event
        elif isinstance(event, h2.events.SettingsAcknowledged):
            self.settings_acked += 1
        elif isinstance(event, h2.events.RemoteSettingsChanged):
            for code, changed in event.changed_settings.items():
                self.remote_settings[int(code)] = changed.new_value
        elif isinstance(event, h2.events.WindowUpdated):
            assert event.stream_id is not None
            self.window_updates.append((event.stream_id, event.delta or 0))

    # -- requests

    def open_stream(
        self,
        path: str,
        *,
        method: bytes = b"POST",
        content_type: bytes = b"application/grpc",
        extra: Iterable[Header] = (),
        end_stream: bool = False,
    ) -> int:
        sid = self.conn.get_next_available_stream_id()
        headers = grpc_headers(path, method=method, content_type=content_type, extra=extra)
        self.conn.send_headers(sid, headers, end_stream=end_stream)
        self.streams[sid] = StreamState()
        return sid

    async def send_all(self, sid: int, data: bytes, *, end_stream: bool = True) -> None:
        """Send `data` on `sid` as the server's flow-control windows allow."""
        pos = 0
        while pos < len(data):
            window = self.conn.local_flow_control_window(sid)
            if window <= 0:
                await self.flush()
                await self.until(lambda: self.conn.local_flow_control_window(sid) > 0)
                continue
            n = min(window, self.conn.max_outbound_frame_size, len(data) - pos)
            self.conn.send_data(sid, data[pos : pos + n])
            pos += n
        if end_stream:
            self.conn.end_stream(sid)
        await self.flush()

    async def finish(self, sid: int) -> StreamState:
        await self.flush()
        state = self.streams[sid]
        await self.until(lambda: state.finished)
        return state

    async def unary(self, path: str, payload: bytes, *, extra: Iterable[Header] = ()) -> StreamState:
        sid = self.open_stream(path, extra=extra)
        await self.send_all(sid, grpc_message(payload))
        return await self.finish(sid)


class Frame(NamedTuple):
    kind: int
    flags: int
    stream_id: int
    payload: bytes


def parse_frames(data: bytes) -> list[Frame]:
    """Whole frames at the start of `data` (a trailing partial frame is left out)."""
    out: list[Frame] = []
    pos = 0
    while len(data) - pos >= fr.HEADER_LEN:
        length = int.from_bytes(data[pos : pos + 3], "big")
        end = pos + fr.HEADER_LEN + length
        if end > len(data):
            break
        sid = int.from_bytes(data[pos + 5 : pos + 9], "big") & 0x7FFFFFFF
        out.append(Frame(data[pos + 3], data[pos + 4], sid, data[pos + fr.HEADER_LEN : end]))
        pos = end
    return out


class RawClient:
    """Frames by hand: whatever bytes the test writes, and the server's frames as they come."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.encoder = hpack.Encoder()
        self.decoder = hpack.Decoder()

    @classmethod
    async def connect(cls, port: int, *, preface: bool = True) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client = cls(reader, writer)
        if preface:
            client.send(fr.PREFACE, fr.settings_frame({}))
        return client

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()

    def send(self, *data: bytes) -> None:
        self.writer.write(b"".join(data))

    def header_block(self, headers: Sequence[Header]) -> bytes:
        return bytes(self.encoder.encode(headers))

    def decode(self, block: bytes) -> list[Header]:
        return [(bytes(k), bytes(v)) for k, v in self.decoder.decode(block, raw=True)]

    async def read_frame(self) -> Frame | None:
        """The next frame, or None at the end of the connection."""
        try:
            async with asyncio.timeout(TIMEOUT):
                head = await self.reader.readexactly(fr.HEADER_LEN)
                length = int.from_bytes(head[:3], "big")
                payload = await self.reader.readexactly(length)
        except (asyncio.IncompleteReadError, ConnectionResetError):
            return None
        return Frame(head[3], head[4], int.from_bytes(head[5:9], "big") & 0x7FFFFFFF, payload)

    async def read_until(self, predicate: Callable[[Frame], bool]) -> list[Frame]:
        """Frames up to and including the first that matches; fails at the end of the connection."""
        seen: list[Frame] = []
        while True:
            frame = await self.read_frame()
            if frame is None:
                raise ConnectionError(f"the connection ended before the expected frame; got {seen}")
            seen.append(frame)
            if predicate(frame):
                return seen

    async def read_to_eof(self) -> bytes:
        """Every byte until the server closes (bounded by TIMEOUT)."""
        out = bytearray()
        async with asyncio.timeout(TIMEOUT):
            while True:
                try:
                    chunk = await self.reader.read(1 << 16)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                out += chunk
        return bytes(out)
