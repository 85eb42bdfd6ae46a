"""The resource API two ways: the embedded registry, and the network client of a `kvs serve`.

Every test in this package runs against both (the `registry` fixture), so the client
is held to the same rules, results and exceptions as the registry it talks to.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

import kvstore
from apimachinery.schema import GroupVersionResource
from kvstore.registry import Registry, ResourceClient
from kvstore.server import Server

NAMESPACES = GroupVersionResource("", "v1", "namespaces")
BOOKMARK_INTERVAL = 0.2  # seconds; kube's is about a minute, short here so tests wait briefly


@pytest.fixture(params=["embedded", "remote"])
async def registry(request: pytest.FixtureRequest, store: kvstore.Store) -> AsyncIterator[ResourceClient]:
    if request.param == "embedded":
        reg = Registry(store, bookmark_interval=BOOKMARK_INTERVAL)
        await reg.bootstrap()
        yield reg
        return
    server = Server(store, ["http://127.0.0.1:0"], bookmark_interval=BOOKMARK_INTERVAL)
    await server.start()
    client = kvstore.connect(server.client_urls[0], timeout=30)
    try:
        await client.resources.list(NAMESPACES)  # the server bootstraps on its first resource call
        yield client.resources
    finally:
        await client.close()
        await server.stop(grace=None)
