"""etcdserverpb.Cluster: the member list of a single-node server.

Membership changes need a Raft cluster; until `kvs cluster up` exists they answer
UNIMPLEMENTED with a message saying so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import grpc

from kvstore.pb import rpc_pb2
from kvstore.rpc.convert import header_to_pb
from kvstore.store import Store

_SINGLE_NODE = "etcdserver: membership changes need a cluster; this server runs a single member"


@dataclass(slots=True)
class MemberInfo:
    name: str
    peer_urls: list[str] = field(default_factory=list)
    client_urls: list[str] = field(default_factory=list)


class ClusterService:
    def __init__(self, store: Store, member: MemberInfo) -> None:
        self.store = store
        self.member = member

    def _members(self) -> list[rpc_pb2.Member]:
        m = self.member
        return [rpc_pb2.Member(ID=self.store.member_id, name=m.name, peerURLs=m.peer_urls, clientURLs=m.client_urls)]

    async def MemberList(
        self, request: rpc_pb2.MemberListRequest, context: grpc.aio.ServicerContext
    ) -> rpc_pb2.MemberListResponse:
        header = header_to_pb(self.store.header(0))  # etcd's cluster headers carry no revision
        return rpc_pb2.MemberListResponse(header=header, members=self._members())

    async def _single_node(self, context: grpc.aio.ServicerContext) -> None:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, _SINGLE_NODE)

    async def MemberAdd(self, request: object, context: grpc.aio.ServicerContext) -> None:
        await self._single_node(context)

    async def MemberRemove(self, request: object, context: grpc.aio.ServicerContext) -> None:
        await self._single_node(context)

    async def MemberUpdate(self, request: object, context: grpc.aio.ServicerContext) -> None:
        await self._single_node(context)

    async def MemberPromote(self, request: object, context: grpc.aio.ServicerContext) -> None:
        await self._single_node(context)
