"""Stateful test: random operations against the store and against a model of etcd v3.

Hypothesis drives puts, deletes, txns (with compares, nested txns and deliberate
duplicate keys), ranges now and in the past, compactions, lease grants and revocations,
batches of concurrent writes, and watches from past, present and future revisions,
against a real store and against the pure-Python model in `tests/kvstore/model.py`.
Every answer must be equal: headers, kvs with all their fields, count, more, succeeded,
nested responses, deleted counts, prev_kvs and the errors raised. Watches are drained at
check points and their whole event sequence compared with the model's history.

Hypothesis' state machines are synchronous and a Store binds to the event loop that
first uses it, so each run gets its own event loop and store. The store gets a small
watch buffer and small history chunks, so that watchers fall behind and catch up from
history in several responses.

Two choices keep every comparison exact:

- Open watchers are drained before each compaction, and a watcher asking for prev_kv
  starts above the compact revision. etcd fills prev_kv by reading the key at
  mod_revision - 1 when it sends the event, and leaves it out if that revision has been
  compacted by then, which depends on timing.
- A txn never mixes a delete with range_end b"\\0" and a put it would cover: etcd's
  duplicate-key check does not see that overlap, the store's does (see
  `model.check_intervals`).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule, run_state_machine_as_test

from kvstore import (
    CompactedError,
    Compare,
    CompareResult,
    CompareTarget,
    DeleteRangeRequest,
    Event,
    FutureRevisionError,
    KeyValue,
    KVError,
    PutRequest,
    RangeRequest,
    ResponseHeader,
    TxnRequest,
    Watcher,
    WatchFilterType,
    WatchResponse,
    prefix_range_end,
)
from kvstore.messages import RequestOp
from tests.kvstore.model import Model, in_range
from tests.kvstore.store_machine import StoreMachine

KEYS = (b"a", b"ab", b"abc", b"b", b"c", b"c\x00", b"c\xff", b"d")
PREFIXES = (b"a", b"ab", b"c", b"c\x00", b"c\xff", b"d", b"\xff")
VALUES = (b"", b"x", b"y", b"zz")
LEASE_IDS = (7, 8, 9)
NO_SUCH_LEASE = 12345
LEASE_TTL = 3600  # long enough that no lease expires during a run
FILTER_SETS: tuple[tuple[WatchFilterType, ...], ...] = (
    (),
    (WatchFilterType.NOPUT,),
    (WatchFilterType.NODELETE,),
    (WatchFilterType.NOPUT, WatchFilterType.NODELETE),
)
MAX_WATCHES = 3
WATCH_BUFFER = 2  # events a watcher buffers before it falls back to reading history
HISTORY_CHUNK = 2  # events per history read
DRAIN_TIMEOUT = 10.0  # seconds; only reached when the store fails to deliver
MAX_BATCH = 6  # writes submitted together
WRITE_KINDS = ("put", "put", "put_with_options", "delete_range", "txn", "txn", "compact", "lease")

keys = st.sampled_from(KEYS)
values = st.sampled_from(VALUES)

SINGLE_SPANS = [(k, b"") for k in KEYS]
PREFIX_SPANS = [(p, prefix_range_end(p)) for p in PREFIXES]
FROM_KEY_SPANS = [(k, b"\0") for k in (b"\0", *KEYS)]
DELETE_SPANS = SINGLE_SPANS + PREFIX_SPANS + FROM_KEY_SPANS
"""The ranges a delete in a txn uses: one key, a prefix, or every key from one on."""

spans = st.one_of(
    st.sampled_from(SINGLE_SPANS),
    st.sampled_from(PREFIX_SPANS),
    st.sampled_from(FROM_KEY_SPANS),
    st.tuples(keys, keys),  # an explicit [key, range_end), empty unless key < range_end
)

watch_spans = st.one_of(
    st.sampled_from(FROM_KEY_SPANS[:3]),  # wide ranges first, so that watchers see events
    st.sampled_from(PREFIX_SPANS),
    spans,
)

StoreCall: TypeAlias = Callable[[], Awaitable[Any]]
ModelCall: TypeAlias = Callable[[], Any]
Call: TypeAlias = tuple[StoreCall, ModelCall]
"""One request, as a call to the store and the same call to the model."""


@st.composite
def put_requests(draw: st.DrawFn, key: bytes, leases: list[int]) -> PutRequest:
    """A put of `key`, mostly plain; sometimes with one of `leases` (or a lease that does
    not exist), with ignore_value or ignore_lease."""
    ignore = draw(st.sampled_from(("", "", "", "", "", "value", "lease")))
    value = b"" if ignore == "value" else draw(values)
    lease = 0
    if ignore != "lease" and draw(st.booleans()):
        lease = draw(st.sampled_from((*leases, *leases, NO_SUCH_LEASE) if leases else (0, 0, NO_SUCH_LEASE)))
    return PutRequest(key, value, lease, draw(st.booleans()), ignore == "value", ignore == "lease")


@dataclass
class _Taken:
    """The keys a txn branch puts and the ranges it deletes, to keep it free of duplicates."""

    puts: set[bytes] = field(default_factory=set)
    deletes: list[tuple[bytes, bytes]] = field(default_factory=list)

    def can_put(self, key: bytes) -> bool:
        return key not in self.puts and not any(in_range(key, *span) for span in self.deletes)

    def can_delete(self, span: tuple[bytes, bytes]) -> bool:
        return not any(in_range(key, *span) for key in self.puts)


@dataclass
class _OpenWatch:
    watcher: Watcher
    key: bytes
    range_end: bytes
    start_revision: int  # the first revision it reports (0 already resolved)
    prev_kv: bool
    filters: tuple[WatchFilterType, ...]
    received: list[Event] = field(default_factory=list)
    last_revision: int = 0  # the revision of the last event received


def _same_error(got: KVError, expected: KVError) -> bool:
    if not isinstance(got, type(expected)):
        return False
    if isinstance(got, CompactedError) and isinstance(expected, CompactedError):
        return got.compact_revision == expected.compact_revision
    if isinstance(got, FutureRevisionError) and isinstance(expected, FutureRevisionError):
        return (got.revision, got.current_revision) == (expected.revision, expected.current_revision)
    return True


class StoreVsModel(StoreMachine):
    def __init__(self) -> None:
        super().__init__("kvstore-model-", watch_max_pending_events=WATCH_BUFFER)
        self.store._hub.history.max_events = HISTORY_CHUNK  # no public option for this one
        self.model = Model()
        self.watches: list[_OpenWatch] = []

    # ------------------------------------------------------------ comparing answers

    def expect(self, model_call: ModelCall) -> tuple[Any, KVError | None]:
        """The model's answer, or the error it raises."""
        try:
            return model_call(), None
        except KVError as exc:
            return None, exc

    def compare(self, got: Any, expected: Any, expected_error: KVError | None) -> None:
        """The store's answer (or the KVError it raised) must be the model's."""
        if isinstance(got, KVError):
            assert expected_error is not None, f"store raised {got!r}, model answered {expected!r}"
            assert _same_error(got, expected_error), f"store raised {got!r}, model raised {expected_error!r}"
            return
        if isinstance(got, BaseException):
            raise got
        assert expected_error is None, f"store answered {got!r}, model raised {expected_error!r}"
        # The model knows no cluster or member ID: compare those here, then only the
        # revision of the top-level header. Nested headers are compared as they are.
        assert (got.header.cluster_id, got.header.member_id) == (self.store.cluster_id, self.store.member_id)
        got = dataclasses.replace(got, header=ResponseHeader(revision=got.header.revision))
        assert got == expected

    def check(self, call: Call) -> None:
        """Make the same request to both; the answers, or the errors, must be equal."""
        store_call, model_call = call
        expected, expected_error = self.expect(model_call)
        try:
            got = self.run(store_call())
        except KVError as exc:
            got = exc
        self.compare(got, expected, expected_error)

    # ------------------------------------------------------------ requests

    def put_call(self, req: PutRequest) -> Call:
        return (
            lambda: self.store.put(
                req.key,
                req.value,
                lease=req.lease,
                prev_kv=req.prev_kv,
                ignore_value=req.ignore_value,
                ignore_lease=req.ignore_lease,
            ),
            lambda: self.model.put(req),
        )

    def delete_call(self, req: DeleteRangeRequest) -> Call:
        return (
            lambda: self.store.delete_range(req.key, req.range_end, prev_kv=req.prev_kv),
            lambda: self.model.delete_range(req),
        )

    def range_call(self, req: RangeRequest) -> Call:
        return (
            lambda: self.store.range(
                req.key,
                req.range_end,
                limit=req.limit,
                revision=req.revision,
                keys_only=req.keys_only,
                count_only=req.count_only,
            ),
            lambda: self.model.range(req),
        )

    def txn_call(self, req: TxnRequest) -> Call:
        return lambda: self.store.txn(req.compare, req.success, req.failure), lambda: self.model.txn(req)

    def compact_call(self, revision: int, physical: bool) -> Call:
        return lambda: self.store.compact(revision, physical=physical), lambda: self.model.compact(revision)

    def lease_call(self, lease_id: int, revoke: bool) -> Call:
        if revoke:
            return lambda: self.store.lease_revoke(lease_id), lambda: self.model.lease_revoke(lease_id)
        return lambda: self.store.lease_grant(LEASE_TTL, lease_id), lambda: self.model.lease_grant(lease_id, LEASE_TTL)

    # ------------------------------------------------------------ drawing requests

    def draw_read_revision(self, data: st.DataObject) -> int:
        """0 (now), a readable past revision, or sometimes one that is compacted or in the future."""
        m = self.model
        choices = [st.just(0), st.integers(max(m.compact_revision, 1), m.revision)]
        if data.draw(st.integers(0, 7)) == 0:
            choices = [st.integers(m.revision + 1, m.revision + 2)]
            if m.compact_revision > 1:
                choices.append(st.integers(1, m.compact_revision - 1))
        return data.draw(st.one_of(choices))

    def draw_range(self, data: st.DataObject) -> RangeRequest:
        key, range_end = data.draw(spans)
        return RangeRequest(
            key,
            range_end,
            limit=data.draw(st.integers(0, 3)),
            revision=self.draw_read_revision(data),
            keys_only=data.draw(st.booleans()),
            count_only=data.draw(st.integers(0, 4)) == 0,
        )

    def draw_compare(self, data: st.DataObject) -> Compare:
        """A compare on one key (sometimes a prefix), against values near the key's own."""
        key = data.draw(keys)
        range_end = data.draw(st.sampled_from((b"", b"", b"", prefix_range_end(key))))
        target = data.draw(st.sampled_from(CompareTarget))
        result = data.draw(st.sampled_from(CompareResult))
        current = self.model.get(key) or KeyValue(key)
        if target == CompareTarget.VALUE:
            value = data.draw(st.sampled_from((current.value, *VALUES)))
            return Compare(result, target, key, value=value, range_end=range_end)
        name = {
            CompareTarget.VERSION: "version",
            CompareTarget.CREATE: "create_revision",
            CompareTarget.MOD: "mod_revision",
            CompareTarget.LEASE: "lease",
        }[target]
        actual = getattr(current, name)
        n = data.draw(st.sampled_from((actual, actual + 1, max(actual - 1, 0), 0)))
        return Compare(result, target, key, range_end=range_end, **{name: n})

    def draw_op(self, data: st.DataObject, depth: int, taken: _Taken) -> RequestOp:
        kinds = ["put", "put", "delete", "range"] + (["txn"] if depth < 2 else [])
        kind = data.draw(st.sampled_from(kinds))
        if kind == "put":
            free = [k for k in KEYS if taken.can_put(k)]
            if free:
                key = data.draw(st.sampled_from(free))
                taken.puts.add(key)
                return data.draw(put_requests(key, sorted(self.model.leases)))
        if kind == "delete":
            allowed = [span for span in DELETE_SPANS if taken.can_delete(span)]
            if allowed:
                span = data.draw(st.sampled_from(allowed))
                taken.deletes.append(span)
                return DeleteRangeRequest(*span, prev_kv=data.draw(st.booleans()))
        if kind == "txn":
            compares = tuple(self.draw_compare(data) for _ in range(data.draw(st.integers(0, 2))))
            success = self.draw_branch(data, depth + 1, taken, 0, 2)
            failure = self.draw_branch(data, depth + 1, taken, 0, 2)
            return TxnRequest(compares, success, failure)
        return self.draw_range(data)

    def draw_branch(
        self, data: st.DataObject, depth: int, taken: _Taken, min_ops: int, max_ops: int
    ) -> tuple[RequestOp, ...]:
        """Ops that neither put a key twice nor put a key they delete (nested txns included)."""
        n = data.draw(st.integers(min_ops, max_ops))
        return tuple(self.draw_op(data, depth, taken) for _ in range(n))

    def draw_txn(self, data: st.DataObject) -> TxnRequest:
        """A txn, and about one time in ten one whose branch repeats a key (which etcd refuses)."""
        compares = tuple(self.draw_compare(data) for _ in range(data.draw(st.integers(0, 2))))
        success = self.draw_branch(data, 0, _Taken(), 1, 3)
        failure = self.draw_branch(data, 0, _Taken(), 0, 3)
        if data.draw(st.integers(0, 9)) == 0:
            key = data.draw(keys)
            second: RequestOp = PutRequest(key, b"again") if data.draw(st.booleans()) else DeleteRangeRequest(key)
            if data.draw(st.booleans()):
                success = tuple(data.draw(st.permutations((*success, PutRequest(key, b"dup"), second))))
            else:
                failure = tuple(data.draw(st.permutations((*failure, PutRequest(key, b"dup"), second))))
        return TxnRequest(compares, success, failure)

    def draw_compact_revision(self, data: st.DataObject, batch: bool) -> int:
        """Mostly a revision compaction accepts, sometimes one already compacted or in the future.

        Never a revision above the current one that would be valid by the time it runs in a
        batch: compaction must not reach revisions the watchers have not been drained of.
        """
        m = self.model
        kind = data.draw(st.sampled_from(("valid", "valid", "valid", "compacted", "future")))
        if kind == "valid" and m.compact_revision < m.revision:
            return data.draw(st.integers(m.compact_revision + 1, m.revision))
        if kind == "compacted" and m.compact_revision >= 1:
            return data.draw(st.integers(1, m.compact_revision))
        future = m.revision + 1 + (MAX_BATCH if batch else 0)
        return data.draw(st.integers(future, future + 2))

    def draw_write(self, data: st.DataObject, kind: str, batch: bool = False) -> Call:
        if kind == "put":
            return self.put_call(PutRequest(data.draw(keys), data.draw(values)))
        if kind == "put_with_options":
            return self.put_call(data.draw(put_requests(data.draw(keys), sorted(self.model.leases))))
        if kind == "delete_range":
            return self.delete_call(DeleteRangeRequest(*data.draw(spans), prev_kv=data.draw(st.booleans())))
        if kind == "txn":
            return self.txn_call(self.draw_txn(data))
        if kind == "compact":
            return self.compact_call(self.draw_compact_revision(data, batch), data.draw(st.booleans()))
        return self.lease_call(data.draw(st.sampled_from(LEASE_IDS)), data.draw(st.booleans()))

    # ------------------------------------------------------------ KV rules

    @rule(key=keys, value=values, prev_kv=st.booleans())
    def put(self, key: bytes, value: bytes, prev_kv: bool) -> None:
        self.check(self.put_call(PutRequest(key, value, prev_kv=prev_kv)))

    @rule(data=st.data())
    def put_with_options(self, data: st.DataObject) -> None:
        """A put that may carry a lease, ignore_value or ignore_lease."""
        self.check(self.draw_write(data, "put_with_options"))

    @rule(span=spans, prev_kv=st.booleans())
    def delete_range(self, span: tuple[bytes, bytes], prev_kv: bool) -> None:
        self.check(self.delete_call(DeleteRangeRequest(*span, prev_kv=prev_kv)))

    @rule(data=st.data())
    def range_read(self, data: st.DataObject) -> None:
        self.check(self.range_call(self.draw_range(data)))

    @rule()
    def range_every_revision(self) -> None:
        """Every key at every revision still readable: compaction must keep them all."""
        for revision in range(max(self.model.compact_revision, 1), self.model.revision + 1):
            self.check(self.range_call(RangeRequest(b"\0", b"\0", revision=revision)))

    @rule(data=st.data())
    def txn(self, data: st.DataObject) -> None:
        self.check(self.txn_call(self.draw_txn(data)))

    @rule(data=st.data())
    def compact(self, data: st.DataObject) -> None:
        self.drain_all()  # see the module docstring
        self.check(self.draw_write(data, "compact"))

    @rule(lease_id=st.sampled_from(LEASE_IDS), revoke=st.booleans())
    def lease(self, lease_id: int, revoke: bool) -> None:
        """Grant a lease, or revoke one (deleting its keys); either may not exist."""
        self.check(self.lease_call(lease_id, revoke))

    @rule(data=st.data(), kinds=st.lists(st.sampled_from(WRITE_KINDS), min_size=2, max_size=MAX_BATCH))
    def concurrent_writes(self, data: st.DataObject, kinds: list[str]) -> None:
        """Writes submitted together, so that the committer applies them in one batch: each
        answer must be what it would be had they run one after the other, in order."""
        if "compact" in kinds:
            self.drain_all()
        calls = [self.draw_write(data, kind, batch=True) for kind in kinds]
        expectations = [self.expect(model_call) for _, model_call in calls]

        async def submit_all() -> list[Any]:
            return await asyncio.gather(*(store_call() for store_call, _ in calls), return_exceptions=True)

        for got, (expected, expected_error) in zip(self.run(submit_all()), expectations, strict=True):
            self.compare(got, expected, expected_error)

    # ------------------------------------------------------------ watch rules

    @precondition(lambda self: len(self.watches) < MAX_WATCHES)
    @rule(span=watch_spans, prev_kv=st.booleans(), filters=st.sampled_from(FILTER_SETS), data=st.data())
    def watch(
        self, span: tuple[bytes, bytes], prev_kv: bool, filters: tuple[WatchFilterType, ...], data: st.DataObject
    ) -> None:
        """Open a watch from the past, now (0), or the future; sometimes one etcd refuses."""
        m = self.model
        lowest = m.compact_revision + 1 if prev_kv and m.compact_revision else max(m.compact_revision, 1)
        choices = [st.integers(lowest, m.revision + 2), st.just(0)]
        if m.compact_revision > 1:
            choices.append(st.integers(1, m.compact_revision - 1))
        start = data.draw(st.one_of(choices))
        _, expected_error = self.expect(lambda: m.check_watch(*span, start))

        async def open_watch() -> Watcher:
            return self.store.watch(*span, start_revision=start, prev_kv=prev_kv, filters=filters)

        try:
            watcher = self.run(open_watch())
        except KVError as exc:
            assert expected_error is not None, f"store raised {exc!r}"
            assert _same_error(exc, expected_error), f"store raised {exc!r}, model raised {expected_error!r}"
            return
        if expected_error is not None:
            watcher.cancel()
            raise AssertionError(f"store opened a watch, model raised {expected_error!r}")
        first = start if start > 0 else m.revision + 1
        self.watches.append(_OpenWatch(watcher, span[0], span[1], first, prev_kv, filters))

    @precondition(lambda self: self.watches)
    @rule(data=st.data())
    def check_watch(self, data: st.DataObject) -> None:
        """Drain one watcher (the others keep falling behind) and compare its events."""
        self.drain(self.watches[data.draw(st.integers(0, len(self.watches) - 1))])

    @precondition(lambda self: self.watches)
    @rule(data=st.data())
    def cancel_watch(self, data: st.DataObject) -> None:
        w = self.watches.pop(data.draw(st.integers(0, len(self.watches) - 1)))
        self.drain(w)
        w.watcher.cancel()
        assert w.watcher.canceled

    def drain_all(self) -> None:
        for w in self.watches:
            self.drain(w)

    def drain(self, w: _OpenWatch) -> None:
        """Take every response the watcher has up to now, and compare all its events so far.

        A progress request is answered once every earlier event has been delivered, so
        the responses up to the progress notification are everything up to the current
        revision; waiting for it needs no sleep.
        """

        async def pull() -> list[WatchResponse]:
            w.watcher.request_progress()
            responses = []
            while True:
                resp = await asyncio.wait_for(w.watcher.__anext__(), DRAIN_TIMEOUT)
                responses.append(resp)
                if resp.is_progress_notify:
                    return responses

        responses: list[WatchResponse] = self.run(pull())
        for resp in responses:
            assert resp.watch_id == w.watcher.watch_id
            assert not resp.canceled
        *batches, progress = responses
        assert progress.header.revision == self.model.revision
        for resp in batches:
            revisions = [e.kv.mod_revision for e in resp.events]
            assert revisions[0] > w.last_revision, "a revision split over two responses, or out of order"
            assert resp.header.revision >= revisions[-1]
            w.last_revision = revisions[-1]
            w.received.extend(resp.events)
        expected = self.model.watch_events(w.key, w.range_end, w.start_revision, prev_kv=w.prev_kv, filters=w.filters)
        assert w.received == expected

    # ------------------------------------------------------------ invariants

    @invariant()
    def revisions_agree(self) -> None:
        assert self.store.revision == self.model.revision
        assert self.store.compact_revision == self.model.compact_revision

    @invariant()
    def watch_membership_is_consistent(self) -> None:
        """Each open watch is in exactly one of the hub's places (see test_watch_membership)."""
        hub = self.store._hub
        hub.check_invariants()
        for w in self.watches:
            assert hub.is_synced(w.watcher) != (hub.next_history_revision(w.watcher) is not None)


def test_store_matches_etcd_model() -> None:
    """The store answers every KV, txn, compaction, lease and watch request as etcd v3 does:
    one revision per changing write, create/mod revision and version per key, ranges now
    and at past revisions with limit/count/more/keys_only/count_only, compares evaluated
    before any op runs, txn ops sharing one revision and reading their own writes,
    duplicate-key refusals, CompactedError / FutureRevisionError bounds, batched writes
    answered as if applied one by one, and watch streams in revision order with no gap or
    duplicate, filters applied and the right prev_kv."""
    run_state_machine_as_test(
        StoreVsModel,
        settings=settings(
            max_examples=100,
            stateful_step_count=50,
            deadline=None,
            report_multiple_bugs=False,  # stop at the first disagreement: shrinking each one takes a while
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


def test_model_follows_etcd_examples() -> None:
    """The reference model itself gives etcd's documented answers: the first write makes
    revision 2, version counts puts since creation, a delete of nothing keeps the revision,
    a missing key compares as version 0 but never equal on value, and compaction bounds."""
    m = Model()
    assert m.put(PutRequest(b"k", b"v1")).header.revision == 2
    assert m.put(PutRequest(b"k", b"v2")).header.revision == 3
    assert m.get(b"k") == KeyValue(b"k", create_revision=2, mod_revision=3, version=2, value=b"v2")
    assert m.delete_range(DeleteRangeRequest(b"nope")).header.revision == 3
    missing = TxnRequest((Compare(CompareResult.EQUAL, CompareTarget.VERSION, b"nope", version=0),))
    assert m.txn(missing).succeeded
    assert m.txn(missing).header.revision == 3  # a txn that changes nothing keeps the revision
    value = TxnRequest((Compare(CompareResult.NOT_EQUAL, CompareTarget.VALUE, b"nope", value=b"x"),))
    assert not m.txn(value).succeeded
    assert m.compact(2).header.revision == 3
    with pytest.raises(CompactedError):
        m.compact(2)
    with pytest.raises(FutureRevisionError):
        m.compact(4)
    assert m.range(RangeRequest(b"k", revision=2)).kvs[0].value == b"v1"
    with pytest.raises(CompactedError):
        m.range(RangeRequest(b"k", revision=1))
