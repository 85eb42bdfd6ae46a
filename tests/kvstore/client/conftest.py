"""`kv`: the same tests against the embedded store and against the network client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import kvstore
from kvstore.api import KV
from kvstore.server import Server


@pytest.fixture(params=["embedded", "remote"])
async def kv(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[KV]:
    store = kvstore.open(tmp_path / "store", min_lease_ttl=1)
    if request.param == "embedded":
        try:
            yield store
        finally:
            await store.close()
        return
    server = Server(store, ["http://127.0.0.1:0"])
    await server.start()
    client = kvstore.connect(server.client_urls[0], timeout=30)
    try:
        yield client
    finally:
        await client.close()
        await server.stop(grace=None)
        await store.close()
