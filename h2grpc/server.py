"""`GrpcServer`: listening sockets, connections, and a graceful stop; the same shape as the
part of `grpc.aio.Server` a server needs (ports, generic handlers, start, stop). It also
keeps the server-wide side of `h2grpc.limits`: the connection count, the listen backlog, the
clock that drives every connection's timeouts, and the count of limits tripped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections import Counter
from collections.abc import Sequence
from typing import NamedTuple

import grpc

from h2grpc.connection import Connection
from h2grpc.limits import Limits, TokenBucket

log = logging.getLogger("h2grpc")

LOG_BURST = 20  # trips of one limit logged at once ...
LOG_PER_SECOND = 1.0  # ... then this many a second, whatever the number of connections


class _CallDetails(NamedTuple):
    """What `GenericRpcHandler.service()` looks at (grpc.HandlerCallDetails' fields)."""

    method: str
    invocation_metadata: tuple[tuple[str, str], ...] = ()


class GrpcServer:
    """Serves `grpc.GenericRpcHandler`s over cleartext HTTP/2 on the running event loop."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self.connections: set[Connection] = set()
        # Limits tripped since start, by `h2grpc.limits` name: the metric of the limits.
        self.limits_tripped: Counter[str] = Counter()
        # One log budget per limit, so a flood of one limit cannot hide the first trip of another.
        self._log_budgets: dict[str, TokenBucket] = {}
        self._tick_handle: asyncio.TimerHandle | None = None
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
                sock.listen(self.limits.backlog)
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
            # The backlog again: asyncio listens anew, by default with a backlog of 100.
            server = await loop.create_server(lambda: Connection(self), sock=sock, backlog=self.limits.backlog)
            self._listeners.append(server)
        self._sockets = []
        self._tick_handle = loop.call_later(self.tick_interval, self._tick)

    @property
    def tick_interval(self) -> float:
        """How often connections check their timeouts: a quarter of the shortest, at most 1 s."""
        limits = self.limits
        times = [
            t
            for t in (
                limits.handshake_timeout,
                limits.settings_timeout,
                limits.max_connection_idle,
                limits.keepalive_interval,
                limits.keepalive_timeout,
                limits.send_stall_timeout,
            )
            if t > 0
        ]
        return max(0.01, min([1.0, *(t / 4 for t in times)]))

    def _tick(self) -> None:
        now = time.monotonic()
        for conn in list(self.connections):
            conn.tick(now)
        self._tick_handle = asyncio.get_running_loop().call_later(self.tick_interval, self._tick)

    def limit_tripped(self, conn: Connection, limit: str, message: str) -> None:
        """Count a tripped limit; log it once per connection and limit, at most LOG_PER_SECOND
        lines a second per limit (after a burst of LOG_BURST) over all connections."""
        self.limits_tripped[limit] += 1
        if limit in conn.limits_logged:
            return
        conn.limits_logged.add(limit)
        now = time.monotonic()
        budget = self._log_budgets.get(limit)
        if budget is None:
            budget = self._log_budgets[limit] = TokenBucket(LOG_BURST, LOG_PER_SECOND, now)
        if budget.take(now):
            log.warning(
                "limit %s tripped by client %s: %s (%d times since start)",
                limit,
                conn.peer_name,
                message,
                self.limits_tripped[limit],
            )

    def calls_changed(self) -> None:
        """A call or a connection ended: wake `stop()` if it waits for the running calls."""
        if self._changed is not None and not self._changed.done():
            self._changed.set_result(None)

    async def stop(self, grace: float | None) -> None:
        """Stop listening; give running calls `grace` seconds (None: none), then end them."""
        for listener in self._listeners:
            listener.close()
        if self._tick_handle is not None:
            self._tick_handle.cancel()
            self._tick_handle = None
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
