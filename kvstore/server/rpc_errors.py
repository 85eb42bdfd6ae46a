"""Turning exceptions raised while serving a call into gRPC statuses."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from kvstore.errors import KVError
from kvstore.rpc.status import to_status

log = logging.getLogger("kvstore.server")

_R = TypeVar("_R")


async def abort_with(context: grpc.aio.ServicerContext, err: KVError) -> None:
    """End the call with the status etcd gives for `err` (raises to unwind the handler)."""
    code, message, trailers = to_status(err)
    await context.abort(code, message, trailers)


async def abort_internal(context: grpc.aio.ServicerContext, exc: BaseException) -> None:
    log.error("unexpected error serving a call", exc_info=exc)
    await context.abort(grpc.StatusCode.INTERNAL, "etcdserver: internal error")


def unary(
    fn: Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[_R]],
) -> Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[_R]]:
    """Wrap a unary handler: store errors become etcd's statuses, bugs become INTERNAL,
    and the server goes on serving everyone else."""

    @functools.wraps(fn)
    async def handler(self: Any, request: Any, context: grpc.aio.ServicerContext) -> _R:
        try:
            return await fn(self, request, context)
        except KVError as err:
            await abort_with(context, err)
        except Exception as exc:
            await abort_internal(context, exc)
        raise AssertionError("unreachable: context.abort raises")

    return handler
