"""Errors of the HTTP/2 layer: what the peer did wrong, and the code to tell it."""

from __future__ import annotations


class ConnectionProtocolError(Exception):
    """A connection error (RFC 9113 section 5.4.1): send GOAWAY with `code` and close."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class StreamProtocolError(Exception):
    """A stream error (RFC 9113 section 5.4.2): reset stream `stream_id` with `code`."""

    def __init__(self, stream_id: int, code: int, message: str) -> None:
        super().__init__(message)
        self.stream_id = stream_id
        self.code = code
        self.message = message
