"""One connection's watches share one decode per event (as client-go's shared informers share
one cache): the same object for every watch of a client, never across clients."""

from __future__ import annotations

import asyncio

import kvstore
from apimachinery.schema import GroupVersionResource
from kvstore.client.decode_cache import DecodeCache
from kvstore.server import Server

CMS = GroupVersionResource("", "v1", "configmaps")


async def test_watches_of_one_client_share_each_decoded_object(store: kvstore.Store) -> None:
    server = Server(store, ["http://127.0.0.1:0"])
    await server.start()
    one = kvstore.connect(server.client_urls[0], timeout=30)
    other = kvstore.connect(server.client_urls[0], timeout=30)
    try:
        start = (await one.resources.list(CMS, "default"))["metadata"]["resourceVersion"]
        w1 = await one.resources.watch(CMS, "default", resource_version=start)
        w2 = await one.resources.watch(CMS, "default", resource_version=start)
        w3 = await other.resources.watch(CMS, "default", resource_version=start)
        await one.resources.create(CMS, {"metadata": {"name": "a"}, "data": {"k": "v"}}, "default")
        e1, e2, e3 = [await asyncio.wait_for(w.__anext__(), 10) for w in (w1, w2, w3)]
        assert e1["object"] is e2["object"]  # decoded once for both watches of the client
        assert e3["object"] is not e1["object"] and e3["object"] == e1["object"]
        assert one.resources.decoded.hits >= 1
        for w in (w1, w2, w3):
            w.stop()
    finally:
        await one.close()
        await other.close()
        await server.stop(grace=None)


def test_the_decode_cache_is_bounded_and_drops_the_oldest_first() -> None:
    calls: list[bytes] = []

    def loads(data: bytes) -> dict[str, object]:
        calls.append(data)
        return {"n": data.decode()}

    cache = DecodeCache(loads, max_entries=3)
    objs = [cache.decode(str(i).encode()) for i in range(5)]
    assert len(cache) == 3
    assert cache.decode(b"4") is objs[4]  # still cached
    cache.decode(b"0")  # dropped: decoded again
    assert calls.count(b"0") == 2 and calls.count(b"4") == 1
