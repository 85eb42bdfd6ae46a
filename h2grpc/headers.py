"""Header blocks: HPACK decoding of requests (cached) and the literal fields of our responses,
plus the gRPC conventions carried in headers (timeouts, status messages, metadata)."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence

import hpack

from h2grpc import limits, wire
from h2grpc.errors import ConnectionProtocolError

Header = tuple[bytes, bytes]

# The cache holds small blocks only, and few: gRPC's repeated blocks (all indexed after the
# first) are tens of bytes; a client sending ever different blocks gets no memory from it.
_CACHE_BLOCK = 512  # bytes of a block cached at most
_CACHE_ENTRIES = 256
_CACHE_SIZE = 256 << 10  # decoded size (RFC 9113 section 6.5.2) of all cached lists together


class RequestHeaderDecoder:
    """HPACK decoding for one connection.

    gRPC clients send nearly the same header block on every call, after the first all
    indexed; a block seen before decodes to the same list as long as the dynamic table has
    not changed since, so such blocks are looked up instead of decoded again.
    """

    def __init__(self, max_header_list_size: int) -> None:
        self._max = max_header_list_size  # the decoded size past which the connection fails
        self._decoder = hpack.Decoder(max_header_list_size=max_header_list_size)
        self._cache: dict[bytes, tuple[list[Header], int]] = {}
        self._cached_size = 0

    def decode(self, block: bytes) -> tuple[list[Header], int]:
        """The block's header list and its size as RFC 9113 section 6.5.2 counts it (each
        field's name and value plus 32). Raises ConnectionProtocolError: a block that does
        not decode (COMPRESSION_ERROR) or decodes past `max_header_list_size` (the decoder
        stops mid-block, its table no longer the client's: ENHANCE_YOUR_CALM)."""
        cached = self._cache.get(block)
        if cached is not None:
            return cached
        table = self._decoder.header_table
        first = table.dynamic_entries[0] if table.dynamic_entries else None
        size, max_size = len(table.dynamic_entries), table.maxsize
        try:
            headers: list[Header] = [(bytes(n), bytes(v)) for n, v in self._decoder.decode(block, raw=True)]
        except hpack.OversizedHeaderListError:
            raise ConnectionProtocolError(
                wire.ENHANCE_YOUR_CALM,
                f"header list over {self._max} bytes decoded (max_header_block_size)",
                limits.HEADER_BLOCK_SIZE,
            ) from None
        except hpack.HPACKError as exc:
            raise ConnectionProtocolError(wire.COMPRESSION_ERROR, f"bad header block: {exc}") from None
        decoded = (headers, sum(len(n) + len(v) for n, v in headers) + 32 * len(headers))
        entries = table.dynamic_entries
        if (entries[0] if entries else None) is not first or len(entries) != size or table.maxsize != max_size:
            # The block changed the table: its next copy must be decoded again (to change it
            # the same way), and cached blocks may now mean something else.
            self._cache.clear()
            self._cached_size = 0
            return decoded
        if block and len(block) <= _CACHE_BLOCK and block[0] & 0xE0 != 0x20:  # size updates: always decoded
            if len(self._cache) >= _CACHE_ENTRIES or self._cached_size + decoded[1] > _CACHE_SIZE:
                self._cache.clear()
                self._cached_size = 0
            self._cache[block] = decoded
            self._cached_size += decoded[1]
        return decoded


literal = wire.hpack_literal
table_size_update = wire.hpack_table_size_update


def encode(headers: Iterable[Header]) -> bytes:
    return b"".join(literal(n, v) for n, v in headers)


STATUS_200 = b"\x88"  # ':status: 200', static table entry 8
RESPONSE_HEADERS = STATUS_200 + literal(b"content-type", b"application/grpc")
OK_TRAILERS = literal(b"grpc-status", b"0")


def http_status(status: bytes) -> bytes:
    """':status: <status>' alone, as a literal with the indexed name ':status' (static
    entry 8): the answer to a request that is not a gRPC call."""
    return b"\x08" + bytes((len(status),)) + status


def status_block(code: int, details: str = "", trailing: Sequence[tuple[str, str | bytes]] = ()) -> bytes:
    """grpc-status, grpc-message and trailing metadata: the end of every call."""
    if code == 0 and not details and not trailing:
        return OK_TRAILERS
    fields = [(b"grpc-status", b"%d" % code)]
    if details:
        fields.append((b"grpc-message", percent_encode(details)))
    return encode(fields + metadata(trailing))


_MESSAGE_LIMIT = 4096  # bytes of grpc-message kept, so trailers fit one frame


def percent_encode(message: str) -> bytes:
    """grpc-message encoding: printable ASCII but '%' as is, every other UTF-8 byte as %XX."""
    raw = message.encode("utf-8", "replace")[:_MESSAGE_LIMIT]
    if all(0x20 <= b <= 0x7E and b != 0x25 for b in raw):
        return raw
    return b"".join(bytes((b,)) if 0x20 <= b <= 0x7E and b != 0x25 else b"%%%02X" % b for b in raw)


def metadata(pairs: Sequence[tuple[str, str | bytes]] | None) -> list[Header]:
    """Custom metadata as header fields: lower-case keys, base64 values for '-bin' keys."""
    out: list[Header] = []
    for key, value in pairs or ():
        name = key.lower().encode("ascii")
        if name.endswith(b"-bin"):
            raw = value if isinstance(value, bytes) else value.encode("utf-8")
            out.append((name, base64.b64encode(raw).rstrip(b"=")))
        else:
            out.append((name, value if isinstance(value, bytes) else value.encode("ascii")))
    return out


def invocation_metadata(headers: Sequence[Header]) -> tuple[tuple[str, str | bytes], ...]:
    """The client's custom metadata: every field but the pseudo-headers and HTTP's own."""
    out: list[tuple[str, str | bytes]] = []
    for name, value in headers:
        if name.startswith(b":") or name in _RESERVED:
            continue
        key = name.decode("ascii", "replace")
        if name.endswith(b"-bin"):
            out.append((key, base64.b64decode(value + b"=" * (-len(value) % 4))))
        else:
            out.append((key, value.decode("ascii", "replace")))
    return tuple(out)


_RESERVED = frozenset((b"content-type", b"te", b"grpc-timeout", b"grpc-encoding", b"grpc-accept-encoding"))

_TIMEOUT_UNITS = {b"H": 3600.0, b"M": 60.0, b"S": 1.0, b"m": 1e-3, b"u": 1e-6, b"n": 1e-9}


def parse_timeout(value: bytes) -> float | None:
    """grpc-timeout ('<up to 8 digits><H|M|S|m|u|n>') in seconds, None if malformed."""
    digits, unit = value[:-1], value[-1:]
    if not digits.isdigit() or len(digits) > 8 or unit not in _TIMEOUT_UNITS:
        return None
    return int(digits) * _TIMEOUT_UNITS[unit]
