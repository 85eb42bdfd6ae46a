"""Transactions: etcd v3's compare / success / failure, applied atomically."""

from __future__ import annotations

import pytest

import kvstore
from kvstore import (
    Compare,
    CompareResult,
    CompareTarget,
    DeleteRangeRequest,
    KeyNotFoundError,
    LeaseNotFoundError,
    PutRequest,
    RangeRequest,
    TxnRequest,
    compare_create_revision,
    compare_lease,
    compare_mod_revision,
    compare_value,
    compare_version,
)


async def test_compare_each_target(store: kvstore.Store) -> None:
    """etcd: compares on value, version, create_revision, mod_revision and lease, with =, !=, >, <."""
    lease = await store.lease_grant(60)
    await store.put(b"k", b"b", lease=lease.id)  # rev 2
    await store.put(b"k", b"b")  # rev 3, version 2, lease dropped
    cases = [
        (compare_value(b"k", "=", b"b"), True),
        (compare_value(b"k", ">", b"a"), True),
        (compare_value(b"k", "<", b"a"), False),
        (compare_value(b"k", "!=", b"b"), False),
        (compare_version(b"k", "=", 2), True),
        (compare_version(b"k", ">", 2), False),
        (compare_create_revision(b"k", "=", 2), True),
        (compare_mod_revision(b"k", "=", 3), True),
        (compare_mod_revision(b"k", "<", 3), False),
        (compare_lease(b"k", "=", 0), True),
        (compare_lease(b"k", "=", lease.id), False),
    ]
    for cmp, expected in cases:
        t = await store.txn(compare=[cmp])
        assert t.succeeded is expected, cmp


async def test_compare_on_a_missing_key(store: kvstore.Store) -> None:
    """etcd: a missing key compares as version/create/mod/lease 0, and a value compare on it fails."""
    assert (await store.txn(compare=[compare_version(b"nope", "=", 0)])).succeeded
    assert (await store.txn(compare=[compare_create_revision(b"nope", "=", 0)])).succeeded
    assert not (await store.txn(compare=[compare_value(b"nope", "=", b"")])).succeeded
    assert not (await store.txn(compare=[compare_value(b"nope", "!=", b"x")])).succeeded


async def test_compare_over_a_range_needs_every_key(store: kvstore.Store) -> None:
    """etcd: a compare with range_end holds only if it holds for every key in the range."""
    await store.put(b"p/1", b"x")
    await store.put(b"p/2", b"x")
    assert (await store.txn(compare=[compare_value(b"p/", "=", b"x", kvstore.prefix_range_end(b"p/"))])).succeeded
    await store.put(b"p/3", b"y")
    assert not (await store.txn(compare=[compare_value(b"p/", "=", b"x", kvstore.prefix_range_end(b"p/"))])).succeeded


async def test_success_and_failure_branches(store: kvstore.Store) -> None:
    """etcd: all compares true runs success, else failure; responses mirror the ops."""
    cmp = [compare_version(b"lock", "=", 0)]
    ops = [PutRequest(b"lock", b"me"), RangeRequest(b"lock")]
    first = await store.txn(compare=cmp, success=ops, failure=[RangeRequest(b"lock")])
    assert first.succeeded and len(first.responses) == 2
    assert isinstance(first.responses[0], kvstore.PutResponse)
    assert first.responses[1].kvs[0].value == b"me"
    second = await store.txn(compare=cmp, success=ops, failure=[RangeRequest(b"lock")])
    assert not second.succeeded and second.header.revision == first.header.revision
    assert isinstance(second.responses[0], kvstore.RangeResponse)
    assert second.responses[0].kvs[0].value == b"me"


async def test_all_compares_run_before_any_op(store: kvstore.Store) -> None:
    """etcd: nested txn compares see the state before the outer txn's ops (compareToPath)."""
    t = await store.txn(
        success=[
            PutRequest(b"a", b"1"),
            TxnRequest(
                compare=(compare_version(b"a", "=", 0),),  # still true: evaluated before the put above
                success=(PutRequest(b"b", b"inner-success"),),
                failure=(PutRequest(b"b", b"inner-failure"),),
            ),
        ]
    )
    assert t.succeeded
    inner = t.responses[1]
    assert isinstance(inner, kvstore.TxnResponse) and inner.succeeded
    assert (await store.range(b"b")).kvs[0].value == b"inner-success"
    assert (await store.range(b"a")).kvs[0].mod_revision == (await store.range(b"b")).kvs[0].mod_revision


async def test_reads_in_a_txn_see_its_earlier_writes(store: kvstore.Store) -> None:
    """etcd: ops run in order on one write transaction; a range sees the puts and deletes before it."""
    await store.put(b"x", b"old")
    t = await store.txn(
        success=[
            PutRequest(b"y", b"new"),
            DeleteRangeRequest(b"x"),
            RangeRequest(b"\0", b"\0"),
        ]
    )
    assert [kv.key for kv in t.responses[2].kvs] == [b"y"]
    assert t.responses[2].header.revision == t.header.revision


async def test_a_rejected_txn_writes_nothing(store: kvstore.Store) -> None:
    """etcd: checks run on the whole chosen path first; a put with an unknown lease fails the txn."""
    await store.put(b"keep", b"1")
    before = store.revision
    with pytest.raises(LeaseNotFoundError) as err:
        await store.txn(success=[PutRequest(b"a", b"1"), DeleteRangeRequest(b"keep"), PutRequest(b"b", b"2", lease=42)])
    assert err.value.lease_id == 42
    assert store.revision == before
    assert (await store.range(b"a")).kvs == []
    assert (await store.range(b"keep")).kvs[0].value == b"1"


async def test_a_range_at_a_bad_revision_fails_the_txn(store: kvstore.Store) -> None:
    """etcd: a range op in a txn at a future or compacted revision fails the txn as a whole."""
    await store.put(b"a", b"1")
    with pytest.raises(kvstore.FutureRevisionError):
        await store.txn(success=[PutRequest(b"b", b"1"), RangeRequest(b"a", revision=99)])
    assert (await store.range(b"b")).kvs == []
    await store.put(b"a", b"2")
    await store.compact(3)
    with pytest.raises(kvstore.CompactedError):
        await store.txn(success=[PutRequest(b"b", b"1"), RangeRequest(b"a", revision=2)])
    assert (await store.range(b"b")).kvs == []


async def test_ignore_value_and_ignore_lease(store: kvstore.Store) -> None:
    """etcd: ignore_value keeps the current value, ignore_lease the current lease; both need the key."""
    lease = await store.lease_grant(60)
    await store.put(b"k", b"v", lease=lease.id)
    await store.put(b"k", ignore_value=True, ignore_lease=True)
    kv = (await store.range(b"k")).kvs[0]
    assert (kv.value, kv.lease, kv.version) == (b"v", lease.id, 2)
    await store.put(b"k", b"w", ignore_lease=True)
    kv = (await store.range(b"k")).kvs[0]
    assert (kv.value, kv.lease) == (b"w", lease.id)
    with pytest.raises(KeyNotFoundError):
        await store.put(b"missing", ignore_value=True)
    with pytest.raises(KeyNotFoundError):
        await store.txn(success=[PutRequest(b"missing", ignore_lease=True)])


async def test_compare_built_by_hand(store: kvstore.Store) -> None:
    """The Compare record mirrors etcd's proto: result, target, key and the one target field."""
    await store.put(b"k", b"v")
    cmp = Compare(CompareResult.GREATER, CompareTarget.MOD, b"k", mod_revision=1)
    assert (await store.txn(compare=[cmp])).succeeded
    with pytest.raises(ValueError, match="operator"):
        compare_value(b"k", "~", b"v")


async def test_txn_put_checks_the_key_before_the_lease(store: kvstore.Store) -> None:
    """etcd's checkRequestPut: in a txn, ignore_value on a missing key fails before the lease
    check (a plain put checks the lease first)."""
    with pytest.raises(KeyNotFoundError):
        await store.txn(success=[PutRequest(b"missing", lease=12345, ignore_value=True)])
    with pytest.raises(LeaseNotFoundError):
        await store.put(b"missing", lease=12345, ignore_value=True)


async def test_a_nested_txn_response_has_an_empty_header(store: kvstore.Store) -> None:
    """etcd leaves the header of a nested TxnResponse empty (revision 0)."""
    r = await store.txn(success=[TxnRequest(success=(PutRequest(b"a", b"1"),))])
    nested = r.responses[0]
    assert isinstance(nested, kvstore.TxnResponse) and nested.header.revision == 0
    assert r.header.revision == 2
