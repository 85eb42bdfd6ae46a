"""An in-process `kvs serve`: a real store behind a real gRPC server on a loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

import kvstore
from kvstore.server import Server


@dataclass
class Served:
    store: kvstore.Store
    server: Server
    endpoint: str  # host:port
    channel: grpc.aio.Channel


@pytest.fixture
async def served(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Served]:
    options = {"min_lease_ttl": 1, **getattr(request, "param", {})}
    store = kvstore.open(tmp_path / "store", **options)
    server = Server(store, ["http://127.0.0.1:0"])
    await server.start()
    endpoint = server.client_urls[0].removeprefix("http://")
    channel = grpc.aio.insecure_channel(endpoint)
    try:
        yield Served(store, server, endpoint, channel)
    finally:
        await channel.close()
        await server.stop(grace=None)
        await store.close()
