"""etcdserverpb.Lease: grant, revoke, keep-alive stream, time-to-live, list."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from kvstore.pb import rpc_pb2
from kvstore.rpc.convert import header_to_pb
from kvstore.store import Store


class LeaseService:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def LeaseGrant(
        self, request: rpc_pb2.LeaseGrantRequest, context: grpc.aio.ServicerContext
    ) -> rpc_pb2.LeaseGrantResponse:
        resp = await self.store.lease_grant(request.TTL, request.ID)
        return rpc_pb2.LeaseGrantResponse(header=header_to_pb(resp.header), ID=resp.id, TTL=resp.ttl)

    async def LeaseRevoke(
        self, request: rpc_pb2.LeaseRevokeRequest, context: grpc.aio.ServicerContext
    ) -> rpc_pb2.LeaseRevokeResponse:
        resp = await self.store.lease_revoke(request.ID)
        return rpc_pb2.LeaseRevokeResponse(header=header_to_pb(resp.header))

    async def LeaseKeepAlive(
        self, request_iterator: AsyncIterator[rpc_pb2.LeaseKeepAliveRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[rpc_pb2.LeaseKeepAliveResponse]:
        """One response per request: the renewed TTL, or TTL 0 for a lease that is gone."""
        async for request in request_iterator:
            resp = await self.store.lease_keep_alive(request.ID)
            yield rpc_pb2.LeaseKeepAliveResponse(header=header_to_pb(resp.header), ID=resp.id, TTL=resp.ttl)

    async def LeaseTimeToLive(
        self, request: rpc_pb2.LeaseTimeToLiveRequest, context: grpc.aio.ServicerContext
    ) -> rpc_pb2.LeaseTimeToLiveResponse:
        resp = await self.store.lease_time_to_live(request.ID, keys=request.keys)
        return rpc_pb2.LeaseTimeToLiveResponse(
            header=header_to_pb(resp.header), ID=resp.id, TTL=resp.ttl, grantedTTL=resp.granted_ttl, keys=resp.keys
        )

    async def LeaseLeases(
        self, request: rpc_pb2.LeaseLeasesRequest, context: grpc.aio.ServicerContext
    ) -> rpc_pb2.LeaseLeasesResponse:
        resp = await self.store.leases()
        return rpc_pb2.LeaseLeasesResponse(
            header=header_to_pb(resp.header), leases=[rpc_pb2.LeaseStatus(ID=s.id) for s in resp.leases]
        )
