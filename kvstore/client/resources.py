"""The resource API over gRPC: `kvstore.connect(endpoint).resources`.

The same verbs, arguments, results and exceptions as the embedded `Registry`
(apimachinery/client.py): objects go out and come back as JSON, a failed call raises
the `StatusError` the server's registry raised (Status in the `kvs-status-bin` trailer).
Reads (get, list) are retried while the server is unavailable; writes are not, since
one that reached the server may have been applied.

A watch is one server stream. Like an HTTP watch in client-go, it ends when the stream
ends (server timeout, restart, `stop()`): a reflector then watches again from the last
resourceVersion it saw.
"""

from __future__ import annotations

import asyncio
import builtins
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import grpc

from apimachinery import errors
from apimachinery.schema import GroupVersionResource
from kvstore.client.decode_cache import DecodeCache
from kvstore.client.retry import retry_while_unavailable
from kvstore.pb import resources_pb2 as pb
from kvstore.pb import resources_pb2_grpc
from kvstore.rpc.api_status import WATCH_ESTABLISHED, from_grpc

Object = dict[str, Any]


def _ref(gvr: GroupVersionResource, namespace: str = "", name: str = "", subresource: str = "") -> pb.ResourceRef:
    return pb.ResourceRef(
        group=gvr.group,
        version=gvr.version,
        resource=gvr.resource,
        namespace=namespace,
        name=name,
        subresource=subresource,
    )


def _json(obj: Any, what: str = "object") -> bytes:
    try:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
    except (TypeError, ValueError) as exc:
        raise errors.BadRequestError(f"{what}: cannot be encoded as JSON: {exc}") from None


def _loads(data: bytes) -> Object:
    obj = json.loads(data)
    if not isinstance(obj, dict):
        raise errors.InternalError("the server answered something that is not an object")
    return obj


def _error(exc: grpc.aio.AioRpcError) -> errors.StatusError:
    return from_grpc(exc.code(), exc.details(), exc.trailing_metadata())


class RemoteResourceWatch:
    """Events of one server-side watch, as `{"type", "object"}` dicts; `stop()` ends it."""

    def __init__(self, call: Any, decoded: DecodeCache | None = None) -> None:
        self._call = call
        self._decoded = decoded if decoded is not None else DecodeCache(_loads, 0)
        self._events: list[Object] = []
        self._index = 0
        self._done = False

    def stop(self) -> None:
        self._done = True
        self._call.cancel()

    def __aiter__(self) -> RemoteResourceWatch:
        return self

    async def __anext__(self) -> Object:
        while self._index >= len(self._events):
            if self._done:
                raise StopAsyncIteration
            try:
                resp = await self._call.read()
            except asyncio.CancelledError:
                if self._done:
                    raise StopAsyncIteration from None
                raise
            except grpc.aio.AioRpcError as exc:
                self._done = True
                if exc.code() in (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE):
                    raise StopAsyncIteration from None  # the stream ended: watch again from the last RV
                raise _error(exc) from None
            if resp is grpc.aio.EOF:
                self._done = True
                raise StopAsyncIteration
            decode = self._decoded.decode
            self._events = [{"type": e.type, "object": decode(e.object)} for e in resp.events]
            self._index = 0
        event = self._events[self._index]
        self._index += 1
        return event


class ResourcesClient:
    """kube-apiserver's verbs against a `kvs serve` (apimachinery.client.ResourceClient)."""

    def __init__(self, channel: grpc.aio.Channel, *, timeout: float | None = None) -> None:
        self._stub = resources_pb2_grpc.ResourcesStub(channel)  # type: ignore[no-untyped-call]
        self.timeout = timeout
        self.decoded = DecodeCache(_loads)
        """Watch events' objects, decoded once for all this client's watches (shared, read-only)."""

    async def _call(self, method: Callable[..., Awaitable[Any]], request: Any) -> Object:
        try:
            resp = await method(request, timeout=self.timeout, wait_for_ready=True)
        except grpc.aio.AioRpcError as exc:
            raise _error(exc) from None
        return _loads(resp.object)

    async def _read(self, method: Callable[..., Awaitable[Any]], request: Any) -> Object:
        """An idempotent call: retried while the server is unavailable (within the timeout)."""
        return await retry_while_unavailable(
            lambda: self._call(method, request), errors.ServiceUnavailableError, self.timeout
        )

    async def create(self, gvr: GroupVersionResource, obj: Mapping[str, Any], namespace: str = "") -> Object:
        req = pb.CreateRequest(ref=_ref(gvr, namespace), object=_json(dict(obj)))
        return await self._call(self._stub.Create, req)

    async def get(
        self, gvr: GroupVersionResource, name: str, namespace: str = "", *, resource_version: str = ""
    ) -> Object:
        req = pb.GetRequest(ref=_ref(gvr, namespace, name), resource_version=resource_version)
        return await self._read(self._stub.Get, req)

    async def list(
        self,
        gvr: GroupVersionResource,
        namespace: str = "",
        *,
        label_selector: str = "",
        field_selector: str = "",
        limit: int = 0,
        continue_: str = "",
        resource_version: str = "",
        resource_version_match: str = "",
    ) -> Object:
        req = pb.ListRequest(
            ref=_ref(gvr, namespace),
            label_selector=label_selector,
            field_selector=field_selector,
            limit=limit,
            resource_version=resource_version,
            resource_version_match=resource_version_match,
            **{"continue": continue_},
        )
        return await self._read(self._stub.List, req)

    async def update(
        self, gvr: GroupVersionResource, obj: Mapping[str, Any], namespace: str = "", *, subresource: str = ""
    ) -> Object:
        md = obj.get("metadata") if isinstance(obj, Mapping) else None
        name = md.get("name") if isinstance(md, Mapping) else None
        name = name if isinstance(name, str) else ""  # the server reports a bad name
        req = pb.UpdateRequest(ref=_ref(gvr, namespace, name, subresource), object=_json(dict(obj)))
        return await self._call(self._stub.Update, req)

    async def update_status(self, gvr: GroupVersionResource, obj: Mapping[str, Any], namespace: str = "") -> Object:
        return await self.update(gvr, obj, namespace, subresource="status")

    async def get_scale(self, gvr: GroupVersionResource, name: str, namespace: str = "") -> Object:
        return await self._read(self._stub.Get, pb.GetRequest(ref=_ref(gvr, namespace, name, "scale")))

    async def patch(
        self,
        gvr: GroupVersionResource,
        name: str,
        patch_type: str,
        body: bytes | str | dict[str, Any] | builtins.list[Any],
        namespace: str = "",
        *,
        subresource: str = "",
    ) -> Object:
        data = body if isinstance(body, bytes) else body.encode() if isinstance(body, str) else _json(body, "patch")
        req = pb.PatchRequest(ref=_ref(gvr, namespace, name, subresource), patch_type=patch_type, patch=data)
        return await self._call(self._stub.Patch, req)

    async def delete(
        self,
        gvr: GroupVersionResource,
        name: str,
        namespace: str = "",
        *,
        preconditions: Mapping[str, str] | None = None,
        propagation_policy: str = "",
    ) -> Object:
        pre = dict(preconditions or {})
        unknown = set(pre) - {"uid", "resourceVersion"}
        if unknown:
            raise errors.BadRequestError(f"preconditions: unknown fields {sorted(unknown)}")
        req = pb.DeleteRequest(
            ref=_ref(gvr, namespace, name),
            precondition_uid=pre.get("uid", ""),
            precondition_resource_version=pre.get("resourceVersion", ""),
            propagation_policy=propagation_policy,
        )
        return await self._call(self._stub.Delete, req)

    async def delete_collection(
        self,
        gvr: GroupVersionResource,
        namespace: str = "",
        *,
        label_selector: str = "",
        field_selector: str = "",
        propagation_policy: str = "",
    ) -> Object:
        req = pb.DeleteCollectionRequest(
            ref=_ref(gvr, namespace),
            label_selector=label_selector,
            field_selector=field_selector,
            propagation_policy=propagation_policy,
        )
        return await self._call(self._stub.DeleteCollection, req)

    async def watch(
        self,
        gvr: GroupVersionResource,
        namespace: str = "",
        *,
        label_selector: str = "",
        field_selector: str = "",
        resource_version: str = "",
        resource_version_match: str = "",
        allow_watch_bookmarks: bool = False,
        send_initial_events: bool | None = None,
        timeout_seconds: float = 0,
    ) -> RemoteResourceWatch:
        """Start a watch; errors in the request (selectors, resourceVersion) raise here."""
        req = pb.WatchRequest(
            ref=_ref(gvr, namespace),
            label_selector=label_selector,
            field_selector=field_selector,
            resource_version=resource_version,
            resource_version_match=resource_version_match,
            allow_watch_bookmarks=allow_watch_bookmarks,
            timeout_seconds=int(timeout_seconds),
        )
        if send_initial_events is not None:
            req.send_initial_events = send_initial_events
        call = self._stub.Watch(req, wait_for_ready=True)
        try:
            metadata = await call.initial_metadata()
            if not any(key == WATCH_ESTABLISHED for key, _ in metadata or ()):
                # Refused: the status (and its Status trailer) follows at once.
                code = await call.code()
                raise from_grpc(code, await call.details(), await call.trailing_metadata())
        except grpc.aio.AioRpcError as exc:
            raise _error(exc) from None
        return RemoteResourceWatch(call, self.decoded)
