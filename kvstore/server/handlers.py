"""Serving a servicer's methods over gRPC: requests parsed here, errors translated once.

Every service of the server (etcd's KV, Watch, Lease, Cluster and Maintenance, and the
resource API) is registered through `service_handler`, which wraps each method the same
way:

- the request bytes are parsed here, not by gRPC's deserializer (which would answer a bad
  request with a bare UNKNOWN): an unparsable request raises `MalformedRequestError`
  naming its message type;
- whatever the method raises is turned into a status by the service's `StatusOf` policy
  (etcd's codes and messages for the etcd services, a Kubernetes `Status` for the resource
  API), once, at this boundary; an unexpected exception is logged and answered INTERNAL,
  and the server keeps serving everyone else;
- a method that ends the call itself with `context.abort` keeps its own status.

A streaming method may yield its responses or write them with `context.write` itself (the
watch streams do, to pace and pre-encode them).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from apimachinery import errors as api_errors
from kvstore.errors import KVError, MalformedRequestError
from kvstore.pb import rpc_pb2
from kvstore.rpc.api_status import to_grpc
from kvstore.rpc.status import to_status

log = logging.getLogger("kvstore.server")

Trailers = tuple[tuple[str, str | bytes], ...]
StatusOf = Callable[[BaseException], tuple[grpc.StatusCode, str, Trailers]]
"""How a service answers an exception: its gRPC code, message and trailing metadata."""


def as_is(data: bytes) -> bytes:
    """The serializer of responses that are encoded already."""
    return data


def parse(cls: Any, data: bytes) -> Any:
    """`cls.FromString(data)`, or MalformedRequestError naming the message type."""
    try:
        return cls.FromString(data)
    except (DecodeError, ValueError) as exc:
        raise MalformedRequestError(cls.DESCRIPTOR.full_name, str(exc)) from None


def etcd_status(exc: BaseException) -> tuple[grpc.StatusCode, str, Trailers]:
    """etcd's answer: a store error with etcd's code and message, anything else INTERNAL."""
    if isinstance(exc, KVError):
        return to_status(exc)
    log.error("unexpected error serving a call", exc_info=exc)
    return grpc.StatusCode.INTERNAL, "etcdserver: internal error", ()


def kube_status(exc: BaseException) -> tuple[grpc.StatusCode, str, Trailers]:
    """kube-apiserver's answer: a `Status` (a bad request is 400, a store error 500)."""
    if isinstance(exc, MalformedRequestError):
        exc = api_errors.BadRequestError(exc.message)
    elif isinstance(exc, KVError):
        exc = api_errors.InternalError(f"storage error: {exc.message}")
    elif not isinstance(exc, api_errors.StatusError):
        log.error("unexpected error serving a resource call", exc_info=exc)
        exc = api_errors.InternalError("an error on the server has prevented the request from succeeding")
    return to_grpc(exc)


@dataclass(frozen=True, slots=True)
class Method:
    """One RPC: what serves it, how its request bytes parse and its responses serialize."""

    behavior: Callable[[Any, grpc.aio.ServicerContext], Any]
    """`behavior(request or request iterator, context)`: a coroutine, or an async generator
    of responses for a streaming method."""
    request_type: Any = None
    """The protobuf message class requests parse as; None: the bytes as they came."""
    serialize: Callable[[Any], bytes] = as_is
    request_streaming: bool = False
    response_streaming: bool = False


def _parser(method: Method) -> Callable[[bytes], Any]:
    cls = method.request_type
    return as_is if cls is None else lambda data: parse(cls, data)


async def _answer(context: grpc.aio.ServicerContext, exc: Exception, status_of: StatusOf) -> None:
    if isinstance(exc, grpc.aio.AbortError | grpc.aio.UsageError):
        raise exc  # the method ended the call itself, or wrote after it ended: nothing to add
    code, message, trailers = status_of(exc)
    await context.abort(code, message, trailers)


def _unary_unary(method: Method, status_of: StatusOf) -> grpc.RpcMethodHandler:
    behavior, parse_request = method.behavior, _parser(method)

    async def handle(data: bytes, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await behavior(parse_request(data), context)
        except Exception as exc:
            await _answer(context, exc, status_of)
        raise AssertionError("unreachable: context.abort raises")

    return grpc.unary_unary_rpc_method_handler(handle, response_serializer=method.serialize)


async def _serve(result: Any, context: grpc.aio.ServicerContext) -> None:
    """Run a streaming behavior's result: write what a generator yields, or await the coroutine."""
    if inspect.isasyncgen(result):
        async for response in result:
            await context.write(response)
    else:
        await result


def _unary_stream(method: Method, status_of: StatusOf) -> grpc.RpcMethodHandler:
    behavior, parse_request = method.behavior, _parser(method)

    async def handle(data: bytes, context: grpc.aio.ServicerContext) -> None:
        try:
            await _serve(behavior(parse_request(data), context), context)
        except Exception as exc:
            await _answer(context, exc, status_of)

    return grpc.unary_stream_rpc_method_handler(handle, response_serializer=method.serialize)


def _stream_stream(method: Method, status_of: StatusOf) -> grpc.RpcMethodHandler:
    behavior, parse_request = method.behavior, _parser(method)

    async def handle(requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> None:
        async def parsed() -> AsyncIterator[Any]:
            async for data in requests:
                yield parse_request(data)

        try:
            await _serve(behavior(parsed(), context), context)
        except Exception as exc:
            await _answer(context, exc, status_of)

    return grpc.stream_stream_rpc_method_handler(handle, response_serializer=method.serialize)


def service_handler(service: str, methods: Mapping[str, Method], status_of: StatusOf) -> grpc.GenericRpcHandler:
    """The handler of the gRPC service `service` (its full name) with these methods."""
    handlers: dict[str, grpc.RpcMethodHandler] = {}
    for name, method in methods.items():
        if method.request_streaming:
            if not method.response_streaming:
                raise ValueError(f"{service}/{name}: client-streaming unary methods are not served")
            handlers[name] = _stream_stream(method, status_of)
        elif method.response_streaming:
            handlers[name] = _unary_stream(method, status_of)
        else:
            handlers[name] = _unary_unary(method, status_of)
    return grpc.method_handlers_generic_handler(service, handlers)


def etcd_service_handler(service: str, servicer: object, **overrides: Method) -> grpc.GenericRpcHandler:
    """Every method of `etcdserverpb.<service>` that `servicer` has, by etcd's descriptor
    (request and response types, streaming); methods it lacks answer UNIMPLEMENTED.
    `overrides` registers a method by hand (a stream that writes pre-encoded bytes)."""
    descriptor = rpc_pb2.DESCRIPTOR.services_by_name[service]
    methods: dict[str, Method] = {}
    for m in descriptor.methods:
        if m.name in overrides:
            methods[m.name] = overrides[m.name]
            continue
        behavior = getattr(servicer, m.name, None)
        if behavior is None:
            continue
        methods[m.name] = Method(
            behavior,
            getattr(rpc_pb2, m.input_type.name),
            getattr(rpc_pb2, m.output_type.name).SerializeToString,
            request_streaming=m.client_streaming,
            response_streaming=m.server_streaming,
        )
    return service_handler(descriptor.full_name, methods, etcd_status)
