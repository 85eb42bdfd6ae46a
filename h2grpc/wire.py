"""The bytes on the wire, with no state and no I/O: HTTP/2 frames (RFC 9113 sections 4
and 6), HPACK integers and literal fields (RFC 7541 sections 5.1 and 6.2.2), protobuf
varints and gRPC's length-prefixed messages.

The server's connection, lean clients that speak just enough HTTP/2 by hand (the
benchmark's watch receivers) and hand-written protobuf encoders all build their bytes
here, so each rule is written once.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
HEADER_LEN = 9

DATA = 0x0
HEADERS = 0x1
PRIORITY = 0x2
RST_STREAM = 0x3
SETTINGS = 0x4
PUSH_PROMISE = 0x5
PING = 0x6
GOAWAY = 0x7
WINDOW_UPDATE = 0x8
CONTINUATION = 0x9

END_STREAM = 0x1
ACK = 0x1
END_HEADERS = 0x4
PADDED = 0x8
PRIORITY_FLAG = 0x20

NO_ERROR = 0x0
PROTOCOL_ERROR = 0x1
INTERNAL_ERROR = 0x2
FLOW_CONTROL_ERROR = 0x3
STREAM_CLOSED = 0x5
FRAME_SIZE_ERROR = 0x6
REFUSED_STREAM = 0x7
CANCEL = 0x8
COMPRESSION_ERROR = 0x9
SETTINGS_TIMEOUT = 0x4
ENHANCE_YOUR_CALM = 0xB

SETTINGS_HEADER_TABLE_SIZE = 0x1
SETTINGS_ENABLE_PUSH = 0x2
SETTINGS_MAX_CONCURRENT_STREAMS = 0x3
SETTINGS_INITIAL_WINDOW_SIZE = 0x4
SETTINGS_MAX_FRAME_SIZE = 0x5
SETTINGS_MAX_HEADER_LIST_SIZE = 0x6

DEFAULT_WINDOW = 65_535
DEFAULT_MAX_FRAME = 16_384
MAX_WINDOW = 2**31 - 1
MAX_FRAME_LIMIT = 2**24 - 1

# A frame header: (length >> 16, length & 0xFFFF, type, flags, stream id with its reserved bit).
HEADER = struct.Struct(">BHBBI")

_U32 = struct.Struct(">I")
_SETTING = struct.Struct(">HI")
_GOAWAY = struct.Struct(">II")


def header(kind: int, flags: int, stream_id: int, length: int) -> bytes:
    """The 9-byte header of a frame whose payload is `length` bytes."""
    return bytes((length >> 16, (length >> 8) & 0xFF, length & 0xFF, kind, flags)) + _U32.pack(stream_id)


def frame(kind: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    """One frame: header then `payload`."""
    return header(kind, flags, stream_id, len(payload)) + payload


def settings_frame(values: dict[int, int]) -> bytes:
    return frame(SETTINGS, 0, 0, b"".join(_SETTING.pack(k, v) for k, v in values.items()))


def parse_settings(payload: bytes) -> list[tuple[int, int]]:
    return [_SETTING.unpack_from(payload, i) for i in range(0, len(payload), 6)]


def window_update(stream_id: int, increment: int) -> bytes:
    return frame(WINDOW_UPDATE, 0, stream_id, _U32.pack(increment))


def rst_stream(stream_id: int, code: int) -> bytes:
    return frame(RST_STREAM, 0, stream_id, _U32.pack(code))


def goaway(last_stream_id: int, code: int, debug: bytes = b"") -> bytes:
    return frame(GOAWAY, 0, 0, _GOAWAY.pack(last_stream_id, code) + debug)


def u32(payload: bytes | bytearray, offset: int = 0) -> int:
    return int(_U32.unpack_from(payload, offset)[0])


# ------------------------------------------------------------ varints and HPACK integers

_UINT64 = (1 << 64) - 1


def varint(n: int) -> bytes:
    """Protobuf varint: 7 bits a byte, low first; negative int64 values take ten bytes,
    as in two's complement. HPACK integers continue with the same bytes."""
    if n < 0:
        n &= _UINT64
    if n < 0x80:
        return bytes((n,))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def hpack_integer(value: int, prefix_bits: int, first: int = 0) -> bytes:
    """HPACK integer (RFC 7541 section 5.1) with `first` holding the bits above the prefix."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes((first | value,))
    return bytes((first | limit,)) + varint(value - limit)


def hpack_literal(name: bytes, value: bytes) -> bytes:
    """A field as 'literal without indexing, new name', no Huffman coding (RFC 7541
    section 6.2.2): it leaves the peer's decoding table alone, so no encoder state is needed."""
    return b"\x00" + hpack_integer(len(name), 7) + name + hpack_integer(len(value), 7) + value


def hpack_table_size_update(size: int) -> bytes:
    """A dynamic table size update (RFC 7541 section 6.3), to start a header block with."""
    return hpack_integer(size, 5, 0x20)


# ------------------------------------------------------------ gRPC messages

GRPC_PREFIX_LEN = 5
GRPC_COMPRESSED = 0x1


def grpc_prefix(length: int) -> bytes:
    """The 5-byte prefix of an uncompressed gRPC message of `length` bytes."""
    return b"\x00" + length.to_bytes(4, "big")


_DATA_MESSAGE_HEAD = struct.Struct(">BHBBIBI")


def data_message_head(stream_id: int, message_len: int) -> bytes:
    """The header of a DATA frame (no flags) that carries one whole uncompressed gRPC
    message of `message_len` bytes, then the message's 5-byte prefix: 14 bytes."""
    length = GRPC_PREFIX_LEN + message_len
    return _DATA_MESSAGE_HEAD.pack(length >> 16, length & 0xFFFF, DATA, 0, stream_id, 0, message_len)


def grpc_message(payload: bytes) -> bytes:
    """gRPC's length-prefixed message: flag 0 (uncompressed), 4-byte length, the bytes."""
    return grpc_prefix(len(payload)) + payload


def grpc_request_headers(
    path: str,
    *,
    method: bytes = b"POST",
    content_type: bytes = b"application/grpc",
    extra: Iterable[tuple[bytes, bytes]] = (),
) -> list[tuple[bytes, bytes]]:
    """A gRPC request's header fields (gRPC over HTTP/2, Request-Headers), for clients that
    speak HTTP/2 by hand: `method` and `content_type` changed only to test the refusals."""
    return [
        (b":method", method),
        (b":scheme", b"http"),
        (b":path", path.encode()),
        (b":authority", b"localhost"),
        (b"content-type", content_type),
        (b"te", b"trailers"),
        *extra,
    ]
