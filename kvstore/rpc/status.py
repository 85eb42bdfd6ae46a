"""Errors across the wire: a KVError becomes a gRPC status with etcd's code and message.

etcd's clients key on the code and the message text, which we send unchanged. For our
own client the error's details (compact revision, lease ID, field, ...) travel in a
trailing metadata entry, so `kvstore.connect()` raises the same exception, with the same
attributes, that the embedded store raises. Errors from a real etcd (no trailer) are
rebuilt from the message text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import grpc

from kvstore import errors as e

TRAILER = "kvs-error"

_CLASSES: dict[str, type[e.KVError]] = {
    cls.__name__: cls
    for cls in (
        e.CompactedError,
        e.FutureRevisionError,
        e.InvalidArgumentError,
        e.EmptyKeyError,
        e.RequestTooLargeError,
        e.TooManyOpsError,
        e.DuplicateKeyError,
        e.KeyNotFoundError,
        e.MalformedRequestError,
        e.ValueProvidedError,
        e.LeaseProvidedError,
        e.LeaseNotFoundError,
        e.LeaseExistsError,
        e.LeaseTTLTooLargeError,
        e.StoreClosedError,
        e.CorruptionError,
    )
}

# etcd's message texts, for errors that come without our trailer.
_BY_MESSAGE: dict[str, type[e.KVError]] = {
    e.CompactedError.message: e.CompactedError,
    e.FutureRevisionError.message: e.FutureRevisionError,
    "etcdserver: key is not provided": e.EmptyKeyError,
    "etcdserver: request is too large": e.RequestTooLargeError,
    "etcdserver: too many operations in txn request": e.TooManyOpsError,
    "etcdserver: duplicate key given in txn request": e.DuplicateKeyError,
    "etcdserver: key not found": e.KeyNotFoundError,
    "etcdserver: value is provided": e.ValueProvidedError,
    "etcdserver: lease is provided": e.LeaseProvidedError,
    e.LeaseNotFoundError.message: e.LeaseNotFoundError,
    e.LeaseExistsError.message: e.LeaseExistsError,
    e.LeaseTTLTooLargeError.message: e.LeaseTTLTooLargeError,
}

# Placeholder details for errors rebuilt from a bare message.
_DEFAULTS: dict[type[e.KVError], dict[str, Any]] = {
    e.CompactedError: {"compact_revision": 0},
    e.FutureRevisionError: {"revision": 0, "current_revision": 0},
    e.EmptyKeyError: {},
    e.RequestTooLargeError: {"size": 0, "limit": 0},
    e.TooManyOpsError: {"ops": 0, "limit": 0},
    e.DuplicateKeyError: {"key": b""},
    e.KeyNotFoundError: {"key": b""},
    e.ValueProvidedError: {},
    e.LeaseProvidedError: {},
    e.LeaseNotFoundError: {"lease_id": 0},
    e.LeaseExistsError: {"lease_id": 0},
    e.LeaseTTLTooLargeError: {"ttl": 0, "limit": 0},
}


def _encode(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"hex": value.hex()}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"hex"}:
        return bytes.fromhex(value["hex"])
    return value


def to_status(err: e.KVError) -> tuple[grpc.StatusCode, str, tuple[tuple[str, str], ...]]:
    """The gRPC code, message and trailing metadata that carry `err`."""
    code = getattr(grpc.StatusCode, err.grpc_code, grpc.StatusCode.UNKNOWN)
    payload = {"type": type(err).__name__, **{k: _encode(v) for k, v in err.details().items()}}
    return code, err.message, ((TRAILER, json.dumps(payload, separators=(",", ":"))),)


def from_status(
    code: grpc.StatusCode, details: str | None, trailing: Iterable[tuple[str, str | bytes]] | None = None
) -> e.KVError:
    """Rebuild the store error a gRPC status stands for."""
    message = details or ""
    for key, value in trailing or ():
        if key == TRAILER:
            try:
                payload = json.loads(value)
                cls = _CLASSES[payload.pop("type")]
                err = cls(**{k: _decode(v) for k, v in payload.items()})
            except (ValueError, KeyError, TypeError):
                break
            return err
    known = _BY_MESSAGE.get(message)
    if known is not None:
        return known(**_DEFAULTS.get(known, {}))
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return e.InvalidArgumentError(message)
    err = e.KVError(message or code.name)
    err.grpc_code = code.name
    return err
