"""One way to serve a method (kvstore/server/handlers.py): parsed requests, one error policy
per API family, and a server that keeps serving after a bug. Runs on both servers."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from apimachinery.errors import NotFoundError
from h2grpc.server import GrpcServer
from kvstore.errors import CompactedError
from kvstore.pb import rpc_pb2
from kvstore.rpc.api_status import TRAILER
from kvstore.server.handlers import Method, etcd_status, kube_status, service_handler

RANGE = rpc_pb2.RangeRequest


async def _echo(req: Any, context: grpc.aio.ServicerContext) -> Any:
    return rpc_pb2.RangeResponse(count=len(req.key))


async def _compacted(req: Any, context: grpc.aio.ServicerContext) -> Any:
    raise CompactedError(7)


async def _bug(req: Any, context: grpc.aio.ServicerContext) -> Any:
    raise RuntimeError("a bug in a handler")


async def _aborts(req: Any, context: grpc.aio.ServicerContext) -> Any:
    await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "its own status")


async def _not_found(req: Any, context: grpc.aio.ServicerContext) -> Any:
    raise NotFoundError.for_resource("pods", "", "web-0")


async def _two_then_bug(req: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
    yield rpc_pb2.RangeResponse(count=1)
    yield rpc_pb2.RangeResponse(count=2)
    raise RuntimeError("a bug mid-stream")


def _methods() -> dict[str, Method]:
    ser = rpc_pb2.RangeResponse.SerializeToString
    unary = {"Echo": _echo, "Compacted": _compacted, "Bug": _bug, "Aborts": _aborts, "NotFound": _not_found}
    methods = {name: Method(fn, RANGE, ser) for name, fn in unary.items()}
    methods["Stream"] = Method(_two_then_bug, RANGE, ser, response_streaming=True)
    return methods


@pytest.fixture(params=["native", "grpcio"])
async def channel(request: pytest.FixtureRequest) -> AsyncIterator[grpc.aio.Channel]:
    server: Any = GrpcServer() if request.param == "native" else grpc.aio.server()
    server.add_generic_rpc_handlers(
        [service_handler("t.Etcd", _methods(), etcd_status), service_handler("t.Kube", _methods(), kube_status)]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
        yield ch
    await server.stop(None)


async def _call(channel: grpc.aio.Channel, path: str, data: bytes) -> grpc.aio.AioRpcError | bytes:
    try:
        result: bytes = await channel.unary_unary(path)(data, timeout=10)
        return result
    except grpc.aio.AioRpcError as err:
        return err


async def test_a_store_error_gets_etcds_status(channel: grpc.aio.Channel) -> None:
    """etcd: ErrCompacted is OUT_OF_RANGE "etcdserver: mvcc: required revision has been compacted"."""
    err = await _call(channel, "/t.Etcd/Compacted", RANGE(key=b"k").SerializeToString())
    assert isinstance(err, grpc.aio.AioRpcError)
    assert err.code() == grpc.StatusCode.OUT_OF_RANGE
    assert "required revision has been compacted" in (err.details() or "")


async def test_an_unparsable_request_names_its_type(channel: grpc.aio.Channel) -> None:
    """etcd services: INVALID_ARGUMENT naming the message; the resource API: a 400 Status."""
    etcd = await _call(channel, "/t.Etcd/Echo", b"\xff\xff\xff")
    assert isinstance(etcd, grpc.aio.AioRpcError) and etcd.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "etcdserverpb.RangeRequest" in (etcd.details() or "")
    kube = await _call(channel, "/t.Kube/Echo", b"\xff\xff\xff")
    assert isinstance(kube, grpc.aio.AioRpcError)
    status = json.loads(dict(kube.trailing_metadata() or ())[TRAILER])
    assert (status["code"], status["reason"]) == (400, "BadRequest")
    assert "etcdserverpb.RangeRequest" in status["message"]


async def test_a_bug_is_internal_logged_and_the_server_goes_on(
    channel: grpc.aio.Channel, caplog: pytest.LogCaptureFixture
) -> None:
    """etcd answers an unexpected failure with INTERNAL and keeps serving; kube with a 500 Status."""
    with caplog.at_level(logging.ERROR, logger="kvstore.server"):
        etcd = await _call(channel, "/t.Etcd/Bug", b"")
        kube = await _call(channel, "/t.Kube/Bug", b"")
    assert isinstance(etcd, grpc.aio.AioRpcError) and etcd.code() == grpc.StatusCode.INTERNAL
    assert etcd.details() == "etcdserver: internal error"  # the bug's text stays in the server's log
    assert isinstance(kube, grpc.aio.AioRpcError) and kube.code() == grpc.StatusCode.INTERNAL
    assert json.loads(dict(kube.trailing_metadata() or ())[TRAILER])["code"] == 500
    assert sum("a bug in a handler" in str(r.exc_info) for r in caplog.records) == 2
    ok = await _call(channel, "/t.Etcd/Echo", RANGE(key=b"abc").SerializeToString())
    assert isinstance(ok, bytes) and rpc_pb2.RangeResponse.FromString(ok).count == 3


async def test_a_method_that_aborts_keeps_its_own_status(channel: grpc.aio.Channel) -> None:
    """A handler's own `context.abort` is not rewritten by the error policy."""
    err = await _call(channel, "/t.Etcd/Aborts", b"")
    assert isinstance(err, grpc.aio.AioRpcError)
    assert (err.code(), err.details()) == (grpc.StatusCode.FAILED_PRECONDITION, "its own status")


async def test_a_status_error_travels_whole(channel: grpc.aio.Channel) -> None:
    """kube-apiserver: a NotFound is 404 with its reason and details; gRPC's code follows it."""
    err = await _call(channel, "/t.Kube/NotFound", b"")
    assert isinstance(err, grpc.aio.AioRpcError) and err.code() == grpc.StatusCode.NOT_FOUND
    status = json.loads(dict(err.trailing_metadata() or ())[TRAILER])
    assert (status["code"], status["reason"], status["details"]["name"]) == (404, "NotFound", "web-0")


async def test_a_stream_keeps_what_it_sent_before_failing(channel: grpc.aio.Channel) -> None:
    """Responses written before a failure arrive; then the call ends with the policy's status."""
    call = channel.unary_stream("/t.Etcd/Stream")(b"", timeout=10)
    got = []
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        async for data in call:
            got.append(rpc_pb2.RangeResponse.FromString(data).count)
    assert got == [1, 2]
    assert exc.value.code() == grpc.StatusCode.INTERNAL
