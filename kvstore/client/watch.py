"""Watches over one shared gRPC Watch stream, resumed after a reconnect.

Like etcd's clientv3, every watch of a client rides one bidirectional stream. Each
watcher remembers the next revision it has to deliver; when the stream breaks (server
restart, network), the manager reconnects with backoff and re-creates every open watch
from that revision, so the consumer sees no gap and no duplicate. If that revision was
compacted meanwhile, the watcher raises CompactedError.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Iterable
from typing import Any, cast

import grpc

from kvstore.client.retry import Backoff
from kvstore.errors import CompactedError, KVError
from kvstore.messages import Event, WatchFilterType, WatchResponse
from kvstore.pb import rpc_pb2
from kvstore.rpc.convert import event_from_pb, header_from_pb

log = logging.getLogger("kvstore.client")


class RemoteWatcher:
    """A watch served by a remote server; the same interface as the embedded Watcher."""

    def __init__(
        self,
        manager: WatchManager,
        key: bytes,
        range_end: bytes,
        start_revision: int,
        *,
        prev_kv: bool,
        filters: frozenset[WatchFilterType],
        progress_notify: bool,
    ) -> None:
        self._manager = manager
        self.key = key
        self.range_end = range_end
        self.prev_kv = prev_kv
        self.filters = filters
        self.progress_notify = progress_notify
        self.watch_id = 0  # the client-chosen ID on the current stream
        self.next_revision = start_revision  # 0: from whatever the server's next write is
        self.cancel_reason = ""
        self._created = asyncio.Event()
        self._buffer: deque[WatchResponse] = deque()
        self._error: KVError | None = None
        self._closed = False
        self._waiter: asyncio.Future[None] | None = None

    @property
    def canceled(self) -> bool:
        return self._closed

    def __aiter__(self) -> RemoteWatcher:
        return self

    async def __aenter__(self) -> RemoteWatcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.cancel()

    async def wait_created(self) -> None:
        """Wait until the server has created the watch (events from then on are covered)."""
        await self._created.wait()
        if self._error is not None and not self._buffer:
            raise self._error

    def cancel(self, reason: str = "") -> None:
        if self._closed:
            return
        self._closed = True
        self.cancel_reason = reason
        self._buffer.clear()
        self._manager.cancel(self)
        self._wake()

    def request_progress(self) -> None:
        self._manager.request_progress()

    # ------------------------------------------------------------ manager side

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _push(self, resp: WatchResponse) -> None:
        if resp.events:
            self.next_revision = resp.events[-1].kv.mod_revision + 1
        elif resp.header.revision + 1 > self.next_revision and self._created.is_set():
            self.next_revision = resp.header.revision + 1  # a progress notification
        self._buffer.append(resp)
        self._wake()

    def _fail(self, error: KVError, reason: str) -> None:
        self._error = error
        self._closed = True
        self.cancel_reason = reason
        self._created.set()
        self._wake()

    # ------------------------------------------------------------ consumer side

    async def __anext__(self) -> WatchResponse:
        while True:
            if self._buffer:
                return self._buffer.popleft()
            if self._error is not None:
                err, self._error = self._error, None
                raise err
            if self._closed:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None


class WatchManager:
    """Owns the client's Watch stream: creates, cancels, routes responses, reconnects."""

    def __init__(self, stub: Any) -> None:
        self._stub = stub
        self._by_id: dict[int, RemoteWatcher] = {}
        self._next_id = 1
        self._outbox: asyncio.Queue[rpc_pb2.WatchRequest | None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.reconnects = 0

    def add(self, w: RemoteWatcher) -> None:
        if self._closed:
            w._fail(KVError("etcdclient: client is closed"), "client closed")
            return
        self._ensure_running()
        self._register(w)

    def _register(self, w: RemoteWatcher) -> None:
        w.watch_id = self._next_id
        self._next_id += 1
        self._by_id[w.watch_id] = w
        self._send(_create_request(w))

    def cancel(self, w: RemoteWatcher) -> None:
        if self._by_id.pop(w.watch_id, None) is w:
            self._send(rpc_pb2.WatchRequest(cancel_request=rpc_pb2.WatchCancelRequest(watch_id=w.watch_id)))

    def request_progress(self) -> None:
        self._send(rpc_pb2.WatchRequest(progress_request=rpc_pb2.WatchProgressRequest()))

    def _send(self, req: rpc_pb2.WatchRequest) -> None:
        if self._outbox is not None:
            self._outbox.put_nowait(req)

    def _ensure_running(self) -> None:
        if self._task is None:
            self._outbox = asyncio.Queue()
            self._task = asyncio.get_running_loop().create_task(self._run(), name="kvstore-watch-stream")

    async def close(self) -> None:
        self._closed = True
        for w in list(self._by_id.values()):
            w._fail(KVError("etcdclient: client is closed"), "client closed")
        self._by_id.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    # ------------------------------------------------------------ the stream

    async def _run(self) -> None:
        backoff = Backoff()
        first = True
        while not self._closed:
            call = self._stub.Watch(wait_for_ready=True)
            assert self._outbox is not None
            if not first:
                # Resume: a fresh stream, every open watch re-created from its next revision.
                self.reconnects += 1
                self._outbox = asyncio.Queue()
                watchers = list(self._by_id.values())
                self._by_id.clear()
                for w in watchers:
                    self._register(w)
            first = False
            writer = asyncio.create_task(self._write(call, self._outbox))
            try:
                async for msg in call:
                    backoff.reset()
                    self._dispatch(msg)
                if self._closed:
                    return
                raise _StreamEnded()
            except asyncio.CancelledError:
                call.cancel()
                raise
            except (grpc.aio.AioRpcError, _StreamEnded) as exc:
                log.info("watch stream broke (%s); reconnecting", _describe(exc))
            finally:
                writer.cancel()
            await asyncio.sleep(backoff.next_delay())

    async def _write(self, call: Any, outbox: asyncio.Queue[rpc_pb2.WatchRequest | None]) -> None:
        with contextlib.suppress(grpc.aio.AioRpcError, asyncio.InvalidStateError, grpc.aio.UsageError):
            while True:
                req = await outbox.get()
                if req is None:
                    return
                await call.write(req)

    def _dispatch(self, msg: rpc_pb2.WatchResponse) -> None:
        header = header_from_pb(msg.header)
        if msg.watch_id == -1 and not msg.created:
            # A progress notification for the whole stream: every watcher is up to date.
            for w in list(self._by_id.values()):
                w._push(WatchResponse(header, w.watch_id))
            return
        found = self._by_id.get(msg.watch_id)
        if found is None:
            return  # a response for a watch we canceled
        w = found
        if msg.created:
            w._created.set()
            if w.next_revision == 0:
                w.next_revision = header.revision + 1
            if msg.canceled:
                del self._by_id[msg.watch_id]
                w._fail(KVError(msg.cancel_reason or "etcdserver: watch canceled"), msg.cancel_reason)
            return
        if msg.canceled:
            del self._by_id[msg.watch_id]
            if msg.compact_revision:
                w._fail(CompactedError(msg.compact_revision), "compacted")
            else:
                w._fail(KVError(msg.cancel_reason or "etcdserver: watch canceled"), msg.cancel_reason)
            return
        events: tuple[Event, ...] = tuple(event_from_pb(e) for e in msg.events)
        w._push(WatchResponse(header, msg.watch_id, events, compact_revision=msg.compact_revision))


class _StreamEnded(Exception):
    """The server closed the stream without an error status."""


def _describe(exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    return "stream closed by the server"


def _create_request(w: RemoteWatcher) -> rpc_pb2.WatchRequest:
    create = rpc_pb2.WatchCreateRequest(
        key=w.key,
        range_end=w.range_end,
        start_revision=w.next_revision,
        progress_notify=w.progress_notify,
        filters=cast(Any, [int(f) for f in sorted(w.filters)]),
        prev_kv=w.prev_kv,
        watch_id=w.watch_id,
    )
    return rpc_pb2.WatchRequest(create_request=create)


def watch_filters(filters: Iterable[WatchFilterType]) -> frozenset[WatchFilterType]:
    return frozenset(WatchFilterType(f) for f in filters)
