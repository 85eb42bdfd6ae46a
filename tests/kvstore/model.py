"""A pure-Python reference model of etcd v3's key-value semantics, for the stateful test.

The model keeps one flat list of every change ever made (as watch events, each with the
key's previous version) and recomputes everything else from it: the keys at a revision
are the changes up to that revision replayed into a dict. That is slow, and that is the
point: it is small enough to check line by line against etcd's behaviour.

What it models (etcd names in brackets, from server/etcdserver/txn/txn.go and
server/storage/mvcc/kvstore_txn.go):

- The revision starts at 1. A write transaction that changes something takes the next
  main revision; its changes get sub-revisions 0, 1, 2... in the order they are made. A
  delete that deletes nothing, a txn that only reads or changes nothing, a compaction
  and lease grants leave the revision alone.
- Per key: create_revision, mod_revision, version (puts since the key was created; a
  delete ends the key and the next put starts again at version 1) and lease.
- Ranges over [key, range_end): range_end b"" is the single key, b"\\0" every key from
  `key` on. `count` counts every key in the range, `more` says keys beyond `limit` exist,
  count_only returns no kvs, keys_only blanks the values, `revision` reads the past.
- compact(N) refuses N <= the compact revision (CompactedError) and N > the current
  revision (FutureRevisionError). Reads below the compact revision are refused with
  CompactedError, reads above the current revision with FutureRevisionError.
- Txns [Txn]: the compares of the txn and of every nested txn on the chosen path see the
  state before any op runs [compareToPath]; then the ops on the path are checked
  [checkTxn], then run in order, reading the txn's own earlier writes. Response headers:
  the txn's is the revision after it; a put's is the txn's write revision; a range's and
  a delete's are the revision a read would see at that point (the write revision once
  the txn has changed something); a nested txn's header is left empty (revision 0).
- Watches: a watch of an empty range (range_end not b"" or b"\0", and key >= range_end)
  is refused, and so is one starting below the compact revision. A PUT event carries the
  new kv, a DELETE event a kv with only key and mod_revision set; prev_kv is the key's
  previous version, None if the key did not exist; NOPUT / NODELETE filters drop events.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from kvstore.errors import (
    CompactedError,
    DuplicateKeyError,
    FutureRevisionError,
    InvalidArgumentError,
    KeyNotFoundError,
    LeaseExistsError,
    LeaseNotFoundError,
)
from kvstore.messages import (
    CompactionResponse,
    Compare,
    CompareResult,
    CompareTarget,
    DeleteRangeRequest,
    DeleteRangeResponse,
    Event,
    EventType,
    KeyValue,
    LeaseGrantResponse,
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
    WatchFilterType,
)


def in_range(key: bytes, start: bytes, range_end: bytes) -> bool:
    """Whether `key` is in [start, range_end), with etcd's meaning of b"" and b"\\0"."""
    if range_end == b"":
        return key == start
    if range_end == b"\0":
        return key >= start
    return start <= key < range_end


def header(revision: int) -> ResponseHeader:
    return ResponseHeader(revision=revision)


class Model:
    """The state of an etcd v3 store, answering requests with the store's messages."""

    def __init__(self) -> None:
        self.revision = 1
        self.compact_revision = 0
        self.events: list[Event] = []  # every change, in (main, sub) revision order, with prev_kv
        self.leases: set[int] = set()

    # ------------------------------------------------------------ state

    def kvs_at(self, revision: int) -> dict[bytes, KeyValue]:
        """Every key that exists at `revision`, replayed from the history."""
        kvs: dict[bytes, KeyValue] = {}
        for event in self.events:
            if event.kv.mod_revision > revision:
                break
            if event.type == EventType.PUT:
                kvs[event.kv.key] = event.kv
            else:
                del kvs[event.kv.key]
        return kvs

    def get(self, key: bytes) -> KeyValue | None:
        """The key's current version, None if it does not exist."""
        return self.kvs_at(self.revision).get(key)

    def check_read_revision(self, revision: int) -> None:
        """Raise what etcd raises for a read at `revision` (0 or less: the current one)."""
        if revision > self.revision:
            raise FutureRevisionError(revision, self.revision)
        if 0 < revision < self.compact_revision:
            raise CompactedError(self.compact_revision)

    # ------------------------------------------------------------ KV API

    def range(self, req: RangeRequest) -> RangeResponse:
        self.check_read_revision(req.revision)
        return _Txn(self).range(req)

    def put(self, req: PutRequest) -> PutResponse:
        if req.lease and req.lease not in self.leases:
            raise LeaseNotFoundError(req.lease)
        if (req.ignore_value or req.ignore_lease) and self.get(req.key) is None:
            raise KeyNotFoundError(req.key)
        txn = _Txn(self)
        resp = txn.put(req)
        txn.commit()
        return resp

    def delete_range(self, req: DeleteRangeRequest) -> DeleteRangeResponse:
        txn = _Txn(self)
        resp = txn.delete_range(req)
        txn.commit()
        return resp

    def txn(self, req: TxnRequest) -> TxnResponse:
        check_intervals(req.success)
        check_intervals(req.failure)
        before = self.kvs_at(self.revision)
        path = list(self._compare_path(req, before))
        self._check_path(req, iter(path), before)
        txn = _Txn(self)
        resp = self._run(txn, req, iter(path))
        txn.commit()
        resp.header = header(self.revision)
        return resp

    def _compare_path(self, req: TxnRequest, kvs: dict[bytes, KeyValue]) -> Iterator[bool]:
        """The branch taken by the txn and by each nested txn on the path, depth first."""
        succeeded = all(compare_holds(c, kvs) for c in req.compare)
        yield succeeded
        for op in req.success if succeeded else req.failure:
            if isinstance(op, TxnRequest):
                yield from self._compare_path(op, kvs)

    def _check_path(self, req: TxnRequest, path: Iterator[bool], kvs: dict[bytes, KeyValue]) -> None:
        """Refuse the whole txn, before it changes anything, if an op on its path would fail."""
        for op in req.success if next(path) else req.failure:
            if isinstance(op, RangeRequest) and op.revision != 0:
                self.check_read_revision(op.revision)
            elif isinstance(op, PutRequest):
                if (op.ignore_value or op.ignore_lease) and op.key not in kvs:
                    raise KeyNotFoundError(op.key)
                if op.lease and op.lease not in self.leases:
                    raise LeaseNotFoundError(op.lease)
            elif isinstance(op, TxnRequest):
                self._check_path(op, path, kvs)

    def _run(self, txn: _Txn, req: TxnRequest, path: Iterator[bool]) -> TxnResponse:
        succeeded = next(path)
        responses: list[ResponseOp] = []
        for op in req.success if succeeded else req.failure:
            if isinstance(op, RangeRequest):
                responses.append(txn.range(op))
            elif isinstance(op, PutRequest):
                responses.append(txn.put(op))
            elif isinstance(op, DeleteRangeRequest):
                responses.append(txn.delete_range(op))
            else:
                responses.append(self._run(txn, op, path))  # a nested txn's header stays empty
        return TxnResponse(header(0), succeeded, responses)

    def compact(self, revision: int) -> CompactionResponse:
        if revision <= self.compact_revision:
            raise CompactedError(self.compact_revision)
        if revision > self.revision:
            raise FutureRevisionError(revision, self.revision)
        self.compact_revision = revision
        return CompactionResponse(header(self.revision))

    # ------------------------------------------------------------ leases

    def lease_grant(self, lease_id: int, ttl: int) -> LeaseGrantResponse:
        if lease_id in self.leases:
            raise LeaseExistsError(lease_id)
        self.leases.add(lease_id)
        return LeaseGrantResponse(header(self.revision), lease_id, ttl)

    def lease_revoke(self, lease_id: int) -> LeaseRevokeResponse:
        """Delete the lease's keys, in key order, in one revision (none if it has no keys)."""
        if lease_id not in self.leases:
            raise LeaseNotFoundError(lease_id)
        txn = _Txn(self)
        for key in sorted(k for k, kv in txn.kvs.items() if kv.lease == lease_id):
            txn.delete_range(DeleteRangeRequest(key))
        txn.commit()
        self.leases.remove(lease_id)
        return LeaseRevokeResponse(header(self.revision))

    # ------------------------------------------------------------ watch

    def check_watch(self, key: bytes, range_end: bytes, start_revision: int) -> None:
        """Raise what etcd answers a watch that cannot start: an empty range
        [ErrEmptyWatcherRange], or a start below the compact revision."""
        if range_end not in (b"", b"\0") and key >= range_end:
            raise InvalidArgumentError("mvcc: watcher range is empty", "range_end")
        if 0 < start_revision < self.compact_revision:
            raise CompactedError(self.compact_revision)

    def watch_events(
        self,
        key: bytes,
        range_end: bytes,
        start_revision: int,
        *,
        prev_kv: bool = False,
        filters: Sequence[WatchFilterType] = (),
    ) -> list[Event]:
        """The events a watch of [key, range_end) from `start_revision` has seen by now."""
        out = []
        for event in self.events:
            if event.kv.mod_revision < start_revision or not in_range(event.kv.key, key, range_end):
                continue
            if event.type == EventType.PUT and WatchFilterType.NOPUT in filters:
                continue
            if event.type == EventType.DELETE and WatchFilterType.NODELETE in filters:
                continue
            out.append(event if prev_kv else Event(event.type, event.kv))
        return out


class _Txn:
    """One transaction: its reads see its own writes; it commits as one revision, if it
    changed anything. A plain put, delete or range is a transaction of one op."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.kvs = model.kvs_at(model.revision)  # the current keys, with this txn's writes
        self.changes: list[Event] = []

    @property
    def write_revision(self) -> int:
        return self.model.revision + 1

    @property
    def read_revision(self) -> int:
        """The revision a read sees now: the write revision once this txn changed something."""
        return self.write_revision if self.changes else self.model.revision

    def range(self, req: RangeRequest) -> RangeResponse:
        kvs_map = self.model.kvs_at(req.revision) if req.revision > 0 else self.kvs
        kvs = [kvs_map[k] for k in sorted(kvs_map) if in_range(k, req.key, req.range_end)]
        count = len(kvs)
        if req.count_only:
            return RangeResponse(header(self.read_revision), [], False, count)
        more = False
        if req.limit > 0 and len(kvs) > req.limit:
            kvs = kvs[: req.limit]
            more = True
        if req.keys_only:
            kvs = [kv._replace(value=b"") for kv in kvs]
        return RangeResponse(header(self.read_revision), kvs, more, count)

    def put(self, req: PutRequest) -> PutResponse:
        rev = self.write_revision
        prev = self.kvs.get(req.key)
        value = prev.value if req.ignore_value and prev is not None else req.value
        lease = prev.lease if req.ignore_lease and prev is not None else req.lease
        if prev is None:
            kv = KeyValue(req.key, create_revision=rev, mod_revision=rev, version=1, value=value, lease=lease)
        else:
            kv = KeyValue(req.key, prev.create_revision, rev, prev.version + 1, value, lease)
        self.kvs[req.key] = kv
        self.changes.append(Event(EventType.PUT, kv, prev))
        return PutResponse(header(rev), prev if req.prev_kv else None)

    def delete_range(self, req: DeleteRangeRequest) -> DeleteRangeResponse:
        prevs = [self.kvs[k] for k in sorted(self.kvs) if in_range(k, req.key, req.range_end)]
        for prev in prevs:
            del self.kvs[prev.key]
            tombstone = KeyValue(prev.key, mod_revision=self.write_revision)
            self.changes.append(Event(EventType.DELETE, tombstone, prev))
        return DeleteRangeResponse(header(self.read_revision), len(prevs), prevs if req.prev_kv else [])

    def commit(self) -> None:
        if self.changes:
            self.model.events.extend(self.changes)
            self.model.revision += 1


# ---------------------------------------------------------------- txn helpers


def compare_holds(c: Compare, kvs: dict[bytes, KeyValue]) -> bool:
    """etcd's applyCompare: every key in the range must pass; no key compares as a zero
    KeyValue, except that a VALUE compare on a missing key is always false."""
    matched = [kvs[k] for k in sorted(kvs) if in_range(k, c.key, c.range_end)]
    if not matched:
        if c.target == CompareTarget.VALUE:
            return False
        matched = [KeyValue(c.key)]
    return all(_compare_one(c, kv) for kv in matched)


def _compare_one(c: Compare, kv: KeyValue) -> bool:
    actual: bytes | int
    wanted: bytes | int
    if c.target == CompareTarget.VALUE:
        actual, wanted = kv.value, c.value
    elif c.target == CompareTarget.VERSION:
        actual, wanted = kv.version, c.version
    elif c.target == CompareTarget.CREATE:
        actual, wanted = kv.create_revision, c.create_revision
    elif c.target == CompareTarget.MOD:
        actual, wanted = kv.mod_revision, c.mod_revision
    else:
        actual, wanted = kv.lease, c.lease
    if c.result == CompareResult.EQUAL:
        return actual == wanted
    if c.result == CompareResult.NOT_EQUAL:
        return actual != wanted
    if c.result == CompareResult.GREATER:
        return actual > wanted  # type: ignore[operator]
    return actual < wanted  # type: ignore[operator]


def check_intervals(ops: Sequence[RequestOp]) -> tuple[set[bytes], list[tuple[bytes, bytes]]]:
    """etcd's checkIntervals: raise DuplicateKeyError if a branch puts a key twice or puts
    a key it also deletes, counting the puts and deletes of nested txns (whose two
    branches exclude each other, so they may put the same key). Returns (puts, deletes).

    One difference: etcd's check compares the raw range_end, so it does not see that a
    delete with range_end b"\\0" covers every key from its start on. Here (as in the
    store) it does; the stateful test never builds a txn where the two readings differ.
    """
    deletes = [(op.key, op.range_end) for op in ops if isinstance(op, DeleteRangeRequest)]

    def deleted(key: bytes) -> bool:
        return any(in_range(key, start, end) for start, end in deletes)

    puts: set[bytes] = set()
    for op in ops:
        if not isinstance(op, TxnRequest):
            continue
        puts_then, deletes_then = check_intervals(op.success)
        puts_else, deletes_else = check_intervals(op.failure)
        for key in puts_then:
            if key in puts or deleted(key):
                raise DuplicateKeyError(key)
            puts.add(key)
        for key in puts_else:
            if (key in puts and key not in puts_then) or deleted(key):
                raise DuplicateKeyError(key)
            puts.add(key)
        deletes.extend(deletes_then)
        deletes.extend(deletes_else)
    for op in ops:
        if isinstance(op, PutRequest):
            if op.key in puts or deleted(op.key):
                raise DuplicateKeyError(op.key)
            puts.add(op.key)
    return puts, deletes
