"""The gRPC server: etcd's KV, Watch, Lease, Cluster and Maintenance services, and the
resource API (kvsresourcespb.Resources), over one store."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Literal, Protocol, get_args

import grpc

from h2grpc.limits import Limits
from h2grpc.server import GrpcServer
from kvstore.registry import Registry
from kvstore.registry.watch import DEFAULT_BOOKMARK_INTERVAL
from kvstore.server.cluster_service import ClusterService, MemberInfo
from kvstore.server.handlers import etcd_service_handler
from kvstore.server.kv_service import KVService
from kvstore.server.lease_service import LeaseService
from kvstore.server.maintenance_service import MaintenanceService
from kvstore.server.resources_service import ResourcesService
from kvstore.server.send_gate import (
    DEFAULT_MAX_PACE,
    DEFAULT_PACE_PER_STREAM,
    DEFAULT_PER_TICK,
    GRPCIO_PACE_PER_STREAM,
    GRPCIO_PER_TICK,
    SendGate,
)
from kvstore.server.watch_service import WatchService
from kvstore.store import Store

log = logging.getLogger("kvstore.server")

GRPC_OVERHEAD_BYTES = 512 * 1024  # etcd allows this much on top of --max-request-bytes

GrpcServerKind = Literal["native", "grpcio"]
GRPC_SERVERS: tuple[GrpcServerKind, ...] = get_args(GrpcServerKind)


class RpcServer(Protocol):
    """What `Server` needs of a gRPC server: `GrpcServer`, or grpcio's `grpc.aio.Server`."""

    def add_insecure_port(self, address: str) -> int: ...
    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None: ...
    async def start(self) -> None: ...
    async def stop(self, grace: float | None) -> None: ...
    async def wait_for_termination(self) -> None: ...


def parse_listen_url(url: str) -> str:
    """`http://127.0.0.1:2379` (or `127.0.0.1:2379`) to the `host:port` gRPC binds."""
    rest = url.strip()
    if "://" in rest:
        scheme, rest = rest.split("://", 1)
        if scheme != "http":
            raise ValueError(f"{url!r}: only plaintext http:// client URLs are supported")
    rest = rest.rstrip("/")
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{url!r}: expected http://HOST:PORT")
    return f"{host}:{int(port)}"


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def grpcio_options(limits: Limits) -> list[tuple[str, int]]:
    """`limits` as grpcio's server options, for those grpc-core has (the floods, frame
    budgets, request buffer and handshake deadlines it bounds its own way)."""
    options = [
        ("grpc.max_receive_message_length", limits.max_receive_message_length),
        ("grpc.max_send_message_length", 2**31 - 1),
        ("grpc.so_reuseport", 0),
        ("grpc.max_concurrent_streams", limits.max_concurrent_streams),
        ("grpc.max_metadata_size", limits.max_header_list_size),
        ("grpc.absolute_max_metadata_size", limits.max_header_block_size),
        ("grpc.keepalive_permit_without_calls", int(limits.permit_ping_without_calls)),
        ("grpc.http2.min_ping_interval_without_data_ms", _ms(limits.min_ping_interval)),
        ("grpc.http2.max_ping_strikes", limits.max_ping_strikes),
        ("grpc.max_allowed_incoming_connections", limits.max_connections),
        # Thousands of watch streams opened at once, and unary calls arriving while the loop
        # is busy sending to them, wait to be picked up instead of being cancelled.
        ("grpc.server.max_pending_requests", 100_000),
        ("grpc.server.max_pending_requests_hard_limit", 100_000),
        ("grpc.server_max_unrequested_time_in_server", 600),
    ]
    if limits.keepalive_interval:
        options += [
            ("grpc.keepalive_time_ms", _ms(limits.keepalive_interval)),
            ("grpc.keepalive_timeout_ms", _ms(limits.keepalive_timeout)),
        ]
    if limits.max_connection_idle:
        options.append(("grpc.max_connection_idle_ms", _ms(limits.max_connection_idle)))
    return options


class Server:
    """Serves `store` on the given client URLs until `stop()`."""

    def __init__(
        self,
        store: Store,
        listen_client_urls: Sequence[str],
        *,
        name: str = "default",
        advertise_client_urls: Sequence[str] = (),
        watch_batch_max_delay: float = DEFAULT_MAX_PACE,
        bookmark_interval: float = DEFAULT_BOOKMARK_INTERVAL,
        grpc_server: GrpcServerKind = "native",
        limits: Limits | None = None,
        watch_cache: bool = True,
    ) -> None:
        if grpc_server not in GRPC_SERVERS:
            raise ValueError(f"grpc_server: expected one of {', '.join(GRPC_SERVERS)}, got {grpc_server!r}")
        self.grpc_server = grpc_server
        # What each client may make the server do; the message size follows the store's limit.
        max_receive = store.limits.max_request_bytes + GRPC_OVERHEAD_BYTES
        self.limits = dataclasses.replace(limits or Limits(), max_receive_message_length=max_receive)
        self.store = store
        self.addresses = [parse_listen_url(u) for u in listen_client_urls]
        self.name = name
        self._advertise = list(advertise_client_urls)
        self.client_urls: list[str] = []
        if grpc_server == "native":
            per_tick, pace = DEFAULT_PER_TICK, DEFAULT_PACE_PER_STREAM
        else:  # each response costs grpcio about a hundred microseconds: fewer, fuller ones
            per_tick, pace = GRPCIO_PER_TICK, GRPCIO_PACE_PER_STREAM
        gate = SendGate(per_tick=per_tick, pace_per_stream=pace, max_pace=watch_batch_max_delay)
        self.watch = WatchService(store, gate)
        self.registry = Registry(store, bookmark_interval=bookmark_interval, watch_cache=watch_cache)
        self.resources = ResourcesService(self.registry, gate)
        self._server: RpcServer | None = None
        self._native: GrpcServer | None = None

    @property
    def limits_tripped(self) -> dict[str, int]:
        """Limits tripped by clients since start, by `h2grpc.limits` name (the native
        transport's count; grpcio's server keeps its own, unreported)."""
        return dict(self._native.limits_tripped) if self._native is not None else {}

    def _new_server(self) -> RpcServer:
        if self.grpc_server == "native":
            self._native = GrpcServer(self.limits)
            return self._native
        server: RpcServer = grpc.aio.server(options=grpcio_options(self.limits))
        return server

    async def start(self) -> None:
        server = self._new_server()
        bound = []
        for address in self.addresses:
            port = server.add_insecure_port(address)
            if not port:
                raise OSError(f"cannot listen on {address}")
            host = address.rpartition(":")[0]
            bound.append(f"http://{host}:{port}")
        self.client_urls = bound
        member = MemberInfo(self.name, [], self._advertise or bound)
        server.add_generic_rpc_handlers(
            (
                etcd_service_handler("KV", KVService(self.store)),
                etcd_service_handler("Lease", LeaseService(self.store)),
                etcd_service_handler("Cluster", ClusterService(self.store, member)),
                etcd_service_handler("Maintenance", MaintenanceService(self.store)),
                self.watch.handler(),
                self.resources.handler(),
            )
        )
        await server.start()
        self._server = server
        log.info("serving client requests on %s", ", ".join(bound))

    async def stop(self, grace: float | None = 1.0) -> None:
        """Stop taking calls; give the running ones `grace` seconds, then cut them."""
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None

    async def wait_for_termination(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()
