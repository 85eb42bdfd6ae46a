"""`GrpcServer`: listening sockets, connections, and a graceful stop; the same shape as the
part of `grpc.aio.Server` a server needs (ports, generic handlers, start, stop)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Sequence
from typing import NamedTuple

import grpc

from h2grpc.connection import Connection

DEFAULT_MAX_CONCURRENT_STREAMS = 100_000


class _CallDetails(NamedTuple):
    """What `GenericRpcHandler.service()` looks at (grpc.HandlerCallDetails' fields)."""

    method: str
    invocation_metadata: tuple[tuple[str, str], ...] = ()


class GrpcServer:
    """Serves `grpc.GenericRpcHandler`s over cleartext HTTP/2 on the running event loop."""

    def __init__(
        self,
        *,
        max_receive_message_length: int = 4 * 1024 * 1024,
        max_concurrent_streams: int = DEFAULT_MAX_CONCURRENT_STREAMS,
    ) -> None:
        self.max_receive_message_length = max_receive_message_length
        self.max_concurrent_streams = max_concurrent_streams
        self.connections: set[Connection] = set()
        self._handlers: list[grpc.GenericRpcHandler] = []
        self._methods: dict[bytes, grpc.RpcMethodHandler | None] = {}
        self._sockets: list[socket.socket] = []
        self._listeners: list[asyncio.Server] = []
        self._changed: asyncio.Future[None] | None = None
        self._stopped = asyncio.Event()

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        self._handlers.extend(handlers)
        self._methods.clear()

    def add_insecure_port(self, address: str) -> int:
        """Bind `host:port` now (port 0: any free one); the port bound, or 0 if none could be."""
        host, _, port_text = address.rpartition(":")
        host = host.strip("[]") or None  # type: ignore[assignment]
        port = int(port_text)
        bound: list[socket.socket] = []
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        except OSError:
            return 0
        for family, kind, proto, _, addr in infos:
            sock = socket.socket(family, kind, proto)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind((addr[0], port, *addr[2:]))
                sock.listen(1024)
            except OSError:
                sock.close()
                continue
            sock.setblocking(False)
            port = sock.getsockname()[1]  # the others bind the same port as the first
            bound.append(sock)
        self._sockets += bound
        return port if bound else 0

    def method_handler(self, path: bytes) -> grpc.RpcMethodHandler | None:
        try:
            return self._methods[path]
        except KeyError:
            pass
        details = _CallDetails(path.decode("ascii", "replace"))
        found = None
        for generic in self._handlers:
            found = generic.service(details)
            if found is not None:
                break
        if len(self._methods) < 4096:  # unknown paths are cached too, up to a bound
            self._methods[path] = found
        return found

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for sock in self._sockets:
            self._listeners.append(await loop.create_server(lambda: Connection(self), sock=sock))
        self._sockets = []

    def calls_changed(self) -> None:
        """A call or a connection ended: wake `stop()` if it waits for the running calls."""
        if self._changed is not None and not self._changed.done():
            self._changed.set_result(None)

    async def stop(self, grace: float | None) -> None:
        """Stop listening; give running calls `grace` seconds (None: none), then end them."""
        for listener in self._listeners:
            listener.close()
        for conn in list(self.connections):
            conn.go_away()
        if grace:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drain(), grace)
        for conn in list(self.connections):
            conn.close_now()
        for listener in self._listeners:
            await listener.wait_closed()
        self._listeners = []
        await asyncio.sleep(0)  # let the closes run their callbacks
        self._stopped.set()

    async def _drain(self) -> None:
        while any(conn.calls for conn in self.connections):
            self._changed = asyncio.get_running_loop().create_future()
            await self._changed

    async def wait_for_termination(self) -> None:
        await self._stopped.wait()
