"""What `ServerProtocol.next_event()` reports: small records, one per thing the I/O side has
to act on (run a call, wake a reader or writer, forget a stream, close the connection).

Everything else the protocol handles by itself (SETTINGS and PING acknowledgements, window
updates, refused and non-gRPC streams), so it reports nothing for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from h2grpc.headers import Header


@dataclass(slots=True)
class RequestReceived:
    """A client opened a gRPC request (POST, content-type application/grpc*). The stream
    waits for a decision: `ServerProtocol.accept()` or `refuse()`, before the next event."""

    stream_id: int
    path: bytes
    headers: list[Header]  # the decoded request header block, pseudo-headers included (shared: read only)
    timeout: bytes  # the raw grpc-timeout value, b"" if none was sent


@dataclass(slots=True)
class MessagesReceived:
    """Complete request messages are queued on the stream (`ServerProtocol.next_request()`);
    for a unary call, its one message."""

    stream_id: int


@dataclass(slots=True)
class RequestsEnded:
    """The client half-closed a call that streams requests (END_STREAM): no more request
    messages. (A unary call's end is only checked, by the protocol: it is not reported.)"""

    stream_id: int


@dataclass(slots=True)
class StreamWritable:
    """Response data that waited for flow-control window has all gone out."""

    stream_id: int


@dataclass(slots=True)
class StreamClosed:
    """The response's trailers went out: the stream is over and forgotten."""

    stream_id: int


@dataclass(slots=True)
class StreamReset:
    """The stream was reset, by the client (`by_peer`, its RST_STREAM) or by us for a stream
    error (RFC 9113 section 5.4.2); it is forgotten, and its call must stop."""

    stream_id: int
    code: int  # the HTTP/2 error code of the RST_STREAM
    by_peer: bool


@dataclass(slots=True)
class RequestRejected:
    """The request bytes broke gRPC's rules; the protocol already sent the status `status`
    (dropping queued responses) and forgot the stream: its call must stop."""

    stream_id: int
    status: int


@dataclass(slots=True)
class ConnectionFailed:
    """A connection error (RFC 9113 section 5.4.1): GOAWAY with `code` is queued, every
    stream is forgotten and nothing more is parsed; flush and close the connection."""

    code: int
    message: str
    limit: str = ""  # the `h2grpc.limits` name when a limit closed it (ENHANCE_YOUR_CALM mostly)


@dataclass(slots=True)
class LimitTripped:
    """A limit refused something without closing the connection (a stream over
    max_concurrent_streams, a header list over max_header_list_size, request bytes over
    max_request_buffer): the protocol already answered; the I/O side counts and logs it."""

    limit: str  # an `h2grpc.limits` name
    stream_id: int
    message: str


Event = (
    RequestReceived
    | MessagesReceived
    | RequestsEnded
    | StreamWritable
    | StreamClosed
    | StreamReset
    | RequestRejected
    | ConnectionFailed
    | LimitTripped
)
