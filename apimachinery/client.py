"""The resource client contract: kube-apiserver's verbs, one interface for every backend.

Code written against `ResourceClient` runs unchanged on the embedded registry
(`kvstore.registry.Registry(kvstore.open(path))`), on the network client
(`kvstore.connect(endpoint).resources`, a `kvs serve`), and on any other backend that
keeps the contract: the same verbs as kube-apiserver's, keyed by group/version/resource,
namespace and name; objects as JSON-shaped dicts; failures as the `Status` exceptions of
`apimachinery.errors`; watches as `apimachinery.watch.Interface`. `informer/` and
`controllers/` see only this, never a store (client-go's dynamic client plays the role).
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any, Protocol

from apimachinery import watch
from apimachinery.schema import GroupVersionResource

Object = dict[str, Any]


class ResourceClient(Protocol):
    """kube-apiserver's verbs on one server's resources (kvstore/registry/registry.py has the rules)."""

    async def create(self, gvr: GroupVersionResource, obj: Mapping[str, Any], namespace: str = "") -> Object: ...

    async def get(
        self, gvr: GroupVersionResource, name: str, namespace: str = "", *, resource_version: str = ""
    ) -> Object: ...

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
    ) -> Object: ...

    async def update(
        self, gvr: GroupVersionResource, obj: Mapping[str, Any], namespace: str = "", *, subresource: str = ""
    ) -> Object: ...

    async def update_status(self, gvr: GroupVersionResource, obj: Mapping[str, Any], namespace: str = "") -> Object: ...

    async def get_scale(self, gvr: GroupVersionResource, name: str, namespace: str = "") -> Object: ...

    async def patch(
        self,
        gvr: GroupVersionResource,
        name: str,
        patch_type: str,
        body: bytes | str | dict[str, Any] | builtins.list[Any],
        namespace: str = "",
        *,
        subresource: str = "",
    ) -> Object: ...

    async def delete(
        self,
        gvr: GroupVersionResource,
        name: str,
        namespace: str = "",
        *,
        preconditions: Mapping[str, str] | None = None,
        propagation_policy: str = "",
    ) -> Object: ...

    async def delete_collection(
        self,
        gvr: GroupVersionResource,
        namespace: str = "",
        *,
        label_selector: str = "",
        field_selector: str = "",
        propagation_policy: str = "",
    ) -> Object: ...

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
    ) -> watch.Interface: ...
