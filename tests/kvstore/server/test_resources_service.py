"""The Resources gRPC service: bad input on the wire, the watch encoding, fan-out, and
`kvs serve` as a process. (Every registry rule also runs over gRPC: tests/kvstore/registry.)"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kvstore
from apimachinery.errors import BadRequestError, StatusError
from apimachinery.schema import GroupVersionResource
from kvstore.pb import resources_pb2 as pb
from kvstore.registry import RawEvent, codec
from kvstore.rpc.api_status import TRAILER
from kvstore.rpc.resource_watch_codec import EventBytesCache
from tests.kvstore.server.conftest import Served
from tests.servers import KvsServer

CMS = GroupVersionResource("", "v1", "configmaps")
METHODS = ["Create", "Get", "List", "Update", "Patch", "Delete", "DeleteCollection"]


def cm(name: str, **data: str) -> dict[str, object]:
    return {"metadata": {"name": name}, "data": data}


def _status(err: grpc.aio.AioRpcError) -> dict[str, object]:
    trailers = dict(err.trailing_metadata() or ())
    status: dict[str, object] = json.loads(trailers[TRAILER])
    return status


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=64), method=st.sampled_from(METHODS))
async def test_random_bytes_get_a_400_status_and_change_nothing(served: Served, data: bytes, method: str) -> None:
    """Malformed requests: a BadRequest Status in the trailer (or a valid call's error), store unchanged."""
    rev = served.store.revision
    call = served.channel.unary_unary(f"/kvsresourcespb.Resources/{method}")
    try:
        await call(data, timeout=10)
    except grpc.aio.AioRpcError as err:
        assert err.code() != grpc.StatusCode.UNKNOWN and err.code() != grpc.StatusCode.INTERNAL
        assert _status(err)["kind"] == "Status"
    else:
        assert method in ("Get", "List")  # only a read can succeed on random bytes (an empty ref is refused)
    assert served.store.revision in (rev, rev + 4)  # at most the bootstrap's four namespaces


async def test_a_body_that_is_not_json_is_a_400_naming_the_field(served: Served) -> None:
    """kube-apiserver: an undecodable body is 400 BadRequest, and nothing is written."""
    async with kvstore.connect(served.endpoint, timeout=30) as client:
        await client.resources.list(CMS, "default")
        rev = served.store.revision
        stub = served.channel.unary_unary("/kvsresourcespb.Resources/Create")
        ref = pb.ResourceRef(version="v1", resource="configmaps", namespace="default")
        for body in (b"{not json", b"[1, 2]", b"\xff\xfe"):
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stub(pb.CreateRequest(ref=ref, object=body).SerializeToString(), timeout=10)
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            status = _status(info.value)
            assert status["code"] == 400 and "object" in str(status["message"])
        with pytest.raises(BadRequestError, match="version and resource are required"):
            await client.resources.get(GroupVersionResource("", "", "configmaps"), "x", "default")
        assert served.store.revision == rev
        assert (await client.resources.create(CMS, cm("ok"), "default"))["metadata"]["name"] == "ok"


def test_watch_responses_parse_as_the_generated_message() -> None:
    """The hand-made WatchResponse bytes equal what protobuf parses; objects carry their resourceVersion."""
    stored = codec.encode({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "é"}, "data": {"k": "v"}})
    cache = EventBytesCache()
    batch: list[dict[str, object] | RawEvent] = [
        RawEvent("ADDED", 7, b"/registry/core/configmaps/default/a", stored),
        {"type": "BOOKMARK", "object": {"kind": "ConfigMap", "metadata": {"resourceVersion": "8"}}},
        RawEvent("DELETED", 9, b"/registry/core/configmaps/default/a", stored),
    ]
    parsed = pb.WatchResponse.FromString(cache.response(batch, "v1"))
    assert [e.type for e in parsed.events] == ["ADDED", "BOOKMARK", "DELETED"]
    first = json.loads(parsed.events[0].object)
    assert first == codec.decode(stored, 7) and first["metadata"]["resourceVersion"] == "7"
    assert json.loads(parsed.events[2].object)["metadata"]["resourceVersion"] == "9"
    entry = cache.entry(RawEvent("ADDED", 7, b"k", stored), "v2")
    relabelled = json.loads(pb.WatchResponse.FromString(entry).events[0].object)
    assert relabelled["apiVersion"] == "v2"
    cache.response(batch, "v1")
    assert (cache.misses, cache.hits) == (3, 2)  # each live event is encoded once per apiVersion


async def test_many_watchers_each_get_every_event_once_encoded_once(served: Served) -> None:
    """Fan-out over gRPC: 40 watchers see every change, in order, none twice; the server
    encodes each event once for all of them (cache misses = events)."""
    watchers, changes = 40, 30
    async with kvstore.connect(served.endpoint, timeout=30) as client:
        start = (await client.resources.list(CMS, "default"))["metadata"]["resourceVersion"]
        streams = [await client.resources.watch(CMS, "default", resource_version=start) for _ in range(watchers)]
        misses = served.server.resources.cache.misses
        written = []
        for i in range(changes):
            obj = await client.resources.create(CMS, cm(f"c{i}", i=str(i)), "default")
            written.append(obj["metadata"]["resourceVersion"])

        async def collect(w: object) -> list[str]:
            got = []
            async for event in w:  # type: ignore[attr-defined]
                got.append(event["object"]["metadata"]["resourceVersion"])
                if len(got) == changes:
                    return got
            return got

        results = await asyncio.wait_for(asyncio.gather(*(collect(w) for w in streams)), 60)
        assert all(r == written for r in results)
        assert served.server.resources.cache.misses - misses == changes
        for w in streams:
            w.stop()


async def test_watch_timeout_ends_the_stream_cleanly(served: Served) -> None:
    """timeoutSeconds: the server ends the watch without an error; the client's iteration finishes."""
    async with kvstore.connect(served.endpoint, timeout=30) as client:
        w = await client.resources.watch(CMS, "default", timeout_seconds=1)
        events = await asyncio.wait_for(_drain(w), 20)
        assert events == []
        assert served.server.resources.watches == 0


async def _drain(w: object) -> list[object]:
    return [e async for e in w]  # type: ignore[attr-defined]


async def test_a_refused_watch_raises_the_status(served: Served) -> None:
    """A watch request kube-apiserver refuses (bad selector) raises at once, with its Status."""
    async with kvstore.connect(served.endpoint, timeout=30) as client:
        with pytest.raises(BadRequestError) as info:
            await client.resources.watch(CMS, "default", label_selector="a in (")
        assert info.value.code == 400
        with pytest.raises(StatusError) as info2:
            await client.resources.watch(GroupVersionResource("nope.io", "v1", "things"))
        assert info2.value.code == 404


async def test_kvs_serve_serves_the_resource_api(tmp_path: Path) -> None:
    """`kvs serve` as a process: objects created over gRPC survive a restart with their resourceVersions."""
    server = await asyncio.to_thread(KvsServer(tmp_path / "data").start)
    try:
        async with kvstore.connect(server.endpoint, timeout=60) as client:
            created = await client.resources.create(CMS, cm("a", k="v"), "default")
            w = await client.resources.watch(CMS, "default", resource_version=created["metadata"]["resourceVersion"])
            created["data"] = {"k": "v2"}
            updated = await client.resources.update(CMS, created, "default")
            event = await asyncio.wait_for(w.__anext__(), 20)
            assert (event["type"], event["object"]) == ("MODIFIED", updated)
            code = await asyncio.to_thread(server.stop)
            assert code == 0
            with pytest.raises(StopAsyncIteration):  # the stream ended with the server
                await asyncio.wait_for(w.__anext__(), 20)
            await asyncio.to_thread(server.start)
            again = await client.resources.get(CMS, "a", "default")
            assert again == updated
    finally:
        await asyncio.to_thread(server.close)
