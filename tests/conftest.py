"""Shared fixtures: a real store in a temporary directory, closed after each test, and the
resource API over it two ways (`registry`): the embedded registry, and the network client of
a `kvs serve` on loopback. Tests taking `registry` run against both, so the client is held to
the same rules, results and exceptions as the registry it talks to."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

# The watch cache's mutation detector is on for the whole suite (client-go runs its tests with
# KUBE_CACHE_MUTATION_DETECTOR=true): a reader that changes a shared object fails its test.
os.environ.setdefault("KVS_CACHE_MUTATION_DETECTOR", "true")

import kvstore
from apimachinery.client import ResourceClient
from apimachinery.schema import GroupVersionResource
from kvstore.registry import Registry
from kvstore.registry.cache import mutation
from kvstore.server import Server


@pytest.fixture(autouse=True)
def no_cache_mutations() -> Iterator[None]:
    """Fail a test during which a shared object of a watch cache was changed."""
    before = len(mutation.failures)
    yield
    found = mutation.failures[before:]
    if found:
        del mutation.failures[before:]
        pytest.fail(f"cache mutation detected: {found[0]}")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[kvstore.Store]:
    s = kvstore.open(tmp_path / "store", min_lease_ttl=1)
    try:
        yield s
    finally:
        await s.close()


NAMESPACES = GroupVersionResource("", "v1", "namespaces")
BOOKMARK_INTERVAL = 0.2  # seconds; kube's is about a minute, short here so tests wait briefly


@pytest.fixture(params=["embedded", "remote"])
async def registry(request: pytest.FixtureRequest, store: kvstore.Store) -> AsyncIterator[ResourceClient]:
    if request.param == "embedded":
        reg = Registry(store, bookmark_interval=BOOKMARK_INTERVAL)
        await reg.bootstrap()
        yield reg
        reg.check_mutations()
        return
    server = Server(store, ["http://127.0.0.1:0"], bookmark_interval=BOOKMARK_INTERVAL)
    await server.start()
    client = kvstore.connect(server.client_urls[0], timeout=30)
    try:
        await client.resources.list(NAMESPACES)  # the server bootstraps on its first resource call
        yield client.resources
        server.registry.check_mutations()
    finally:
        await client.close()
        await server.stop(grace=None)
