"""etcdserverpb.Watch: one `WatchStream` per call, writing pre-encoded responses."""

from __future__ import annotations

import grpc

from kvstore.rpc.watch_codec import EventBlobCache
from kvstore.server.handlers import Method, etcd_status, service_handler
from kvstore.server.send_gate import SendGate
from kvstore.server.watch_stream import WatchStream
from kvstore.store import Store


class WatchService:
    def __init__(self, store: Store, gate: SendGate | None = None) -> None:
        self.store = store
        self.cache = EventBlobCache()
        self.gate = gate or SendGate()
        self.streams: set[WatchStream] = set()

    async def watch(self, request_iterator: object, context: grpc.aio.ServicerContext) -> None:
        stream = WatchStream(self.store, self.cache, self.gate, context)
        self.streams.add(stream)
        self.gate.streams += 1  # the gate paces by every open stream, resource watches included
        try:
            await stream.run()
        finally:
            self.streams.discard(stream)
            self.gate.streams -= 1

    def handler(self) -> grpc.GenericRpcHandler:
        # Requests stay bytes (the stream parses them); responses are written pre-encoded.
        watch = Method(self.watch, request_streaming=True, response_streaming=True)
        return service_handler("etcdserverpb.Watch", {"Watch": watch}, etcd_status)
