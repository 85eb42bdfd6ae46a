"""One HTTP/2 stream's state, owned by `ServerProtocol` (no I/O): both of its windows, the
response bytes waiting for window and the trailers owed after them (and since when, and on
which window), its half-closed flags, and the request bytes split into gRPC messages (gRPC
over HTTP/2, Length-Prefixed-Message) with the count of those held unread.

The rules a request's bytes must follow are checked here, each a `RequestError` with the
gRPC status to end the call with: no compressed messages (we support no grpc-encoding:
INTERNAL if the request named none, UNIMPLEMENTED if it named one, as grpc-go), none
over the size limit, none cut off by the end of the stream, and a unary call takes exactly
one message.
"""

from __future__ import annotations

from collections import deque

from h2grpc import status
from h2grpc.errors import RequestError
from h2grpc.wire import GRPC_COMPRESSED, GRPC_PREFIX_LEN


class StreamState:
    """A stream from its request headers until its trailers went out or it was reset."""

    __slots__ = (
        "_partial",
        "_wanted",
        "blocked_since",
        "buffered",
        "credit",
        "encoding",
        "headers_sent",
        "heap_credit",
        "in_fifo",
        "max_message",
        "messages",
        "messages_received",
        "pending",
        "recv_closed",
        "response_done",
        "stream_id",
        "trailers",
        "unacked",
        "unary",
        "waiting",
    )

    def __init__(self, stream_id: int, max_message: int) -> None:
        self.stream_id = stream_id
        # -- the response (server to client)
        # What the client lets us send on this stream, less its SETTINGS_INITIAL_WINDOW_SIZE
        # (which the protocol adds: so a new setting changes every window at once, RFC 9113
        # section 6.9.2): its WINDOW_UPDATEs minus the DATA sent. The window, credit plus the
        # initial size, may be negative after a SETTINGS decrease, never over 2**31-1.
        self.credit = 0
        self.pending: deque[memoryview] = deque()  # DATA payloads waiting for window, in order
        self.trailers: bytes | None = None  # the last header block, owed once `pending` is empty
        self.headers_sent = False  # the response HEADERS went out (or trailers-only: the status)
        self.response_done = False  # the status is decided: `trailers` is set or sent
        # While `pending` waits (the protocol's bookkeeping): on which window (0 while nothing
        # waits), since when it took none of our data, whether it has an entry in the queue of
        # streams waiting for the connection window, and the credit of its newest entry in the
        # heap of streams waiting for their own window (None: no entry is current).
        self.waiting = 0
        self.blocked_since = 0.0
        self.in_fifo = False
        self.heap_credit: int | None = None
        # -- the requests (client to server)
        self.recv_closed = False  # the client sent END_STREAM
        self.unacked = 0  # DATA bytes received (padding included) not yet returned by WINDOW_UPDATE
        self.unary = False  # the call takes exactly one request message
        self.encoding = b""  # the request's grpc-encoding header (we decompress none)
        self.max_message = max_message  # the largest request message accepted, in bytes
        self.messages: deque[bytes] = deque()  # complete request messages not yet taken
        self.messages_received = 0  # complete request messages ever; >= len(messages)
        self.buffered = 0  # request bytes fed, not taken (`_partial`, `messages` with prefixes): the protocol's count
        self._partial = bytearray()  # the start of a message not complete yet (its prefix too)
        self._wanted = 0  # len(_partial) that lets `feed` make progress (prefix or message complete)

    # -- requests in

    def feed(self, data: bytes) -> int:
        """Take request bytes (a DATA payload, padding removed): queue the messages they
        complete and return how many. Raises RequestError for a message we refuse (the
        stream's request state is then left as it is: the call ends)."""
        partial = self._partial
        if partial:
            partial += data
            if len(partial) < self._wanted:
                return 0
            data = bytes(partial)
            partial.clear()
        end = len(data)
        pos = count = 0
        while end - pos >= GRPC_PREFIX_LEN:
            size = int.from_bytes(data[pos + 1 : pos + GRPC_PREFIX_LEN], "big")
            if data[pos] & GRPC_COMPRESSED:
                raise self._compressed()
            if size > self.max_message:
                raise RequestError(
                    status.RESOURCE_EXHAUSTED,
                    f"grpc: received message larger than max ({size} vs. {self.max_message})",
                )
            stop = pos + GRPC_PREFIX_LEN + size
            if stop > end:
                self._wanted = GRPC_PREFIX_LEN + size
                break
            self.messages.append(data[pos + GRPC_PREFIX_LEN : stop])
            pos = stop
            count += 1
            self.messages_received += 1
            if self.unary and self.messages_received > 1:
                raise RequestError(status.INTERNAL, "a unary call takes one request message, got more")
        else:
            self._wanted = GRPC_PREFIX_LEN
        if pos < end:
            partial += memoryview(data)[pos:]
        return count

    def _compressed(self) -> RequestError:
        """A compressed message: we decompress nothing (gRPC's compression spec)."""
        encoding = self.encoding
        if encoding in (b"", b"identity"):
            return RequestError(status.INTERNAL, "grpc: compressed flag set with identity or empty encoding")
        named = encoding.decode("ascii", "replace")
        return RequestError(status.UNIMPLEMENTED, f"grpc: decompressor is not installed for grpc-encoding {named!r}")

    def end_of_requests(self) -> None:
        """The client half-closed. Raises RequestError if that leaves the request incomplete
        (unless the call's status is decided already: then nothing matters any more)."""
        self.recv_closed = True
        if self.response_done:
            return
        if self._partial:
            raise RequestError(status.INTERNAL, "the request ended inside a message")
        if self.unary and not self.messages_received:
            raise RequestError(status.INTERNAL, "a unary call takes one request message, got none")

    # -- responses out

    def queue(self, chunk: memoryview) -> None:
        """Response DATA bytes that wait for window (sent in order, before the trailers)."""
        self.pending.append(chunk)

    def drop_queued(self) -> None:
        """Forget the response bytes still waiting for window (the call failed)."""
        self.pending.clear()
