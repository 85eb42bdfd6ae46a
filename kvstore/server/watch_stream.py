"""One gRPC Watch stream: many watches multiplexed, one sender.

The client's requests (create, cancel, progress) are read by one task; a single sender
writes every response, so the order on the wire is the order decided here. Watchers
tell the stream when they have something (`Watcher.listener`); the sender polls them
one at a time and writes their events as pre-encoded bytes: a batch shared by many
watchers is encoded once (EventBlobCache) and only the header, watch ID and flags are
encoded per response. If the client stops reading, `write` blocks this sender only; the
stream's watchers overflow their bounded buffers and fall back to history, and nobody
else waits.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

import grpc

from h2grpc.wire import varint
from kvstore.errors import CompactedError, KVError
from kvstore.messages import WatchFilterType
from kvstore.pb import rpc_pb2
from kvstore.rpc.watch_codec import EventBlobCache, encode_header, watch_response
from kvstore.server.handlers import parse
from kvstore.server.send_gate import SendGate
from kvstore.store import Store
from kvstore.watch.watcher import BatchKind, Watcher

log = logging.getLogger("kvstore.server")

INVALID_WATCH_ID = -1  # etcd's clientv3.InvalidWatchID: a progress response for the whole stream
_DUPLICATE_ID = "mvcc: duplicate watch ID provided on the WatchStream"


class WatchStream:
    def __init__(self, store: Store, cache: EventBlobCache, gate: SendGate, context: grpc.aio.ServicerContext) -> None:
        self.store = store
        self.cache = cache
        self.gate = gate
        self.context = context
        self.watchers: dict[int, Watcher] = {}
        self.responses_sent = 0
        self._next_id = 0
        self._control: deque[bytes] = deque()  # created / canceled responses go first
        self._ready: deque[Watcher] = deque()
        self._queued: set[Watcher] = set()  # the watchers in _ready (by identity: an ID may be reused)
        self._progress_all = False
        self._closing = False
        self._wakeup: asyncio.Future[None] | None = None
        self._header_rev = -1
        self._last_sent = 0.0  # loop time of the last event response
        self._header_bytes = b""
        self.error: KVError | None = None

    # ------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        reader = asyncio.create_task(self._read_loop())
        try:
            await self._send_loop()
        finally:
            reader.cancel()
            for w in self.watchers.values():
                w.listener = None
                w.cancel()
            self.watchers.clear()

    def _wake(self) -> None:
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)

    def _on_ready(self, w: Watcher) -> None:
        if w not in self._queued:
            self._queued.add(w)
            self._ready.append(w)
            self._wake()

    # ------------------------------------------------------------ requests

    async def _read_loop(self) -> None:
        try:
            while True:
                data: Any = await self.context.read()
                if data is grpc.aio.EOF:
                    return  # half-closed by the client: keep sending, as etcd does
                self._handle(parse(rpc_pb2.WatchRequest, data))
        except asyncio.CancelledError:
            raise
        except KVError as err:  # a request that does not parse ends the stream with its status
            self.error = err
            self._closing = True
            self._wake()
        except Exception as exc:  # a broken stream: stop the sender too
            log.debug("watch stream read failed: %r", exc)
            self._closing = True
            self._wake()

    def _handle(self, request: rpc_pb2.WatchRequest) -> None:
        which = request.WhichOneof("request_union")
        if which == "create_request":
            self._create(request.create_request)
        elif which == "cancel_request":
            self._cancel(request.cancel_request.watch_id)
        elif which == "progress_request":
            self._progress_all = True
            self._wake()

    def _create(self, req: rpc_pb2.WatchCreateRequest) -> None:
        current = self.store.revision
        watch_id = req.watch_id
        if watch_id == 0:
            while self._next_id in self.watchers:
                self._next_id += 1
            watch_id = self._next_id
            self._next_id += 1
        elif watch_id in self.watchers or watch_id == INVALID_WATCH_ID:
            self._send_control(current, INVALID_WATCH_ID, created=True, canceled=True, cancel_reason=_DUPLICATE_ID)
            return
        key = req.key or b"\0"  # an empty key watches from the smallest key, as in etcd
        try:
            filters = [WatchFilterType(f) for f in req.filters]
            w = self.store.watch(
                key,
                req.range_end,
                start_revision=req.start_revision,
                prev_kv=req.prev_kv,
                filters=filters,
                progress_notify=req.progress_notify,
                watch_id=watch_id,
            )
        except CompactedError as err:
            # etcd creates the watch, then cancels it with the compact revision (no revision).
            self._send_control(current, watch_id, created=True)
            self._send_control(0, watch_id, canceled=True, compact_revision=err.compact_revision)
            return
        except (KVError, ValueError) as err:
            reason = err.message if isinstance(err, KVError) else f"etcdserver: invalid watch request: {err}"
            self._send_control(current, INVALID_WATCH_ID, created=True, canceled=True, cancel_reason=reason)
            return
        self.watchers[watch_id] = w
        self._send_control(current, watch_id, created=True)
        w.listener = self._on_ready
        if w.has_work():
            self._on_ready(w)

    def _cancel(self, watch_id: int) -> None:
        w = self.watchers.pop(watch_id, None)
        if w is None:
            return  # unknown IDs are ignored, as in etcd
        w.listener = None
        w.cancel()
        self._send_control(self.store.revision, watch_id, canceled=True)

    def _send_control(self, revision: int, watch_id: int, **flags: Any) -> None:
        self._control.append(watch_response(self.store.header(revision), watch_id, **flags))
        self._wake()

    # ------------------------------------------------------------ responses

    def _header(self, revision: int) -> bytes:
        if revision != self._header_rev:
            self._header_rev = revision
            self._header_bytes = encode_header(self.store.header(revision))
        return self._header_bytes

    async def _send_loop(self) -> None:
        context = self.context
        loop = asyncio.get_running_loop()
        while True:
            if self._control:
                await context.write(self._control.popleft())
                self.responses_sent += 1
                continue
            if self._ready:
                # Events keep arriving while we wait: one response then carries them all.
                await self.gate.wait_pace(self._last_sent)
                await self.gate.turn()
                data = self._next_from(self._ready.popleft())
                if data is not None:
                    await context.write(data)
                    self._last_sent = loop.time()
                    self.responses_sent += 1
                else:
                    await asyncio.sleep(0)  # let the loop breathe between history chunks
                continue
            if self._progress_all and all(w.synced for w in self.watchers.values()):
                self._progress_all = False
                header = self.store.header(self.store.watch_revision)
                await context.write(watch_response(header, INVALID_WATCH_ID))
                self.responses_sent += 1
                continue
            if self._closing:
                if self.error is not None:
                    raise self.error  # answered with etcd's status by the handler
                return
            self._wakeup = loop.create_future()
            try:
                await self._wakeup
            finally:
                self._wakeup = None

    def _next_from(self, w: Watcher) -> bytes | None:
        """The next response of one watcher, as bytes; None if it had nothing to send."""
        self._queued.discard(w)
        if self.watchers.get(w.watch_id) is not w:
            return None  # canceled meanwhile
        batch = w.poll()
        if w.has_work():
            self._on_ready(w)
        if batch is None:
            return None
        kind = batch.kind
        if kind is BatchKind.EVENTS:
            chunks = batch.chunks
            cache = self.cache
            blob = cache.blob(chunks[0]) if len(chunks) == 1 else b"".join([cache.blob(c) for c in chunks])
            return _with_header(self._header(batch.revision), w.watch_id, blob)
        if kind is BatchKind.PROGRESS:
            return _with_header(self._header(batch.revision), w.watch_id, b"")
        if kind is BatchKind.AGAIN:
            return None
        del self.watchers[w.watch_id]
        w.listener = None
        if kind is BatchKind.COMPACTED:
            header = self.store.header(0)  # etcd's compaction cancel carries no revision
            return watch_response(header, w.watch_id, canceled=True, compact_revision=batch.revision)
        # END: the store is shutting down under us.
        self._closing = True
        return None


def _with_header(header: bytes, watch_id: int, blob: bytes) -> bytes:
    """A WatchResponse from pre-encoded header and events (the common case, kept lean)."""
    if watch_id:
        return header + b"\x10" + varint(watch_id) + blob
    return header + blob
