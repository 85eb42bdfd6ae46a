"""Listers: read-only views of an informer's cache (client-go's generated listers, for any resource).

    pods = Lister(informer.indexer, PODS)
    pods.list("app=web")                  # every namespace
    pods.namespaced("default").get("web-0")   # NotFoundError (404) if not cached

Objects are the cache's own: do not modify them (copy first), as with client-go.
"""

from __future__ import annotations

from typing import Any

from apimachinery import labels
from apimachinery.errors import NotFoundError
from apimachinery.schema import GroupVersionResource
from informer.keys import NAMESPACE_INDEX
from informer.store import Indexer


def _selector(selector: str | labels.Selector) -> labels.Selector:
    return labels.parse(selector) if isinstance(selector, str) else selector


def _matches(sel: labels.Selector, obj: Any) -> bool:
    return sel.empty() or sel.matches((obj.get("metadata") or {}).get("labels") or {})


class Lister:
    """Objects of one resource in an informer's cache."""

    def __init__(self, indexer: Indexer, gvr: GroupVersionResource) -> None:
        self.indexer = indexer
        self.gvr = gvr

    def list(self, selector: str | labels.Selector = "") -> list[Any]:
        sel = _selector(selector)
        return [obj for obj in self.indexer.list() if _matches(sel, obj)]

    def get(self, name: str) -> Any:
        """A cluster-scoped object by name."""
        obj = self.indexer.get_by_key(name)
        if obj is None:
            raise NotFoundError.for_resource(self.gvr.resource, self.gvr.group, name)
        return obj

    def namespaced(self, namespace: str) -> NamespaceLister:
        return NamespaceLister(self, namespace)


class NamespaceLister:
    """Objects of one resource in one namespace."""

    def __init__(self, lister: Lister, namespace: str) -> None:
        self.lister = lister
        self.namespace = namespace

    def list(self, selector: str | labels.Selector = "") -> list[Any]:
        sel = _selector(selector)
        return [obj for obj in self.lister.indexer.by_index(NAMESPACE_INDEX, self.namespace) if _matches(sel, obj)]

    def get(self, name: str) -> Any:
        obj = self.lister.indexer.get_by_key(f"{self.namespace}/{name}")
        if obj is None:
            gvr = self.lister.gvr
            raise NotFoundError.for_resource(gvr.resource, gvr.group, name)
        return obj
