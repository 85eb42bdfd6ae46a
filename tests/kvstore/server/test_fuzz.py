"""Bad input on the wire: random bytes and absurd-but-valid messages at every method.

Whatever arrives, the server answers with a status (never crashes), the store is left
unchanged, and the next well-formed call is served.
"""

from __future__ import annotations

import asyncio

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kvstore.pb import rpc_pb2
from tests.kvstore.server.conftest import Served

UNARY = {
    "/etcdserverpb.KV/Range": rpc_pb2.RangeResponse,
    "/etcdserverpb.KV/Put": rpc_pb2.PutResponse,
    "/etcdserverpb.KV/DeleteRange": rpc_pb2.DeleteRangeResponse,
    "/etcdserverpb.KV/Txn": rpc_pb2.TxnResponse,
    "/etcdserverpb.KV/Compact": rpc_pb2.CompactionResponse,
    "/etcdserverpb.Lease/LeaseGrant": rpc_pb2.LeaseGrantResponse,
    "/etcdserverpb.Lease/LeaseRevoke": rpc_pb2.LeaseRevokeResponse,
    "/etcdserverpb.Lease/LeaseTimeToLive": rpc_pb2.LeaseTimeToLiveResponse,
    "/etcdserverpb.Lease/LeaseLeases": rpc_pb2.LeaseLeasesResponse,
    "/etcdserverpb.Cluster/MemberList": rpc_pb2.MemberListResponse,
    "/etcdserverpb.Cluster/MemberAdd": rpc_pb2.MemberAddResponse,
    "/etcdserverpb.Maintenance/Status": rpc_pb2.StatusResponse,
    "/etcdserverpb.Maintenance/HashKV": rpc_pb2.HashKVResponse,
    "/etcdserverpb.Maintenance/Alarm": rpc_pb2.AlarmResponse,
    "/etcdserverpb.Maintenance/MoveLeader": rpc_pb2.MoveLeaderResponse,
}
STREAMS = ["/etcdserverpb.Watch/Watch", "/etcdserverpb.Lease/LeaseKeepAlive"]

int64 = st.one_of(
    st.sampled_from([0, -1, 1, -(1 << 63), (1 << 63) - 1, 2, 10**12]), st.integers(-(1 << 63), (1 << 63) - 1)
)
enum = st.integers(-3, 50)
key = st.one_of(st.just(b""), st.just(b"\0"), st.binary(max_size=8), st.just(b"\xff" * 3))


def absurd_requests() -> st.SearchStrategy[tuple[str, bytes]]:
    """Well-formed protobufs with values no sane client sends."""
    range_req = st.builds(
        rpc_pb2.RangeRequest,
        key=key,
        range_end=key,
        limit=int64,
        revision=int64,
        sort_order=enum,
        sort_target=enum,
        min_mod_revision=int64,
        max_create_revision=int64,
    )
    put_req = st.builds(
        rpc_pb2.PutRequest, key=key, value=st.binary(max_size=16), lease=int64, ignore_value=st.booleans()
    )
    delete_req = st.builds(rpc_pb2.DeleteRangeRequest, key=key, range_end=key)
    compare = st.builds(rpc_pb2.Compare, result=enum, target=enum, key=key, version=int64, range_end=key)
    op = st.one_of(
        st.builds(rpc_pb2.RequestOp, request_put=put_req),
        st.builds(rpc_pb2.RequestOp, request_delete_range=delete_req),
        st.builds(rpc_pb2.RequestOp, request_range=range_req),
        st.just(rpc_pb2.RequestOp()),  # an op holding nothing
    )
    txn = st.builds(
        rpc_pb2.TxnRequest,
        compare=st.lists(compare, max_size=3),
        success=st.lists(op, max_size=200),
        failure=st.lists(op, max_size=3),
    )
    return st.one_of(
        st.tuples(st.just("/etcdserverpb.KV/Range"), range_req.map(lambda m: m.SerializeToString())),
        st.tuples(st.just("/etcdserverpb.KV/Put"), put_req.map(lambda m: m.SerializeToString())),
        st.tuples(st.just("/etcdserverpb.KV/DeleteRange"), delete_req.map(lambda m: m.SerializeToString())),
        st.tuples(st.just("/etcdserverpb.KV/Txn"), txn.map(lambda m: m.SerializeToString())),
        st.tuples(
            st.just("/etcdserverpb.KV/Compact"),
            st.builds(rpc_pb2.CompactionRequest, revision=int64).map(lambda m: m.SerializeToString()),
        ),
        st.tuples(
            st.just("/etcdserverpb.Lease/LeaseGrant"),
            st.builds(rpc_pb2.LeaseGrantRequest, TTL=int64, ID=int64).map(lambda m: m.SerializeToString()),
        ),
        st.tuples(
            st.sampled_from(["/etcdserverpb.Lease/LeaseRevoke", "/etcdserverpb.Lease/LeaseTimeToLive"]),
            st.builds(rpc_pb2.LeaseRevokeRequest, ID=int64).map(lambda m: m.SerializeToString()),
        ),
        st.tuples(
            st.just("/etcdserverpb.Maintenance/HashKV"),
            st.builds(rpc_pb2.HashKVRequest, revision=int64).map(lambda m: m.SerializeToString()),
        ),
    )


def random_calls() -> st.SearchStrategy[tuple[str, bytes]]:
    return st.one_of(st.tuples(st.sampled_from(sorted(UNARY)), st.binary(max_size=64)), absurd_requests())


async def call_raw(channel: grpc.aio.Channel, method: str, payload: bytes) -> grpc.StatusCode:
    fn = channel.unary_unary(method, request_serializer=lambda b: b, response_deserializer=UNARY[method].FromString)
    try:
        await fn(payload, timeout=10)
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


async def state(served: Served) -> tuple[int, int, int]:
    h = await served.store.hash_kv()
    return served.store.revision, h.hash, len((await served.store.leases()).leases)


def generate(strategy: st.SearchStrategy[tuple[str, bytes]], n: int) -> list[tuple[str, bytes]]:
    """Draw `n` examples from a strategy (Hypothesis runs synchronously; the calls are async)."""
    drawn: list[tuple[str, bytes]] = []

    @settings(max_examples=n, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(call: tuple[str, bytes]) -> None:
        drawn.append(call)

    collect()
    return drawn


MUTATING = {
    "/etcdserverpb.KV/Put",
    "/etcdserverpb.KV/DeleteRange",
    "/etcdserverpb.KV/Txn",
    "/etcdserverpb.KV/Compact",
    "/etcdserverpb.Lease/LeaseGrant",
    "/etcdserverpb.Lease/LeaseRevoke",
}


# Leases the fuzzer grants must outlive the test: an expiry (a revoke by the lessor) between
# two state checks would look like a change made by the rejected call in between.
@pytest.mark.parametrize("served", [{"min_lease_ttl": 3600}], indirect=True)
async def test_random_input_never_breaks_the_server(served: Served) -> None:
    """etcd: malformed or absurd requests get an error status (never INTERNAL or UNKNOWN),
    a rejected request leaves the store unchanged, and the server keeps serving."""
    await served.store.put(b"seed", b"1")
    codes: dict[str, int] = {}
    status = served.channel.unary_unary(
        "/etcdserverpb.Maintenance/Status",
        request_serializer=rpc_pb2.StatusRequest.SerializeToString,
        response_deserializer=rpc_pb2.StatusResponse.FromString,
    )
    for method, payload in generate(random_calls(), 400):
        before = await state(served)
        code = await call_raw(served.channel, method, payload)
        codes[code.name] = codes.get(code.name, 0) + 1
        assert code not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN), (method, payload, code)
        if code != grpc.StatusCode.OK or method not in MUTATING:
            assert await state(served) == before, (method, payload, code)
        alive = await status(rpc_pb2.StatusRequest(), timeout=10)  # still serving everyone
        assert alive.header.revision == served.store.revision
    assert codes.get("OK", 0) > 0 and codes.get("INVALID_ARGUMENT", 0) > 0, codes


async def test_garbage_on_the_streams(served: Served) -> None:
    """Random bytes on the Watch and LeaseKeepAlive streams end that stream only."""
    for method in STREAMS:
        fn = served.channel.stream_stream(method, request_serializer=lambda b: b, response_deserializer=lambda b: b)
        call = fn()
        await call.write(b"\xff\xfe\x00garbage")
        try:
            await asyncio.wait_for(call.read(), 10)
        except grpc.aio.AioRpcError as exc:
            assert exc.code() != grpc.StatusCode.OK
        call.cancel()
    assert (await served.store.put(b"after", b"ok")).header.revision == 2


def absurd_watch_requests() -> st.SearchStrategy[rpc_pb2.WatchRequest]:
    create = st.builds(
        rpc_pb2.WatchCreateRequest,
        key=key,
        range_end=key,
        start_revision=int64,
        progress_notify=st.booleans(),
        filters=st.lists(enum, max_size=3),
        prev_kv=st.booleans(),
        watch_id=int64,
        fragment=st.booleans(),
    )
    return st.one_of(
        st.builds(rpc_pb2.WatchRequest, create_request=create),
        st.builds(rpc_pb2.WatchRequest, cancel_request=st.builds(rpc_pb2.WatchCancelRequest, watch_id=int64)),
        st.just(rpc_pb2.WatchRequest(progress_request=rpc_pb2.WatchProgressRequest())),
        st.just(rpc_pb2.WatchRequest()),  # a request holding nothing
    )


async def test_absurd_watch_and_keep_alive_requests(served: Served) -> None:
    """etcd: odd creates are refused one by one (created+canceled with a reason) or served;
    the stream keeps answering, and keep-alives for absurd IDs answer TTL 0."""
    await served.store.put(b"seed", b"1")
    drawn: list[rpc_pb2.WatchRequest] = []

    @settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(absurd_watch_requests())
    def collect(req: rpc_pb2.WatchRequest) -> None:
        drawn.append(req)

    collect()
    watch = served.channel.stream_stream(
        "/etcdserverpb.Watch/Watch",
        request_serializer=rpc_pb2.WatchRequest.SerializeToString,
        response_deserializer=rpc_pb2.WatchResponse.FromString,
    )
    call = watch()
    for req in drawn:
        await call.write(req)
    # A final create with a fresh ID proves the stream still works after all of that.
    await call.write(
        rpc_pb2.WatchRequest(create_request=rpc_pb2.WatchCreateRequest(key=b"seed", watch_id=(1 << 62) + 1))
    )
    while True:
        msg = await asyncio.wait_for(call.read(), 20)
        assert isinstance(msg, rpc_pb2.WatchResponse)
        if msg.created and msg.watch_id == (1 << 62) + 1:
            assert not msg.canceled
            break
    call.cancel()

    keep_alive = served.channel.stream_stream(
        "/etcdserverpb.Lease/LeaseKeepAlive",
        request_serializer=rpc_pb2.LeaseKeepAliveRequest.SerializeToString,
        response_deserializer=rpc_pb2.LeaseKeepAliveResponse.FromString,
    )
    ka = keep_alive()
    for lease_id in (0, -1, 1, -(1 << 63), (1 << 63) - 1):
        await ka.write(rpc_pb2.LeaseKeepAliveRequest(ID=lease_id))
        resp = await asyncio.wait_for(ka.read(), 10)
        assert isinstance(resp, rpc_pb2.LeaseKeepAliveResponse) and resp.TTL == 0 and lease_id == resp.ID
    ka.cancel()
    assert served.store.revision == 2
