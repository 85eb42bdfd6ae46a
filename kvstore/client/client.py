"""`kvstore.connect()`: the embedded Store's API, served by `kvs serve` (or any etcd v3 server).

Calls wait for the connection to be ready, so a server restart delays calls instead of
failing them. Reads that fail with UNAVAILABLE are retried (they are idempotent);
writes are not, because a write that reached the server may have been applied, so the
caller gets UnavailableError and decides. Errors arrive as the same exception classes
the embedded store raises.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

import grpc

from kvstore.client.resources import ResourcesClient
from kvstore.client.retry import channel_options, retry_while_unavailable
from kvstore.client.watch import RemoteWatcher, WatchManager, watch_filters
from kvstore.errors import (
    CorruptionError,
    DeadlineExceededError,
    InvalidArgumentError,
    KVError,
    UnavailableError,
)
from kvstore.messages import (
    CompactionRequest,
    CompactionResponse,
    Compare,
    DeleteRangeRequest,
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
    TxnRequest,
    TxnResponse,
    WatchFilterType,
)
from kvstore.pb import rpc_pb2, rpc_pb2_grpc
from kvstore.rpc import convert
from kvstore.rpc.status import from_status
from kvstore.validation import as_bytes, as_enum, as_int, put_request, range_request

_T = TypeVar("_T")


def _target(endpoints: Sequence[str]) -> str:
    """A gRPC target for one or more `host:port` / `http://host:port` endpoints."""
    hosts = []
    for e in endpoints:
        e = e.strip()
        if "://" in e:
            scheme, e = e.split("://", 1)
            if scheme != "http":
                raise ValueError(f"{scheme}:// endpoints are not supported; use http://")
        hosts.append(e.rstrip("/"))
    if not hosts:
        raise ValueError("no endpoint given")
    if len(hosts) == 1:
        return hosts[0]
    return "ipv4:" + ",".join(hosts)


def _error(exc: grpc.aio.AioRpcError) -> KVError:
    code = exc.code()
    if code == grpc.StatusCode.UNAVAILABLE:
        return UnavailableError(f"etcdclient: {exc.details()}")
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return DeadlineExceededError()
    return from_status(code, exc.details(), exc.trailing_metadata())


class Client:
    """A connection to a server; use `kvstore.connect(...)` to make one."""

    def __init__(self, endpoints: str | Sequence[str], *, timeout: float | None = None) -> None:
        self.endpoints = [endpoints] if isinstance(endpoints, str) else list(endpoints)
        self.timeout = timeout
        self._channel = grpc.aio.insecure_channel(
            _target(self.endpoints),
            options=[
                ("grpc.max_receive_message_length", -1),
                ("grpc.max_send_message_length", 2**31 - 1),
                ("grpc.lb_policy_name", "pick_first"),
                ("grpc.keepalive_time_ms", 30_000),
                *channel_options(),  # reconnect with the client's one backoff policy
                # Its own TCP connection, like a clientv3 Client: grpc would otherwise share one
                # connection between every channel of the process to the same address.
                ("grpc.use_local_subchannel_pool", 1),
            ],
        )
        self._kv = rpc_pb2_grpc.KVStub(self._channel)  # type: ignore[no-untyped-call]
        self._lease = rpc_pb2_grpc.LeaseStub(self._channel)  # type: ignore[no-untyped-call]
        self._maintenance = rpc_pb2_grpc.MaintenanceStub(self._channel)  # type: ignore[no-untyped-call]
        self._cluster = rpc_pb2_grpc.ClusterStub(self._channel)  # type: ignore[no-untyped-call]
        self._watches = WatchManager(rpc_pb2_grpc.WatchStub(self._channel))  # type: ignore[no-untyped-call]
        self.resources = ResourcesClient(self._channel, timeout=timeout)
        """The resource API (kube-apiserver's verbs) of the same server."""
        self._closed = False

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._watches.close()
        await self._channel.close()

    @property
    def watch_reconnects(self) -> int:
        """How many times the watch stream was re-established (for tests and metrics)."""
        return self._watches.reconnects

    # ------------------------------------------------------------ calls

    async def _call(self, method: Callable[..., Awaitable[_T]], request: Any) -> _T:
        if self._closed:
            raise KVError("etcdclient: client is closed")
        try:
            return await method(request, timeout=self.timeout, wait_for_ready=True)
        except grpc.aio.AioRpcError as exc:
            raise _error(exc) from None

    async def _read(self, method: Callable[..., Awaitable[_T]], request: Any) -> _T:
        """An idempotent call: retried while the server is unavailable."""
        return await retry_while_unavailable(lambda: self._call(method, request), UnavailableError, self.timeout)

    # ------------------------------------------------------------ KV

    async def put(
        self,
        key: bytes | str,
        value: bytes | str = b"",
        *,
        lease: int = 0,
        prev_kv: bool = False,
        ignore_value: bool = False,
        ignore_lease: bool = False,
    ) -> PutResponse:
        req = put_request(key, value, lease, prev_kv, ignore_value, ignore_lease)
        resp = await self._call(self._kv.Put, convert.put_to_pb(req))
        return convert.put_response_from_pb(resp)

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
    ) -> RangeResponse:
        req = range_request(
            key,
            range_end,
            limit,
            revision,
            sort_order,
            sort_target,
            serializable,
            keys_only,
            count_only,
            min_mod_revision,
            max_mod_revision,
            min_create_revision,
            max_create_revision,
        )
        resp = await self._read(self._kv.Range, convert.range_to_pb(req))
        return convert.range_response_from_pb(resp)

    async def delete_range(
        self, key: bytes | str, range_end: bytes | str = b"", *, prev_kv: bool = False
    ) -> DeleteRangeResponse:
        req = DeleteRangeRequest(as_bytes(key, "key"), as_bytes(range_end, "range_end"), bool(prev_kv))
        resp = await self._call(self._kv.DeleteRange, convert.delete_to_pb(req))
        return convert.delete_response_from_pb(resp)

    async def txn(
        self,
        compare: Sequence[Compare] = (),
        success: Sequence[RequestOp] = (),
        failure: Sequence[RequestOp] = (),
    ) -> TxnResponse:
        req = TxnRequest(tuple(compare), tuple(success), tuple(failure))
        try:
            pb = convert.txn_to_pb(req)
        except (TypeError, ValueError, AttributeError) as exc:
            raise InvalidArgumentError(f"malformed txn: {exc}", "txn") from None
        resp = await self._call(self._kv.Txn, pb)
        return convert.txn_response_from_pb(resp)

    async def compact(self, revision: int, *, physical: bool = False) -> CompactionResponse:
        req = CompactionRequest(as_int(revision, "revision"), bool(physical))
        resp = await self._call(self._kv.Compact, rpc_pb2.CompactionRequest(revision=req.revision, physical=physical))
        return convert.compaction_response_from_pb(resp)

    # ------------------------------------------------------------ Watch

    def watch(
        self,
        key: bytes | str,
        range_end: bytes | str = b"",
        *,
        start_revision: int = 0,
        prev_kv: bool = False,
        filters: Iterable[WatchFilterType] = (),
        progress_notify: bool = False,
    ) -> RemoteWatcher:
        """Watch [key, range_end) from `start_revision` (0: from the server's next write).

        The watch is created asynchronously; `await watcher.wait_created()` to be sure
        later writes are covered when start_revision is 0.
        """
        if self._closed:
            raise KVError("etcdclient: client is closed")
        w = RemoteWatcher(
            self._watches,
            as_bytes(key, "key"),
            as_bytes(range_end, "range_end"),
            as_int(start_revision, "start_revision"),
            prev_kv=bool(prev_kv),
            filters=watch_filters(as_enum(WatchFilterType, f, "filters") for f in filters),
            progress_notify=bool(progress_notify),
        )
        self._watches.add(w)
        return w

    # ------------------------------------------------------------ Lease

    async def lease_grant(self, ttl: int, id: int = 0) -> LeaseGrantResponse:
        req = rpc_pb2.LeaseGrantRequest(TTL=as_int(ttl, "ttl"), ID=as_int(id, "id"))
        resp = await self._call(self._lease.LeaseGrant, req)
        return convert.lease_grant_response_from_pb(resp)

    async def lease_revoke(self, id: int) -> LeaseRevokeResponse:
        resp = await self._call(self._lease.LeaseRevoke, rpc_pb2.LeaseRevokeRequest(ID=as_int(id, "id")))
        return convert.lease_revoke_response_from_pb(resp)

    async def lease_keep_alive(self, id: int) -> LeaseKeepAliveResponse:
        """Renew once over a keep-alive stream (etcd's KeepAliveOnce); TTL 0 means gone."""
        if self._closed:
            raise KVError("etcdclient: client is closed")
        call = self._lease.LeaseKeepAlive(timeout=self.timeout, wait_for_ready=True)
        try:
            await call.write(rpc_pb2.LeaseKeepAliveRequest(ID=as_int(id, "id")))
            resp = await call.read()
            if resp is grpc.aio.EOF:
                raise UnavailableError("etcdclient: keep-alive stream closed")
            await call.done_writing()
            return convert.lease_keep_alive_response_from_pb(resp)
        except grpc.aio.AioRpcError as exc:
            raise _error(exc) from None
        finally:
            call.cancel()

    async def lease_time_to_live(self, id: int, *, keys: bool = False) -> LeaseTimeToLiveResponse:
        req = rpc_pb2.LeaseTimeToLiveRequest(ID=as_int(id, "id"), keys=bool(keys))
        resp = await self._read(self._lease.LeaseTimeToLive, req)
        return convert.lease_time_to_live_response_from_pb(resp)

    async def leases(self) -> LeaseLeasesResponse:
        resp = await self._read(self._lease.LeaseLeases, rpc_pb2.LeaseLeasesRequest())
        return convert.lease_leases_response_from_pb(resp)

    # ------------------------------------------------------------ Maintenance and Cluster

    async def status(self) -> StatusResponse:
        m = await self._read(self._maintenance.Status, rpc_pb2.StatusRequest())
        return StatusResponse(
            convert.header_from_pb(m.header),
            m.version,
            m.dbSize,
            m.leader,
            m.raftIndex,
            m.raftTerm,
            m.raftAppliedIndex,
            m.dbSizeInUse,
            list(m.errors),
            m.isLearner,
        )

    async def hash_kv(self, revision: int = 0) -> HashKVResponse:
        m = await self._read(self._maintenance.HashKV, rpc_pb2.HashKVRequest(revision=as_int(revision, "revision")))
        return HashKVResponse(convert.header_from_pb(m.header), m.hash, m.compact_revision)

    async def member_list(self) -> list[rpc_pb2.Member]:
        m = await self._read(self._cluster.MemberList, rpc_pb2.MemberListRequest())
        return list(m.members)

    async def snapshot(self, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        """The server's database snapshot, checked against the SHA-256 the server sends last."""
        if self._closed:
            raise KVError("etcdclient: client is closed")
        call = self._maintenance.Snapshot(rpc_pb2.SnapshotRequest(), timeout=self.timeout, wait_for_ready=True)
        digest = hashlib.sha256()
        held: bytes | None = None
        try:
            async for m in call:
                if held is not None:
                    digest.update(held)
                    yield held
                held = m.blob
        except grpc.aio.AioRpcError as exc:
            raise _error(exc) from None
        if held is None or held != digest.digest():
            raise CorruptionError("etcdclient: snapshot checksum mismatch")


def connect(endpoints: str | Sequence[str], *, timeout: float | None = None) -> Client:
    """A client for `host:port` (or `http://host:port`, or several of them).

    `timeout` bounds each call; None (the default) lets calls wait for the server.
    """
    return Client(endpoints, timeout=timeout)
