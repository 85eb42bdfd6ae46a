"""SharedInformerFactory: one informer per resource (and namespace and selectors), started together.

    factory = SharedInformerFactory(client, resync_period=0)
    pods = factory.for_resource(PODS)           # the same informer for every caller
    pods.add_event_handler(handler)
    factory.start()
    await factory.wait_for_cache_sync()
    factory.lister(PODS).namespaced("default").list("app=web")
    await factory.shutdown()

`client` is any `apimachinery.client.ResourceClient`: the embedded registry or the network
client, so controllers run unchanged on either (client-go's SharedInformerFactory over a
clientset).
"""

from __future__ import annotations

import asyncio
from typing import NamedTuple

from apimachinery.client import ResourceClient
from apimachinery.schema import GroupVersionResource
from informer.lister import Lister
from informer.listwatch import ResourceListerWatcher
from informer.shared_informer import SharedIndexInformer
from informer.store import Indexers
from informer.sync import wait_for_cache_sync


class _Key(NamedTuple):
    gvr: GroupVersionResource
    namespace: str
    label_selector: str
    field_selector: str


class SharedInformerFactory:
    def __init__(
        self,
        client: ResourceClient,
        resync_period: float = 0.0,
        *,
        namespace: str = "",
        label_selector: str = "",
        field_selector: str = "",
        use_watch_list: bool = True,
    ) -> None:
        self.client = client
        self.resync_period = resync_period
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.use_watch_list = use_watch_list
        self._informers: dict[_Key, SharedIndexInformer] = {}
        self._started: set[_Key] = set()
        self._shutting_down = False

    def for_resource(
        self,
        gvr: GroupVersionResource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resync_period: float | None = None,
        indexers: Indexers | None = None,
    ) -> SharedIndexInformer:
        """The informer of `gvr` (made on first request; later requests share it)."""
        key = _Key(
            gvr,
            self.namespace if namespace is None else namespace,
            self.label_selector if label_selector is None else label_selector,
            self.field_selector if field_selector is None else field_selector,
        )
        informer = self._informers.get(key)
        if informer is None:
            lw = ResourceListerWatcher(
                self.client, gvr, key.namespace, label_selector=key.label_selector, field_selector=key.field_selector
            )
            informer = SharedIndexInformer(
                lw,
                resync_period=self.resync_period if resync_period is None else resync_period,
                indexers=indexers,
                name=f"{gvr}",
                use_watch_list=self.use_watch_list,
            )
            self._informers[key] = informer
        elif indexers:
            informer.add_indexers(indexers)
        return informer

    def lister(
        self,
        gvr: GroupVersionResource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> Lister:
        """A lister over the cache of `gvr`'s informer (the same options pick the same informer)."""
        informer = self.for_resource(
            gvr, namespace=namespace, label_selector=label_selector, field_selector=field_selector
        )
        return Lister(informer.indexer, gvr)

    def start(self) -> None:
        """Start every informer requested so far that is not running yet."""
        if self._shutting_down:
            raise RuntimeError("the factory is shutting down")
        for key, informer in self._informers.items():
            if key not in self._started:
                informer.start()
                self._started.add(key)

    async def wait_for_cache_sync(self, timeout: float | None = None) -> dict[GroupVersionResource, bool]:
        """Wait until every started informer has synced; gvr -> synced."""
        started = {key: self._informers[key] for key in self._started}
        await wait_for_cache_sync(*(i.has_synced for i in started.values()), timeout=timeout)
        return {key.gvr: informer.has_synced() for key, informer in started.items()}

    async def shutdown(self) -> None:
        """Stop every informer and wait for their tasks to end."""
        self._shutting_down = True
        await asyncio.gather(*(i.stop() for i in self._informers.values()))
