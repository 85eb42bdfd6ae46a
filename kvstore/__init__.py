"""An MVCC key-value store on LMDB with etcd v3's data model, watches and leases.

store = kvstore.open("data")
await store.put(b"/registry/pods/default/web-0", b"...")
async for resp in store.watch(b"/registry/", prefix_range_end(b"/registry/")):
    ...
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from kvstore.errors import (
    CompactedError,
    CorruptionError,
    DeadlineExceededError,
    DuplicateKeyError,
    EmptyKeyError,
    FutureRevisionError,
    InternalError,
    InvalidArgumentError,
    KeyNotFoundError,
    KVError,
    LeaseExistsError,
    LeaseNotFoundError,
    LeaseProvidedError,
    LeaseTTLTooLargeError,
    RequestTooLargeError,
    StoreClosedError,
    TooManyOpsError,
    UnavailableError,
    ValueProvidedError,
)
from kvstore.messages import (
    CompactionResponse,
    Compare,
    CompareResult,
    CompareTarget,
    DeleteRangeRequest,
    DeleteRangeResponse,
    Event,
    EventType,
    HashKVResponse,
    KeyValue,
    LeaseGrantResponse,
    LeaseKeepAliveResponse,
    LeaseLeasesResponse,
    LeaseRevokeResponse,
    LeaseStatus,
    LeaseTimeToLiveResponse,
    PutRequest,
    PutResponse,
    RangeRequest,
    RangeResponse,
    ResponseHeader,
    SortOrder,
    SortTarget,
    StatusResponse,
    TxnRequest,
    TxnResponse,
    WatchFilterType,
    WatchResponse,
    compare_create_revision,
    compare_lease,
    compare_mod_revision,
    compare_value,
    compare_version,
    prefix_range_end,
)
from kvstore.store import Store
from kvstore.watch.watcher import Watcher

if TYPE_CHECKING:
    from kvstore.client import Client


def open(path: str | os.PathLike[str], **options: Any) -> Store:
    """Open (or create) the store in directory `path`. See `Store` for the options."""
    return Store(path, **options)


def connect(endpoints: str | Sequence[str], *, timeout: float | None = None) -> Client:
    """A network client for `kvs serve` (or any etcd v3 server) with the Store's API."""
    from kvstore.client import connect as _connect  # gRPC is loaded only by those who use it

    return _connect(endpoints, timeout=timeout)


__all__ = [
    "CompactedError",
    "CompactionResponse",
    "Compare",
    "CompareResult",
    "CompareTarget",
    "CorruptionError",
    "DeadlineExceededError",
    "DeleteRangeRequest",
    "DeleteRangeResponse",
    "DuplicateKeyError",
    "EmptyKeyError",
    "Event",
    "EventType",
    "FutureRevisionError",
    "HashKVResponse",
    "InternalError",
    "InvalidArgumentError",
    "KVError",
    "KeyNotFoundError",
    "KeyValue",
    "LeaseExistsError",
    "LeaseGrantResponse",
    "LeaseKeepAliveResponse",
    "LeaseLeasesResponse",
    "LeaseNotFoundError",
    "LeaseProvidedError",
    "LeaseRevokeResponse",
    "LeaseStatus",
    "LeaseTTLTooLargeError",
    "LeaseTimeToLiveResponse",
    "PutRequest",
    "PutResponse",
    "RangeRequest",
    "RangeResponse",
    "RequestTooLargeError",
    "ResponseHeader",
    "SortOrder",
    "SortTarget",
    "StatusResponse",
    "Store",
    "StoreClosedError",
    "TooManyOpsError",
    "TxnRequest",
    "TxnResponse",
    "UnavailableError",
    "ValueProvidedError",
    "WatchFilterType",
    "WatchResponse",
    "Watcher",
    "compare_create_revision",
    "compare_lease",
    "compare_mod_revision",
    "compare_value",
    "compare_version",
    "connect",
    "open",
    "prefix_range_end",
]
