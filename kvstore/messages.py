"""Requests, responses and records of the key-value API, with etcd v3's names and fields.

Requests are immutable tuples (they double as the replicated commands); responses are
slotted dataclasses. Keys and values are bytes everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import NamedTuple, TypeAlias


class SortOrder(IntEnum):
    NONE = 0
    ASCEND = 1
    DESCEND = 2


class SortTarget(IntEnum):
    KEY = 0
    VERSION = 1
    CREATE = 2
    MOD = 3
    VALUE = 4


class CompareResult(IntEnum):
    EQUAL = 0
    GREATER = 1
    LESS = 2
    NOT_EQUAL = 3


class CompareTarget(IntEnum):
    VERSION = 0
    CREATE = 1
    MOD = 2
    VALUE = 3
    LEASE = 4


class EventType(IntEnum):
    PUT = 0
    DELETE = 1


class WatchFilterType(IntEnum):
    """What a watcher does not want to see (etcd's WatchCreateRequest.FilterType)."""

    NOPUT = 0
    NODELETE = 1


class KeyValue(NamedTuple):
    """One version of a key. A DELETE event's kv has only `key` and `mod_revision` set."""

    key: bytes
    create_revision: int = 0
    mod_revision: int = 0
    version: int = 0
    value: bytes = b""
    lease: int = 0


class Event(NamedTuple):
    type: EventType
    kv: KeyValue
    prev_kv: KeyValue | None = None


class ResponseHeader(NamedTuple):
    cluster_id: int = 0
    member_id: int = 0
    revision: int = 0
    raft_term: int = 0

    def at(self, revision: int) -> ResponseHeader:
        """This header with another revision (cheaper than `_replace`)."""
        return ResponseHeader(self.cluster_id, self.member_id, revision, self.raft_term)


# ---------------------------------------------------------------- requests


class RangeRequest(NamedTuple):
    key: bytes
    range_end: bytes = b""
    limit: int = 0
    revision: int = 0
    sort_order: SortOrder = SortOrder.NONE
    sort_target: SortTarget = SortTarget.KEY
    serializable: bool = False
    keys_only: bool = False
    count_only: bool = False
    min_mod_revision: int = 0
    max_mod_revision: int = 0
    min_create_revision: int = 0
    max_create_revision: int = 0


class PutRequest(NamedTuple):
    key: bytes
    value: bytes = b""
    lease: int = 0
    prev_kv: bool = False
    ignore_value: bool = False
    ignore_lease: bool = False


class DeleteRangeRequest(NamedTuple):
    key: bytes
    range_end: bytes = b""
    prev_kv: bool = False


class Compare(NamedTuple):
    """A txn guard: the target field of every key in [key, range_end) compared to a value.

    Only the field named by `target` is read. Build one with `compare_value`,
    `compare_version`, `compare_create_revision`, `compare_mod_revision` or `compare_lease`.
    """

    result: CompareResult
    target: CompareTarget
    key: bytes
    version: int = 0
    create_revision: int = 0
    mod_revision: int = 0
    value: bytes = b""
    lease: int = 0
    range_end: bytes = b""


class TxnRequest(NamedTuple):
    compare: tuple[Compare, ...] = ()
    success: tuple[RequestOp, ...] = ()
    failure: tuple[RequestOp, ...] = ()


RequestOp: TypeAlias = RangeRequest | PutRequest | DeleteRangeRequest | TxnRequest


class CompactionRequest(NamedTuple):
    revision: int
    physical: bool = False


class LeaseGrantRequest(NamedTuple):
    ttl: int
    id: int = 0


class LeaseRevokeRequest(NamedTuple):
    id: int


WriteRequest: TypeAlias = (
    PutRequest | DeleteRangeRequest | TxnRequest | CompactionRequest | LeaseGrantRequest | LeaseRevokeRequest
)

_COMPARE_OPS = {
    "=": CompareResult.EQUAL,
    "==": CompareResult.EQUAL,
    "!=": CompareResult.NOT_EQUAL,
    ">": CompareResult.GREATER,
    "<": CompareResult.LESS,
}


def _compare_result(op: str) -> CompareResult:
    try:
        return _COMPARE_OPS[op]
    except KeyError:
        raise ValueError(f"compare operator must be one of {sorted(_COMPARE_OPS)}, got {op!r}") from None


def compare_value(key: bytes, op: str, value: bytes, range_end: bytes = b"") -> Compare:
    return Compare(_compare_result(op), CompareTarget.VALUE, key, value=value, range_end=range_end)


def compare_version(key: bytes, op: str, version: int, range_end: bytes = b"") -> Compare:
    return Compare(_compare_result(op), CompareTarget.VERSION, key, version=version, range_end=range_end)


def compare_create_revision(key: bytes, op: str, revision: int, range_end: bytes = b"") -> Compare:
    return Compare(_compare_result(op), CompareTarget.CREATE, key, create_revision=revision, range_end=range_end)


def compare_mod_revision(key: bytes, op: str, revision: int, range_end: bytes = b"") -> Compare:
    return Compare(_compare_result(op), CompareTarget.MOD, key, mod_revision=revision, range_end=range_end)


def compare_lease(key: bytes, op: str, lease: int, range_end: bytes = b"") -> Compare:
    return Compare(_compare_result(op), CompareTarget.LEASE, key, lease=lease, range_end=range_end)


def prefix_range_end(prefix: bytes) -> bytes:
    """The range_end that makes [prefix, range_end) cover every key starting with prefix.

    Like etcd's GetPrefixRangeEnd: increment the last byte below 0xff, dropping trailing
    0xff bytes; a prefix of only 0xff bytes (or empty) gives b"\\0", meaning "to the end".
    """
    end = bytearray(prefix)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return b"\0"


# ---------------------------------------------------------------- responses


@dataclass(slots=True)
class RangeResponse:
    header: ResponseHeader
    kvs: list[KeyValue]
    more: bool
    count: int


@dataclass(slots=True)
class PutResponse:
    header: ResponseHeader
    prev_kv: KeyValue | None = None


@dataclass(slots=True)
class DeleteRangeResponse:
    header: ResponseHeader
    deleted: int = 0
    prev_kvs: list[KeyValue] = field(default_factory=list)


@dataclass(slots=True)
class TxnResponse:
    header: ResponseHeader
    succeeded: bool
    responses: list[ResponseOp] = field(default_factory=list)


ResponseOp: TypeAlias = RangeResponse | PutResponse | DeleteRangeResponse | TxnResponse


@dataclass(slots=True)
class CompactionResponse:
    header: ResponseHeader


@dataclass(slots=True)
class LeaseGrantResponse:
    header: ResponseHeader
    id: int
    ttl: int
    error: str = ""


@dataclass(slots=True)
class LeaseRevokeResponse:
    header: ResponseHeader


@dataclass(slots=True)
class LeaseKeepAliveResponse:
    """ttl is 0 when the lease does not exist (expired or revoked), as etcd answers."""

    header: ResponseHeader
    id: int
    ttl: int


@dataclass(slots=True)
class LeaseTimeToLiveResponse:
    """ttl is -1 when the lease does not exist, as etcd answers."""

    header: ResponseHeader
    id: int
    ttl: int
    granted_ttl: int = 0
    keys: list[bytes] = field(default_factory=list)


class LeaseStatus(NamedTuple):
    id: int


@dataclass(slots=True)
class LeaseLeasesResponse:
    header: ResponseHeader
    leases: list[LeaseStatus] = field(default_factory=list)


@dataclass(slots=True)
class StatusResponse:
    """etcd's Maintenance.Status: the member's view of itself."""

    header: ResponseHeader
    version: str
    db_size: int
    leader: int
    raft_index: int
    raft_term: int
    raft_applied_index: int
    db_size_in_use: int
    errors: list[str] = field(default_factory=list)
    is_learner: bool = False


@dataclass(slots=True)
class HashKVResponse:
    """A checksum of the history up to a revision: equal on members that agree."""

    header: ResponseHeader
    hash: int
    compact_revision: int


WriteResponse: TypeAlias = (
    PutResponse | DeleteRangeResponse | TxnResponse | CompactionResponse | LeaseGrantResponse | LeaseRevokeResponse
)


@dataclass(slots=True)
class WatchResponse:
    """One batch of a watch stream: events of one or more whole revisions, in order.

    A response with no events and `canceled` false is a progress notification: the
    watcher has seen every event up to `header.revision`.
    """

    header: ResponseHeader
    watch_id: int
    events: tuple[Event, ...] = ()
    created: bool = False
    canceled: bool = False
    compact_revision: int = 0
    cancel_reason: str = ""
    fragment: bool = False

    @property
    def is_progress_notify(self) -> bool:
        return not self.events and not self.canceled and not self.created
