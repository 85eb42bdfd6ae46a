"""What one client may make the server do: the `Limits` of a `GrpcServer` and its
connections, the names under which a tripped limit is counted, and the token bucket that
enforces the rate limits.

The defaults follow the mature HTTP/2 and gRPC servers (Go's x/net/http2 and grpc-go, which
etcd and kube-apiserver use; nghttp2): each is named where it comes from. docs/server.md
("Limits") lists them with the `kvs serve` flags that set them.
"""

from __future__ import annotations

from dataclasses import dataclass

# -- the names a tripped limit is counted and logged under (`GrpcServer.limits_tripped`)
RAPID_RESET = "rapid_reset"  # streams the client opened and reset, over the budget
PING_FLOOD = "ping_flood"  # PINGs more often than min_ping_interval (grpc's "too_many_pings")
SETTINGS_FLOOD = "settings_flood"  # SETTINGS frames over their rate
EMPTY_FRAME_FLOOD = "empty_frame_flood"  # frames that carry nothing (empty DATA/CONTINUATION, PRIORITY, ...)
CONTROL_QUEUE = "control_queue"  # control replies the client does not read, over the queue's bound
HEADER_LIST_SIZE = "header_list_size"  # a decoded header list over max_header_list_size (HTTP 431)
HEADER_BLOCK_SIZE = "header_block_size"  # a header block over max_header_block_size (the connection closes)
CONCURRENT_STREAMS = "concurrent_streams"  # a stream over max_concurrent_streams (REFUSED_STREAM)
REQUEST_BUFFER = "request_buffer"  # request bytes buffered on a connection over max_request_buffer
CONNECTIONS = "connections"  # a connection over max_connections (closed at once)
HANDSHAKE_TIMEOUT = "handshake_timeout"  # no client preface and SETTINGS within handshake_timeout
SETTINGS_TIMEOUT = "settings_timeout"  # our SETTINGS not acknowledged within settings_timeout
IDLE_TIMEOUT = "idle_timeout"  # no open stream for max_connection_idle (GOAWAY, NO_ERROR)
KEEPALIVE_TIMEOUT = "keepalive_timeout"  # our keepalive PING not answered within keepalive_timeout
SEND_STALL = "send_stall"  # a stream or connection that did not take our data for send_stall_timeout

LIMIT_NAMES = (
    RAPID_RESET,
    PING_FLOOD,
    SETTINGS_FLOOD,
    EMPTY_FRAME_FLOOD,
    CONTROL_QUEUE,
    HEADER_LIST_SIZE,
    HEADER_BLOCK_SIZE,
    CONCURRENT_STREAMS,
    REQUEST_BUFFER,
    CONNECTIONS,
    HANDSHAKE_TIMEOUT,
    SETTINGS_TIMEOUT,
    IDLE_TIMEOUT,
    KEEPALIVE_TIMEOUT,
    SEND_STALL,
)


@dataclass(frozen=True, slots=True)
class Limits:
    """Every bound the server keeps per connection (and the server-wide connection count).
    Sizes in bytes, times in seconds; a time of 0 turns that timeout off."""

    # -- streams and request bytes (ServerProtocol)
    max_concurrent_streams: int = 1000  # SETTINGS_MAX_CONCURRENT_STREAMS; Go's default is 250
    max_receive_message_length: int = 4 << 20  # one request message (grpc's default, 4 MiB)
    max_request_buffer: int = 32 << 20  # request bytes one connection holds unread (partial or queued)
    # -- header blocks (ServerProtocol)
    max_header_list_size: int = 16 << 10  # SETTINGS_MAX_HEADER_LIST_SIZE (decoded, RFC 9113 6.5.2): over it, HTTP 431
    max_header_block_size: int = 64 << 10  # a block as it arrives, and decoded: over it the connection closes
    # -- floods (ServerProtocol): a burst, then so many per second (token buckets)
    max_resets: int = 1000  # streams opened and reset (by the client, or by us for its errors); nghttp2's
    resets_per_second: float = 33.0
    max_settings: int = 100  # SETTINGS frames
    settings_per_second: float = 10.0
    max_empty_frames: int = 1000  # frames that carry nothing: empty DATA or CONTINUATION, PRIORITY, ...
    empty_frames_per_second: float = 100.0
    # PINGs, policed as grpc's keepalive enforcement: a PING sooner than min_ping_interval after
    # the previous one, with no DATA or HEADERS sent between them, is a strike; past
    # max_ping_strikes the connection is closed (GOAWAY ENHANCE_YOUR_CALM "too_many_pings").
    min_ping_interval: float = 5.0  # etcd's --grpc-keepalive-min-time
    permit_ping_without_calls: bool = True  # with no open stream, PINGs obey the same interval
    max_ping_strikes: int = 2  # grpc's default
    max_queued_control_frames: int = 10_000  # replies (PING/SETTINGS ACK, RST_STREAM) not yet written; Go's
    frames_per_turn: int = 1000  # frames parsed per connection per event-loop turn (fairness)
    # -- connections (Connection, GrpcServer)
    max_connections: int = 4096  # open client connections; past it a new one is closed at once
    backlog: int = 1024  # the listening sockets' accept queue
    handshake_timeout: float = 10.0  # the client preface and its first SETTINGS
    settings_timeout: float = 10.0  # our SETTINGS acknowledged (RFC 9113 6.5.3, SETTINGS_TIMEOUT)
    max_connection_idle: float = 90.0  # no open stream this long: GOAWAY(NO_ERROR), close (kube-apiserver's 90 s)
    keepalive_interval: float = 7200.0  # a PING after this long without one (etcd's --grpc-keepalive-interval)
    keepalive_timeout: float = 20.0  # ... which must be answered this soon (etcd's --grpc-keepalive-timeout)
    send_stall_timeout: float = 60.0  # a stream or connection that takes none of our data this long is ended

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if not isinstance(value, bool) and value < 0:
                raise ValueError(f"Limits.{name}: must not be negative, got {value}")
        if self.max_concurrent_streams < 1 or self.frames_per_turn < 1 or self.max_connections < 1:
            raise ValueError("Limits: max_concurrent_streams, frames_per_turn and max_connections must be at least 1")
        if self.max_header_block_size < self.max_header_list_size:
            raise ValueError("Limits.max_header_block_size: must be at least max_header_list_size")


class TokenBucket:
    """A rate limit: `burst` tokens, refilled at `rate` per second; `take(now)` spends one.
    No clock of its own: the caller passes the time, so tests drive it."""

    __slots__ = ("_last", "_tokens", "burst", "rate")

    def __init__(self, burst: int, rate: float, now: float) -> None:
        self.burst = burst
        self.rate = rate
        self._tokens = float(burst)
        self._last = now

    def take(self, now: float) -> bool:
        """Spend a token; False if none is left (the limit trips)."""
        tokens = self._tokens
        if tokens < self.burst:
            tokens = min(float(self.burst), tokens + (now - self._last) * self.rate)
        self._last = now
        if tokens < 1.0:
            self._tokens = tokens
            return False
        self._tokens = tokens - 1.0
        return True
