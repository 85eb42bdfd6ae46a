"""`kvs serve --grpc-server`: our transport by default, grpcio's server on request."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

import kvstore
from h2grpc.server import GrpcServer
from kvstore.server import Server
from tests.servers import KvsServer


async def _round_trip(endpoint: str) -> None:
    async with kvstore.connect(endpoint, timeout=30) as client:
        w = client.watch(b"/choice/", kvstore.prefix_range_end(b"/choice/"))
        await w.wait_created()
        put = await client.put(b"/choice/a", b"1")
        got = await client.range(b"/choice/a")
        assert [kv.value for kv in got.kvs] == [b"1"]
        resp = await asyncio.wait_for(anext(aiter(w)), 10)
        assert [ev.kv.mod_revision for ev in resp.events] == [put.header.revision]
        w.cancel()


@pytest.mark.parametrize("kind", ["native", "grpcio"])
async def test_both_servers_serve_kv_and_watch(tmp_path: Path, kind: str) -> None:
    """etcd's KV and Watch through either server, with the same client."""
    store = kvstore.open(tmp_path / "s")
    server = Server(store, ["http://127.0.0.1:0"], grpc_server=kind)  # type: ignore[arg-type]
    await server.start()
    try:
        assert isinstance(server._server, GrpcServer) == (kind == "native")
        await _round_trip(server.client_urls[0].removeprefix("http://"))
    finally:
        await server.stop(grace=None)
        await store.close()


async def test_an_unknown_server_kind_is_refused_by_name(tmp_path: Path) -> None:
    """A bad option names itself and the choices; nothing is started."""
    store = kvstore.open(tmp_path / "s")
    try:
        with pytest.raises(ValueError, match="grpc_server: expected one of native, grpcio"):
            Server(store, ["http://127.0.0.1:0"], grpc_server="h3")  # type: ignore[arg-type]
    finally:
        await store.close()


async def test_kvs_serve_grpcio_flag(tmp_path: Path) -> None:
    """`kvs serve --grpc-server grpcio` starts and serves; a bad choice exits 2 naming the flag."""
    server = await asyncio.to_thread(KvsServer(tmp_path / "data", args=["--grpc-server", "grpcio"]).start)
    try:
        await _round_trip(server.endpoint)
    finally:
        await asyncio.to_thread(server.close)
    bad = subprocess.run(
        [sys.executable, "-m", "kvs", "serve", "--grpc-server", "h3", "--data-dir", str(tmp_path / "x")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2
    assert "--grpc-server" in bad.stderr
    assert not (tmp_path / "x").exists()
