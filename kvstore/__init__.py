"""An MVCC key-value store on LMDB with etcd v3's data model, watches and leases.

store = kvstore.open("data")
await store.put(b"/registry/pods/default/web-0", b"...")
async for resp in store.watch(b"/registry/", prefix_range_end(b"/registry/")):
    ...
"""

from __future__ import annotations

import os
from typing import Any

from kvstore.errors import (
    CompactedError,
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


def open(path: str | os.PathLike[str], **options: Any) -> Store:
    """Open (or create) the store in directory `path`. See `Store` for the options."""
    return Store(path, **options)


__all__ = [
    "CompactedError",
    "CompactionResponse",
    "Compare",
    "CompareResult",
    "CompareTarget",
    "DeleteRangeRequest",
    "DeleteRangeResponse",
    "DuplicateKeyError",
    "EmptyKeyError",
    "Event",
    "EventType",
    "FutureRevisionError",
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
    "Store",
    "StoreClosedError",
    "TooManyOpsError",
    "TxnRequest",
    "TxnResponse",
    "ValueProvidedError",
    "WatchFilterType",
    "WatchResponse",
    "Watcher",
    "compare_create_revision",
    "compare_lease",
    "compare_mod_revision",
    "compare_value",
    "compare_version",
    "open",
    "prefix_range_end",
]
