"""One RPC on one HTTP/2 stream: the request messages in, the responses out, and the
`grpc.aio.ServicerContext` methods our handlers use (read, write, abort, metadata)."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

import grpc

from h2grpc import headers as h

if TYPE_CHECKING:
    from h2grpc.connection import Connection

log = logging.getLogger("h2grpc")

Metadata = Sequence[tuple[str, str | bytes]]

_COMPRESSED = 1


class ServerCall:
    """The stream's state and the handler's context; `Connection` owns the frames."""

    def __init__(
        self,
        conn: Connection,
        stream_id: int,
        method: str,
        handler: grpc.RpcMethodHandler,
        request_headers: list[h.Header],
        deadline: float | None,
    ) -> None:
        self.stream_id = stream_id
        self.method = method
        self._conn = conn
        self._handler = handler
        self._request_headers = request_headers
        self._deadline = deadline
        self.send_window = conn.peer.initial_window
        self.pending: deque[memoryview] = deque()  # DATA bytes waiting for flow-control window
        self.pending_bytes = 0
        self.trailers: bytes | None = None  # sent once `pending` drains
        self.headers_sent = False
        self.recv_closed = False
        self.done = False  # the status is decided (sent, queued, or the peer is gone)
        self.peer_cancelled = False
        self.unacked = 0  # received bytes not yet returned to the peer's stream window
        self._partial = bytearray()
        self._messages: deque[bytes] = deque()
        self._reader: asyncio.Future[None] | None = None
        self._writer: asyncio.Future[None] | None = None
        self.task: asyncio.Task[None] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self._code = grpc.StatusCode.OK
        self._details = ""
        self._trailing: Metadata = ()
        self._initial: Metadata = ()

    # -- requests in

    @property
    def request_streaming(self) -> bool:
        return bool(self._handler.request_streaming)

    @property
    def queued(self) -> int:
        return len(self._messages)

    def data_received(self, data: bytes | memoryview) -> None:
        """Request bytes of this stream: split them into gRPC messages (5-byte prefix each)."""
        buf = self._partial
        buf += data
        limit = self._conn.max_receive_message_length
        while len(buf) >= 5:
            size = int.from_bytes(buf[1:5], "big")
            if buf[0] & _COMPRESSED:
                self.fail(grpc.StatusCode.UNIMPLEMENTED, "compressed requests are not supported (grpc-encoding)")
                return
            if size > limit:
                self.fail(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"grpc: received message larger than max ({size} vs. {limit})",
                )
                return
            if len(buf) < 5 + size:
                break
            self._messages.append(bytes(buf[5 : 5 + size]))
            del buf[: 5 + size]
            if not self.request_streaming:
                # A unary request starts its handler at once, half-closed or not (grpcio does too).
                if self.task is not None or len(self._messages) > 1:
                    self.fail(grpc.StatusCode.INTERNAL, "a unary call takes one request message, got more")
                    return
                self.start()
        self._wake_reader()

    def end_of_requests(self) -> None:
        """The client half-closed: a unary request is complete now."""
        self.recv_closed = True
        if self._partial and not self.done:
            self.fail(grpc.StatusCode.INTERNAL, "the request ended inside a message")
            return
        if not self.request_streaming and self.task is None and not self.done:
            self.fail(grpc.StatusCode.INTERNAL, "a unary call takes one request message, got none")
            return
        self._wake_reader()

    def _wake_reader(self) -> None:
        if self._reader is not None and not self._reader.done():
            self._reader.set_result(None)

    # -- running the handler

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        hd = self._handler
        try:
            request: Any = self._requests() if hd.request_streaming else self._deserialize(self._messages.popleft())
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
                if not self.done:
                    self._conn.send_message(self, self._serialize(response))
            self.finish(self._code, self._details, self._trailing)
        except grpc.aio.AbortError:
            self.finish(self._code, self._details, self._trailing)
        except asyncio.CancelledError:
            self.finish(grpc.StatusCode.CANCELLED, "the call was cancelled")
        except _BadMessage as exc:
            self.finish(grpc.StatusCode.INTERNAL, str(exc))
        except Exception as exc:
            if self.done:
                return  # the call ended under the handler (deadline, reset): nobody to tell
            log.error("unexpected error serving %s", self.method, exc_info=exc)
            self.finish(grpc.StatusCode.UNKNOWN, f"Unexpected {type(exc)}: {exc}")
        finally:
            if self.timer is not None:
                self.timer.cancel()

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

    # -- ending the call

    def finish(self, code: grpc.StatusCode, details: str = "", trailing: Metadata = ()) -> None:
        """Decide the status and queue the trailers (after any response bytes still queued)."""
        if self.done:
            return
        self.done = True
        block = h.status_block(code.value[0], details, trailing)
        if not self.headers_sent:
            self.headers_sent = True  # trailers-only response
            block = self.initial_metadata_block() + block
        self._conn.send_trailers(self, block)
        self.drained()

    def fail(self, code: grpc.StatusCode, details: str) -> None:
        """End the call from the transport side (bad request bytes, deadline, shutdown):
        responses still queued are dropped, the status goes out now."""
        self.pending.clear()
        self.pending_bytes = 0
        self.finish(code, details)
        self.cancel()

    def cancel(self, *, by_peer: bool = False) -> None:
        """The call is over for the peer (`by_peer`: the client reset it or went away):
        stop the handler, wake anything waiting."""
        self.done = True
        self.peer_cancelled = self.peer_cancelled or by_peer
        if self.task is not None and not self.task.done() and self.task is not asyncio.current_task():
            self.task.cancel()
        if self.timer is not None:
            self.timer.cancel()
        self._wake_reader()
        self.drained()

    def expire(self) -> None:
        self.fail(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")

    # -- flow control, called by the connection

    def drained(self) -> None:
        """Wake a `write()` waiting for window or socket buffer (or for the call's end)."""
        if self._writer is not None and not self._writer.done():
            self._writer.set_result(None)

    # -- grpc.aio.ServicerContext

    async def read(self) -> Any:
        if not self.request_streaming:
            raise grpc.aio.UsageError("read() is for calls that stream requests")
        while not self._messages:
            if self.recv_closed or self.done:
                return grpc.aio.EOF
            self._reader = asyncio.get_running_loop().create_future()
            await self._reader
        data = self._messages.popleft()
        self._conn.consumed(self)
        return self._deserialize(data)

    async def write(self, message: Any) -> None:
        if self.done:
            raise grpc.aio.UsageError("write() on a call that is already finished")
        self._conn.send_message(self, self._serialize(message))
        while (self.pending_bytes or self._conn.paused) and not self.done:
            self._writer = asyncio.get_running_loop().create_future()
            await self._writer

    async def send_initial_metadata(self, initial_metadata: Metadata) -> None:
        if self.headers_sent:
            raise grpc.aio.UsageError("the initial metadata is already sent")
        self._initial = tuple(initial_metadata)
        self._conn.send_headers(self)

    def initial_metadata_block(self) -> bytes:
        return h.RESPONSE_HEADERS + h.encode(h.metadata(self._initial))

    async def abort(self, code: grpc.StatusCode, details: str = "", trailing_metadata: Metadata = ()) -> NoReturn:
        if self.done:
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
        return self._conn.peer_name

    def time_remaining(self) -> float | None:
        return None if self._deadline is None else max(0.0, self._deadline - time.monotonic())

    def cancelled(self) -> bool:
        return self.peer_cancelled

    def is_done(self) -> bool:
        return self.done


class _BadMessage(Exception):
    """A request or response that does not (de)serialize: INTERNAL, as grpcio answers."""
