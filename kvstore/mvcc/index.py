"""The in-memory key index: for every key, the revisions at which it changed.

Like etcd's treeIndex, it maps a key and a revision to the history row that holds the
key's value at that revision; values themselves stay in LMDB. It is rebuilt from the
history on open. One thread (the committer) mutates it; readers hold `lock` while they
look up, and the committer holds it while it applies a command.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Iterable, Iterator

from kvstore.messages import KeyValue
from kvstore.mvcc import revision as rv
from kvstore.mvcc.sorted_keys import SortedKeys

INFINITE = 1 << 128
"""A bound above every index revision: "the latest, committed or not"."""


class KeyIndex:
    """The revisions of one key, ascending, and the state of its live generation."""

    __slots__ = ("create_revision", "lease", "revs", "version")

    def __init__(self) -> None:
        self.revs: list[int] = []
        self.create_revision = 0
        self.version = 0  # 0 while the key is deleted
        self.lease = 0

    def at(self, bound: int) -> int | None:
        """The revision holding the key's value below `bound`, or None if it was absent."""
        revs = self.revs
        last = revs[-1]
        if last < bound:
            return None if last & 1 else last
        i = bisect_left(revs, bound)
        if i == 0:
            return None
        r = revs[i - 1]
        return None if r & 1 else r


class TreeIndex:
    """Sorted keys plus a KeyIndex per key."""

    def __init__(self) -> None:
        self.keys = SortedKeys()
        self.by_key: dict[bytes, KeyIndex] = {}
        self.lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.keys)

    def get(self, key: bytes) -> KeyIndex | None:
        return self.by_key.get(key)

    def live(self, key: bytes) -> KeyIndex | None:
        """The key's index if it currently exists (counting uncommitted changes)."""
        ki = self.by_key.get(key)
        if ki is None or ki.version == 0:
            return None
        return ki

    def keys_in(self, key: bytes, range_end: bytes) -> list[bytes]:
        """Keys in [key, range_end) that have any history; range_end rules as etcd's."""
        if not range_end:
            return [key] if key in self.by_key else []
        if range_end == b"\0":
            return self.keys.slice(key, None)
        if range_end <= key:
            return []
        return self.keys.slice(key, range_end)

    def visible(self, key: bytes, range_end: bytes, bound: int) -> Iterator[tuple[bytes, int]]:
        """(key, revision) of every key in the range that exists below `bound`, by key."""
        by_key = self.by_key
        for k in self.keys_in(key, range_end):
            r = by_key[k].at(bound)
            if r is not None:
                yield k, r

    # ------------------------------------------------------------ mutation (committer only)

    def put(self, key: bytes, rev: int, create_revision: int, version: int, lease: int) -> None:
        ki = self.by_key.get(key)
        if ki is None:
            ki = self.by_key[key] = KeyIndex()
            self.keys.add(key)
        ki.revs.append(rev)
        ki.create_revision = create_revision
        ki.version = version
        ki.lease = lease

    def tombstone(self, key: bytes, rev: int) -> None:
        ki = self.by_key[key]
        ki.revs.append(rev | 1)
        ki.create_revision = 0
        ki.version = 0
        ki.lease = 0

    def compact(self, main: int) -> list[int]:
        """Forget history below main revision `main`; return the revisions to delete on disk.

        For every key, the newest revision below `main` survives if it is a put and no
        revision at exactly `main` shadows it: reads at `main` and later still need it.
        """
        bound = main << rv.MAIN_SHIFT
        at_main = rv.upper_bound(main)
        removed: list[int] = []
        dead: list[bytes] = []
        for key, ki in self.by_key.items():
            revs = ki.revs
            if revs[0] >= bound:
                continue
            i = bisect_left(revs, bound)
            last = revs[i - 1]
            keep_last = not (last & 1) and (i == len(revs) or revs[i] >= at_main)
            cut = i - 1 if keep_last else i
            if cut <= 0:
                continue
            removed.extend(revs[:cut])
            del revs[:cut]
            if not revs:
                dead.append(key)
        if dead:
            for key in dead:
                del self.by_key[key]
            self.keys.discard_all(set(dead))
        return removed

    def load(self, rows: Iterable[tuple[int, int, KeyValue]]) -> None:
        """Rebuild from history rows (main, sub, record) given in revision order."""
        by_key = self.by_key
        for main, sub, kv in rows:
            ki = by_key.get(kv.key)
            if ki is None:
                ki = by_key[kv.key] = KeyIndex()
            rev = (main << rv.MAIN_SHIFT) | (sub << rv.SUB_SHIFT)
            if kv.create_revision == 0:  # a tombstone
                ki.revs.append(rev | 1)
                ki.create_revision = ki.version = ki.lease = 0
            else:
                ki.revs.append(rev)
                ki.create_revision = kv.create_revision
                ki.version = kv.version
                ki.lease = kv.lease
        self.keys = SortedKeys(by_key)

    def clear(self) -> None:
        self.keys = SortedKeys()
        self.by_key = {}
