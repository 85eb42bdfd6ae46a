"""A gRPC server over cleartext HTTP/2 (prior knowledge) on asyncio.

It serves any `grpc.GenericRpcHandler`, as `grpc.aio.server()` does, at a fraction of
grpcio's CPU per call, and imports nothing of the project around it:

    from h2grpc.limits import Limits
    from h2grpc.server import GrpcServer

    server = GrpcServer(Limits(max_receive_message_length=4 << 20))
    server.add_generic_rpc_handlers([handler])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()

`h2grpc.protocol` is a connection's HTTP/2 and gRPC state with no I/O (bytes in, events
and bytes out); `h2grpc.connection` does the asyncio I/O around it and runs the calls
(`h2grpc.call`). `h2grpc.wire` holds the bytes with no state (frames, HPACK integers,
varints, gRPC message prefixes); importing it loads nothing else, so lean clients use it too.
`h2grpc.limits` holds every bound a client is held to (floods, sizes, timeouts);
docs/server.md ("The HTTP/2 server", "Limits") has what it supports and enforces.
"""
