"""etcdserverpb.Watch, registered by hand so responses can be written as pre-encoded bytes."""

from __future__ import annotations

import grpc

from kvstore.rpc.watch_codec import EventBlobCache
from kvstore.server.send_gate import SendGate
from kvstore.server.watch_stream import WatchStream
from kvstore.store import Store


def _as_is(data: bytes) -> bytes:
    return data


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
        method = grpc.stream_stream_rpc_method_handler(self.watch, response_serializer=_as_is)
        return grpc.method_handlers_generic_handler("etcdserverpb.Watch", {"Watch": method})
