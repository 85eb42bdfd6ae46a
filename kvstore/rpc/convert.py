"""Conversion between the store's records (kvstore.messages) and etcd's protobuf messages.

Requests arriving from the network are checked for enum values here (an unknown value is
an InvalidArgumentError naming the field); everything else is checked by
kvstore.validation, exactly as for in-process callers.
"""

from __future__ import annotations

from typing import Any, cast

from kvstore.errors import InvalidArgumentError
from kvstore.messages import (
    CompactionRequest,
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
    RequestOp,
    ResponseHeader,
    ResponseOp,
    SortOrder,
    SortTarget,
    TxnRequest,
    TxnResponse,
)
from kvstore.pb import kv_pb2, rpc_pb2
from kvstore.validation import as_enum

# ---------------------------------------------------------------- records


def kv_to_pb(kv: KeyValue) -> kv_pb2.KeyValue:
    return kv_pb2.KeyValue(
        key=kv.key,
        create_revision=kv.create_revision,
        mod_revision=kv.mod_revision,
        version=kv.version,
        value=kv.value,
        lease=kv.lease,
    )


def kv_from_pb(m: kv_pb2.KeyValue) -> KeyValue:
    return KeyValue(m.key, m.create_revision, m.mod_revision, m.version, m.value, m.lease)


def header_to_pb(h: ResponseHeader) -> rpc_pb2.ResponseHeader:
    return rpc_pb2.ResponseHeader(
        cluster_id=h.cluster_id, member_id=h.member_id, revision=h.revision, raft_term=h.raft_term
    )


def header_from_pb(m: rpc_pb2.ResponseHeader) -> ResponseHeader:
    return ResponseHeader(m.cluster_id, m.member_id, m.revision, m.raft_term)


def event_from_pb(m: kv_pb2.Event) -> Event:
    prev = kv_from_pb(m.prev_kv) if m.HasField("prev_kv") else None
    return Event(EventType(m.type), kv_from_pb(m.kv), prev)


# ---------------------------------------------------------------- requests, network -> store


def range_from_pb(m: rpc_pb2.RangeRequest) -> RangeRequest:
    return RangeRequest(
        m.key,
        m.range_end,
        m.limit,
        m.revision,
        as_enum(SortOrder, m.sort_order, "sort_order"),
        as_enum(SortTarget, m.sort_target, "sort_target"),
        m.serializable,
        m.keys_only,
        m.count_only,
        m.min_mod_revision,
        m.max_mod_revision,
        m.min_create_revision,
        m.max_create_revision,
    )


def put_from_pb(m: rpc_pb2.PutRequest) -> PutRequest:
    return PutRequest(m.key, m.value, m.lease, m.prev_kv, m.ignore_value, m.ignore_lease)


def delete_from_pb(m: rpc_pb2.DeleteRangeRequest) -> DeleteRangeRequest:
    return DeleteRangeRequest(m.key, m.range_end, m.prev_kv)


def compare_from_pb(m: rpc_pb2.Compare) -> Compare:
    return Compare(
        as_enum(CompareResult, m.result, "compare.result"),
        as_enum(CompareTarget, m.target, "compare.target"),
        m.key,
        m.version,
        m.create_revision,
        m.mod_revision,
        m.value,
        m.lease,
        m.range_end,
    )


def op_from_pb(m: rpc_pb2.RequestOp) -> RequestOp:
    which = m.WhichOneof("request")
    if which == "request_range":
        return range_from_pb(m.request_range)
    if which == "request_put":
        return put_from_pb(m.request_put)
    if which == "request_delete_range":
        return delete_from_pb(m.request_delete_range)
    if which == "request_txn":
        return txn_from_pb(m.request_txn)
    raise InvalidArgumentError("etcdserver: a txn op holds no request", "txn")


def txn_from_pb(m: rpc_pb2.TxnRequest) -> TxnRequest:
    return TxnRequest(
        tuple(compare_from_pb(c) for c in m.compare),
        tuple(op_from_pb(op) for op in m.success),
        tuple(op_from_pb(op) for op in m.failure),
    )


def compaction_from_pb(m: rpc_pb2.CompactionRequest) -> CompactionRequest:
    return CompactionRequest(m.revision, m.physical)


# ---------------------------------------------------------------- requests, client -> network


def range_to_pb(r: RangeRequest) -> rpc_pb2.RangeRequest:
    return rpc_pb2.RangeRequest(
        key=r.key,
        range_end=r.range_end,
        limit=r.limit,
        revision=r.revision,
        sort_order=cast(Any, int(r.sort_order)),
        sort_target=cast(Any, int(r.sort_target)),
        serializable=r.serializable,
        keys_only=r.keys_only,
        count_only=r.count_only,
        min_mod_revision=r.min_mod_revision,
        max_mod_revision=r.max_mod_revision,
        min_create_revision=r.min_create_revision,
        max_create_revision=r.max_create_revision,
    )


def put_to_pb(r: PutRequest) -> rpc_pb2.PutRequest:
    return rpc_pb2.PutRequest(
        key=r.key,
        value=r.value,
        lease=r.lease,
        prev_kv=r.prev_kv,
        ignore_value=r.ignore_value,
        ignore_lease=r.ignore_lease,
    )


def delete_to_pb(r: DeleteRangeRequest) -> rpc_pb2.DeleteRangeRequest:
    return rpc_pb2.DeleteRangeRequest(key=r.key, range_end=r.range_end, prev_kv=r.prev_kv)


_COMPARE_FIELD = {
    CompareTarget.VERSION: "version",
    CompareTarget.CREATE: "create_revision",
    CompareTarget.MOD: "mod_revision",
    CompareTarget.VALUE: "value",
    CompareTarget.LEASE: "lease",
}


def compare_to_pb(c: Compare) -> rpc_pb2.Compare:
    m = rpc_pb2.Compare(
        result=cast(Any, int(c.result)), target=cast(Any, int(c.target)), key=c.key, range_end=c.range_end
    )
    name = _COMPARE_FIELD.get(CompareTarget(c.target))
    if name is not None:
        setattr(m, name, getattr(c, name))
    return m


def op_to_pb(op: RequestOp) -> rpc_pb2.RequestOp:
    if isinstance(op, RangeRequest):
        return rpc_pb2.RequestOp(request_range=range_to_pb(op))
    if isinstance(op, PutRequest):
        return rpc_pb2.RequestOp(request_put=put_to_pb(op))
    if isinstance(op, DeleteRangeRequest):
        return rpc_pb2.RequestOp(request_delete_range=delete_to_pb(op))
    return rpc_pb2.RequestOp(request_txn=txn_to_pb(op))


def txn_to_pb(t: TxnRequest) -> rpc_pb2.TxnRequest:
    return rpc_pb2.TxnRequest(
        compare=[compare_to_pb(c) for c in t.compare],
        success=[op_to_pb(op) for op in t.success],
        failure=[op_to_pb(op) for op in t.failure],
    )


# ---------------------------------------------------------------- responses, store -> network


def range_response_to_pb(r: RangeResponse) -> rpc_pb2.RangeResponse:
    return rpc_pb2.RangeResponse(
        header=header_to_pb(r.header), kvs=[kv_to_pb(kv) for kv in r.kvs], more=r.more, count=r.count
    )


def put_response_to_pb(r: PutResponse) -> rpc_pb2.PutResponse:
    m = rpc_pb2.PutResponse(header=header_to_pb(r.header))
    if r.prev_kv is not None:
        m.prev_kv.CopyFrom(kv_to_pb(r.prev_kv))
    return m


def delete_response_to_pb(r: DeleteRangeResponse) -> rpc_pb2.DeleteRangeResponse:
    return rpc_pb2.DeleteRangeResponse(
        header=header_to_pb(r.header), deleted=r.deleted, prev_kvs=[kv_to_pb(kv) for kv in r.prev_kvs]
    )


def response_op_to_pb(r: ResponseOp) -> rpc_pb2.ResponseOp:
    if isinstance(r, RangeResponse):
        return rpc_pb2.ResponseOp(response_range=range_response_to_pb(r))
    if isinstance(r, PutResponse):
        return rpc_pb2.ResponseOp(response_put=put_response_to_pb(r))
    if isinstance(r, DeleteRangeResponse):
        return rpc_pb2.ResponseOp(response_delete_range=delete_response_to_pb(r))
    return rpc_pb2.ResponseOp(response_txn=txn_response_to_pb(r))


def txn_response_to_pb(r: TxnResponse) -> rpc_pb2.TxnResponse:
    return rpc_pb2.TxnResponse(
        header=header_to_pb(r.header),
        succeeded=r.succeeded,
        responses=[response_op_to_pb(x) for x in r.responses],
    )


def compaction_response_to_pb(r: CompactionResponse) -> rpc_pb2.CompactionResponse:
    return rpc_pb2.CompactionResponse(header=header_to_pb(r.header))


# ---------------------------------------------------------------- responses, network -> client


def range_response_from_pb(m: rpc_pb2.RangeResponse) -> RangeResponse:
    return RangeResponse(header_from_pb(m.header), [kv_from_pb(kv) for kv in m.kvs], m.more, m.count)


def put_response_from_pb(m: rpc_pb2.PutResponse) -> PutResponse:
    return PutResponse(header_from_pb(m.header), kv_from_pb(m.prev_kv) if m.HasField("prev_kv") else None)


def delete_response_from_pb(m: rpc_pb2.DeleteRangeResponse) -> DeleteRangeResponse:
    return DeleteRangeResponse(header_from_pb(m.header), m.deleted, [kv_from_pb(kv) for kv in m.prev_kvs])


def response_op_from_pb(m: rpc_pb2.ResponseOp) -> ResponseOp:
    which = m.WhichOneof("response")
    if which == "response_range":
        return range_response_from_pb(m.response_range)
    if which == "response_put":
        return put_response_from_pb(m.response_put)
    if which == "response_delete_range":
        return delete_response_from_pb(m.response_delete_range)
    return txn_response_from_pb(m.response_txn)


def txn_response_from_pb(m: rpc_pb2.TxnResponse) -> TxnResponse:
    return TxnResponse(header_from_pb(m.header), m.succeeded, [response_op_from_pb(x) for x in m.responses])


def compaction_response_from_pb(m: rpc_pb2.CompactionResponse) -> CompactionResponse:
    return CompactionResponse(header_from_pb(m.header))


def lease_grant_response_from_pb(m: rpc_pb2.LeaseGrantResponse) -> LeaseGrantResponse:
    return LeaseGrantResponse(header_from_pb(m.header), m.ID, m.TTL, m.error)


def lease_revoke_response_from_pb(m: rpc_pb2.LeaseRevokeResponse) -> LeaseRevokeResponse:
    return LeaseRevokeResponse(header_from_pb(m.header))


def lease_keep_alive_response_from_pb(m: rpc_pb2.LeaseKeepAliveResponse) -> LeaseKeepAliveResponse:
    return LeaseKeepAliveResponse(header_from_pb(m.header), m.ID, m.TTL)


def lease_time_to_live_response_from_pb(m: rpc_pb2.LeaseTimeToLiveResponse) -> LeaseTimeToLiveResponse:
    return LeaseTimeToLiveResponse(header_from_pb(m.header), m.ID, m.TTL, m.grantedTTL, list(m.keys))


def lease_leases_response_from_pb(m: rpc_pb2.LeaseLeasesResponse) -> LeaseLeasesResponse:
    return LeaseLeasesResponse(header_from_pb(m.header), [LeaseStatus(s.ID) for s in m.leases])
