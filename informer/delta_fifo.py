"""The queue between a Reflector and an informer: `DeltaFIFO` (client-go tools/cache/delta_fifo.go).

Interface. A DeltaFIFO is a producer/consumer queue of keys. What is queued under a key is
not one object but `Deltas`: every change (`Delta`: a `DeltaType` and the object's state
after it) that happened to that object since the consumer last popped it. The producer (a
Reflector) calls:

    add(obj) / update(obj) / delete(obj)    queue an Added / Updated / Deleted delta
    replace(objs, resource_version)         a relist: a Sync delta (Replaced with
                                            emit_delta_type_replaced) for every listed object,
                                            then Deleted(DeletedFinalStateUnknown(key, last
                                            known state)) for every queued or known key the
                                            list lacks
    resync()                                a Sync delta for every known object not queued
    close()                                 wake every waiting pop; they raise FIFOClosedError

The consumer calls `await pop(process)`: it waits for a key, removes it and its Deltas from
the queue, then calls `process(deltas, is_in_initial_list)` (a function or a coroutine
function) and returns the Deltas. An exception from `process` propagates to the caller of
`pop` and the item stays removed: there is no requeue (client-go removed ErrRequeue in 1.33);
a consumer that wants a retry puts the Deltas back with `add_if_not_present(deltas)`.

Rules, as client-go's:
  * Deltas for one key accumulate oldest first, and the key keeps the place in the queue it
    took when it was first queued.
  * Only two consecutive deletions are collapsed (`dedupDeltas`): the older one is kept,
    unless the older one's object is a DeletedFinalStateUnknown, then the newer one.
  * delete() of a key that is neither queued nor (with `known_objects`) known is ignored:
    it was already reported deleted, by a relist for example.
  * `known_objects` (anything with `list_keys()` and `get_by_key(key)`, usually the informer's
    Indexer, which the consumer updates in `process`) is what "known" means for delete,
    replace and resync. Without it, replace detects deletions only among queued keys and
    resync does nothing.
  * has_synced() is true once the items and tombstones of the first replace() have all been
    popped (at once if it queued nothing), or, when an add, update, delete or
    add_if_not_present came before any replace, as soon as that call is made.

Worked example (queue order left to right; under each key its Deltas, oldest first):

    add(a1); add(b1); update(a2); delete(b1); delete(b1)   # the second delete collapses
        queue: [a, b]
        items: a -> [Added a1, Updated a2]
               b -> [Added b1, Deleted b1]
    replace([a3], "7")                                     # b is missing from the relist
        queue: [a, b]
        items: a -> [Added a1, Updated a2, Sync a3]
               b -> [Added b1, Deleted b1]                 # Deleted(DFSU b) collapsed into Deleted b1
    await pop(process)   # process([Added a1, Updated a2, Sync a3], is_in_initial_list=False)
        queue: [b]

Implementation. `_items` maps key -> Deltas; `_queue` orders the keys. A single asyncio
thread owns the queue, so no locks; `process` runs after the item is removed. When `process`
is a coroutine, producers may run while it awaits: a consumer that updates `known_objects`
in `process` should do so before its first await to keep client-go's guarantee that the
queue and the known objects change together (client-go runs `process` under the queue lock).
"""

from __future__ import annotations

import asyncio
import inspect
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from enum import StrEnum
from typing import Any, NamedTuple, Protocol

from informer.errors import FIFOClosedError, KeyFuncError
from informer.keys import DeletedFinalStateUnknown, KeyFunc, meta_namespace_key_func

__all__ = [
    "DeletedFinalStateUnknown",
    "Delta",
    "DeltaFIFO",
    "DeltaType",
    "Deltas",
    "KeyListerGetter",
    "PopProcessFunc",
]


class DeltaType(StrEnum):
    """The kind of change a Delta records."""

    ADDED = "Added"
    UPDATED = "Updated"
    DELETED = "Deleted"
    REPLACED = "Replaced"
    """Listed by a relist (only with emit_delta_type_replaced): may or may not have changed."""
    SYNC = "Sync"
    """A periodic resync, or a relist without emit_delta_type_replaced."""


class Delta(NamedTuple):
    """One change: its type and the object's state after it (its last state, for a deletion)."""

    type: DeltaType
    object: Any


class Deltas(list[Delta]):
    """The changes queued for one object, oldest first; a queued Deltas is never empty.

    `key` is the object's key in the queue ("" for a Deltas built outside one), so the
    consumer need not compute it again."""

    __slots__ = ("key",)

    def __init__(self, deltas: Iterable[Delta] = (), key: str = "") -> None:
        super().__init__(deltas)
        self.key = key

    def oldest(self) -> Delta | None:
        return self[0] if self else None

    def newest(self) -> Delta | None:
        return self[-1] if self else None


class KeyListerGetter(Protocol):
    """What a DeltaFIFO needs of the objects its consumer already knows (usually an Indexer)."""

    def list_keys(self) -> list[str]: ...

    def get_by_key(self, key: str) -> Any | None: ...


PopProcessFunc = Callable[[Deltas, bool], Awaitable[None] | None]
"""Handles one popped item: `(deltas, is_in_initial_list)`; may be a coroutine function."""


class DeltaFIFO:
    """A queue of per-object Deltas; see the module docstring for the contract."""

    def __init__(
        self,
        key_function: KeyFunc = meta_namespace_key_func,
        known_objects: KeyListerGetter | None = None,
        emit_delta_type_replaced: bool = False,
    ) -> None:
        self._key_function = key_function
        self._known_objects = known_objects
        self._emit_delta_type_replaced = emit_delta_type_replaced
        # Invariant: a key is in `_queue` if and only if it is in `_items`, at most once;
        # every Deltas in `_items` holds at least one Delta.
        self._items: dict[str, Deltas] = {}
        self._queue: deque[str] = deque()
        # `_populated`: a replace, add, update, delete or add_if_not_present has been called.
        # `_initial_population_count`: items of the first replace not yet popped (0 before it).
        self._populated = False
        self._initial_population_count = 0
        self._closed = False
        self._last_sync_resource_version = ""
        # Set whenever a key is queued or the queue is closed; a waiting pop clears it
        # before it waits, so it is set whenever a waiter has something to look at.
        self._wakeup = asyncio.Event()

    # -- producer side ---------------------------------------------------------------------

    def add(self, obj: Any) -> None:
        self._populated = True
        self._queue_action(DeltaType.ADDED, obj)

    def update(self, obj: Any) -> None:
        self._populated = True
        self._queue_action(DeltaType.UPDATED, obj)

    def delete(self, obj: Any) -> None:
        """Queue a Deleted delta, unless the key is neither queued nor known (then ignore it)."""
        key = self.key_of(obj)
        self._populated = True
        if key not in self._items and (self._known_objects is None or self._known_objects.get_by_key(key) is None):
            return
        self._queue_action(DeltaType.DELETED, obj, key)

    def add_if_not_present(self, deltas: Deltas) -> None:
        """Queue popped `deltas` back under their key, unless that key is queued again already."""
        key = self.key_of(deltas)
        self._populated = True
        if key in self._items:
            return
        self._enqueue(key, Deltas(deltas, key))

    def replace(self, objects: Iterable[Any], resource_version: str) -> None:
        """A relist: queue Sync (or Replaced) for `objects`, tombstones for keys they lack."""
        listed = [(self.key_of(obj), obj) for obj in objects]
        action = DeltaType.REPLACED if self._emit_delta_type_replaced else DeltaType.SYNC
        for key, obj in listed:
            self._queue_action(action, obj, key)
        keys = {key for key, _ in listed}
        deletions = 0
        for key in [key for key in self._queue if key not in keys]:
            self._queue_tombstone(key, self._items[key][-1].object)
            deletions += 1
        if self._known_objects is not None:
            for key in self._known_objects.list_keys():
                if key not in keys and key not in self._items:
                    self._queue_tombstone(key, self._known_objects.get_by_key(key))
                    deletions += 1
        self._last_sync_resource_version = resource_version
        if not self._populated:
            self._populated = True
            self._initial_population_count = len(keys) + deletions

    def resync(self) -> None:
        """Queue a Sync delta for every known object that has nothing queued."""
        if self._known_objects is None:
            return
        for known_key in self._known_objects.list_keys():
            obj = self._known_objects.get_by_key(known_key)
            if obj is None:
                continue
            key = self.key_of(obj)
            if key not in self._items:
                self._queue_action(DeltaType.SYNC, obj, key)

    def close(self) -> None:
        """Close the queue: pops drain what is queued, then raise FIFOClosedError."""
        self._closed = True
        self._wakeup.set()

    def _queue_tombstone(self, key: str, last_known: Any) -> None:
        if isinstance(last_known, DeletedFinalStateUnknown):
            last_known = last_known.obj
        self._queue_action(DeltaType.DELETED, DeletedFinalStateUnknown(key, last_known), key)

    def _queue_action(self, action: DeltaType, obj: Any, key: str | None = None) -> None:
        if key is None:
            key = self.key_of(obj)
        delta = Delta(action, obj)
        deltas = self._items.get(key)
        if deltas is None:
            self._enqueue(key, Deltas((delta,), key))
            return
        last = deltas[-1]
        if action is DeltaType.DELETED and last.type is DeltaType.DELETED:
            # dedupDeltas: keep the older deletion unless it is only a tombstone.
            if isinstance(last.object, DeletedFinalStateUnknown):
                deltas[-1] = delta
        else:
            deltas.append(delta)
        self._wakeup.set()

    def _enqueue(self, key: str, deltas: Deltas) -> None:
        self._items[key] = deltas
        self._queue.append(key)
        self._wakeup.set()

    # -- consumer side ---------------------------------------------------------------------

    async def pop(self, process: PopProcessFunc) -> Deltas:
        """Wait for the first queued key, remove it, run `process` on its Deltas, return them.

        Raises FIFOClosedError once the queue is closed and empty; whatever `process`
        raises propagates, with the item already removed.
        """
        while not self._queue:
            if self._closed:
                raise FIFOClosedError()
            self._wakeup.clear()
            await self._wakeup.wait()
        is_in_initial_list = not self.has_synced()
        key = self._queue.popleft()
        if self._initial_population_count > 0:
            self._initial_population_count -= 1
        deltas = self._items.pop(key)
        result = process(deltas, is_in_initial_list)
        if result is not None and inspect.isawaitable(result):
            await result
        return deltas

    # -- reads -----------------------------------------------------------------------------

    def key_of(self, obj: Any) -> str:
        """The key of obj; of a Deltas, its newest object's; of a tombstone, the key it carries."""
        if type(obj) is dict:
            return self._key_function(obj)
        if isinstance(obj, Deltas):
            newest = obj.newest()
            if newest is None:
                raise KeyFuncError(obj, "0 length Deltas object; can't get key")
            obj = newest.object
        if isinstance(obj, DeletedFinalStateUnknown):
            return obj.key
        return self._key_function(obj)

    def get(self, obj: Any) -> Deltas | None:
        """A copy of the Deltas queued under obj's key, or None."""
        return self.get_by_key(self.key_of(obj))

    def get_by_key(self, key: str) -> Deltas | None:
        """A copy of the Deltas queued under key, or None."""
        deltas = self._items.get(key)
        return Deltas(deltas, key) if deltas is not None else None

    def has_synced(self) -> bool:
        """True once the first replace's items have been popped, or a plain write came first."""
        return self._populated and self._initial_population_count == 0

    def is_closed(self) -> bool:
        return self._closed

    def last_sync_resource_version(self) -> str:
        """The resource_version given to the latest replace, or "" before any."""
        return self._last_sync_resource_version

    def list_keys(self) -> list[str]:
        """The queued keys, in queue order."""
        return list(self._queue)

    def list(self) -> list[Any]:
        """The newest object of each queued key, in queue order."""
        return [self._items[key][-1].object for key in self._queue]
