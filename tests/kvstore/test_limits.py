"""Limits and bad input: etcd's errors, no partial write, and the store keeps serving."""

from __future__ import annotations

from pathlib import Path

import pytest

import kvstore
from kvstore import (
    DeleteRangeRequest,
    DuplicateKeyError,
    EmptyKeyError,
    InvalidArgumentError,
    LeaseProvidedError,
    PutRequest,
    RangeRequest,
    RequestTooLargeError,
    TooManyOpsError,
    TxnRequest,
    ValueProvidedError,
    compare_version,
)

MiB = 1 << 20


async def assert_unchanged(store: kvstore.Store, revision: int) -> None:
    assert store.revision == revision
    ok = await store.put(b"still-serving", b"yes")  # the store keeps serving after a rejection
    assert ok.header.revision == revision + 1


async def test_a_request_over_1_5_mib_is_too_large(store: kvstore.Store) -> None:
    """etcd: a request over --max-request-bytes (1.5 MiB) is ErrRequestTooLarge; nothing is written."""
    await store.put(b"just-under", b"x" * (1536 * 1024 - 100))
    rev = store.revision
    with pytest.raises(RequestTooLargeError) as err:
        await store.put(b"k", b"x" * (1536 * 1024))
    assert err.value.limit == 1536 * 1024 and err.value.size > err.value.limit
    assert "request is too large" in str(err.value)
    with pytest.raises(RequestTooLargeError):
        await store.txn(success=[PutRequest(b"a", b"x" * MiB), PutRequest(b"b", b"x" * MiB)])
    assert (await store.range(b"a")).kvs == []
    await assert_unchanged(store, rev)


async def test_the_request_size_limit_is_configurable(tmp_path: Path) -> None:
    """etcd: --max-request-bytes sets the limit."""
    async with kvstore.open(tmp_path / "s", max_request_bytes=1024) as s:
        with pytest.raises(RequestTooLargeError) as err:
            await s.put(b"k", b"x" * 1024)
        assert err.value.limit == 1024
        await s.put(b"k", b"x" * 900)


async def test_more_than_128_ops_in_a_txn_branch(store: kvstore.Store) -> None:
    """etcd: more than --max-txn-ops (128) compares or ops in one list is ErrTooManyOps."""
    ok = [PutRequest(b"k%d" % i, b"v") for i in range(128)]
    t = await store.txn(success=ok)
    assert len(t.responses) == 128
    rev = store.revision
    for field, kwargs in (
        ("success", {"success": [*ok, PutRequest(b"k128", b"v")]}),
        ("failure", {"failure": [*ok, PutRequest(b"k128", b"v")]}),
        ("compare", {"compare": [compare_version(b"k", "=", 0)] * 129}),
    ):
        with pytest.raises(TooManyOpsError) as err:
            await store.txn(**kwargs)  # type: ignore[arg-type]
        assert err.value.field == field and err.value.ops == 129 and err.value.limit == 128
    nested = TxnRequest(success=tuple(PutRequest(b"n%d" % i, b"v") for i in range(129)))
    with pytest.raises(TooManyOpsError):
        await store.txn(success=[nested])
    await assert_unchanged(store, rev)


async def test_empty_keys_are_rejected_everywhere(store: kvstore.Store) -> None:
    """etcd: put, range, delete_range and txn ops without a key are ErrEmptyKey."""
    for call in (
        store.put(b"", b"v"),
        store.range(b""),
        store.delete_range(b""),
        store.txn(success=[PutRequest(b"ok", b"v"), PutRequest(b"", b"v")]),
        store.txn(failure=[DeleteRangeRequest(b"")]),
        store.txn(success=[RangeRequest(b"")]),
    ):
        with pytest.raises(EmptyKeyError):
            await call
    await assert_unchanged(store, 1)


async def test_duplicate_keys_in_one_txn_branch(store: kvstore.Store) -> None:
    """etcd checkIntervals: a branch may not put a key twice, nor put a key it deletes;
    the two branches of a nested txn exclude each other and may put the same key."""
    bad = [
        [PutRequest(b"a", b"1"), PutRequest(b"a", b"2")],
        [DeleteRangeRequest(b"a", b"c"), PutRequest(b"b", b"1")],
        [DeleteRangeRequest(b"a", b"\0"), PutRequest(b"zzz", b"1")],
        [PutRequest(b"a", b"1"), TxnRequest(success=(PutRequest(b"a", b"2"),))],
        [DeleteRangeRequest(b"a"), TxnRequest(failure=(PutRequest(b"a", b"2"),))],
    ]
    for ops in bad:
        with pytest.raises(DuplicateKeyError):
            await store.txn(success=ops)
        with pytest.raises(DuplicateKeyError):
            await store.txn(failure=ops)
    await assert_unchanged(store, 1)
    both = TxnRequest(success=(PutRequest(b"x", b"then"),), failure=(PutRequest(b"x", b"else"),))
    t = await store.txn(success=[both, DeleteRangeRequest(b"y")])
    assert t.succeeded
    # the same key in success and failure of one txn is fine: only one branch runs
    await store.txn(success=[PutRequest(b"z", b"1")], failure=[PutRequest(b"z", b"2")])


async def test_ignore_flags_with_a_value_or_lease(store: kvstore.Store) -> None:
    """etcd: ignore_value with a value is ErrValueProvided; ignore_lease with a lease ErrLeaseProvided."""
    await store.put(b"k", b"v")
    with pytest.raises(ValueProvidedError):
        await store.put(b"k", b"new", ignore_value=True)
    with pytest.raises(LeaseProvidedError):
        await store.put(b"k", b"new", lease=5, ignore_lease=True)
    await assert_unchanged(store, 2)


async def test_wrong_types_name_the_field(store: kvstore.Store) -> None:
    """Bad input gets a clear error naming the field, not a crash deep inside."""
    cases = [
        (store.put(123, b"v"), "key"),  # type: ignore[arg-type]
        (store.put(b"k", 3.5), "value"),  # type: ignore[arg-type]
        (store.put(b"k", b"v", lease="x"), "lease"),  # type: ignore[arg-type]
        (store.range(b"k", revision=1 << 70), "revision"),
        (store.range(b"k", sort_order=9), "sort_order"),  # type: ignore[arg-type]
        (store.txn(success=["put k v"]), "txn"),  # type: ignore[list-item]
        (store.txn(compare=[("k", "=", 1)]), "compare"),  # type: ignore[list-item]
        (store.compact("3"), "revision"),  # type: ignore[arg-type]
    ]
    for call, field in cases:
        with pytest.raises(InvalidArgumentError) as err:
            await call
        assert err.value.field == field, (field, err.value)
    with pytest.raises(InvalidArgumentError):
        store.watch(b"k", filters=[7])  # type: ignore[list-item]
    await assert_unchanged(store, 1)


async def test_malformed_records_inside_a_txn(store: kvstore.Store) -> None:
    """Requests built by hand are checked field by field before anything is applied."""
    cases = [
        (PutRequest(123, b"v"), "key"),  # type: ignore[arg-type]
        (PutRequest(b"k", "v"), "value"),  # type: ignore[arg-type]
        (PutRequest(b"k", b"v", lease=1.5), "lease"),  # type: ignore[arg-type]
        (RangeRequest(b"k", limit="10"), "limit"),  # type: ignore[arg-type]
        (DeleteRangeRequest(b"k", range_end=5), "range_end"),  # type: ignore[arg-type]
        (TxnRequest(success=[PutRequest(b"k")]), "success"),  # type: ignore[arg-type]
    ]
    for op, field in cases:
        with pytest.raises(InvalidArgumentError) as err:
            await store.txn(success=[op])
        assert err.value.field == field
    with pytest.raises(InvalidArgumentError) as err:
        await store.txn(compare=[kvstore.Compare(0, 0, b"k", version="1")])  # type: ignore[arg-type]
    assert err.value.field == "compare.version"
    await assert_unchanged(store, 1)


async def test_nested_txns_share_the_op_budget(store: kvstore.Store) -> None:
    """etcd's checkTxnRequest: a nested txn may use only what its parent's longest list
    leaves of max_txn_ops; compare keys must not be empty."""
    reads = [RangeRequest(b"a")] * 100
    too_big = TxnRequest(success=(RangeRequest(b"a"),) * 28)
    await store.txn(success=[*reads, TxnRequest(success=(RangeRequest(b"a"),) * 27)])
    with pytest.raises(TooManyOpsError) as err:
        await store.txn(success=[*reads, too_big])
    assert err.value.limit == 27  # 128 minus the 101 ops of the outer success list
    with pytest.raises(TooManyOpsError):
        await store.txn(compare=[compare_version(b"a", "=", 0)] * 101, success=[too_big])
    with pytest.raises(EmptyKeyError) as empty:
        await store.txn(compare=[compare_version(b"", "=", 0)])
    assert empty.value.field == "compare.key"
    with pytest.raises(EmptyKeyError):  # checked before duplicate keys, as etcd does
        await store.txn(
            compare=[compare_version(b"", "=", 0)], success=[PutRequest(b"d", b"1"), PutRequest(b"d", b"2")]
        )
    await assert_unchanged(store, 1)
