"""Errors of the peer's bytes: what the client did wrong, and the code to tell it (an HTTP/2
error code for the connection or a stream, or a gRPC status for a call)."""

from __future__ import annotations


class ConnectionProtocolError(Exception):
    """A connection error (RFC 9113 section 5.4.1): send GOAWAY with `code` and close;
    `limit` names the `h2grpc.limits` limit the client went past, if that was the error."""

    def __init__(self, code: int, message: str, limit: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.limit = limit


class StreamProtocolError(Exception):
    """A stream error (RFC 9113 section 5.4.2): reset stream `stream_id` with `code`."""

    def __init__(self, stream_id: int, code: int, message: str) -> None:
        super().__init__(message)
        self.stream_id = stream_id
        self.code = code
        self.message = message


class RequestError(Exception):
    """Request bytes that break gRPC's rules (message framing, a unary call's one message):
    the call ends with gRPC status `status` (an `h2grpc.status` number) and `details`."""

    def __init__(self, status: int, details: str) -> None:
        super().__init__(details)
        self.status = status
        self.details = details
