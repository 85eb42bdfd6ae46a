"""The client API: one interface for the embedded store and the network client.

Code written against `KV` runs unchanged on `kvstore.open(path)` (in-process) and on
`kvstore.connect(endpoint)` (a `kvs serve` or etcd server): the same method names,
arguments, result records and exceptions. The resource layer's contract lives in
`apimachinery` (`apimachinery.client.ResourceClient`, `apimachinery.watch.Interface`),
where informers and controllers find it; the checks at the end of this module make mypy
prove that both backends of each contract keep it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from typing import TYPE_CHECKING, Protocol

from kvstore.messages import (
    CompactionResponse,
    Compare,
    DeleteRangeResponse,
    HashKVResponse,
    LeaseGrantResponse,
    LeaseKeepAliveResponse,
    LeaseLeasesResponse,
    LeaseRevokeResponse,
    LeaseTimeToLiveResponse,
    PutResponse,
    RangeResponse,
    RequestOp,
    SortOrder,
    SortTarget,
    StatusResponse,
    TxnResponse,
    WatchFilterType,
    WatchResponse,
)


class Watch(Protocol):
    """One watch: iterate it for WatchResponses; `cancel()` ends it."""

    watch_id: int
    cancel_reason: str

    @property
    def canceled(self) -> bool: ...

    def cancel(self, reason: str = "") -> None: ...

    def request_progress(self) -> None: ...

    async def wait_created(self) -> None: ...

    def __aiter__(self) -> AsyncIterator[WatchResponse]: ...

    async def __anext__(self) -> WatchResponse: ...


class KV(Protocol):
    """etcd's KV, Watch, Lease and (part of) Maintenance API."""

    async def put(
        self,
        key: bytes | str,
        value: bytes | str = b"",
        *,
        lease: int = 0,
        prev_kv: bool = False,
        ignore_value: bool = False,
        ignore_lease: bool = False,
    ) -> PutResponse: ...

    async def range(
        self,
        key: bytes | str,
        range_end: bytes | str = b"",
        *,
        limit: int = 0,
        revision: int = 0,
        sort_order: SortOrder | int = SortOrder.NONE,
        sort_target: SortTarget | int = SortTarget.KEY,
        serializable: bool = False,
        keys_only: bool = False,
        count_only: bool = False,
        min_mod_revision: int = 0,
        max_mod_revision: int = 0,
        min_create_revision: int = 0,
        max_create_revision: int = 0,
    ) -> RangeResponse: ...

    async def delete_range(
        self, key: bytes | str, range_end: bytes | str = b"", *, prev_kv: bool = False
    ) -> DeleteRangeResponse: ...

    async def txn(
        self,
        compare: Sequence[Compare] = (),
        success: Sequence[RequestOp] = (),
        failure: Sequence[RequestOp] = (),
    ) -> TxnResponse: ...

    async def compact(self, revision: int, *, physical: bool = False) -> CompactionResponse: ...

    def watch(
        self,
        key: bytes | str,
        range_end: bytes | str = b"",
        *,
        start_revision: int = 0,
        prev_kv: bool = False,
        filters: Iterable[WatchFilterType] = (),
        progress_notify: bool = False,
    ) -> Watch: ...

    async def lease_grant(self, ttl: int, id: int = 0) -> LeaseGrantResponse: ...

    async def lease_revoke(self, id: int) -> LeaseRevokeResponse: ...

    async def lease_keep_alive(self, id: int) -> LeaseKeepAliveResponse: ...

    async def lease_time_to_live(self, id: int, *, keys: bool = False) -> LeaseTimeToLiveResponse: ...

    async def leases(self) -> LeaseLeasesResponse: ...

    async def status(self) -> StatusResponse: ...

    async def hash_kv(self, revision: int = 0) -> HashKVResponse: ...

    def snapshot(self, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]: ...

    async def close(self) -> None: ...


if TYPE_CHECKING:
    from apimachinery import watch
    from apimachinery.client import ResourceClient
    from kvstore.client import Client
    from kvstore.client.resources import RemoteResourceWatch, ResourcesClient
    from kvstore.registry import Registry, ResourceWatch
    from kvstore.store import Store

    def _both_conform(store: Store, client: Client) -> tuple[KV, KV]:
        """Checked by mypy: the embedded store and the network client are both a KV."""
        return store, client

    def _both_serve_resources(registry: Registry, client: ResourcesClient) -> tuple[ResourceClient, ResourceClient]:
        """Checked by mypy: the embedded registry and the network client are both a ResourceClient."""
        return registry, client

    def _both_watch(local: ResourceWatch, remote: RemoteResourceWatch) -> tuple[watch.Interface, watch.Interface]:
        """Checked by mypy: both backends' resource watches are an apimachinery watch.Interface."""
        return local, remote
