"""The object cache of an informer: `Store` and `Indexer` (client-go tools/cache: store.go, index.go,
thread_safe_store.go).

Interface. A `Store` holds at most one object per key; the key comes from the store's key
function (`meta_namespace_key_func` by default: "ns/name", or "name"):

    add(obj)            store obj under its key (insert or overwrite)
    update(obj)         the same as add: the store keeps no history
    delete(obj)         forget the object under obj's key; a key not stored is no error
    get(obj)            the stored object with obj's key, or None
    get_by_key(key)     the stored object under key, or None
    list()              every stored object
    list_keys()         every stored key
    replace(objs, rv)   make the content exactly `objs`, at once (a relist); rv is informational
    resync()            nothing for a plain cache (a DeltaFIFO re-queues its known objects)

Every method that keys an object raises `KeyFuncError` when the key function cannot key it,
and then changes nothing.

An `Indexer` is a Store that also answers "which objects have index value V?" for named index
functions. An index function maps an object to the list of values it is filed under (a pod
under its node name, say); the built-in NAMESPACE_INDEX files each object under its namespace.

    add_indexers({name: func})          add indices; existing objects are indexed at once;
                                        a name already present is a ValueError
    get_indexers()                      {name: func}
    index(name, obj)                    objects sharing any of obj's values under index `name`
    index_keys(name, value)             keys of the objects filed under `value`
    by_index(name, value)               those objects
    list_index_func_values(name)        the values that have at least one object

Querying an index name the Indexer does not have raises `IndexNotFoundError`, except
`list_index_func_values`, which answers [] as client-go does. Lists come back in insertion
order (first time a key entered the store, or a bucket); callers should not rely on more.

Objects are not copied: the store hands out the objects it was given. Treat them as read-only.

Implementation. `items` maps key -> object. Each index keeps two maps: `keys_by_value`
(value -> the keys filed under it, an insertion-ordered set) and `values_by_key` (key -> the
values its function returned when the object was stored). An update moves a key only between
the buckets whose membership changes, and never re-runs an index function on the old object,
so a caller who mutated a stored object in place cannot leave a stale entry behind (client-go
recomputes the old object's values instead). Every new value is computed before anything is
changed, so an index function that raises leaves the Indexer as it was. A single asyncio
thread owns the Indexer: there are no locks and no method awaits.

Worked example: a pod indexer with a "node" index besides the namespace one:

    add(prod/web-0 on n1); add(prod/web-1 on n2); add(kube-system/dns on n1)

    items                        "namespace" index                  "node" index
      prod/web-0      -> pod       prod        -> {prod/web-0,          n1 -> {prod/web-0,
      prod/web-1      -> pod                       prod/web-1}                kube-system/dns}
      kube-system/dns -> pod       kube-system -> {kube-system/dns}     n2 -> {prod/web-1}

    update(prod/web-1 now on n1): prod/web-1 moves from n2 to n1; bucket n2 is now empty and
    is removed, so list_index_func_values("node") == ["n1"].
    delete(kube-system/dns): bucket kube-system goes the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from informer.errors import IndexNotFoundError
from informer.keys import NAMESPACE_INDEX, KeyFunc, meta_namespace_index_func, meta_namespace_key_func

IndexFunc = Callable[[Any], list[str]]
"""The values an object is filed under in one index ([] files it nowhere)."""

Indexers = dict[str, IndexFunc]
"""Index functions by index name."""


class Store(Protocol):
    """A keyed object cache (client-go's `cache.Store`); see the module docstring for the contract.

    `list` is declared last: a method named `list` would hide the builtin in later annotations.
    """

    def add(self, obj: Any) -> None: ...

    def update(self, obj: Any) -> None: ...

    def delete(self, obj: Any) -> None: ...

    def get(self, obj: Any) -> Any | None: ...

    def get_by_key(self, key: str) -> Any | None: ...

    def replace(self, objects: Iterable[Any], resource_version: str) -> None: ...

    def resync(self) -> None: ...

    def list_keys(self) -> list[str]: ...

    def list(self) -> list[Any]: ...


class _Index:
    """One named index: its function and both directions of its key <-> value relation."""

    __slots__ = ("func", "keys_by_value", "values_by_key")

    def __init__(self, func: IndexFunc) -> None:
        self.func = func
        # Invariant: key k is in keys_by_value[v] if and only if v is in values_by_key[k].
        # No bucket in keys_by_value is empty; values_by_key holds no empty tuple (a key
        # filed under no value is absent). Buckets are dicts used as insertion-ordered sets.
        self.keys_by_value: dict[str, dict[str, None]] = {}
        self.values_by_key: dict[str, tuple[str, ...]] = {}

    def values_of(self, obj: Any) -> tuple[str, ...]:
        """The distinct values `func` files obj under, in the order it returned them."""
        values = self.func(obj)
        if len(values) == 1:
            return (values[0],)
        return tuple(dict.fromkeys(values))

    def file(self, key: str, values: tuple[str, ...]) -> None:
        """File `key` under exactly `values`, leaving buckets it no longer belongs to."""
        old = self.values_by_key.get(key, ())
        if old == values:
            return
        for value in old:
            if value not in values:
                bucket = self.keys_by_value[value]
                del bucket[key]
                if not bucket:
                    del self.keys_by_value[value]
        for value in values:
            if value not in old:
                self.keys_by_value.setdefault(value, {})[key] = None
        if values:
            self.values_by_key[key] = values
        else:
            del self.values_by_key[key]

    def keys_for(self, values: tuple[str, ...]) -> Iterable[str]:
        """Keys filed under any of `values`, each once."""
        if len(values) == 1:
            return self.keys_by_value.get(values[0], {})
        union: dict[str, None] = {}
        for value in values:
            union.update(self.keys_by_value.get(value, {}))
        return union


class Indexer:
    """A `Store` with named indices (client-go's `cache.Indexer` over a threadSafeMap).

    `indexers` are added to the built-in namespace index; an entry named NAMESPACE_INDEX
    replaces the built-in one.
    """

    def __init__(self, key_function: KeyFunc = meta_namespace_key_func, indexers: Indexers | None = None) -> None:
        self._key_function = key_function
        # Invariant (items <-> indices): for every index, its values_by_key has exactly the
        # keys of `_items` whose object that index's function filed under at least one value,
        # each with the values computed when that object was stored; nothing else is indexed.
        self._items: dict[str, Any] = {}
        self._indices: dict[str, _Index] = {}
        self.add_indexers({NAMESPACE_INDEX: meta_namespace_index_func, **(indexers or {})})

    # -- writes --------------------------------------------------------------------------

    def add(self, obj: Any) -> None:
        self.put_by_key(self._key_function(obj), obj)

    def update(self, obj: Any) -> None:
        self.put_by_key(self._key_function(obj), obj)

    def delete(self, obj: Any) -> None:
        self.delete_by_key(self._key_function(obj))

    def put_by_key(self, key: str, obj: Any) -> None:
        """Add or replace `obj` under `key`, which the caller computed with this store's key
        function (client-go's threadSafeMap.Update: a consumer of a DeltaFIFO knows the key)."""
        # Every index function runs before anything changes, so one that raises leaves the store as it was.
        filing = [(index, index.values_of(obj)) for index in self._indices.values()]
        self._items[key] = obj
        for index, values in filing:
            index.file(key, values)

    def delete_by_key(self, key: str) -> None:
        """Remove what `key` holds, if anything (client-go's threadSafeMap.Delete)."""
        if self._items.pop(key, _MISSING) is _MISSING:
            return
        for index in self._indices.values():
            index.file(key, ())

    def replace(self, objects: Iterable[Any], resource_version: str) -> None:
        """Make the content exactly `objects` (the last of equal keys wins); indices are rebuilt."""
        items = {self._key_function(obj): obj for obj in objects}
        indices = {name: _Index(index.func) for name, index in self._indices.items()}
        for key, obj in items.items():
            for index in indices.values():
                index.file(key, index.values_of(obj))
        self._items, self._indices = items, indices

    def resync(self) -> None:
        """Nothing to do: a cache has no queue to re-deliver into."""

    def add_indexers(self, indexers: Indexers) -> None:
        """Add indices, indexing the objects already stored; a name present already is a ValueError."""
        clash = sorted(indexers.keys() & self._indices.keys())
        if clash:
            raise ValueError(f"indexer conflict: {', '.join(clash)}")
        added = {name: _Index(func) for name, func in indexers.items()}
        for index in added.values():
            for key, obj in self._items.items():
                index.file(key, index.values_of(obj))
        self._indices.update(added)

    # -- reads ---------------------------------------------------------------------------

    def get(self, obj: Any) -> Any | None:
        return self._items.get(self._key_function(obj))

    def get_by_key(self, key: str) -> Any | None:
        return self._items.get(key)

    def get_indexers(self) -> Indexers:
        return {name: index.func for name, index in self._indices.items()}

    def index(self, index_name: str, obj: Any) -> list[Any]:
        """Stored objects filed under any value `obj` has in index `index_name`."""
        index = self._index(index_name)
        return [self._items[key] for key in index.keys_for(index.values_of(obj))]

    def index_keys(self, index_name: str, value: str) -> list[str]:
        return list(self._index(index_name).keys_by_value.get(value, ()))

    def by_index(self, index_name: str, value: str) -> list[Any]:
        keys = self._index(index_name).keys_by_value.get(value, ())
        return [self._items[key] for key in keys]

    def list_index_func_values(self, index_name: str) -> list[str]:
        index = self._indices.get(index_name)
        return list(index.keys_by_value) if index is not None else []

    def _index(self, index_name: str) -> _Index:
        try:
            return self._indices[index_name]
        except KeyError:
            raise IndexNotFoundError(index_name) from None

    def list_keys(self) -> list[str]:
        return list(self._items)

    def list(self) -> list[Any]:
        return list(self._items.values())


_MISSING: Any = object()
