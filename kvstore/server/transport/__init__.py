"""Our own gRPC server transport: gRPC over cleartext HTTP/2 (prior knowledge) on asyncio.

It serves the same `grpc.GenericRpcHandler`s as `grpc.aio.server()`, at a fraction of
its CPU cost per call; `kvs serve --grpc-server grpcio` still selects grpcio's server.
"""

from kvstore.server.transport.server import GrpcServer

__all__ = ["GrpcServer"]
