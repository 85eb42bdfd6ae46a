"""The embedded store: etcd's KV, Watch and Lease API over LMDB, in-process.

Writes are validated, queued to the committer thread and acknowledged once durable;
reads run on the caller's thread against a consistent LMDB snapshot; watches are fed
by the hub after each commit. A Store belongs to the event loop that first uses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import tempfile
import zlib
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

from kvstore.errors import EmptyKeyError, StoreClosedError
from kvstore.lease import Lessor
from kvstore.messages import (
    CompactionRequest,
    CompactionResponse,
    Compare,
    DeleteRangeRequest,
    DeleteRangeResponse,
    Event,
    HashKVResponse,
    LeaseGrantRequest,
    LeaseGrantResponse,
    LeaseKeepAliveResponse,
    LeaseLeasesResponse,
    LeaseRevokeRequest,
    LeaseRevokeResponse,
    LeaseStatus,
    LeaseTimeToLiveResponse,
    PutResponse,
    RangeRequest,
    RangeResponse,
    RequestOp,
    ResponseHeader,
    SortOrder,
    SortTarget,
    StatusResponse,
    TxnRequest,
    TxnResponse,
    WatchFilterType,
    WriteRequest,
)
from kvstore.mvcc import read
from kvstore.mvcc.apply import Applier
from kvstore.mvcc.backend import Backend
from kvstore.mvcc.committer import Committer
from kvstore.mvcc.revision import rev_key, upper_bound
from kvstore.validation import (
    Limits,
    as_bytes,
    as_enum,
    as_int,
    check_delete,
    check_put,
    check_size,
    check_txn,
    put_request,
    put_size,
    range_request,
)
from kvstore.version import __version__
from kvstore.watch.history import HistoryReader
from kvstore.watch.hub import (
    DEFAULT_MAX_PENDING_BYTES,
    DEFAULT_MAX_PENDING_EVENTS,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_PROGRESS_NOTIFY_INTERVAL,
    WatchHub,
)
from kvstore.watch.watcher import Watcher

DEFAULT_MIN_LEASE_TTL = 2  # etcd's default: 1.5 x the election timeout, rounded up
_LOCAL_MEMBER_ID = b"member_id"
_LOCAL_CLUSTER_ID = b"cluster_id"


class Store:
    """An open store. Use `kvstore.open(path)` to get one."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fsync: bool = True,
        max_request_bytes: int | None = None,
        max_txn_ops: int | None = None,
        min_lease_ttl: int = DEFAULT_MIN_LEASE_TTL,
        watch_max_pending_events: int = DEFAULT_MAX_PENDING_EVENTS,
        watch_max_pending_bytes: int = DEFAULT_MAX_PENDING_BYTES,
        progress_notify_interval: float = DEFAULT_PROGRESS_NOTIFY_INTERVAL,
        watch_max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        map_size: int = 0,
    ) -> None:
        defaults = Limits()
        self.limits = Limits(
            max_request_bytes=max_request_bytes or defaults.max_request_bytes,
            max_txn_ops=max_txn_ops or defaults.max_txn_ops,
        )
        self.path = os.fspath(path)
        self._backend = Backend(self.path, fsync=fsync, map_size=map_size)
        self._applier = Applier(self._backend, min_lease_ttl=min_lease_ttl)
        self._applier.restore()
        self.member_id, self.cluster_id = self._identity()
        self._applier.header = ResponseHeader(self.cluster_id, self.member_id, 0, 0)
        self._hub = WatchHub(
            HistoryReader(self._backend, self._applier),
            self._applier.revision,
            header=self._applier.header,
            max_pending_events=watch_max_pending_events,
            max_pending_bytes=watch_max_pending_bytes,
            progress_notify_interval=progress_notify_interval,
            max_response_bytes=watch_max_response_bytes,
        )
        self._lessor = Lessor(self._applier.leases, self._revoke_expired)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._committer: Committer | None = None
        self._closed = False

    def _identity(self) -> tuple[int, int]:
        with self._backend.read() as txn:
            member = self._backend.get_local(txn, _LOCAL_MEMBER_ID)
            cluster = self._backend.get_local(txn, _LOCAL_CLUSTER_ID)
        if member is None or cluster is None:
            member = random.getrandbits(63) or 1
            cluster = random.getrandbits(63) or 1
            self._backend.put_local(_LOCAL_MEMBER_ID, member)
            self._backend.put_local(_LOCAL_CLUSTER_ID, cluster)
        return member, cluster

    # ------------------------------------------------------------ lifecycle

    def _running(self) -> Committer:
        committer = self._committer
        if committer is not None:
            return committer
        if self._closed:
            raise StoreClosedError()
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._committer = committer = Committer(self._backend, self._applier, loop, self._on_batch)
        self._lessor.start()
        return committer

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError()

    async def close(self) -> None:
        """Finish every queued write, end every watch, and close the files."""
        if self._closed:
            return
        self._closed = True
        await self._lessor.stop()
        if self._committer is not None:
            await self._committer.close()
        await self._hub.close()
        self._backend.close()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _on_batch(self, revision: int, events: list[Event], reqs: list[Any]) -> None:
        self._hub.notify(revision, events)

    @property
    def revision(self) -> int:
        """The revision of the last committed write."""
        return self._applier.committed_revision

    @property
    def compact_revision(self) -> int:
        return self._applier.compact_revision

    def _header(self, revision: int) -> ResponseHeader:
        return self._applier.header.at(revision)

    def header(self, revision: int | None = None) -> ResponseHeader:
        """A response header at `revision` (default: the current revision)."""
        return self._header(self.revision if revision is None else revision)

    @property
    def watch_revision(self) -> int:
        """Every event up to this revision has been handed to the watchers."""
        return self._hub.revision

    async def _write(self, req: WriteRequest, size: int) -> Any:
        self._check_open()
        return await self._running().submit(req, size)

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
        if not req.key:
            raise EmptyKeyError()
        if ignore_value or ignore_lease:
            check_put(req)
        size = put_size(req)
        if size > self.limits.max_request_bytes:
            check_size(size, self.limits)
        result: PutResponse = await self._write(req, size)
        return result

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
        self._check_open()
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
        if not req.key:
            raise EmptyKeyError()
        return self.range_now(req)

    def range_now(self, req: RangeRequest) -> RangeResponse:
        """Serve a validated range request synchronously from a snapshot."""
        applier = self._applier
        index = applier.index
        current = applier.committed_revision
        with self._backend.read() as txn:
            with index.lock:
                rev = read.check_revision(req.revision, current, applier.compact_revision)
                pairs = list(index.visible(req.key, req.range_end, upper_bound(rev)))
            kvs, count, more = read.finish_range(txn, self._backend.history_db, req, pairs)
        return RangeResponse(self._header(current), kvs, more, count)

    async def delete_range(
        self, key: bytes | str, range_end: bytes | str = b"", *, prev_kv: bool = False
    ) -> DeleteRangeResponse:
        req = DeleteRangeRequest(as_bytes(key, "key"), as_bytes(range_end, "range_end"), bool(prev_kv))
        check_delete(req)
        size = check_size(len(req.key) + len(req.range_end) + 16, self.limits)
        result: DeleteRangeResponse = await self._write(req, size)
        return result

    async def txn(
        self,
        compare: Sequence[Compare] = (),
        success: Sequence[RequestOp] = (),
        failure: Sequence[RequestOp] = (),
    ) -> TxnResponse:
        req = TxnRequest(tuple(compare), tuple(success), tuple(failure))
        size = check_size(check_txn(req, self.limits), self.limits)
        result: TxnResponse = await self._write(req, size)
        return result

    async def compact(self, revision: int, *, physical: bool = False) -> CompactionResponse:
        """Discard history below `revision`, keeping each live key's latest version."""
        req = CompactionRequest(as_int(revision, "revision"), bool(physical))
        result: CompactionResponse = await self._write(req, 16)
        return result

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
        watch_id: int | None = None,
    ) -> Watcher:
        """Watch [key, range_end) from `start_revision` (0: from the next write on).

        Raises CompactedError if start_revision is below the compact revision.
        """
        self._check_open()
        self._running()
        key_b = as_bytes(key, "key")
        if not key_b:
            key_b = b"\0"  # an empty key watches from the start of the keyspace
        return self._hub.watch(
            key_b,
            as_bytes(range_end, "range_end"),
            start_revision=as_int(start_revision, "start_revision"),
            prev_kv=bool(prev_kv),
            filters=[as_enum(WatchFilterType, f, "filters") for f in filters],
            progress_notify=bool(progress_notify),
            watch_id=watch_id,
        )

    # ------------------------------------------------------------ Lease

    async def lease_grant(self, ttl: int, id: int = 0) -> LeaseGrantResponse:
        ttl = as_int(ttl, "ttl")
        lease_id = as_int(id, "id")  # etcd takes any non-zero ID, negative ones included
        if lease_id == 0:
            leases = self._applier.leases
            lease_id = random.getrandbits(63)
            while lease_id == 0 or lease_id in leases:
                lease_id = random.getrandbits(63)
        result: LeaseGrantResponse = await self._write(LeaseGrantRequest(ttl, lease_id), 16)
        self._lessor.granted(result.id, result.ttl)
        return result

    async def lease_revoke(self, id: int) -> LeaseRevokeResponse:
        lease_id = as_int(id, "id")
        result: LeaseRevokeResponse = await self._write(LeaseRevokeRequest(lease_id), 16)
        self._lessor.revoked(lease_id)
        return result

    async def _revoke_expired(self, lease_id: int) -> object:
        return await self._write(LeaseRevokeRequest(lease_id), 16)

    async def lease_keep_alive(self, id: int) -> LeaseKeepAliveResponse:
        """Renew a lease once; ttl 0 means it no longer exists."""
        self._check_open()
        self._running()
        lease_id = as_int(id, "id")
        ttl = self._lessor.renew(lease_id)
        return LeaseKeepAliveResponse(self._header(self.revision), lease_id, ttl)

    async def lease_time_to_live(self, id: int, *, keys: bool = False) -> LeaseTimeToLiveResponse:
        self._check_open()
        self._running()
        lease_id = as_int(id, "id")
        header = self._header(self.revision)
        with self._applier.index.lock:
            lease = self._applier.leases.get(lease_id)
            attached = sorted(lease.keys) if lease is not None and keys else []
        remaining = self._lessor.remaining(lease_id)
        if lease is None or remaining < 0:
            return LeaseTimeToLiveResponse(header, lease_id, -1)
        return LeaseTimeToLiveResponse(header, lease_id, remaining, lease.ttl, attached)

    # ------------------------------------------------------------ Maintenance

    async def status(self) -> StatusResponse:
        self._check_open()
        backend = self._backend
        applier = self._applier
        header = self._header(self.revision)
        db_size = os.path.getsize(os.path.join(self.path, "data.mdb"))
        applied = applier.applied_index
        return StatusResponse(
            header, __version__, db_size, self.member_id, applied, header.raft_term, applied, backend.used_bytes()
        )

    async def hash_kv(self, revision: int = 0) -> HashKVResponse:
        """CRC-32 of every history row up to `revision` (0: the current one).

        Members holding the same history give the same hash. The rows hashed are the
        store's own encoding, so the figure is not comparable with etcd's.
        """
        self._check_open()
        current = self.revision
        rev = read.check_revision(as_int(revision, "revision"), current, self.compact_revision)
        compact = self.compact_revision
        crc = await asyncio.get_running_loop().run_in_executor(None, self._hash_history, rev)
        return HashKVResponse(self._header(current), crc, compact)

    def _hash_history(self, revision: int) -> int:
        crc = 0
        end = rev_key(revision + 1)
        with self._backend.read() as txn:
            for raw_rev, raw in txn.cursor(db=self._backend.history_db):
                if raw_rev >= end:
                    break
                crc = zlib.crc32(raw, zlib.crc32(raw_rev, crc))
        return crc

    @contextlib.asynccontextmanager
    async def snapshot_file(self) -> AsyncIterator[str]:
        """A consistent, compacted copy of the whole database as an LMDB file, for the
        duration of the `async with` block. Writes go on while the copy is taken."""
        self._check_open()
        tmp = tempfile.mkdtemp(prefix="snapshot-", dir=self.path)
        try:
            await asyncio.get_running_loop().run_in_executor(None, self._backend.copy_to, tmp)
            yield os.path.join(tmp, "data.mdb")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    async def snapshot(self, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        """The bytes of a consistent copy of the database (see `snapshot_file`), in chunks."""
        loop = asyncio.get_running_loop()
        async with self.snapshot_file() as path:
            with open(path, "rb") as f:
                while chunk := await loop.run_in_executor(None, f.read, chunk_size):
                    yield chunk

    async def leases(self) -> LeaseLeasesResponse:
        self._check_open()
        with self._applier.index.lock:
            ids = sorted(self._applier.leases.leases)
        return LeaseLeasesResponse(self._header(self.revision), [LeaseStatus(i) for i in ids])
