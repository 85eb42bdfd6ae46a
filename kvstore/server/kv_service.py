"""etcdserverpb.KV: Range, Put, DeleteRange, Txn, Compact."""

from __future__ import annotations

import grpc

from kvstore.pb import rpc_pb2
from kvstore.rpc import convert
from kvstore.store import Store


class KVService:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def Range(self, request: rpc_pb2.RangeRequest, context: grpc.aio.ServicerContext) -> rpc_pb2.RangeResponse:
        r = request
        resp = await self.store.range(
            r.key,
            r.range_end,
            limit=r.limit,
            revision=r.revision,
            sort_order=r.sort_order,
            sort_target=r.sort_target,
            serializable=r.serializable,
            keys_only=r.keys_only,
            count_only=r.count_only,
            min_mod_revision=r.min_mod_revision,
            max_mod_revision=r.max_mod_revision,
            min_create_revision=r.min_create_revision,
            max_create_revision=r.max_create_revision,
        )
        return convert.range_response_to_pb(resp)

    async def Put(self, request: rpc_pb2.PutRequest, context: grpc.aio.ServicerContext) -> rpc_pb2.PutResponse:
        r = request
        resp = await self.store.put(
            r.key,
            r.value,
            lease=r.lease,
            prev_kv=r.prev_kv,
            ignore_value=r.ignore_value,
            ignore_lease=r.ignore_lease,
        )
        return convert.put_response_to_pb(resp)

    async def DeleteRange(
        self, request: rpc_pb2.DeleteRangeRequest, context: grpc.aio.ServicerContext
    ) -> rpc_pb2.DeleteRangeResponse:
        resp = await self.store.delete_range(request.key, request.range_end, prev_kv=request.prev_kv)
        return convert.delete_response_to_pb(resp)

    async def Txn(self, request: rpc_pb2.TxnRequest, context: grpc.aio.ServicerContext) -> rpc_pb2.TxnResponse:
        txn = convert.txn_from_pb(request)
        resp = await self.store.txn(txn.compare, txn.success, txn.failure)
        return convert.txn_response_to_pb(resp)

    async def Compact(
        self, request: rpc_pb2.CompactionRequest, context: grpc.aio.ServicerContext
    ) -> rpc_pb2.CompactionResponse:
        resp = await self.store.compact(request.revision, physical=request.physical)
        return convert.compaction_response_to_pb(resp)
