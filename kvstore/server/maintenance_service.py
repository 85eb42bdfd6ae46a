"""etcdserverpb.Maintenance: status, hashes, snapshots, alarms, defragment."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator

import grpc

from kvstore.pb import rpc_pb2
from kvstore.rpc.convert import header_to_pb
from kvstore.store import Store

_CHUNK = 32 * 1024  # etcd's snapshot chunk size


class MaintenanceService:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def Status(self, request: rpc_pb2.StatusRequest, context: grpc.aio.ServicerContext) -> rpc_pb2.StatusResponse:
        s = await self.store.status()
        return rpc_pb2.StatusResponse(
            header=header_to_pb(s.header),
            version=s.version,
            dbSize=s.db_size,
            leader=s.leader,
            raftIndex=s.raft_index,
            raftTerm=s.raft_term,
            raftAppliedIndex=s.raft_applied_index,
            errors=s.errors,
            dbSizeInUse=s.db_size_in_use,
            isLearner=s.is_learner,
        )

    async def HashKV(self, request: rpc_pb2.HashKVRequest, context: grpc.aio.ServicerContext) -> rpc_pb2.HashKVResponse:
        h = await self.store.hash_kv(request.revision)
        return rpc_pb2.HashKVResponse(header=header_to_pb(h.header), hash=h.hash, compact_revision=h.compact_revision)

    async def Hash(self, request: rpc_pb2.HashRequest, context: grpc.aio.ServicerContext) -> rpc_pb2.HashResponse:
        h = await self.store.hash_kv(0)
        return rpc_pb2.HashResponse(header=header_to_pb(h.header), hash=h.hash)

    async def Snapshot(
        self, request: rpc_pb2.SnapshotRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[rpc_pb2.SnapshotResponse]:
        """The database file in chunks, then its SHA-256 as the last blob, as etcd sends it."""
        header = header_to_pb(self.store.header())
        loop = asyncio.get_running_loop()
        async with self.store.snapshot_file() as path:
            remaining = os.path.getsize(path)
            digest = hashlib.sha256()
            with open(path, "rb") as f:
                while chunk := await loop.run_in_executor(None, f.read, _CHUNK):
                    remaining -= len(chunk)
                    digest.update(chunk)
                    yield rpc_pb2.SnapshotResponse(header=header, remaining_bytes=remaining + 32, blob=chunk)
        yield rpc_pb2.SnapshotResponse(header=header, remaining_bytes=0, blob=digest.digest())

    async def Alarm(self, request: rpc_pb2.AlarmRequest, context: grpc.aio.ServicerContext) -> rpc_pb2.AlarmResponse:
        # The LMDB map grows by itself, so there is no NOSPACE alarm to raise; nothing is ever armed.
        return rpc_pb2.AlarmResponse(header=header_to_pb(self.store.header()), alarms=[])

    async def Defragment(
        self, request: rpc_pb2.DefragmentRequest, context: grpc.aio.ServicerContext
    ) -> rpc_pb2.DefragmentResponse:
        # LMDB reuses freed pages in place; there is nothing to rewrite. See docs/server.md.
        return rpc_pb2.DefragmentResponse(header=header_to_pb(self.store.header()))

    async def MoveLeader(self, request: object, context: grpc.aio.ServicerContext) -> None:
        await context.abort(
            grpc.StatusCode.FAILED_PRECONDITION, "etcdserver: a single-member server has no other leader to move to"
        )
