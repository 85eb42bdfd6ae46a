"""Keys and the namespace index of cached objects (client-go tools/cache: store.go, index.go, controller.go).

Interface:

    KeyFunc = Callable[[Any], str]            an object -> its cache key
    meta_namespace_key_func(obj) -> str       "ns/name", or "name" for a cluster-scoped object;
                                              a DeletedFinalStateUnknown -> its .key
    split_meta_namespace_key(key) -> (ns, name)
    meta_namespace_index_func(obj) -> [ns]    the built-in index function, under NAMESPACE_INDEX
    DeletedFinalStateUnknown(key, obj)        the tombstone a relist leaves for a missed deletion

`meta_namespace_key_func` is client-go's `DeletionHandlingMetaNamespaceKeyFunc`, not the bare
`MetaNamespaceKeyFunc`: a tombstone is keyed by the key it carries, so a store can delete
what a DeltaFIFO reports as `DeletedFinalStateUnknown` without unwrapping it first. Stores
and queues here use it by default, so every default key function in the layer agrees.

    >>> meta_namespace_key_func({"metadata": {"namespace": "prod", "name": "web-0"}})
    'prod/web-0'
    >>> meta_namespace_key_func({"metadata": {"name": "node-1"}})
    'node-1'
    >>> meta_namespace_key_func(DeletedFinalStateUnknown("prod/web-0", None))
    'prod/web-0'
    >>> split_meta_namespace_key("prod/web-0"), split_meta_namespace_key("node-1")
    (('prod', 'web-0'), ('', 'node-1'))

`DeletedFinalStateUnknown` is defined here rather than in `delta_fifo.py` (which re-exports it)
because the key function must recognise it and the queue imports the key function.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from apimachinery import meta
from informer.errors import KeyFuncError

KeyFunc = Callable[[Any], str]
"""Computes the cache key of an object; raises `KeyFuncError` when it cannot."""

NAMESPACE_INDEX: Final = "namespace"
"""Name of the index every `Indexer` has: objects by `metadata.namespace`."""


@dataclass(frozen=True, slots=True)
class DeletedFinalStateUnknown:
    """An object that was deleted while the watch was down (client-go's tombstone).

    A relist (`DeltaFIFO.replace`) no longer finds `key`; the deletion event itself was
    missed, so the object's final state is unknown and `obj` may be stale.
    """

    key: str
    """The cache key of the deleted object."""
    obj: Any
    """The last state the cache knew, or None when it knew none."""


def meta_namespace_key_func(obj: Any) -> str:
    """The cache key of `obj`: `namespace/name`, or `name` when the namespace is empty.

    A `DeletedFinalStateUnknown` yields its own `key` (client-go's
    DeletionHandlingMetaNamespaceKeyFunc). Raises `KeyFuncError` for a value that is not
    a mapping or has no `metadata.name` (client-go would return "" for the latter).
    """
    if type(obj) is dict:  # the hot path: a decoded object with string name and namespace
        md = obj.get("metadata")
        if type(md) is dict:
            name, namespace = md.get("name"), md.get("namespace")
            if type(name) is str and name and (namespace is None or type(namespace) is str):
                return f"{namespace}/{name}" if namespace else name
    if isinstance(obj, DeletedFinalStateUnknown):
        return obj.key
    if not isinstance(obj, Mapping):
        raise KeyFuncError(obj, f"object has no metadata: {type(obj).__name__} is not a mapping")
    name = meta.name(obj)
    if not name:
        raise KeyFuncError(obj, "object has no metadata.name")
    namespace = meta.namespace(obj)
    return f"{namespace}/{name}" if namespace else name


def split_meta_namespace_key(key: str) -> tuple[str, str]:
    """`ns/name` -> ("ns", "name"); `name` -> ("", "name"); ValueError for more slashes."""
    return meta.split_object_key(key)


def meta_namespace_index_func(obj: Any) -> list[str]:
    """The namespace index: `[metadata.namespace]`, `[""]` for cluster-scoped objects.

    Like client-go's MetaNamespaceIndexFunc, cluster-scoped objects share the "" value.
    """
    if type(obj) is not dict and not isinstance(obj, Mapping):
        raise TypeError(f"cannot index {type(obj).__name__}: not a mapping")
    return [meta.namespace(obj)]
