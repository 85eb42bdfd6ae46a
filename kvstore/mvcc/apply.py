"""The deterministic apply function: one write command in, one state change out.

Every change to the store goes through `Applier.apply`: puts, deletes, txns, compaction,
lease grants and revocations (lease expiry arrives as a revocation decided elsewhere).
Nothing here reads a clock or a random source, so applying the same commands in the
same order to two stores yields byte-identical history, meta and lease databases,
whatever the batching. A command is checked completely before it changes anything: a
rejected command leaves no trace.
"""

from __future__ import annotations

from typing import Any

import msgpack

from kvstore.errors import (
    CompactedError,
    FutureRevisionError,
    KeyNotFoundError,
    LeaseExistsError,
    LeaseNotFoundError,
    LeaseTTLTooLargeError,
)
from kvstore.messages import (
    CompactionRequest,
    CompactionResponse,
    Compare,
    CompareResult,
    CompareTarget,
    DeleteRangeRequest,
    DeleteRangeResponse,
    Event,
    EventType,
    KeyValue,
    LeaseGrantRequest,
    LeaseGrantResponse,
    LeaseRevokeRequest,
    LeaseRevokeResponse,
    PutRequest,
    PutResponse,
    RangeRequest,
    RangeResponse,
    RequestOp,
    ResponseHeader,
    ResponseOp,
    TxnRequest,
    TxnResponse,
    WriteRequest,
    WriteResponse,
)
from kvstore.mvcc import read
from kvstore.mvcc.backend import Backend, decode_int, decode_kv, encode_int, encode_kv
from kvstore.mvcc.index import INFINITE, TreeIndex
from kvstore.mvcc.leases import LeaseTable
from kvstore.mvcc.revision import MAIN_SHIFT, SUB_SHIFT, key_of_int, pack_key, upper_bound

META_REVISION = b"revision"
META_COMPACT = b"compact_revision"
META_APPLIED = b"applied_index"
MAX_LEASE_TTL = 9_000_000_000  # etcd's MaxLeaseTTL, in seconds

_packb = msgpack.Packer(use_bin_type=True).pack


class Applier:
    """Owns the store's replicated state: revision, compact revision, index and leases.

    Only the committer thread calls `apply`; it holds `index.lock` for the duration of
    each command, so readers never see half a command. `events` collects the changes
    of the current batch in revision order.
    """

    def __init__(self, backend: Backend, *, min_lease_ttl: int = 1) -> None:
        self.backend = backend
        self.history_db = backend.history_db
        self.index = TreeIndex()
        self.leases = LeaseTable()
        self.min_lease_ttl = min_lease_ttl
        self.revision = 1
        self.committed_revision = 1
        self.compact_revision = 0
        self.compacted_once = False  # etcd allows compact(0) once on a store never compacted
        self.applied_index = 0  # commands applied so far, rejected ones included
        self.header = ResponseHeader()
        self.events: list[Event] = []
        self._main = 0
        self._sub = 0

    # ------------------------------------------------------------ state load

    def restore(self) -> None:
        """Rebuild the in-memory state from what is committed on disk."""
        index = self.index
        with self.backend.read() as txn, index.lock:
            index.clear()
            self.leases.clear()
            self.revision = self.backend.get_meta(txn, META_REVISION, 1)
            self.compact_revision = self.backend.get_meta(txn, META_COMPACT, -1)
            self.compacted_once = self.compact_revision >= 0
            self.compact_revision = max(self.compact_revision, 0)
            self.applied_index = self.backend.get_meta(txn, META_APPLIED, 0)
            for raw_id, raw in txn.cursor(db=self.backend.lease_db):
                ttl = msgpack.unpackb(raw)[0]
                self.leases.grant(decode_int(raw_id), ttl)
            index.load(
                (int.from_bytes(raw_rev[:8], "big"), int.from_bytes(raw_rev[8:], "big"), decode_kv(raw))
                for raw_rev, raw in txn.cursor(db=self.history_db)
            )
            by_key = index.by_key
            for key, ki in by_key.items():
                if ki.version and ki.lease:
                    self.leases.attach(ki.lease, key)
            self.committed_revision = self.revision
        self.events = []

    # ------------------------------------------------------------ batches

    def end_batch(self, txn: Any) -> list[Event]:
        """Record the revision and command count reached; hand out the batch's events."""
        self.backend.put_meta(txn, META_REVISION, self.revision)
        self.backend.put_meta(txn, META_APPLIED, self.applied_index)
        events, self.events = self.events, []
        return events

    def apply(self, txn: Any, req: WriteRequest) -> WriteResponse:
        """Apply one command inside the open write transaction `txn`.

        Raises a KVError, with nothing changed, if the command is rejected.
        """
        with self.index.lock:
            self.applied_index += 1
            self._main = self.revision + 1
            self._sub = 0
            try:
                if isinstance(req, PutRequest):
                    self._check_put(req)
                    prev = self._put(txn, req)
                    return PutResponse(self._top_header(), prev if req.prev_kv else None)
                if isinstance(req, DeleteRangeRequest):
                    deleted, prevs = self._delete(txn, req.key, req.range_end)
                    return DeleteRangeResponse(self._top_header(), deleted, prevs if req.prev_kv else [])
                if isinstance(req, TxnRequest):
                    return self._txn(txn, req)
                if isinstance(req, CompactionRequest):
                    return self._compact(txn, req)
                if isinstance(req, LeaseGrantRequest):
                    return self._lease_grant(txn, req)
                if isinstance(req, LeaseRevokeRequest):
                    return self._lease_revoke(txn, req)
                raise TypeError(f"not a write request: {type(req).__name__}")
            finally:
                if self._sub:
                    self.revision = self._main

    def _top_header(self) -> ResponseHeader:
        return self.header.at(self._main if self._sub else self.revision)

    # ------------------------------------------------------------ puts and deletes

    def _check_put(self, req: PutRequest, in_txn: bool = False) -> None:
        # etcd checks a plain put's lease first, but a txn put's key first (checkRequestPut).
        if not in_txn and req.lease and req.lease not in self.leases:
            raise LeaseNotFoundError(req.lease)
        if (req.ignore_value or req.ignore_lease) and self.index.live(req.key) is None:
            raise KeyNotFoundError(req.key)
        if in_txn and req.lease and req.lease not in self.leases:
            raise LeaseNotFoundError(req.lease)

    def _put(self, txn: Any, req: PutRequest) -> KeyValue | None:
        key = req.key
        main = self._main
        ki = self.index.live(key)
        if ki is not None:
            prev: KeyValue | None = decode_kv(txn.get(key_of_int(ki.revs[-1]), db=self.history_db))
            create, version, old_lease = ki.create_revision, ki.version + 1, ki.lease
        else:
            prev = None
            create, version, old_lease = main, 1, 0
        value = prev.value if req.ignore_value and prev is not None else req.value
        lease = old_lease if req.ignore_lease else req.lease
        kv = KeyValue(key, create, main, version, value, lease)
        sub = self._sub
        self._sub = sub + 1
        txn.put(pack_key(main, sub), encode_kv(kv), db=self.history_db)
        self.index.put(key, (main << MAIN_SHIFT) | (sub << SUB_SHIFT), create, version, lease)
        if old_lease != lease:
            self.leases.detach(old_lease, key)
            self.leases.attach(lease, key)
        self.events.append(Event(EventType.PUT, kv, prev))
        return prev

    def _delete(self, txn: Any, key: bytes, range_end: bytes) -> tuple[int, list[KeyValue]]:
        index = self.index
        by_key = index.by_key
        main = self._main
        prevs: list[KeyValue] = []
        for k in index.keys_in(key, range_end):
            ki = by_key[k]
            if not ki.version:
                continue
            prev = decode_kv(txn.get(key_of_int(ki.revs[-1]), db=self.history_db))
            sub = self._sub
            self._sub = sub + 1
            tomb = KeyValue(k, 0, main, 0, b"", 0)
            txn.put(pack_key(main, sub), encode_kv(tomb), db=self.history_db)
            if ki.lease:
                self.leases.detach(ki.lease, k)
            index.tombstone(k, (main << MAIN_SHIFT) | (sub << SUB_SHIFT))
            self.events.append(Event(EventType.DELETE, tomb, prev))
            prevs.append(prev)
        return len(prevs), prevs

    def _range(self, txn: Any, req: RangeRequest) -> RangeResponse:
        current = self._main if self._sub else self.revision
        rev = req.revision if req.revision > 0 else 0
        bound = upper_bound(rev) if rev else INFINITE
        pairs = list(self.index.visible(req.key, req.range_end, bound))
        kvs, count, more = read.finish_range(txn, self.history_db, req, pairs)
        return RangeResponse(ResponseHeader(revision=current), kvs, more, count)

    # ------------------------------------------------------------ txn

    def _txn(self, txn: Any, req: TxnRequest) -> TxnResponse:
        path: list[bool] = []
        self._walk(txn, req, path)
        self._check_path(req, path)
        resp = self._run_txn(txn, req, path)
        resp.header = self._top_header()
        return resp

    def _walk(self, txn: Any, req: TxnRequest, path: list[bool]) -> None:
        """Evaluate the compares of a txn and of the nested txns on its chosen path.

        As in etcd, every compare sees the state before any op of the txn runs; `path`
        lists, depth-first, the branch each txn on the path takes.
        """
        ok = all(self._compare(txn, c) for c in req.compare)
        path.append(ok)
        for op in req.success if ok else req.failure:
            if isinstance(op, TxnRequest):
                self._walk(txn, op, path)

    def _compare(self, txn: Any, c: Compare) -> bool:
        pairs = list(self.index.visible(c.key, c.range_end, INFINITE))
        if not pairs:
            if c.target == CompareTarget.VALUE:
                return False  # a missing key has no value to compare, as etcd says
            return _compare_kv(c, KeyValue(c.key))
        return all(_compare_kv(c, read.load(txn, self.history_db, r)) for _, r in pairs)

    def _check_path(self, req: TxnRequest, path: list[bool]) -> None:
        it = iter(path)

        def check(t: TxnRequest) -> None:
            for op in t.success if next(it) else t.failure:
                if isinstance(op, PutRequest):
                    self._check_put(op, in_txn=True)
                elif isinstance(op, RangeRequest) and op.revision > 0:
                    read.check_revision(op.revision, self.revision, self.compact_revision)
                elif isinstance(op, TxnRequest):
                    check(op)

        check(req)

    def _run_txn(self, txn: Any, req: TxnRequest, path: list[bool]) -> TxnResponse:
        it = iter(path)

        def run(t: TxnRequest) -> TxnResponse:
            ok = next(it)
            responses: list[ResponseOp] = []
            for op in t.success if ok else t.failure:
                responses.append(self._run_op(txn, op, run))
            return TxnResponse(ResponseHeader(), ok, responses)

        return run(req)

    def _run_op(self, txn: Any, op: RequestOp, run_txn: Any) -> ResponseOp:
        if isinstance(op, RangeRequest):
            return self._range(txn, op)
        if isinstance(op, PutRequest):
            prev = self._put(txn, op)
            return PutResponse(ResponseHeader(revision=self._main), prev if op.prev_kv else None)
        if isinstance(op, DeleteRangeRequest):
            deleted, prevs = self._delete(txn, op.key, op.range_end)
            header = ResponseHeader(revision=self._main if self._sub else self.revision)
            return DeleteRangeResponse(header, deleted, prevs if op.prev_kv else [])
        resp: TxnResponse = run_txn(op)  # a nested txn's header stays empty, as in etcd
        return resp

    # ------------------------------------------------------------ compaction

    def _compact(self, txn: Any, req: CompactionRequest) -> CompactionResponse:
        rev = req.revision
        if rev <= self.compact_revision and (rev != 0 or self.compacted_once):
            raise CompactedError(self.compact_revision)
        if rev > self.revision:
            raise FutureRevisionError(rev, self.revision)
        self.compacted_once = True
        self.backend.put_meta(txn, META_COMPACT, rev)
        if rev > self.compact_revision:
            self.compact_revision = rev
            delete = txn.delete
            db = self.history_db
            for r in self.index.compact(rev):
                delete(key_of_int(r), db=db)
        return CompactionResponse(self._top_header())

    # ------------------------------------------------------------ leases

    def _lease_grant(self, txn: Any, req: LeaseGrantRequest) -> LeaseGrantResponse:
        if req.id in self.leases:
            raise LeaseExistsError(req.id)
        if req.ttl > MAX_LEASE_TTL:
            raise LeaseTTLTooLargeError(req.ttl, MAX_LEASE_TTL)
        ttl = max(req.ttl, self.min_lease_ttl)
        txn.put(encode_int(req.id), _packb([ttl]), db=self.backend.lease_db)
        self.leases.grant(req.id, ttl)
        return LeaseGrantResponse(self._top_header(), req.id, ttl)

    def _lease_revoke(self, txn: Any, req: LeaseRevokeRequest) -> LeaseRevokeResponse:
        lease = self.leases.get(req.id)
        if lease is None:
            raise LeaseNotFoundError(req.id)
        for key in sorted(lease.keys):
            self._delete(txn, key, b"")
        txn.delete(encode_int(req.id), db=self.backend.lease_db)
        self.leases.remove(req.id)
        return LeaseRevokeResponse(self._top_header())


def _compare_kv(c: Compare, kv: KeyValue) -> bool:
    target = c.target
    if target == CompareTarget.VALUE:
        a: bytes | int = kv.value
        b: bytes | int = c.value
    elif target == CompareTarget.VERSION:
        a, b = kv.version, c.version
    elif target == CompareTarget.CREATE:
        a, b = kv.create_revision, c.create_revision
    elif target == CompareTarget.MOD:
        a, b = kv.mod_revision, c.mod_revision
    else:
        a, b = kv.lease, c.lease
    result = c.result
    if result == CompareResult.EQUAL:
        return a == b
    if result == CompareResult.NOT_EQUAL:
        return a != b
    if result == CompareResult.GREATER:
        return a > b  # type: ignore[operator]
    return a < b  # type: ignore[operator]
