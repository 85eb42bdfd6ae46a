"""Range reads: etcd v3's [key, range_end) with limit, count, sorting and revisions."""

from __future__ import annotations

import pytest

import kvstore
from kvstore import CompactedError, EmptyKeyError, FutureRevisionError, SortOrder, SortTarget, prefix_range_end

KEYS = [b"a", b"ab", b"abc", b"b", b"b\x00", b"c", b"\xff", b"\xff\xff"]


@pytest.fixture
async def filled(store: kvstore.Store) -> kvstore.Store:
    for i, k in enumerate(KEYS):
        await store.put(k, b"v%d" % i)
    return store


def keys(resp: kvstore.RangeResponse) -> list[bytes]:
    return [kv.key for kv in resp.kvs]


async def test_range_end_empty_reads_one_key(filled: kvstore.Store) -> None:
    """etcd: with no range_end, a range is a get of exactly `key`."""
    assert keys(await filled.range(b"ab")) == [b"ab"]
    assert keys(await filled.range(b"a\x01")) == []


async def test_range_is_half_open_and_sorted_by_key(filled: kvstore.Store) -> None:
    """etcd: [key, range_end) includes key and excludes range_end; results ascend by key."""
    assert keys(await filled.range(b"ab", b"b\x00")) == [b"ab", b"abc", b"b"]
    assert keys(await filled.range(b"b", b"a")) == []  # range_end <= key: nothing


async def test_prefix_range_end_is_key_plus_one_on_the_last_byte(filled: kvstore.Store) -> None:
    """etcd: range_end = prefix with its last byte incremented reads the prefix (GetPrefixRangeEnd)."""
    assert prefix_range_end(b"ab") == b"ac"
    assert prefix_range_end(b"a\xff") == b"b"
    assert prefix_range_end(b"\xff\xff") == b"\0"
    assert keys(await filled.range(b"a", prefix_range_end(b"a"))) == [b"a", b"ab", b"abc"]
    assert keys(await filled.range(b"b", prefix_range_end(b"b"))) == [b"b", b"b\x00"]
    assert keys(await filled.range(b"\xff", prefix_range_end(b"\xff"))) == [b"\xff", b"\xff\xff"]


async def test_range_end_zero_byte_means_every_key_from_key_on(filled: kvstore.Store) -> None:
    """etcd: range_end = "\\0" reads every key >= key; key "\\0" with it reads everything."""
    assert keys(await filled.range(b"c", b"\0")) == [b"c", b"\xff", b"\xff\xff"]
    assert keys(await filled.range(b"\0", b"\0")) == KEYS


async def test_limit_more_and_count(filled: kvstore.Store) -> None:
    """etcd: limit caps kvs; more says keys beyond it exist; count is every key in the range."""
    r = await filled.range(b"\0", b"\0", limit=3)
    assert keys(r) == KEYS[:3] and r.more and r.count == len(KEYS)
    r = await filled.range(b"\0", b"\0", limit=len(KEYS))
    assert keys(r) == KEYS and not r.more and r.count == len(KEYS)
    r = await filled.range(b"\0", b"\0", limit=-1)  # a negative limit is no limit, as in etcd
    assert keys(r) == KEYS and not r.more


async def test_keys_only_and_count_only(filled: kvstore.Store) -> None:
    """etcd: keys_only drops values but keeps revisions; count_only returns no kvs, just count."""
    r = await filled.range(b"a", b"b", keys_only=True)
    assert keys(r) == [b"a", b"ab", b"abc"]
    assert all(kv.value == b"" and kv.mod_revision > 0 and kv.version == 1 for kv in r.kvs)
    r = await filled.range(b"a", b"b", count_only=True)
    assert r.kvs == [] and r.count == 3 and not r.more


async def test_sort_order_and_target(filled: kvstore.Store) -> None:
    """etcd: sort by key/version/create/mod/value, ascending or descending, before the limit."""
    await filled.put(b"a", b"zz")  # a: version 2, newest mod_revision
    r = await filled.range(b"\0", b"\0", sort_order=SortOrder.DESCEND)
    assert keys(r) == KEYS[::-1]
    r = await filled.range(b"\0", b"\0", sort_order=SortOrder.DESCEND, sort_target=SortTarget.MOD, limit=1)
    assert keys(r) == [b"a"] and r.more
    r = await filled.range(b"\0", b"\0", sort_order=SortOrder.ASCEND, sort_target=SortTarget.VALUE)
    assert r.kvs[-1].value == b"zz"
    r = await filled.range(b"\0", b"\0", sort_target=SortTarget.VERSION)  # NONE + a target: ascending
    assert r.kvs[-1].key == b"a"


async def test_revision_reads_the_store_as_of_that_revision(store: kvstore.Store) -> None:
    """etcd: range at revision N sees exactly the keys and values that existed at N."""
    await store.put(b"k", b"1")  # 2
    await store.put(b"j", b"1")  # 3
    await store.put(b"k", b"2")  # 4
    await store.delete_range(b"j")  # 5
    snap = {
        rev: [(kv.key, kv.value) for kv in (await store.range(b"\0", b"\0", revision=rev)).kvs] for rev in range(1, 6)
    }
    assert snap == {
        1: [],
        2: [(b"k", b"1")],
        3: [(b"j", b"1"), (b"k", b"1")],
        4: [(b"j", b"1"), (b"k", b"2")],
        5: [(b"k", b"2")],
    }
    r = await store.range(b"k", revision=2)
    assert r.header.revision == 5  # the header always carries the current revision


async def test_revision_out_of_range(store: kvstore.Store) -> None:
    """etcd: a future revision is ErrFutureRev; a compacted one ErrCompacted; <= 0 means current."""
    await store.put(b"k", b"1")
    await store.put(b"k", b"2")
    with pytest.raises(FutureRevisionError) as fut:
        await store.range(b"k", revision=4)
    assert fut.value.revision == 4 and fut.value.current_revision == 3
    assert (await store.range(b"k", revision=-5)).kvs[0].value == b"2"
    await store.compact(3)
    with pytest.raises(CompactedError) as old:
        await store.range(b"k", revision=2)
    assert old.value.compact_revision == 3
    assert (await store.range(b"k", revision=3)).kvs[0].value == b"2"


async def test_mod_and_create_revision_filters(filled: kvstore.Store) -> None:
    """etcd: min/max_mod_revision and min/max_create_revision drop kvs outside the bounds."""
    r = await filled.range(b"\0", b"\0", min_mod_revision=4, max_mod_revision=5)
    assert keys(r) == [b"abc", b"b"]
    assert r.count == len(KEYS)  # count is still every key in the range
    r = await filled.range(b"\0", b"\0", max_create_revision=3)
    assert keys(r) == [b"a", b"ab"]
    r = await filled.range(b"\0", b"\0", min_create_revision=8, limit=1)
    assert keys(r) == [b"\xff"] and r.more


async def test_empty_key_is_rejected(store: kvstore.Store) -> None:
    """etcd: a range without a key is ErrEmptyKey ("key is not provided")."""
    with pytest.raises(EmptyKeyError) as err:
        await store.range(b"")
    assert err.value.field == "key"
    assert "key is not provided" in str(err.value)


async def test_str_keys_are_utf8(store: kvstore.Store) -> None:
    """Convenience: a str key or value is its UTF-8 bytes."""
    await store.put("ключ", "значение")
    assert (await store.range("ключ".encode())).kvs[0].value == "значение".encode()
