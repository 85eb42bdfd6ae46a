"""Errors of the key-value store.

Each error carries the etcd message text (clients key on it) and the gRPC status
code name etcd answers with, so the server layer can map errors without a table.
"""

from __future__ import annotations

from typing import Any, ClassVar


class KVError(Exception):
    """Base class of every error the store reports to a caller.

    `fields` names the constructor arguments kept as attributes, so the error can cross
    the network and be rebuilt as the same class with the same details.
    """

    grpc_code: str = "UNKNOWN"
    message: str = "etcdserver: unknown error"
    fields: ClassVar[tuple[str, ...]] = ()

    def details(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.fields}

    def __init__(self, message: str | None = None) -> None:
        if message is not None:
            self.message = message
        super().__init__(self.message)


class CompactedError(KVError):
    """The requested revision has been compacted away."""

    fields: ClassVar[tuple[str, ...]] = ("compact_revision",)

    grpc_code = "OUT_OF_RANGE"
    message = "etcdserver: mvcc: required revision has been compacted"

    def __init__(self, compact_revision: int) -> None:
        self.compact_revision = compact_revision
        super().__init__()


class FutureRevisionError(KVError):
    """The requested revision is newer than the store's current revision."""

    fields: ClassVar[tuple[str, ...]] = ("revision", "current_revision")

    grpc_code = "OUT_OF_RANGE"
    message = "etcdserver: mvcc: required revision is a future revision"

    def __init__(self, revision: int, current_revision: int) -> None:
        self.revision = revision
        self.current_revision = current_revision
        super().__init__()


class InvalidArgumentError(KVError):
    """A request field holds a value the store cannot accept; `field` names it."""

    fields: ClassVar[tuple[str, ...]] = ("message", "field")

    grpc_code = "INVALID_ARGUMENT"

    def __init__(self, message: str, field: str = "") -> None:
        self.field = field
        super().__init__(message)


class EmptyKeyError(InvalidArgumentError):
    """A put, range or delete without a key."""

    fields: ClassVar[tuple[str, ...]] = ("field",)

    def __init__(self, field: str = "key") -> None:
        super().__init__("etcdserver: key is not provided", field)


class RequestTooLargeError(InvalidArgumentError):
    """The request is over the configured request size limit."""

    fields: ClassVar[tuple[str, ...]] = ("size", "limit")

    def __init__(self, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__("etcdserver: request is too large", "request")


class TooManyOpsError(InvalidArgumentError):
    """A txn has more compares or ops in one branch than the configured limit."""

    fields: ClassVar[tuple[str, ...]] = ("ops", "limit", "field")

    def __init__(self, ops: int, limit: int, field: str = "txn") -> None:
        self.ops = ops
        self.limit = limit
        super().__init__("etcdserver: too many operations in txn request", field)


class DuplicateKeyError(InvalidArgumentError):
    """A txn branch puts one key twice, or puts a key it also deletes."""

    fields: ClassVar[tuple[str, ...]] = ("key",)

    def __init__(self, key: bytes) -> None:
        self.key = key
        super().__init__("etcdserver: duplicate key given in txn request", "txn")


class MalformedRequestError(InvalidArgumentError):
    """Bytes on the wire that do not parse as the request message."""

    fields: ClassVar[tuple[str, ...]] = ("message_type", "detail")

    def __init__(self, message_type: str, detail: str = "") -> None:
        self.message_type = message_type
        self.detail = detail
        super().__init__(f"etcdserver: malformed {message_type}: {detail}".rstrip(": "), "request")


class KeyNotFoundError(InvalidArgumentError):
    """A put with ignore_value or ignore_lease names a key that does not exist."""

    fields: ClassVar[tuple[str, ...]] = ("key",)

    def __init__(self, key: bytes) -> None:
        self.key = key
        super().__init__("etcdserver: key not found", "key")


class ValueProvidedError(InvalidArgumentError):
    """A put sets ignore_value and also carries a value."""

    fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        super().__init__("etcdserver: value is provided", "value")


class LeaseProvidedError(InvalidArgumentError):
    """A put sets ignore_lease and also carries a lease."""

    fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        super().__init__("etcdserver: lease is provided", "lease")


class LeaseNotFoundError(KVError):
    """The named lease does not exist (never granted, revoked or expired)."""

    fields: ClassVar[tuple[str, ...]] = ("lease_id",)

    grpc_code = "NOT_FOUND"
    message = "etcdserver: requested lease not found"

    def __init__(self, lease_id: int) -> None:
        self.lease_id = lease_id
        super().__init__()


class LeaseExistsError(KVError):
    """A grant asked for a lease ID that is already in use."""

    fields: ClassVar[tuple[str, ...]] = ("lease_id",)

    grpc_code = "FAILED_PRECONDITION"
    message = "etcdserver: lease already exists"

    def __init__(self, lease_id: int) -> None:
        self.lease_id = lease_id
        super().__init__()


class LeaseTTLTooLargeError(KVError):
    """A grant asked for a TTL over the maximum."""

    fields: ClassVar[tuple[str, ...]] = ("ttl", "limit")

    grpc_code = "OUT_OF_RANGE"
    message = "etcdserver: too large lease TTL"

    def __init__(self, ttl: int, limit: int) -> None:
        self.ttl = ttl
        self.limit = limit
        super().__init__()


class StoreClosedError(KVError):
    """The store was closed; no request is served any more."""

    grpc_code = "UNAVAILABLE"
    message = "etcdserver: server stopped"


class UnavailableError(KVError):
    """The server cannot be reached (or went away during the call)."""

    grpc_code = "UNAVAILABLE"
    message = "etcdserver: the server is unavailable"


class DeadlineExceededError(KVError):
    """The call did not finish within its timeout."""

    grpc_code = "DEADLINE_EXCEEDED"
    message = "context deadline exceeded"


class CorruptionError(KVError):
    """The files on disk do not hold what the store wrote there."""

    grpc_code = "DATA_LOSS"
    message = "etcdserver: corrupt cluster"


class InternalError(KVError):
    """Applying a request failed for a reason that is the store's fault, not the caller's."""

    grpc_code = "INTERNAL"

    def __init__(self, cause: BaseException) -> None:
        self.cause = cause
        super().__init__(f"etcdserver: internal error applying request: {cause!r}")


class CacheMutationError(Exception):
    """A reader changed an object shared by the registry's watch cache (a programming error
    in that reader: cached objects are read-only; kvstore.registry.cache.mutation)."""

    def __init__(self, resource: str, key: str, diff: str) -> None:
        self.resource = resource
        self.key = key
        self.diff = diff
        super().__init__(f"a shared object of the {resource} watch cache was changed by its reader: {key}: {diff}")
