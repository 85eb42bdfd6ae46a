"""kvsresourcespb.Resources: the registry's verbs over gRPC, objects as JSON bytes.

Every verb takes its parsed request, calls the `Registry` and answers the object as JSON.
Errors are answered by `handlers.kube_status`, as for every service: a `StatusError`
ends the call with its gRPC code and the `Status` in a trailer (kvstore/rpc/api_status.py),
a store error becomes the Status kube-apiserver would give, and anything unexpected is a
logged 500: the server keeps serving others.
The registry bootstraps (default namespaces, stored CRDs) on the first call, so a
server only used as an etcd never sees resource keys written.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import grpc

from apimachinery import errors
from apimachinery.schema import GroupVersionResource
from h2grpc.wire import varint
from kvstore.pb import resources_pb2 as pb
from kvstore.registry import Registry, codec
from kvstore.rpc.api_status import WATCH_ESTABLISHED
from kvstore.rpc.resource_watch_codec import EventBytesCache
from kvstore.server.handlers import Method, kube_status, service_handler
from kvstore.server.send_gate import SendGate

SERVICE = "kvsresourcespb.Resources"


def _gvr(ref: pb.ResourceRef) -> GroupVersionResource:
    if not ref.version or not ref.resource:
        raise errors.BadRequestError("ref: version and resource are required")
    return GroupVersionResource(ref.group, ref.version, ref.resource)


def _object(data: bytes, field: str = "object") -> dict[str, Any]:
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.BadRequestError(f"{field}: the body is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise errors.BadRequestError(f"{field}: the body must be a JSON object")
    return obj


def _object_response(obj: dict[str, Any]) -> bytes:
    """ObjectResponse{object}, encoded without a copy into a message."""
    data = codec.to_json(obj)
    return b"\x0a" + varint(len(data)) + data


class ResourcesService:
    def __init__(self, registry: Registry, gate: SendGate | None = None) -> None:
        self.registry = registry
        self.gate = gate or SendGate()
        self.cache = EventBytesCache()
        self.watches = 0
        self._bootstrapped = False
        self._bootstrap_lock = asyncio.Lock()

    async def _ready(self) -> Registry:
        if not self._bootstrapped:
            async with self._bootstrap_lock:
                if not self._bootstrapped:
                    await self.registry.bootstrap()
                    self._bootstrapped = True
        return self.registry

    # ------------------------------------------------------------ unary verbs

    async def create(self, req: pb.CreateRequest, context: grpc.aio.ServicerContext) -> dict[str, Any]:
        reg = await self._ready()
        return await reg.create(_gvr(req.ref), _object(req.object), req.ref.namespace)

    async def get(self, req: pb.GetRequest, context: grpc.aio.ServicerContext) -> dict[str, Any]:
        reg, ref = await self._ready(), req.ref
        if ref.subresource == "scale":
            return await reg.get_scale(_gvr(ref), ref.name, ref.namespace)
        if ref.subresource and ref.subresource != "status":
            raise errors.NotFoundError(f"the server could not find the requested resource ({ref.subresource})")
        return await reg.get(_gvr(ref), ref.name, ref.namespace, resource_version=req.resource_version)

    async def list(self, req: pb.ListRequest, context: grpc.aio.ServicerContext) -> dict[str, Any]:
        reg = await self._ready()
        return await reg.list(
            _gvr(req.ref),
            req.ref.namespace,
            label_selector=req.label_selector,
            field_selector=req.field_selector,
            limit=req.limit,
            continue_=getattr(req, "continue"),
            resource_version=req.resource_version,
            resource_version_match=req.resource_version_match,
        )

    async def update(self, req: pb.UpdateRequest, context: grpc.aio.ServicerContext) -> dict[str, Any]:
        reg, ref = await self._ready(), req.ref
        obj = _object(req.object)
        md = obj.get("metadata")
        if ref.name and isinstance(md, dict) and md.get("name", ref.name) != ref.name:
            raise errors.BadRequestError("the name of the object does not match the name on the URL")
        if ref.name and ref.subresource == "scale" and (md is None or isinstance(md, dict)):
            obj.setdefault("metadata", {})["name"] = ref.name
        return await reg.update(_gvr(ref), obj, ref.namespace, subresource=ref.subresource)

    async def patch(self, req: pb.PatchRequest, context: grpc.aio.ServicerContext) -> dict[str, Any]:
        reg, ref = await self._ready(), req.ref
        return await reg.patch(
            _gvr(ref), ref.name, req.patch_type, req.patch, ref.namespace, subresource=ref.subresource
        )

    async def delete(self, req: pb.DeleteRequest, context: grpc.aio.ServicerContext) -> dict[str, Any]:
        reg, ref = await self._ready(), req.ref
        pre = {}
        if req.precondition_uid:
            pre["uid"] = req.precondition_uid
        if req.precondition_resource_version:
            pre["resourceVersion"] = req.precondition_resource_version
        return await reg.delete(
            _gvr(ref), ref.name, ref.namespace, preconditions=pre, propagation_policy=req.propagation_policy
        )

    async def delete_collection(
        self, req: pb.DeleteCollectionRequest, context: grpc.aio.ServicerContext
    ) -> dict[str, Any]:
        reg = await self._ready()
        return await reg.delete_collection(
            _gvr(req.ref),
            req.ref.namespace,
            label_selector=req.label_selector,
            field_selector=req.field_selector,
            propagation_policy=req.propagation_policy,
        )

    # ------------------------------------------------------------ watch

    async def watch(self, req: pb.WatchRequest, context: grpc.aio.ServicerContext) -> None:
        """Stream events; under load one response carries every event ready (SendGate pacing)."""
        reg = await self._ready()
        rw = await reg.watch(
            _gvr(req.ref),
            req.ref.namespace,
            label_selector=req.label_selector,
            field_selector=req.field_selector,
            resource_version=req.resource_version,
            resource_version_match=req.resource_version_match,
            allow_watch_bookmarks=req.allow_watch_bookmarks,
            send_initial_events=req.send_initial_events if req.HasField("send_initial_events") else None,
            timeout_seconds=req.timeout_seconds,
        )
        try:
            await context.send_initial_metadata(((WATCH_ESTABLISHED, "1"),))  # the client waits for it
        except BaseException:
            rw.stop()
            raise
        api_version = rw.selection.info.gvr.api_version
        gate, cache = self.gate, self.cache
        loop = asyncio.get_running_loop()
        last_sent = 0.0
        self.watches += 1
        gate.streams += 1
        try:
            while True:
                await gate.wait_pace(last_sent)  # events arriving meanwhile join this response
                batch = await rw.next_batch()
                if not batch:
                    return  # timeout, stop, or the store closed: end the stream cleanly
                await gate.turn()
                await context.write(cache.response(batch, api_version))
                last_sent = loop.time()
        finally:
            rw.stop()
            self.watches -= 1
            gate.streams -= 1

    # ------------------------------------------------------------ registration

    def handler(self) -> grpc.GenericRpcHandler:
        unary: dict[str, tuple[Any, Callable[[Any, grpc.aio.ServicerContext], Any]]] = {
            "Create": (pb.CreateRequest, self.create),
            "Get": (pb.GetRequest, self.get),
            "List": (pb.ListRequest, self.list),
            "Update": (pb.UpdateRequest, self.update),
            "Patch": (pb.PatchRequest, self.patch),
            "Delete": (pb.DeleteRequest, self.delete),
            "DeleteCollection": (pb.DeleteCollectionRequest, self.delete_collection),
        }
        methods = {name: Method(fn, cls, _object_response) for name, (cls, fn) in unary.items()}
        # The watch writes its own pre-encoded responses, paced by the SendGate.
        methods["Watch"] = Method(self.watch, pb.WatchRequest, response_streaming=True)
        return service_handler(SERVICE, methods, kube_status)
