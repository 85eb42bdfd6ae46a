"""A real `GrpcServer` on 127.0.0.1 port 0 serving small test handlers, and clients of it;
every fixture stops or closes what it made."""

from __future__ import annotations

import asyncio
import hashlib
import json
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc
import pytest

from h2grpc.limits import Limits
from h2grpc.server import GrpcServer
from tests.h2grpc.clients import H2Client, RawClient

SERVICE = "test.Echo"

ABORT_CODE = grpc.StatusCode.PERMISSION_DENIED
ABORT_DETAILS = "denied: 100% nön-ASCII ✓"
ABORT_TRAILERS = (("x-reason", "policy"), ("x-blob-bin", b"\x00\xff\x10 binary"))
INITIAL_METADATA = (("x-initial", "yes"), ("x-initial-bin", b"\x01\x02\xfe"))


def path(method: str) -> str:
    return f"/{SERVICE}/{method}"


@dataclass
class Probe:
    """What the waiting handlers tell the test, and what lets them go."""

    started: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)


def echo_service(probe: Probe) -> grpc.GenericRpcHandler:
    async def unary(request: bytes, context: Any) -> bytes:
        return request

    async def server_stream(request: bytes, context: Any) -> AsyncIterator[bytes]:
        """`request` is (count, size): `count` messages of `size` bytes, message i all byte i."""
        count, size = struct.unpack(">II", request)
        for i in range(count):
            yield bytes((i % 251,)) * size

    async def client_stream(requests: AsyncIterator[bytes], context: Any) -> bytes:
        """The number of request messages and the SHA-256 of their concatenation."""
        n, digest = 0, hashlib.sha256()
        async for message in requests:
            n += 1
            digest.update(message)
        return struct.pack(">I", n) + digest.digest()

    async def bidi_echo(requests: AsyncIterator[bytes], context: Any) -> None:
        while True:
            message = await context.read()
            if message is grpc.aio.EOF:
                return
            await context.write(message)

    async def metadata(request: bytes, context: Any) -> bytes:
        await context.send_initial_metadata(INITIAL_METADATA)
        pairs = [
            [k, v.hex(), True] if isinstance(v, bytes) else [k, v, False] for k, v in context.invocation_metadata()
        ]
        return json.dumps(
            {"metadata": pairs, "peer": context.peer(), "time_remaining": context.time_remaining()}
        ).encode()

    async def held() -> None:
        """Say the handler runs, wait for the test to release it, and note a cancellation."""
        probe.started.set()
        try:
            await probe.release.wait()
        except asyncio.CancelledError:
            probe.cancelled.set()
            raise

    async def wait(request: bytes, context: Any) -> bytes:
        await held()
        return b"released:" + request

    async def wait_stream(request: bytes, context: Any) -> AsyncIterator[bytes]:
        yield b"first"
        await held()
        yield b"second"

    async def abort(request: bytes, context: Any) -> bytes:
        await context.abort(ABORT_CODE, ABORT_DETAILS, trailing_metadata=ABORT_TRAILERS)
        raise AssertionError("abort() returned")

    async def set_code(request: bytes, context: Any) -> bytes:
        context.set_code(grpc.StatusCode.NOT_FOUND)
        context.set_details("no such thing")
        context.set_trailing_metadata((("x-why", "gone"),))
        return b""

    async def fail(request: bytes, context: Any) -> bytes:
        raise ValueError("boom")

    async def big_metadata(request: bytes, context: Any) -> bytes:
        await context.send_initial_metadata((("x-big", "m" * 20_000),))
        return b"ok"

    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Unary": grpc.unary_unary_rpc_method_handler(unary),
            "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
            "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream),
            "BidiEcho": grpc.stream_stream_rpc_method_handler(bidi_echo),
            "Metadata": grpc.unary_unary_rpc_method_handler(metadata),
            "Wait": grpc.unary_unary_rpc_method_handler(wait),
            "WaitStream": grpc.unary_stream_rpc_method_handler(wait_stream),
            "Abort": grpc.unary_unary_rpc_method_handler(abort),
            "SetCode": grpc.unary_unary_rpc_method_handler(set_code),
            "Fail": grpc.unary_unary_rpc_method_handler(fail),
            "BigMetadata": grpc.unary_unary_rpc_method_handler(big_metadata),
        },
    )


@dataclass
class Served:
    server: GrpcServer
    port: int
    probe: Probe

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"


ServerFactory = Callable[..., Awaitable[Served]]


@pytest.fixture
async def make_server() -> AsyncIterator[ServerFactory]:
    """Start `GrpcServer(Limits(**options))` with the test service; every one is stopped afterwards."""
    started: list[GrpcServer] = []

    async def make(**options: Any) -> Served:
        probe = Probe()
        server = GrpcServer(Limits(**options))
        server.add_generic_rpc_handlers([echo_service(probe)])
        port = server.add_insecure_port("127.0.0.1:0")
        assert port > 0
        started.append(server)
        await server.start()
        return Served(server, port, probe)

    try:
        yield make
    finally:
        for server in started:
            await server.stop(grace=None)


@pytest.fixture
async def served(make_server: ServerFactory) -> Served:
    return await make_server()


ChannelFactory = Callable[[Served], grpc.aio.Channel]


@pytest.fixture
async def make_channel() -> AsyncIterator[ChannelFactory]:
    """grpcio channels of their own (no shared subchannels), all closed afterwards."""
    channels: list[grpc.aio.Channel] = []

    def make(target: Served) -> grpc.aio.Channel:
        channel = grpc.aio.insecure_channel(target.target, options=[("grpc.use_local_subchannel_pool", 1)])
        channels.append(channel)
        return channel

    try:
        yield make
    finally:
        for channel in channels:
            await channel.close()


@pytest.fixture
async def channel(served: Served, make_channel: ChannelFactory) -> grpc.aio.Channel:
    return make_channel(served)


H2Factory = Callable[..., Awaitable[H2Client]]
RawFactory = Callable[..., Awaitable[RawClient]]
_Client = TypeVar("_Client", H2Client, RawClient)


async def _clients(connect: Callable[..., Awaitable[_Client]]) -> AsyncIterator[Callable[..., Awaitable[_Client]]]:
    """A factory of clients (`connect` arguments), every one closed afterwards."""
    made: list[_Client] = []

    async def make(port: int, **options: Any) -> _Client:
        client = await connect(port, **options)
        made.append(client)
        return client

    try:
        yield make
    finally:
        for client in made:
            await client.close()


@pytest.fixture
async def make_h2() -> AsyncIterator[H2Factory]:
    """`h2` clients (`H2Client.connect` arguments), all closed afterwards."""
    async for make in _clients(H2Client.connect):
        yield make


@pytest.fixture
async def make_raw() -> AsyncIterator[RawFactory]:
    """Raw-frame clients (`RawClient.connect` arguments), all closed afterwards."""
    async for make in _clients(RawClient.connect):
        yield make
