"""Registering servicers by etcd's service descriptors, parsing requests ourselves.

gRPC's own deserializers turn an unparsable request into a bare UNKNOWN status; here
the raw bytes reach a wrapper that answers INVALID_ARGUMENT naming the message type,
so a bad request is a clear error and never a stack trace in the server's log.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from kvstore.errors import KVError, MalformedRequestError
from kvstore.pb import rpc_pb2
from kvstore.server.rpc_errors import abort_with


def parse(cls: Any, data: bytes) -> Any:
    """`cls.FromString(data)`, or MalformedRequestError."""
    try:
        return cls.FromString(data)
    except (DecodeError, ValueError) as exc:
        raise MalformedRequestError(cls.DESCRIPTOR.full_name, str(exc)) from None


def _unary(behavior: Callable[..., Any], req_cls: Any, resp_cls: Any) -> grpc.RpcMethodHandler:
    async def handle(data: bytes, context: grpc.aio.ServicerContext) -> Any:
        try:
            request = parse(req_cls, data)
        except KVError as err:
            await abort_with(context, err)
        return await behavior(request, context)

    return grpc.unary_unary_rpc_method_handler(handle, response_serializer=resp_cls.SerializeToString)


def _unary_stream(behavior: Callable[..., Any], req_cls: Any, resp_cls: Any) -> grpc.RpcMethodHandler:
    async def handle(data: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        try:
            request = parse(req_cls, data)
        except KVError as err:
            await abort_with(context, err)
        async for response in behavior(request, context):
            yield response

    return grpc.unary_stream_rpc_method_handler(handle, response_serializer=resp_cls.SerializeToString)


def _stream_stream(behavior: Callable[..., Any], req_cls: Any, resp_cls: Any) -> grpc.RpcMethodHandler:
    async def handle(requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        async def parsed() -> AsyncIterator[Any]:
            async for data in requests:
                yield parse(req_cls, data)

        async for response in behavior(parsed(), context):
            yield response

    return grpc.stream_stream_rpc_method_handler(handle, response_serializer=resp_cls.SerializeToString)


def service_handler(service: str, servicer: object) -> grpc.GenericRpcHandler:
    """Handlers for every method of `etcdserverpb.<service>` that `servicer` implements."""
    descriptor = rpc_pb2.DESCRIPTOR.services_by_name[service]
    handlers: dict[str, grpc.RpcMethodHandler] = {}
    for method in descriptor.methods:
        behavior = getattr(servicer, method.name, None)
        if behavior is None:
            continue  # gRPC answers UNIMPLEMENTED
        req_cls = getattr(rpc_pb2, method.input_type.name)
        resp_cls = getattr(rpc_pb2, method.output_type.name)
        if method.client_streaming:
            handlers[method.name] = _stream_stream(behavior, req_cls, resp_cls)
        elif method.server_streaming:
            handlers[method.name] = _unary_stream(behavior, req_cls, resp_cls)
        else:
            handlers[method.name] = _unary(behavior, req_cls, resp_cls)
    return grpc.method_handlers_generic_handler(descriptor.full_name, handlers)
