"""grpcio's client (`grpc.aio.insecure_channel`) against `GrpcServer`: the four call shapes,
statuses, metadata, deadlines, cancellation and message sizes, as grpcio's own server
answers them (gRPC over HTTP/2 protocol spec)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import struct
from collections.abc import AsyncIterator

import grpc
import pytest

from tests.h2grpc.conftest import (
    ABORT_CODE,
    ABORT_DETAILS,
    ABORT_TRAILERS,
    INITIAL_METADATA,
    ChannelFactory,
    Served,
    ServerFactory,
    path,
)

CALL_TIMEOUT = 10.0  # seconds; a bound on every call that is expected to succeed
WAIT = 5.0


async def test_unary(channel: grpc.aio.Channel) -> None:
    """gRPC over HTTP/2: a unary call, one request message and one response message; an
    empty message is a valid message."""
    call = channel.unary_unary(path("Unary"))
    assert await call(b"hello", timeout=CALL_TIMEOUT) == b"hello"
    assert await call(b"", timeout=CALL_TIMEOUT) == b""


async def test_unary_stream(channel: grpc.aio.Channel) -> None:
    """gRPC over HTTP/2: a server-streaming call, every response message in order, then OK."""
    call = channel.unary_stream(path("ServerStream"))(struct.pack(">II", 50, 1000), timeout=CALL_TIMEOUT)
    received = [message async for message in call]
    assert received == [bytes((i,)) * 1000 for i in range(50)]
    assert await call.code() == grpc.StatusCode.OK


async def test_stream_unary(channel: grpc.aio.Channel) -> None:
    """gRPC over HTTP/2: a client-streaming call; the handler sees every request message in
    order and until the client half-closes."""
    messages = [bytes((i,)) * (i * 37) for i in range(40)]

    async def requests() -> AsyncIterator[bytes]:
        for m in messages:
            yield m

    response = await channel.stream_unary(path("ClientStream"))(requests(), timeout=CALL_TIMEOUT)
    assert response == struct.pack(">I", len(messages)) + hashlib.sha256(b"".join(messages)).digest()


async def test_stream_stream_interleaved(channel: grpc.aio.Channel) -> None:
    """gRPC over HTTP/2: a bidirectional call where each response follows its request
    (`context.read()` / `context.write()`), then EOF and OK after the client half-closes."""
    call = channel.stream_stream(path("BidiEcho"))(timeout=CALL_TIMEOUT)
    for i in range(20):
        message = b"ping %d" % i
        await call.write(message)
        assert await call.read() == message
    await call.done_writing()
    assert await call.read() is grpc.aio.EOF
    assert await call.code() == grpc.StatusCode.OK


async def test_abort_status_details_trailing_metadata(channel: grpc.aio.Channel) -> None:
    """gRPC over HTTP/2 (Trailers: Status, Status-Message percent-encoded, Custom-Metadata
    with base64 '-bin' values): the client sees the handler's `abort` code, details and
    trailing metadata as grpcio's server would send them."""
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await channel.unary_unary(path("Abort"))(b"", timeout=CALL_TIMEOUT)
    assert err.value.code() == ABORT_CODE
    assert err.value.details() == ABORT_DETAILS
    trailing = list(err.value.trailing_metadata())
    for pair in ABORT_TRAILERS:
        assert pair in trailing


async def test_set_code_and_details(channel: grpc.aio.Channel) -> None:
    """grpc.aio.ServicerContext: `set_code`/`set_details`/`set_trailing_metadata` then a
    normal return end the call with that status, as on grpcio's server."""
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await channel.unary_unary(path("SetCode"))(b"", timeout=CALL_TIMEOUT)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert err.value.details() == "no such thing"
    assert ("x-why", "gone") in list(err.value.trailing_metadata())


async def test_handler_exception_is_unknown(channel: grpc.aio.Channel) -> None:
    """grpcio's server: an exception escaping the handler ends the call with UNKNOWN, and
    the server keeps serving."""
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await channel.unary_unary(path("Fail"))(b"", timeout=CALL_TIMEOUT)
    assert err.value.code() == grpc.StatusCode.UNKNOWN
    assert await channel.unary_unary(path("Unary"))(b"after", timeout=CALL_TIMEOUT) == b"after"


async def test_initial_and_invocation_metadata(channel: grpc.aio.Channel) -> None:
    """gRPC over HTTP/2 (Custom-Metadata): `send_initial_metadata` reaches the client in the
    response headers; the client's metadata (text and '-bin') reaches `invocation_metadata()`;
    `peer()` is grpcio's 'ipv4:host:port'; `time_remaining()` follows grpc-timeout."""
    call = channel.unary_unary(path("Metadata"))(
        b"",
        metadata=(("x-client", "abc"), ("x-client-bin", b"\x00\xfe\xff")),
        timeout=CALL_TIMEOUT,
    )
    initial = list(await call.initial_metadata())
    for pair in INITIAL_METADATA:
        assert pair in initial
    seen = json.loads(await call)
    pairs = [(k, bytes.fromhex(v) if is_bin else v) for k, v, is_bin in seen["metadata"]]
    assert ("x-client", "abc") in pairs
    assert ("x-client-bin", b"\x00\xfe\xff") in pairs
    assert not any(k.startswith(":") or k in ("content-type", "te", "grpc-timeout") for k, _ in pairs)
    assert seen["peer"].startswith("ipv4:127.0.0.1:")
    assert 0 < seen["time_remaining"] <= CALL_TIMEOUT + 1  # grpcio rounds grpc-timeout up
    assert await call.code() == grpc.StatusCode.OK


async def test_deadline_exceeded_then_serving(served: Served, channel: grpc.aio.Channel) -> None:
    """gRPC over HTTP/2 (Timeout): a call past its deadline ends with DEADLINE_EXCEEDED, its
    handler is cancelled, and the server goes on serving the channel."""
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await channel.unary_unary(path("Wait"))(b"x", timeout=0.3)
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    await asyncio.wait_for(served.probe.cancelled.wait(), WAIT)
    assert await channel.unary_unary(path("Unary"))(b"still here", timeout=CALL_TIMEOUT) == b"still here"


async def test_client_cancel_cancels_handler(served: Served, channel: grpc.aio.Channel) -> None:
    """gRPC over HTTP/2 (RST_STREAM CANCEL from the client), grpcio's server: cancelling a
    streaming call cancels its handler (CancelledError inside it)."""
    call = channel.unary_stream(path("WaitStream"))(b"", timeout=CALL_TIMEOUT)
    assert await call.read() == b"first"
    await asyncio.wait_for(served.probe.started.wait(), WAIT)
    assert call.cancel()
    await asyncio.wait_for(served.probe.cancelled.wait(), WAIT)
    assert await channel.unary_unary(path("Unary"))(b"next", timeout=CALL_TIMEOUT) == b"next"


@pytest.mark.parametrize("method", ["/test.Echo/Nope", "/no.Such/Service", "/"])
async def test_unknown_method_unimplemented(channel: grpc.aio.Channel, method: str) -> None:
    """gRPC over HTTP/2 / grpcio's server: a method no handler serves is UNIMPLEMENTED."""
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await channel.unary_unary(method)(b"", timeout=CALL_TIMEOUT)
    assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_request_over_limit_resource_exhausted(make_server: ServerFactory, make_channel: ChannelFactory) -> None:
    """grpcio's server (grpc.max_receive_message_length): a request message over the limit is
    RESOURCE_EXHAUSTED; the next call on the same channel is served."""
    served = await make_server(max_receive_message_length=64 * 1024)
    channel = make_channel(served)
    call = channel.unary_unary(path("Unary"))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call(b"x" * (64 * 1024 + 1), timeout=CALL_TIMEOUT)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    exactly = b"y" * (64 * 1024)
    assert await call(exactly, timeout=CALL_TIMEOUT) == exactly
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await channel.stream_unary(path("ClientStream"))(iter([b"a", b"z" * (200 * 1024)]), timeout=CALL_TIMEOUT)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert await call(b"small", timeout=CALL_TIMEOUT) == b"small"


async def test_3mib_request_and_response(channel: grpc.aio.Channel) -> None:
    """RFC 9113 section 5.2 / 6.9 (flow control both ways): a 3 MiB request and a 3 MiB
    response, bigger than the stream window (1 MiB) and the clients' windows, arrive intact."""
    payload = random.Random(3).randbytes(3 * 1024 * 1024)
    assert await channel.unary_unary(path("Unary"))(payload, timeout=CALL_TIMEOUT) == payload


async def test_3mib_messages_on_a_bidi_stream(channel: grpc.aio.Channel) -> None:
    """RFC 9113 section 6.9 with `context.read()`/`context.write()`: 3 MiB messages both ways
    on one stream, the window returned as the handler reads."""
    rng = random.Random(33)
    call = channel.stream_stream(path("BidiEcho"))(timeout=CALL_TIMEOUT)
    for _ in range(2):
        message = rng.randbytes(3 * 1024 * 1024)
        await call.write(message)
        assert await call.read() == message
    await call.done_writing()
    assert await call.read() is grpc.aio.EOF
    assert await call.code() == grpc.StatusCode.OK


async def test_200_concurrent_unary_calls(channel: grpc.aio.Channel) -> None:
    """RFC 9113 section 5.1.2 (concurrent streams on one connection): 200 unary calls at once
    on one channel are all answered, each with its own response."""
    call = channel.unary_unary(path("Unary"))
    requests = [b"call %d " % i + b"." * i for i in range(200)]
    responses = await asyncio.gather(*(call(r, timeout=CALL_TIMEOUT) for r in requests))
    assert responses == requests
