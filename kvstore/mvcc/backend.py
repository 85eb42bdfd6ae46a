"""The LMDB environment: sub-databases, record encoding, and a map that grows by itself.

Sub-databases:
  history  revision key (16 bytes) -> msgpack [key, create, mod, version, value, lease]
           (a tombstone has create_revision 0)
  meta     replicated bookkeeping: b"revision", b"compact_revision"
  lease    lease ID (8 bytes, big-endian signed) -> msgpack [ttl]
  local    this node's own identity (member and cluster IDs); never replicated

The map is resized only while no transaction of this process is open, which a
shared/exclusive lock guarantees: readers hold it shared for the life of a read
transaction, the committer takes it exclusively between batches to grow the map.
"""

from __future__ import annotations

import os
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import lmdb
import msgpack

from kvstore.messages import KeyValue

MiB = 1 << 20
_INITIAL_MAP_SIZE = 64 * MiB
_SLACK = 16 * MiB
_INT = struct.Struct(">q")

_packb = msgpack.Packer(use_bin_type=True).pack
_unpackb = msgpack.unpackb


def encode_kv(kv: KeyValue) -> bytes:
    raw: bytes = _packb(kv)  # a NamedTuple packs as an array in field order
    return raw


def decode_kv(raw: bytes) -> KeyValue:
    return KeyValue(*_unpackb(raw))


def encode_int(n: int) -> bytes:
    return _INT.pack(n)


def decode_int(raw: bytes) -> int:
    value: int = _INT.unpack(raw)[0]
    return value


class _SharedExclusiveLock:
    """Many holders in shared mode, or one in exclusive mode; exclusive waiters go first."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._shared = 0
        self._exclusive = False
        self._waiting_exclusive = 0

    def acquire_shared(self) -> None:
        with self._cond:
            while self._exclusive or self._waiting_exclusive:
                self._cond.wait()
            self._shared += 1

    def release_shared(self) -> None:
        with self._cond:
            self._shared -= 1
            if not self._shared:
                self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._waiting_exclusive += 1
            while self._exclusive or self._shared:
                self._cond.wait()
            self._waiting_exclusive -= 1
            self._exclusive = True
        try:
            yield
        finally:
            with self._cond:
                self._exclusive = False
                self._cond.notify_all()


class _ReadTxn:
    __slots__ = ("_env", "_lock", "_txn")

    def __init__(self, env: Any, lock: _SharedExclusiveLock) -> None:
        self._env = env
        self._lock = lock

    def __enter__(self) -> Any:
        self._lock.acquire_shared()
        try:
            self._txn = self._env.begin()
        except BaseException:
            self._lock.release_shared()
            raise
        return self._txn

    def __exit__(self, *exc: object) -> None:
        try:
            self._txn.abort()
        finally:
            self._lock.release_shared()


class Backend:
    """One LMDB environment in a directory."""

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = True, map_size: int = 0) -> None:
        self.path = os.fspath(path)
        os.makedirs(self.path, exist_ok=True)
        data_file = os.path.join(self.path, "data.mdb")
        existing = os.path.getsize(data_file) if os.path.exists(data_file) else 0
        self.map_size = max(map_size or _INITIAL_MAP_SIZE, 2 * existing)
        self.fsync = fsync
        self.env = lmdb.open(
            self.path,
            map_size=self.map_size,
            max_dbs=8,
            sync=fsync,
            metasync=fsync,
            readahead=False,
            max_readers=1024,
            max_spare_txns=16,
        )
        self.history_db = self.env.open_db(b"history")
        self.meta_db = self.env.open_db(b"meta")
        self.lease_db = self.env.open_db(b"lease")
        self.local_db = self.env.open_db(b"local")
        self.page_size: int = self.env.stat()["psize"]
        self._resize_lock = _SharedExclusiveLock()
        self.resizes = 0

    # ------------------------------------------------------------ transactions

    def read(self) -> _ReadTxn:
        """A read transaction: a consistent snapshot of everything committed so far.

        Use it as a context manager; never hold it across an await.
        """
        return _ReadTxn(self.env, self._resize_lock)

    def begin_write(self) -> Any:
        return self.env.begin(write=True)

    # ------------------------------------------------------------ map size

    def used_bytes(self) -> int:
        info = self.env.info()
        return int(info["last_pgno"] + 1) * self.page_size

    def ensure_room(self, incoming: int) -> None:
        """Grow the map so a transaction writing about `incoming` bytes cannot fill it.

        Called by the committer with no write transaction open. LMDB copies every page
        it touches, so the estimate doubles the payload and adds slack for the tree.
        """
        need = self.used_bytes() + 2 * incoming + _SLACK
        if need > self.map_size:
            self.grow(need)

    def grow(self, at_least: int = 0) -> None:
        new_size = self.map_size * 2
        while new_size < at_least * 3 // 2:
            new_size *= 2
        with self._resize_lock.exclusive():
            self.env.set_mapsize(new_size)
        self.map_size = new_size
        self.resizes += 1

    # ------------------------------------------------------------ meta

    def get_meta(self, txn: Any, name: bytes, default: int = 0) -> int:
        raw = txn.get(name, db=self.meta_db)
        return default if raw is None else decode_int(raw)

    def put_meta(self, txn: Any, name: bytes, value: int) -> None:
        txn.put(name, encode_int(value), db=self.meta_db)

    def get_local(self, txn: Any, name: bytes) -> int | None:
        raw = txn.get(name, db=self.local_db)
        return None if raw is None else decode_int(raw)

    def put_local(self, name: bytes, value: int) -> None:
        with self.env.begin(write=True) as txn:
            txn.put(name, encode_int(value), db=self.local_db)

    def copy_to(self, directory: str) -> None:
        """Write a compacted, consistent copy of the environment into an empty directory."""
        self._resize_lock.acquire_shared()
        try:
            self.env.copy(directory, compact=True)
        finally:
            self._resize_lock.release_shared()

    def sync(self) -> None:
        self.env.sync(True)

    def close(self) -> None:
        self.env.close()
