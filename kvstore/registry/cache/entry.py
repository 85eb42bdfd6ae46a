"""What the watch cache holds: stored states, the changes between them, and the watch
events made of them, each decoded at most once and shared by every reader.

Everything handed out from here is shared: the same dict goes to every list, watcher and
informer of the process. Readers must not change it (client-go's rule for its caches);
copy first (`copy.deepcopy`) to modify.
"""

from __future__ import annotations

from typing import Any

from apimachinery.watch import ADDED, DELETED, MODIFIED
from apimachinery.watch import Event as WatchEvent
from kvstore.registry import codec


class Entry:
    """One stored state of one key: its bytes at `revision`, decoded on first use."""

    __slots__ = ("_added", "_obj", "api_version", "create_revision", "key", "revision", "value")

    def __init__(self, key: bytes, value: bytes, revision: int, api_version: str, create_revision: int) -> None:
        self.key = key
        self.value = value
        self.revision = revision
        self.create_revision = create_revision
        """The key's create revision: tells a re-created object from the one it replaced."""
        self.api_version = api_version
        self._obj: dict[str, Any] | None = None
        self._added: Delivery | None = None

    def added(self) -> Delivery:
        """ADDED of this state at its own revision (a create, or an initial event of a watch)."""
        d = self._added
        if d is None:
            d = self._added = Delivery(ADDED, self.revision, self)
        return d

    def obj(self) -> dict[str, Any]:
        """The object (shared, read-only), decoded the first time it is asked for."""
        o = self._obj
        if o is None:
            o = self._obj = codec.decode(self.value, self.revision, self.api_version)
        return o

    @property
    def decoded(self) -> bool:
        return self._obj is not None


class Delivery:
    """One watch event as watchers receive it, shared by all of them.

    `type`, `revision`, `key` and `value` are what the gRPC server encodes from (the stored
    bytes with the resourceVersion spliced in, kvstore.rpc.resource_watch_codec); `event`
    is the decoded `{"type", "object"}` for in-process consumers, built once.
    """

    __slots__ = ("_event", "entry", "key", "revision", "type", "value")

    def __init__(self, type: str, revision: int, entry: Entry) -> None:
        self.type = type
        self.revision = revision
        self.entry = entry
        self.key = entry.key
        self.value = entry.value
        self._event: WatchEvent | None = None

    @property
    def event(self) -> WatchEvent:
        ev = self._event
        if ev is None:
            obj = self.entry.obj()
            if self.revision != self.entry.revision:  # a last state, labelled with the change's revision
                obj = {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(self.revision)}}
            ev = self._event = {"type": self.type, "object": obj}
        return ev


class Change:
    """One store event as the cache applied it: the key's state before (`old`, None for a
    create) and after (`new`, None for a delete) at `revision`. The watch events it makes
    (by kind of watcher: plain, or selector transitions) are built once, on demand."""

    __slots__ = ("_deleted", "_plain", "_upserted", "key", "new", "old", "revision")

    def __init__(self, revision: int, key: bytes, new: Entry | None, old: Entry | None) -> None:
        self.revision = revision
        self.key = key
        self.new = new
        self.old = old
        self._plain: Delivery | None = None
        self._deleted: Delivery | None = None
        self._upserted: Delivery | None = None

    @property
    def size(self) -> int:
        """The stored bytes it holds (for the ring's byte limit)."""
        e = self.new or self.old
        return len(e.value) if e is not None else 0

    def plain(self) -> Delivery:
        """The event for a watcher without selectors: ADDED, MODIFIED or DELETED."""
        d = self._plain
        if d is None:
            if self.new is None:
                d = self.deleted()
            else:
                new = self.new
                d = self._plain = new.added() if self.old is None else Delivery(MODIFIED, self.revision, new)
        return d

    def deleted(self) -> Delivery:
        """DELETED carrying the last state before this change, at this change's revision."""
        d = self._deleted
        if d is None:
            assert self.old is not None
            d = self._deleted = Delivery(DELETED, self.revision, self.old)
        return d

    def added(self) -> Delivery:
        """ADDED of the new state: for a watcher whose selector the object starts to match."""
        if self.old is None:
            return self.plain()
        d = self._upserted
        if d is None:
            assert self.new is not None
            d = self._upserted = Delivery(ADDED, self.revision, self.new)
        return d
