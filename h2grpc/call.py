"""One RPC as its handler sees it: the `grpc.aio.ServicerContext` methods our handlers use
(read, write, abort, metadata, status, deadline) and running the handler (unary or
streaming, with its serializers).

A `ServerCall` holds no stream state: it reaches its stream only through `CallTransport`
(the connection implements it), and the connection tells it what happened through the
methods under "told by the connection". The statuses decided here are the handler's
(abort, set_code, an exception: UNKNOWN, a message that does not (de)serialize: INTERNAL).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, NoReturn, Protocol

import grpc

from h2grpc import headers as h

log = logging.getLogger("h2grpc")

Metadata = Sequence[tuple[str, str | bytes]]


class CallTransport(Protocol):
    """What a call needs of its connection, by stream id."""

    def next_request(self, stream_id: int) -> bytes | None:
        """The next complete request message, if one is queued (taking it notes it consumed)."""
        ...

    def send_initial_metadata(self, stream_id: int, metadata: bytes) -> None:
        """The response headers with the encoded initial metadata (`headers.encode`)."""
        ...

    def send_message(self, stream_id: int, message: bytes) -> bool:
        """A response message; True if the call may write the next one at once."""
        ...

    def writable(self, stream_id: int) -> bool:
        """Nothing of the call's waits for window, nor the socket's buffer."""
        ...

    def finish(self, stream_id: int, status: bytes, *, drop_queued: bool = False) -> None:
        """The end of the call: its status block (`headers.status_block`), after the response
        data still queued unless `drop_queued`."""
        ...


class ServerCall:
    """The handler's context for one call on stream `stream_id`."""

    __slots__ = (
        "_code",
        "_deadline",
        "_details",
        "_done",
        "_handler",
        "_metadata_sent",
        "_peer",
        "_peer_cancelled",
        "_reader",
        "_request_headers",
        "_requests_ended",
        "_trailing",
        "_transport",
        "_writer",
        "method",
        "stream_id",
    )

    def __init__(
        self,
        transport: CallTransport,
        stream_id: int,
        method: str,
        handler: grpc.RpcMethodHandler,
        request_headers: list[h.Header],
        deadline: float | None,
        peer: str,
    ) -> None:
        self.stream_id = stream_id
        self.method = method
        self._transport = transport
        self._handler = handler
        self._request_headers = request_headers
        self._deadline = deadline  # time.monotonic() at which the call expires
        self._peer = peer
        self._done = False  # the status is decided (sent, queued, or the peer is gone)
        self._peer_cancelled = False  # the client reset the call or went away
        self._metadata_sent = False  # initial metadata can no longer be sent (headers went, or the end)
        self._requests_ended = False  # the client half-closed: read() past the queue is EOF
        self._reader: asyncio.Future[None] | None = None  # read() waiting for a message
        self._writer: asyncio.Future[None] | None = None  # write() waiting for window
        self._code = grpc.StatusCode.OK
        self._details = ""
        self._trailing: Metadata = ()

    @property
    def request_streaming(self) -> bool:
        return bool(self._handler.request_streaming)

    # -- told by the connection

    def requests_ready(self) -> None:
        """Request messages are queued: wake a read()."""
        self._wake(self._reader)

    def requests_ended(self) -> None:
        """The client half-closed: a read() past the queued messages returns EOF."""
        self._requests_ended = True
        self._wake(self._reader)

    def writable_again(self) -> None:
        """Window or socket buffer opened: wake a write()."""
        self._wake(self._writer)

    def fail(self, code: grpc.StatusCode, details: str) -> None:
        """End the call from the transport side (deadline, shutdown): responses still queued
        are dropped, the status goes out now."""
        if not self._done:
            self._done = self._metadata_sent = True
            self._transport.finish(self.stream_id, h.status_block(code.value[0], details), drop_queued=True)
        self.cancel()

    def cancel(self, *, by_peer: bool = False) -> None:
        """The call is over for the peer (`by_peer`: the client reset it or went away), the
        handler is being stopped: wake anything waiting."""
        self._done = True
        self._peer_cancelled = self._peer_cancelled or by_peer
        self._wake(self._reader)
        self._wake(self._writer)

    @staticmethod
    def _wake(waiter: asyncio.Future[None] | None) -> None:
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- running the handler

    async def run(self) -> None:
        """The handler, from its request(s) to the status (the connection runs this as a task)."""
        hd = self._handler
        try:
            if hd.request_streaming:
                request: Any = self._requests()
            else:
                message = self._transport.next_request(self.stream_id)
                if message is None:
                    return  # the stream ended before the handler could run
                request = self._deserialize(message)
            if hd.response_streaming:
                behavior = hd.stream_stream if hd.request_streaming else hd.unary_stream
                result = behavior(request, self)
                if inspect.isasyncgen(result):
                    async for response in result:
                        await self.write(response)
                elif inspect.isawaitable(result):
                    await result
            else:
                behavior = hd.stream_unary if hd.request_streaming else hd.unary_unary
                response = behavior(request, self)
                if inspect.isawaitable(response):
                    response = await response
                if not self._done:
                    self._metadata_sent = True
                    self._transport.send_message(self.stream_id, self._serialize(response))
            self._finish(self._code, self._details, self._trailing)
        except grpc.aio.AbortError:
            self._finish(self._code, self._details, self._trailing)
        except asyncio.CancelledError:
            self._finish(grpc.StatusCode.CANCELLED, "the call was cancelled")
        except _BadMessage as exc:
            self._finish(grpc.StatusCode.INTERNAL, str(exc))
        except Exception as exc:
            if self._done:
                return  # the call ended under the handler (deadline, reset): nobody to tell
            log.error("unexpected error serving %s", self.method, exc_info=exc)
            self._finish(grpc.StatusCode.UNKNOWN, f"Unexpected {type(exc)}: {exc}")

    def _finish(self, code: grpc.StatusCode, details: str = "", trailing: Metadata = ()) -> None:
        """Decide the status; the trailers go out after any response bytes still queued."""
        if self._done:
            return
        self._done = self._metadata_sent = True
        self._transport.finish(self.stream_id, h.status_block(code.value[0], details, trailing))
        self._wake(self._writer)

    async def _requests(self) -> AsyncIterator[Any]:
        while True:
            message = await self.read()
            if message is grpc.aio.EOF:
                return
            yield message

    def _deserialize(self, data: bytes) -> Any:
        des = self._handler.request_deserializer
        if des is None:
            return data
        try:
            return des(data)
        except Exception:
            raise _BadMessage("Exception deserializing request!") from None

    def _serialize(self, message: Any) -> bytes:
        ser = self._handler.response_serializer
        if ser is None:
            return bytes(message)
        try:
            return bytes(ser(message))
        except Exception:
            raise _BadMessage("Exception serializing response!") from None

    # -- grpc.aio.ServicerContext

    async def read(self) -> Any:
        if not self.request_streaming:
            raise grpc.aio.UsageError("read() is for calls that stream requests")
        while (data := self._transport.next_request(self.stream_id)) is None:
            if self._requests_ended or self._done:
                return grpc.aio.EOF
            self._reader = asyncio.get_running_loop().create_future()
            await self._reader
        return self._deserialize(data)

    async def write(self, message: Any) -> None:
        if self._done:
            raise grpc.aio.UsageError("write() on a call that is already finished")
        self._metadata_sent = True
        if self._transport.send_message(self.stream_id, self._serialize(message)):
            return
        while not self._done and not self._transport.writable(self.stream_id):
            self._writer = asyncio.get_running_loop().create_future()
            await self._writer

    async def send_initial_metadata(self, initial_metadata: Metadata) -> None:
        if self._metadata_sent:
            raise grpc.aio.UsageError("the initial metadata is already sent")
        self._metadata_sent = True
        self._transport.send_initial_metadata(self.stream_id, h.encode(h.metadata(initial_metadata)))

    async def abort(self, code: grpc.StatusCode, details: str = "", trailing_metadata: Metadata = ()) -> NoReturn:
        if self._done:
            raise grpc.aio.UsageError("abort() on a call that is already finished")
        self._code, self._details, self._trailing = code, details, tuple(trailing_metadata)
        raise grpc.aio.AbortError()

    def set_code(self, code: grpc.StatusCode) -> None:
        self._code = code

    def set_details(self, details: str) -> None:
        self._details = details

    def set_trailing_metadata(self, trailing_metadata: Metadata) -> None:
        self._trailing = tuple(trailing_metadata)

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def invocation_metadata(self) -> tuple[tuple[str, str | bytes], ...]:
        return h.invocation_metadata(self._request_headers)

    def peer(self) -> str:
        return self._peer

    def time_remaining(self) -> float | None:
        return None if self._deadline is None else max(0.0, self._deadline - time.monotonic())

    def cancelled(self) -> bool:
        return self._peer_cancelled

    def is_done(self) -> bool:
        return self._done


class _BadMessage(Exception):
    """A request or response that does not (de)serialize: INTERNAL, as grpcio answers."""
