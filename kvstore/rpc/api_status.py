"""Resource API errors across the wire: a Kubernetes `Status` in a gRPC status.

The gRPC code follows the HTTP code, so generic gRPC tooling sees a sensible code; the
`Status` object itself (reason, message, details, causes) travels as JSON in the
`kvs-status-bin` trailer, and the client raises the same `StatusError` subclass the
embedded registry raises.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import grpc

from apimachinery import errors

TRAILER = "kvs-status-bin"
WATCH_ESTABLISHED = "kvs-watch-established"  # initial metadata of a watch the server accepted

_BY_HTTP = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    405: grpc.StatusCode.UNIMPLEMENTED,
    409: grpc.StatusCode.ABORTED,
    410: grpc.StatusCode.OUT_OF_RANGE,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    415: grpc.StatusCode.INVALID_ARGUMENT,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    500: grpc.StatusCode.INTERNAL,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}


def grpc_code(err: errors.StatusError) -> grpc.StatusCode:
    if isinstance(err, errors.AlreadyExistsError):
        return grpc.StatusCode.ALREADY_EXISTS
    return _BY_HTTP.get(err.code, grpc.StatusCode.UNKNOWN)


def to_grpc(err: errors.StatusError) -> tuple[grpc.StatusCode, str, tuple[tuple[str, bytes], ...]]:
    """The code, message and trailers a call ends with for `err`."""
    status = json.dumps(err.to_status(), separators=(",", ":")).encode()
    return grpc_code(err), err.message, ((TRAILER, status),)


def from_grpc(code: grpc.StatusCode, details: str | None, trailers: Iterable[Any] | None) -> errors.StatusError:
    """The StatusError a failed call stands for; statuses without our trailer get a generic one."""
    for key, value in trailers or ():
        if key == TRAILER:
            try:
                return errors.from_status(json.loads(value))
            except (ValueError, TypeError, KeyError):
                break
    message = details or code.name
    if code == grpc.StatusCode.UNAVAILABLE:
        return errors.ServiceUnavailableError(message)
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return errors.ServerTimeoutError(message)
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return errors.RequestEntityTooLargeError(message)
    if code == grpc.StatusCode.UNIMPLEMENTED:
        return errors.NotFoundError(f"the server does not serve the resource API: {message}")
    return errors.InternalError(message)
