"""The seam between informers and a server: list and watch one resource.

`ListerWatcher` is all an informer needs. `ResourceListerWatcher` implements it over
any `apimachinery.client.ResourceClient`, which covers both backends with one class: the
embedded registry (`Registry(kvstore.open(path))`) and the network client
(`kvstore.connect(endpoint).resources`). A Kubernetes REST backend only has to provide
the same two calls (`GET .../pods?limit=&continue=&resourceVersion=...` and the same
with `watch=1`, events as JSON lines) with the same errors (`apimachinery.errors`):
informer code does not change.

    lw = ResourceListerWatcher(client, PODS, namespace="default")
    page = await lw.list(ListOptions(limit=500))
    w = await lw.watch(ListOptions(resource_version=page["metadata"]["resourceVersion"],
                                   allow_watch_bookmarks=True))
    async for event in w: ...      # {"type": "ADDED" | ... | "BOOKMARK" | "ERROR", "object": {...}}
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Protocol

from apimachinery import watch
from apimachinery.client import ResourceClient
from apimachinery.schema import GroupVersionResource

Object = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ListOptions:
    """metav1.ListOptions: what one list or watch asks for."""

    resource_version: str = ""
    resource_version_match: str = ""
    limit: int = 0
    continue_: str = ""
    label_selector: str = ""
    field_selector: str = ""
    allow_watch_bookmarks: bool = False
    send_initial_events: bool | None = None
    timeout_seconds: float = 0

    def with_(self, **changes: Any) -> ListOptions:
        return replace(self, **changes)


class ListerWatcher(Protocol):
    """List and watch one resource (client-go's cache.ListerWatcher)."""

    async def list(self, options: ListOptions) -> Object: ...

    async def watch(self, options: ListOptions) -> watch.Interface: ...


class ResourceListerWatcher:
    """A ListerWatcher of one resource (and namespace, and selectors) over a ResourceClient."""

    def __init__(
        self,
        client: ResourceClient,
        gvr: GroupVersionResource,
        namespace: str = "",
        *,
        label_selector: str = "",
        field_selector: str = "",
    ) -> None:
        self.client = client
        self.gvr = gvr
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector

    def _selectors(self, options: ListOptions) -> tuple[str, str]:
        return options.label_selector or self.label_selector, options.field_selector or self.field_selector

    async def list(self, options: ListOptions) -> Object:
        label, field = self._selectors(options)
        return await self.client.list(
            self.gvr,
            self.namespace,
            label_selector=label,
            field_selector=field,
            limit=options.limit,
            continue_=options.continue_,
            resource_version=options.resource_version,
            resource_version_match=options.resource_version_match,
        )

    async def watch(self, options: ListOptions) -> watch.Interface:
        label, field = self._selectors(options)
        return await self.client.watch(
            self.gvr,
            self.namespace,
            label_selector=label,
            field_selector=field,
            resource_version=options.resource_version,
            resource_version_match=options.resource_version_match,
            allow_watch_bookmarks=options.allow_watch_bookmarks,
            send_initial_events=options.send_initial_events,
            timeout_seconds=options.timeout_seconds,
        )
